"""One behaviour contract for every CatalogRepository: the in-memory fake and SpatiaLite."""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import json
import os
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from fakes import InMemoryCatalog, catalog_scene
from shapely.geometry import MultiPolygon, box

from eoharvest.adapters.catalog import SpatialiteCatalog, open_catalog
from eoharvest.adapters.catalog.postgis import PostgisCatalog, open_postgis_catalog
from eoharvest.adapters.json_record import JsonRecord
from eoharvest.domain.catalog_location import CatalogUrl
from eoharvest.domain.catalog_query import (
    AvailableFile,
    CatalogFilter,
    ExtractedMember,
    SceneFile,
    StoredFile,
    StoredMember,
)
from eoharvest.domain.errors import CatalogError
from eoharvest.domain.footprint import Footprint
from eoharvest.domain.models import Checksum
from eoharvest.domain.ports import CatalogRepository
from eoharvest.domain.watch import SearchState

T0 = datetime(2024, 5, 1, 10, 30, tzinfo=timezone.utc)


@pytest.fixture(params=["memory", "spatialite", "postgis"])
def catalog(request, tmp_path):
    if request.param == "memory":
        repo = InMemoryCatalog()
    elif request.param == "spatialite":
        repo = open_catalog(tmp_path / "c.db")
    else:
        repo = open_postgis_catalog(CatalogUrl(request.getfixturevalue("postgis_url")))
    yield repo
    repo.close()


def ids(records):
    return [(r.scene.provider, r.scene.scene_id) for r in records]


def q(**kwargs):
    kwargs.setdefault("distinct_products", False)
    return CatalogFilter.create(**kwargs)


def test_upserting_the_same_scene_twice_stores_it_once(catalog):
    scene = catalog_scene("a")
    assert catalog.upsert_scenes([scene]) == 1
    assert catalog.upsert_scenes([scene]) == 0
    assert catalog.upsert_scenes([scene, scene]) == 0
    assert catalog.count() == 1


def test_a_batch_with_a_repeated_identity_counts_it_once(catalog):
    assert catalog.upsert_scenes([catalog_scene("a", cloud=1.0), catalog_scene("a", cloud=2.0)]) == 1
    assert catalog.get_scene("cdse", "a").cloudcover_percentage == 2.0


def test_a_stored_scene_comes_back_with_every_field(catalog):
    scene = catalog_scene(
        "S2A_X",
        product_key="S2A_MSIL1C_X",
        scene_key="S2A|L1C|T|R045|T54PXA",
        size=123,
        checksums=(Checksum("md5", "ab" * 16, "odata"),),
        download_links=("https://example.test/a",),
        filenames=("a.zip",),
        raw={"id": "x", "n": 1},
        online=False,
    )
    catalog.upsert_scenes([scene])
    got = catalog.get_scene("cdse", "S2A_X")
    assert got == scene
    assert got.footprint == scene.footprint
    assert (got.size, got.checksums, got.online, got.raw) == (123, scene.checksums, False, {"id": "x", "n": 1})
    assert (got.download_links, got.filenames) == (("https://example.test/a",), ("a.zip",))
    assert got.acq_date == T0 and got.scene_key == "S2A|L1C|T|R045|T54PXA"
    assert catalog.get_scene("cdse", "missing") is None


def test_re_upserting_updates_values_and_last_seen_but_keeps_first_seen(catalog):
    catalog.upsert_scenes([catalog_scene("a", cloud=50.0)], seen_at=T0)
    catalog.upsert_scenes([catalog_scene("a", cloud=5.0)], seen_at=T0 + timedelta(days=1))
    [record] = catalog.query(q())
    assert record.scene.cloudcover_percentage == 5.0
    assert record.first_seen == T0 and record.last_seen == T0 + timedelta(days=1)


def test_the_same_product_from_two_providers_is_one_product(catalog):
    catalog.upsert_scenes([catalog_scene("uuid-1", provider="cdse", product_key="P")])
    catalog.upsert_scenes([catalog_scene("S2_short", provider="earth-search", product_key="P")])
    assert catalog.count() == 2
    assert ids(catalog.query(CatalogFilter.create())) == [("cdse", "uuid-1")]
    assert len(catalog.query(q())) == 2
    assert catalog.stats().products == 1


