"""Revision 0007: file rows record their asset. Rows from before it are given the asset their
scene's stored record names for their file name (recorded provider bodies: an Earth Search
Landsat item, a CMR granule, a Planet item, a CDSE product, a USGS scene), the others keep
NULL; going down to 0006 and up again keeps every row. Both back ends; `catalog copy` keeps it."""

from __future__ import annotations

import pytest
from corpus import load
from fakes import catalog_scene
from fakes.usgs_server import c2_scene
from sqlalchemy import inspect, text

from eoharvest.adapters.catalog import migrate, open_catalog
from eoharvest.adapters.catalog.postgis import open_postgis_catalog
from eoharvest.domain.catalog_location import CatalogUrl
from eoharvest.entrypoints.cli import main

FIRST = "LC08_L2SP_033032_20231008_20231017_02_T1"
KEY = "LC08_L2SP_033032_20231008_02_T1"


def opened(location):
    return open_postgis_catalog(location) if isinstance(location, CatalogUrl) else open_catalog(location)


def recorded_scenes():
    """Scenes as each provider's mapper keeps them: the raw record is the provider's body."""
    item = next(f for f in load("stac_earth_search", "04_search_two_collections_point_page1.json")["features"]
                if f["id"] == KEY)  # fmt: skip
    granule = load("cmr", "01_granules_umm_json_page1_MOD02QKM_page_size2.json")["items"][0]
    planet = load("planet", "07_item_PSScene_20220125_075509_67_1061.json")
    product = load("cdse_odata", "01_s1_page1_count_nextlink.json")["value"][0]
    return [
        catalog_scene(KEY, provider="earth-search", product_key=KEY, platform="Landsat-8", raw=item),
        catalog_scene(FIRST, provider="usgs", product_key=KEY, platform="Landsat-8",
                      raw=c2_scene(FIRST, "LC80330322023281LGN00", acquired="2023-10-08")),
        catalog_scene("G1", provider="cmr", raw=granule),
        catalog_scene(planet["id"], provider="planet", raw=planet),
        catalog_scene("P1", provider="copernicus", raw=product),
        catalog_scene("L1", provider="links", raw={}),
    ]  # fmt: skip


#: (provider, scene id, file name) -> the asset the backfill must find
EXPECTED = {
    ("earth-search", KEY, "red.TIF"): "red",  # eoharvest's name for a STAC asset: key + extension
    ("earth-search", KEY, f"{FIRST}_SR_B5.TIF"): "nir08",  # named like the asset's href
    ("earth-search", KEY, "notes.txt"): None,
    ("usgs", FIRST, f"{FIRST}_QA_PIXEL.TIF"): "qa_pixel",
    ("usgs", FIRST, f"{FIRST}.tar"): "product",
    ("cmr", "G1", "MOD02QKM.A2000055.0005.061.2017171194850.hdf"): "data",
    ("planet", "20220125_075509_67_1061", "20220125_075509_67_1061_ortho_visual.tif"): "ortho_visual",
    ("copernicus", "P1", "S1A_AUX_INS_V20140406T010000_G20140409T142540.SAFE.zip"): "product",
    ("links", "L1", "anything.tif"): None,
}


def assets(repo) -> dict:
    with repo.reader.connect() as conn:
        rows = conn.execute(text("SELECT s.provider, s.scene_id, f.name, f.asset FROM files f "
                                 "JOIN scenes s ON s.id = f.scene_pk")).all()  # fmt: skip
    return {(p, s, n): a for p, s, n, a in rows}


def test_0007_backfills_the_assets_of_existing_rows_and_goes_down_and_up_keeping_them(catalog_location, tmp_path):
    with opened(catalog_location) as repo:
        migrate.downgrade(repo.writer, "0006_file_identity")
        repo.upsert_scenes(recorded_scenes())
        for provider, scene_id, name in EXPECTED:
            file_id = repo.record_file(provider, scene_id, name, size=3)
            (tmp_path / name).write_bytes(b"abc")
            repo.set_file_state(file_id, "available", local_path=str(tmp_path / name), sha256="ab" * 32)
        migrate.upgrade(repo.writer)
        assert assets(repo) == EXPECTED
        found = {(f.provider, f.name): f.asset for f in repo.available_file_records(KEY)}
        assert found[("usgs", f"{FIRST}_QA_PIXEL.TIF")] == "qa_pixel" and found[("earth-search", "red.TIF")] == "red"

        migrate.downgrade(repo.writer, "0006_file_identity")
        with repo.reader.connect() as conn:
            assert "asset" not in {c["name"] for c in inspect(conn).get_columns("files")}
            assert conn.execute(text("SELECT count(*) FROM files WHERE state = 'available'")).scalar() == len(EXPECTED)
        migrate.upgrade(repo.writer)
        assert assets(repo) == EXPECTED


def test_record_file_writes_the_asset_and_a_caller_without_one_keeps_it(catalog_location):
    with opened(catalog_location) as repo:
        repo.upsert_scenes([catalog_scene("a", product_key="P")])
        file_id = repo.record_file("cdse", "a", "B04.tif", size=10, asset="red")
        assert repo.record_file("cdse", "a", "B04.tif", size=10) == file_id  # e.g. an older caller
        repo.set_file_state(file_id, "available", local_path="/x/B04.tif", sha256="cd" * 32)
        (record,) = repo.available_file_records("P")
        assert (record.asset, record.size, record.sha256) == ("red", 10, "cd" * 32)


@pytest.mark.parametrize("target", ["spatialite", "postgis"])
def test_catalog_copy_keeps_the_asset_of_every_file(target, tmp_path, request):
    source = tmp_path / "source.db"
    with open_catalog(source) as repo:
        repo.upsert_scenes([catalog_scene("a", product_key="P")])
        file_id = repo.record_file("cdse", "a", "B04.tif", size=10, asset="red")
        repo.set_file_state(file_id, "available", local_path="/x/B04.tif", sha256="cd" * 32)
    destination = tmp_path / "target.db" if target == "spatialite" else CatalogUrl(request.getfixturevalue("postgis_url"))
    assert main(["catalog", "copy", "--from", str(source), "--to", str(destination)]) == 0
    with opened(destination) as repo:
        assert [(f.name, f.asset) for f in repo.available_file_records("P")] == [("B04.tif", "red")]