def test_reprocessed_baselines_are_distinct_products(catalog):
    catalog.upsert_scenes(
        [
            catalog_scene("N0212", product_key="S2A_N0212", scene_key="K"),
            catalog_scene("N0500", product_key="S2A_N0500", scene_key="K"),
        ]
    )
    assert len(catalog.query(CatalogFilter.create())) == 2


def test_available_files_finds_verified_files_of_a_product_from_any_provider(catalog):
    catalog.upsert_scenes([catalog_scene("u1", provider="cdse", product_key="P")])
    catalog.upsert_scenes([catalog_scene("e1", provider="earth-search", product_key="P")])
    f1 = catalog.record_file("earth-search", "e1", "P.zip", size=10, checksum=Checksum("md5", "ab" * 16))
    assert catalog.available_files("P") == []
    catalog.set_file_state(f1, "available", local_path="/data/P.zip", sha256="CD" * 32)
    assert catalog.available_files("P") == ["/data/P.zip"]
    assert catalog.available_files("other") == []


def test_available_file_records_name_path_provider_and_file_of_verified_copies(catalog):
    catalog.upsert_scenes([catalog_scene("u1", provider="cdse", product_key="P")])
    catalog.upsert_scenes([catalog_scene("e1", provider="earth-search", product_key="P")])
    catalog.upsert_scenes([catalog_scene("o1", provider="cdse", product_key="Q")])
    f1 = catalog.record_file("earth-search", "e1", "P.zip", size=10)
    f2 = catalog.record_file("cdse", "u1", "P_MTL.txt")
    f3 = catalog.record_file("cdse", "u1", "P_queued.zip")
    f4 = catalog.record_file("cdse", "o1", "Q.zip")
    assert catalog.available_file_records("P") == []
    catalog.set_file_state(f1, "available", local_path="/data/P.zip", sha256="CD" * 32)
    catalog.set_file_state(f2, "available", local_path="/data/P_MTL.txt", sha256="ab" * 32)
    catalog.enqueue_download(f3)
    catalog.set_file_state(f4, "available", local_path="/data/Q.zip", sha256="ef" * 32)
    records = catalog.available_file_records("P")
    assert [(r.path, r.provider, r.name) for r in records] == [
        ("/data/P.zip", "earth-search", "P.zip"),
        ("/data/P_MTL.txt", "cdse", "P_MTL.txt"),
    ]
    assert [r.path for r in records] == catalog.available_files("P")
    assert all(type(r) is AvailableFile for r in records)
    assert catalog.available_file_records("missing") == []


def test_scene_files_list_one_scenes_files_in_every_state_with_their_newest_jobs_state(catalog):
    catalog.upsert_scenes([catalog_scene("u1", provider="usgs", product_key="P"),
                           catalog_scene("e1", provider="earth-search", product_key="P")])  # fmt: skip
    done = catalog.record_file("usgs", "u1", "B4.TIF", asset="B4")
    waiting = catalog.record_file("usgs", "u1", "B5.TIF", asset="B5")
    alone = catalog.record_file("usgs", "u1", "MTL.txt")
    catalog.record_file("earth-search", "e1", "red.tif", asset="red")  # another provider's scene
    failed = catalog.enqueue_download(done)
    catalog.claim_job("w", 60)
    catalog.transition_job(failed, "failed")
    catalog.enqueue_download(done)  # queued again: its newest job is the one that counts
    catalog.set_file_state(done, "available", local_path="/data/P/B4.TIF", sha256="ab" * 32)
    catalog.enqueue_download(waiting)
    assert catalog.scene_files("usgs", "u1") == [
        SceneFile("B4.TIF", "available", "B4", "/data/P/B4.TIF", "queued"),
        SceneFile("B5.TIF", "queued", "B5", None, "queued"),
        SceneFile("MTL.txt", "none", None, None, None),
    ]
    assert alone and catalog.scene_files("usgs", "missing") == []


def test_stored_files_are_the_verified_copies_with_their_recorded_hash(catalog):
    catalog.upsert_scenes([catalog_scene("u1", provider="cdse", product_key="P")])
    catalog.upsert_scenes([catalog_scene("e1", provider="earth-search", product_key="P")])
    catalog.upsert_scenes([catalog_scene("o1", provider="cdse")])  # product key defaults to the scene id
    f1 = catalog.record_file("earth-search", "e1", "P.zip", size=10)
    f2 = catalog.record_file("cdse", "o1", "o1.zip")
    f3 = catalog.record_file("cdse", "u1", "P_queued.zip")
    f4 = catalog.record_file("cdse", "u1", "P_failed.zip")
    assert catalog.stored_files() == []
    catalog.set_file_state(f1, "available", local_path="/data/P/P.zip", sha256="CD" * 32)
    catalog.set_file_state(f2, "available", local_path="/data/o1/o1.zip", sha256="ef" * 32)
    catalog.enqueue_download(f3)
    catalog.set_file_state(f4, "available", local_path="/data/P/P_failed.zip", sha256="01" * 32)
    catalog.set_file_state(f4, "failed")  # verify --repair: no longer a stored copy
    assert catalog.stored_files() == [
        StoredFile(f1, "earth-search", "e1", "P", "P.zip", "/data/P/P.zip", "cd" * 32),
        StoredFile(f2, "cdse", "o1", "o1", "o1.zip", "/data/o1/o1.zip", "ef" * 32),
    ]
    assert [f.file_id for f in catalog.stored_files("o1")] == [f2]
    assert catalog.stored_files("missing") == []


def _extracted(folder, files):
    """Member files written under ``folder`` as an extraction would, described as the archive
    handler answers them."""
    members = []
    for name, data in files.items():
        target = folder.joinpath(*name.split("/"))
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        members.append(ExtractedMember(name, str(target), len(data), hashlib.sha256(data).hexdigest().upper()))
    return members


def test_an_extraction_records_the_archive_available_and_each_member_with_its_hash(catalog, tmp_path):
    catalog.upsert_scenes([catalog_scene("a", product_key="P"), catalog_scene("b", product_key="Q")])
    archive = catalog.record_file("cdse", "a", "P.zip")
    other = catalog.record_file("cdse", "b", "Q.tar")
    first = _extracted(tmp_path / "P", {"P.SAFE/manifest.safe": b"<xfdu/>", "P.SAFE/GRANULE/B04.jp2": b"\x00" * 64})
    catalog.record_extraction(archive, local_path=str(tmp_path / "P" / "P.zip"), sha256="AB" * 32, members=first)
    catalog.record_extraction(other, local_path=str(tmp_path / "Q"), sha256="cd" * 32,
                              members=_extracted(tmp_path / "Q", {"Q_MTL.txt": b"END"}))  # fmt: skip
    assert [f.file_id for f in catalog.stored_files()] == [archive, other]
    stored = catalog.stored_members("P")
    assert [(m.file_id, m.product_key, m.path, m.local_path, m.sha256) for m in stored] == [
        (archive, "P", m.path, m.local_path, m.sha256.lower()) for m in first
    ]
    assert len({m.member_id for m in catalog.stored_members()}) == 3
    # extracting again replaces what the earlier extraction recorded
    again = _extracted(tmp_path / "P", {"P.SAFE/manifest.safe": b"<xfdu/>"})
    catalog.record_extraction(archive, local_path=str(tmp_path / "P" / "P.zip"), sha256="ab" * 32, members=again)
    assert [m.path for m in catalog.stored_members("P")] == ["P.SAFE/manifest.safe"]
    # an archive that is no longer available (verify --repair) has no members to serve or check
    catalog.set_file_state(archive, "failed")
    assert catalog.stored_members("P") == [] and [m.product_key for m in catalog.stored_members()] == ["Q"]


def test_an_extraction_whose_member_is_not_on_disk_records_neither_archive_nor_members(catalog, tmp_path):
    catalog.upsert_scenes([catalog_scene("a", product_key="P")])
    archive = catalog.record_file("cdse", "a", "P.zip")
    members = _extracted(tmp_path / "P", {"a.xml": b"<a/>", "b.xml": b"<b/>"})
    Path(members[1].local_path).unlink()  # gone between extraction and recording
    with pytest.raises(CatalogError, match="b.xml"):
        catalog.record_extraction(archive, local_path=str(tmp_path / "P" / "P.zip"), sha256="ab" * 32, members=members)
    assert catalog.stored_files() == [] and catalog.stored_members() == []


def test_members_are_recorded_with_their_on_disk_identity_and_refreshed_by_verify(catalog, tmp_path):
    if isinstance(catalog, InMemoryCatalog):
        pytest.skip("on-disk identity is a column of the SQL catalogs")
    from sqlalchemy import select

    from eoharvest.adapters.catalog.tables import archive_members

    catalog.upsert_scenes([catalog_scene("a", product_key="P")])
    archive = catalog.record_file("cdse", "a", "P.zip")
    (member,) = _extracted(tmp_path / "P", {"P.SAFE/B04.jp2": b"\x01" * 100})
    catalog.record_extraction(archive, local_path=str(tmp_path / "P"), sha256="ab" * 32, members=[member])

    def row():
        with catalog.reader.connect() as conn:
            return conn.execute(select(archive_members.c.size, archive_members.c.mtime_ns, archive_members.c.inode)).one()

    st = os.stat(member.local_path)
    assert tuple(row()) == (100, st.st_mtime_ns, st.st_ino)
    later = st.st_mtime_ns + 7_000_000_000
    os.utime(member.local_path, ns=(later, later))
    (stored,) = catalog.stored_members()
    catalog.refresh_member(stored.member_id)
    assert tuple(row()) == (100, later, st.st_ino)
    with pytest.raises(CatalogError, match="not in the catalog"):
        catalog.refresh_member(stored.member_id + 1000)


def test_the_servers_member_lookups_match_recorded_paths_as_values_only(catalog, tmp_path):
    if isinstance(catalog, InMemoryCatalog):
        pytest.skip("`serve` reads the SQL catalogs")
    from eoharvest.adapters.stac_api.members import MemberIndex

    catalog.upsert_scenes([catalog_scene("a", product_key="P"), catalog_scene("b", product_key="Q")])
    archive = catalog.record_file("cdse", "a", "P.zip")
    members = _extracted(tmp_path / "P", {"P.SAFE/GRANULE/B04.jp2": b"\x02" * 9, "P.SAFE/MTD.xml": b"<m/>"})
    catalog.record_extraction(archive, local_path=str(tmp_path / "P" / "P.zip"), sha256="ab" * 32, members=members)
    index = MemberIndex(catalog.reader)
    found = index.by_path(archive, "P.SAFE/GRANULE/B04.jp2")
    assert (found.file_id, found.product_key, found.local_path, found.size, found.member) == (
        archive, "P", members[0].local_path, 9, True)
    assert found.sha256 == members[0].sha256.lower() and found.inode == os.stat(members[0].local_path).st_ino
    for path in ("P.SAFE/GRANULE/../MTD.xml", "./P.SAFE/MTD.xml", "p.safe/MTD.xml", "P.SAFE//MTD.xml", "MTD.xml"):
        assert index.by_path(archive, path) is None, path
    assert index.by_path(archive + 1, "P.SAFE/MTD.xml") is None
    assert index.for_products(["P", "Q"]) == {"P": [(archive, m.path) for m in members]}
    catalog.set_file_state(archive, "failed")
    assert index.by_path(archive, "P.SAFE/MTD.xml") is None and index.for_products(["P"]) == {}


def test_verified_bytes_count_files_made_available_since_a_time(catalog):
    catalog.upsert_scenes([catalog_scene("a")])
    big = catalog.record_file("cdse", "a", "a.zip", size=1000)
    small = catalog.record_file("cdse", "a", "a.xml", size=5)
    catalog.record_file("cdse", "a", "a.tif", size=70)  # never verified
    before = datetime.now(timezone.utc) - timedelta(seconds=1)
    catalog.set_file_state(big, "available", local_path="/d/a.zip", sha256="ab" * 32)
    catalog.set_file_state(small, "available", local_path="/d/a.xml", sha256="ab" * 32)
    assert catalog.verified_bytes_since(before) == 1005
    assert catalog.verified_bytes_since(datetime.now(timezone.utc) + timedelta(minutes=1)) == 0


def test_recording_a_file_of_an_unknown_scene_is_a_catalog_error(catalog):
    with pytest.raises(CatalogError, match="not in the catalog"):
        catalog.record_file("cdse", "nope", "x.zip")


def test_a_file_cannot_be_available_without_path_and_hash(catalog):
    catalog.upsert_scenes([catalog_scene("a")])
    file_id = catalog.record_file("cdse", "a", "a.zip")
    with pytest.raises(CatalogError, match="SHA-256"):
        catalog.set_file_state(file_id, "available")


@pytest.mark.parametrize(
    ("predicate", "aoi", "expected"),
    [
        ("intersects", box(10.5, 45.5, 12, 47), ["a"]),
        ("intersects", box(20, 20, 21, 21), []),
        ("contains", box(10.2, 45.2, 10.4, 45.4), ["a"]),
        ("contains", box(10.5, 45.5, 12, 47), []),
        ("within", box(9, 44, 12, 47), ["a"]),
        ("within", box(10.5, 45.5, 12, 47), []),
    ],
)
def test_spatial_predicates_relate_the_footprint_to_the_aoi(catalog, predicate, aoi, expected):
    catalog.upsert_scenes([catalog_scene("a"), catalog_scene("far", bbox=(100, 0, 101, 1))])
    found = catalog.query(q(aoi=Footprint(aoi), predicate=predicate))
    assert [r.scene.scene_id for r in found] == expected


def test_an_antimeridian_footprint_is_found_from_either_side(catalog):
    split = MultiPolygon([box(178, -17, 180, -16), box(-180, -17, -179, -16)])
    catalog.upsert_scenes([catalog_scene("fiji", footprint=Footprint(split))])
    east = catalog.query(q(aoi=Footprint.from_bbox(178.5, -16.8, 179.5, -16.2)))
    west = catalog.query(q(aoi=Footprint.from_bbox(-179.8, -16.8, -179.5, -16.2)))
    middle = catalog.query(q(aoi=Footprint.from_bbox(0, -17, 1, -16)))
    assert [r.scene.scene_id for r in east] == ["fiji"] == [r.scene.scene_id for r in west]
    assert middle == []


def test_date_cloud_platform_and_provider_filters_combine(catalog):
    catalog.upsert_scenes(
        [
            catalog_scene("old", when=T0 - timedelta(days=400)),
            catalog_scene("cloudy", cloud=90.0),
            catalog_scene("sar", cloud=None, platform="Sentinel-1"),
            catalog_scene("other", provider="earth-search"),
            catalog_scene("good", cloud=5.0),
        ]
    )
    found = catalog.query(q(start="2024-01-01", end="2024-12-31", cloud_max=20, providers=["cdse"]))
    assert sorted(r.scene.scene_id for r in found) == ["good", "sar"]
    found = catalog.query(q(platforms=["S1"]))
    assert [r.scene.scene_id for r in found] == ["sar"]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("cloud < 20", ["a_b", "axb"]),
        ("cloud < 20 AND platform = 'Sentinel-2'", ["a_b"]),
        ("cloud IS NULL", ["100%", "n"]),
        ("NOT cloud < 20", ["c"]),
        ("cloud >= 20 OR platform = 'Landsat-8'", ["axb", "c"]),
        ("name LIKE 'a\\_%'", ["a_b"]),
        ("name LIKE 'a_%'", ["a_b", "axb"]),
        ("name LIKE '100\\%'", ["100%"]),
        ("name NOT LIKE 'a%'", ["100%", "c", "n"]),
        ("provider IN ('cdse') AND cloud BETWEEN 1 AND 15", ["a_b", "axb"]),
        ("acq_date >= '2024-05-01' AND acq_date <= '2024-05-01'", ["a_b", "axb", "c", "n"]),
        ("online = FALSE", ["100%"]),
        ("state = 'none'", ["100%", "a_b", "axb", "c", "n"]),
    ],
)
def test_where_filters_follow_sql_semantics(catalog, where, expected):
    catalog.upsert_scenes(
        [
            catalog_scene("a_b", product_key="a_b", cloud=10.0),
            catalog_scene("axb", product_key="axb", cloud=12.0, platform="Landsat-8"),
            catalog_scene("c", product_key="c", cloud=40.0),
            catalog_scene("n", product_key="n", cloud=None),
            catalog_scene("100%", product_key="100%", cloud=None, online=False, when=T0 + timedelta(days=3)),
        ]
    )
    assert sorted(r.scene.scene_id for r in catalog.query(q(where=where))) == expected


def test_sorting_puts_missing_values_last_in_both_directions(catalog):
    catalog.upsert_scenes(
        [catalog_scene("x", cloud=None), catalog_scene("lo", cloud=1.0), catalog_scene("hi", cloud=9.0)]
    )
    up = catalog.query(q(sort="cloud"))
    down = catalog.query(q(sort="cloud", descending=True, limit=2))
    assert [r.scene.scene_id for r in up] == ["lo", "hi", "x"]
    assert [r.scene.scene_id for r in down] == ["hi", "lo"]


def test_download_jobs_move_through_the_state_machine(catalog):
    catalog.upsert_scenes([catalog_scene("a", product_key="P"), catalog_scene("b")])
    file_id = catalog.record_file("cdse", "a", "a.zip", size=1000)
    job = catalog.enqueue_download(file_id)
    assert catalog.query(q(states=["queued"]))[0].scene.scene_id == "a"
    assert catalog.claim_job("worker-1", 60) == job
    assert catalog.claim_job("worker-2", 60) is None
    for state in ("verifying", "finalizing", "available"):
        catalog.transition_job(job, state)
    catalog.set_file_state(file_id, "available", local_path="/d/a.zip", sha256="ab" * 32)
    [record] = catalog.query(q(states=["available"]))
    assert (record.scene.scene_id, record.download_state, record.local_paths) == ("a", "available", ("/d/a.zip",))
    stats = catalog.stats()
    assert stats.per_state == {"available": 1, "none": 1}
    assert (stats.archive_bytes, stats.files_available) == (1000, 1)
    with pytest.raises(CatalogError, match="cannot go from available to fetching"):
        catalog.transition_job(job, "fetching")


def test_stats_count_per_platform_and_year(catalog):
    catalog.upsert_scenes(
        [
            catalog_scene("a"),
            catalog_scene("b", platform="Landsat-8", when=T0 - timedelta(days=365)),
            catalog_scene("c", cloud=None, when=T0),
        ]
    )
    stats = catalog.stats()
    assert (stats.scenes, stats.products) == (3, 3)
    assert stats.per_platform == {"Landsat-8": 1, "Sentinel-2": 2}
    assert stats.per_year == {2023: 1, 2024: 2}


def test_saved_searches_round_trip_and_replace(catalog):
    catalog.save_search("alps", {"platforms": ["Sentinel-2"], "cloud_max": 20})
    catalog.save_search("alps", {"platforms": ["Sentinel-1"]})
    assert catalog.saved_searches() == {"alps": {"platforms": ["Sentinel-1"]}}


def test_search_states_round_trip_and_go_with_their_search(catalog):
    state = SearchState(
        watermark=T0, last_run_at=T0 + timedelta(hours=1), next_run_at=T0 + timedelta(hours=7, microseconds=5),
        failures=2, last_error="HTTP 503", paused="credentials", last_found=9, last_new=4, last_downloaded=3,
        watermark_kind="published", last_queued=5,
    )  # fmt: skip
    assert catalog.put_search_state("alps", state) is False  # no such saved search
    catalog.save_search("alps", {"platforms": ["Sentinel-2"]})
    catalog.save_search("baltic", {"platforms": ["Sentinel-1"]})
    assert catalog.search_states() == {}
    assert catalog.put_search_state("alps", state) is True
    assert catalog.search_states() == {"alps": state}
    catalog.save_search("alps", {"platforms": ["Sentinel-1"]})  # replacing the definition keeps the state
    assert catalog.search_states() == {"alps": state}
    assert catalog.remove_search("alps") is True
    assert catalog.remove_search("alps") is False
    assert catalog.search_states() == {}
    assert list(catalog.saved_searches()) == ["baltic"]


def test_a_saved_search_can_be_disabled_and_enabled_and_a_replacement_keeps_the_flag_given(catalog):
    assert catalog.set_search_enabled("alps", False) is False  # no such search
    catalog.save_search("alps", {"platforms": ["Sentinel-2"]})
    catalog.save_search("baltic", {"platforms": ["Sentinel-1"]})
    assert catalog.search_enabled() == {"alps": True, "baltic": True}
    assert catalog.set_search_enabled("alps", False) is True
    assert catalog.search_enabled() == {"alps": False, "baltic": True}
    catalog.save_search("alps", {"platforms": ["Sentinel-3"]}, enabled=False)  # `watch edit`
    assert catalog.search_enabled()["alps"] is False
    assert catalog.set_search_enabled("alps", True) is True
    assert catalog.search_enabled()["alps"] is True
    assert catalog.remove_search("alps") and catalog.search_enabled() == {"baltic": True}


def test_one_holder_at_a_time_takes_a_saved_searchs_lease_and_renews_it(catalog):
    assert catalog.take_search_lease("alps", "daemon@a:1", 60) is False  # no such search
    catalog.save_search("alps", {"platforms": ["Sentinel-2"]})
    catalog.save_search("baltic", {"platforms": ["Sentinel-1"]})
    assert catalog.search_lease("alps") is None
    before = datetime.now(timezone.utc)
    assert catalog.take_search_lease("alps", "daemon@a:1", 60) is True
    lease = catalog.search_lease("alps")
    assert lease.owner == "daemon@a:1"
    assert before - timedelta(seconds=1) <= lease.acquired_at <= lease.expires_at - timedelta(seconds=59)
    assert catalog.take_search_lease("alps", "cli@a:2", 60) is False  # live and someone else's
    assert catalog.take_search_lease("baltic", "cli@a:2", 60) is True  # leases are per search
    assert catalog.take_search_lease("alps", "daemon@a:1", 120) is True  # a renewal
    renewed = catalog.search_lease("alps")
    assert renewed.acquired_at == lease.acquired_at and renewed.expires_at > lease.expires_at
    catalog.release_search_lease("alps", "cli@a:2")  # not the holder: nothing happens
    assert catalog.search_lease("alps").owner == "daemon@a:1"
    catalog.release_search_lease("alps", "daemon@a:1")
    assert catalog.search_lease("alps") is None
    assert catalog.take_search_lease("alps", "cli@a:2", 60) is True


def test_an_expired_lease_or_one_of_a_holder_known_to_be_gone_can_be_taken_over(catalog):
    catalog.save_search("alps", {"platforms": ["Sentinel-2"]})
    assert catalog.take_search_lease("alps", "daemon@a:1", 0.2) is True
    assert catalog.take_search_lease("alps", "cli@a:2", 60, replacing="someone@else:3") is False
    assert catalog.take_search_lease("alps", "cli@a:2", 60, replacing="daemon@a:1") is True
    assert catalog.search_lease("alps").owner == "cli@a:2"
    assert catalog.take_search_lease("alps", "daemon@a:1", 0.2, replacing="cli@a:2") is True
    time.sleep(0.3)  # the holder neither renewed nor released it
    assert catalog.take_search_lease("alps", "cli@a:4", 60) is True
    assert catalog.search_lease("alps").owner == "cli@a:4"


def test_a_lease_goes_with_its_search(catalog):
    catalog.save_search("alps", {"platforms": ["Sentinel-2"]})
    assert catalog.take_search_lease("alps", "daemon@a:1", 60) is True
    assert catalog.remove_search("alps") is True
    assert catalog.search_lease("alps") is None
    catalog.save_search("alps", {"platforms": ["Sentinel-2"]})
    assert catalog.take_search_lease("alps", "cli@a:2", 60) is True


def _parameters(method):
    return [(p.name, p.kind, p.default) for p in inspect.signature(method).parameters.values()]


@pytest.mark.parametrize("implementation", [InMemoryCatalog, SpatialiteCatalog, PostgisCatalog])
def test_every_catalog_offers_each_port_method_with_the_ports_parameters(implementation):
    methods = [name for name, _ in inspect.getmembers(CatalogRepository, inspect.isfunction) if not name.startswith("_")]
    assert "stored_files" in methods and "available_file_records" in methods
    for name in methods:
        assert _parameters(getattr(implementation, name)) == _parameters(getattr(CatalogRepository, name)), name


def test_an_invalid_provider_footprint_is_kept_and_queryable(catalog):
    bowtie = Footprint.from_wkt("POLYGON((0 0, 1 1, 1 0, 0 1, 0 0))")
    catalog.upsert_scenes([catalog_scene("bad", footprint=bowtie)])
    assert catalog.get_scene("cdse", "bad").footprint is not None
    assert catalog.count() == 1


def test_a_record_kept_as_received_is_stored_as_those_bytes_and_reads_back_as_the_item(catalog):
    text = b'{ "type": "Feature", "id": "a", "n": 123456789012345678901234567890, "t": "\\u00e9" }'
    catalog.upsert_scenes([dataclasses.replace(catalog_scene("a"), raw=JsonRecord(text))])
    assert dict(catalog.get_scene("cdse", "a").raw) == json.loads(text)
    if isinstance(catalog, SpatialiteCatalog):
        with catalog._engines.reader.connect() as conn:
            stored = conn.exec_driver_sql("SELECT raw FROM scenes WHERE scene_id = 'a'").scalar_one()
        assert stored == text.decode()
