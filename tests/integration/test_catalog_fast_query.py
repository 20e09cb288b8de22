"""The SQLite fast path of query() answers exactly as the portable SQLAlchemy path does."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from catalog_samples import ANTIMERIDIAN, filters, sample_scenes
from fakes import catalog_scene
from hypothesis import HealthCheck, given, settings
from shapely.geometry import box

from eoharvest.adapters.catalog import fast_query, open_catalog
from eoharvest.adapters.catalog.rows import RECORD_COLUMNS, db_datetime, decode_records
from eoharvest.domain.catalog_query import CatalogFilter
from eoharvest.domain.footprint import Footprint
from eoharvest.domain.models import Checksum


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    repo = open_catalog(tmp_path_factory.mktemp("fast") / "c.db")
    repo.upsert_scenes(sample_scenes())
    repo.upsert_scenes([catalog_scene("s3", provider="cdse", cloud=1.0)])  # an update
    for k, state in enumerate(["queued", "fetching", "available", "available", "failed", "paused", "queued"]):
        scene = f"s{k * 7}"
        stored = next(s for s in sample_scenes() if s.scene_id == scene)
        for name in ("a.zip", "b.zip"):
            file_id = repo.record_file(stored.provider, scene, name, size=10)
            if state == "available":
                repo.set_file_state(file_id, "available", local_path=f"/d/{scene}/{name}", sha256="ab" * 32)
            elif name == "a.zip":
                repo.set_file_state(file_id, state)
            elif k % 2:  # a second, less (or more) advanced file: the state's ranking matters
                repo.set_file_state(file_id, "failed" if state != "failed" else "queued")
    yield repo
    repo.close()


def _full(records):
    return [
        (r.scene, dict(r.scene.raw), r.download_state, r.first_seen, r.last_seen, r.local_paths)
        for r in records
    ]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(criteria=filters)
def test_the_fast_path_matches_the_sqlalchemy_path(catalog, criteria):
    assert _full(catalog.query(criteria)) == _full(catalog.query_sqlalchemy(criteria))


def test_every_kind_of_row_round_trips(catalog):
    everything = CatalogFilter(distinct_products=False)
    fast, portable = catalog.query(everything), catalog.query_sqlalchemy(everything)
    assert len(fast) == catalog.count() and _full(fast) == _full(portable)
    assert {r.download_state for r in fast} == {"none", "queued", "fetching", "available", "failed", "paused"}
    assert any(r.local_paths for r in fast)
    assert any(r.scene.footprint is None for r in fast) and any(r.scene.acq_date is None for r in fast)


def test_statements_are_cached_per_shape_and_never_contain_values():
    a = CatalogFilter.create(aoi=Footprint.from_bbox(1, 2, 3, 4), start="2024-01-01", where="scene_id = 'abc'")
    b = CatalogFilter.create(aoi=Footprint.from_bbox(5, 6, 7, 8), start="2023-01-01", where="scene_id = 'x'' --'")
    shape_a, params_a = fast_query.shape_and_params(a)
    shape_b, params_b = fast_query.shape_and_params(b)
    assert shape_a == shape_b and params_a != params_b
    sql = fast_query.statement(shape_a)
    assert sql is fast_query.statement(shape_b)
    assert sql.count("?") == len(params_a) == len(params_b)
    assert "abc" not in sql and "2024" not in sql and "--" not in sql


def test_an_antimeridian_aoi_probes_the_rtree_once_per_part():
    criteria = CatalogFilter.create(aoi=Footprint(ANTIMERIDIAN))
    shape, params = fast_query.shape_and_params(criteria)
    sql = fast_query.statement(shape)
    assert sql.count("idx_scenes_footprint") == 2
    assert params[:8] == [180.0, 179.0, -15.0, -18.0, -179.0, -180.0, -15.0, -18.0]


def test_an_unknown_field_or_operator_never_reaches_sql():
    from eoharvest.domain.catalog_fields import Comparison

    with pytest.raises(KeyError):
        fast_query.statement(fast_query.shape_and_params(CatalogFilter(where=Comparison("x; DROP", "=", 1)))[0])
    with pytest.raises(ValueError):
        fast_query.shape_and_params(CatalogFilter(where=Comparison("cloud", "; DROP", 1)))


@pytest.mark.parametrize("as_text", [True, False], ids=["driver-text", "sqlalchemy-datetimes"])
def test_the_row_decoder_reads_each_column_by_its_place_in_record_columns(as_text):
    seen = datetime(2024, 3, 2, 1, 0)
    values = {
        "id": 7, "provider": "cdse", "scene_id": "S", "product_key": "P", "scene_key": "K",
        "platform": "Sentinel-2", "acq_start": datetime(2024, 3, 1, 10, 30, 0, 5), "cloud_cover": 12.5,
        "size": 99, "online": 0, "links": '{"hrefs":["https://x/a"],"names":["a.zip"]}',
        "checksums": '[["md5","ab","odata"]]', "raw": '{"k":1}', "footprint": box(1, 2, 3, 4).wkb,
        "first_seen": seen, "last_seen": seen + timedelta(days=1), "download_state": "available",
    }  # fmt: skip
    assert list(values) == list(RECORD_COLUMNS)
    if as_text:
        values.update({k: db_datetime(values[k]) for k in ("acq_start", "first_seen", "last_seen")})
    [record] = decode_records([tuple(values[name] for name in RECORD_COLUMNS)], {7: ["/d/a.zip"]})
    s = record.scene
    assert (s.provider, s.scene_id, s.product_key, s.scene_key, s.platformname) == ("cdse", "S", "P", "K", "Sentinel-2")
    assert s.acq_date == datetime(2024, 3, 1, 10, 30, 0, 5, tzinfo=timezone.utc)
    assert (s.cloudcover_percentage, s.size, s.online, s.raw) == (12.5, 99, False, {"k": 1})
    assert (s.download_links, s.filenames, s.checksums) == (("https://x/a",), ("a.zip",), (Checksum("md5", "ab", "odata"),))
    assert s.footprint == Footprint(box(1, 2, 3, 4))
    assert record.first_seen == seen.replace(tzinfo=timezone.utc)
    assert record.last_seen == (seen + timedelta(days=1)).replace(tzinfo=timezone.utc)
    assert (record.download_state, record.local_paths) == ("available", ("/d/a.zip",))


@pytest.mark.parametrize("walk", [False, True])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(criteria=filters)
def test_both_plans_answer_as_the_sqlalchemy_path(catalog, walk, criteria):
    """Walking the acquisition-time index (many R*Tree candidates) or fetching every candidate
    row: the same rows in the same order, products de-duplicated alike."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fast_query, "WALK_RATIO", 10**12 if walk else 0)
        assert _full(catalog.query(criteria)) == _full(catalog.query_sqlalchemy(criteria))


def test_a_limited_query_over_many_candidates_walks_the_time_index(catalog):
    criteria = CatalogFilter.create(aoi=Footprint.from_bbox(-180, -90, 180, 90), start="2024-01-01", cloud_max=90,
                                    limit=3)  # fmt: skip
    shape, params = fast_query.shape_and_params(criteria)
    raw = catalog.reader.raw_connection()
    try:
        cursor = raw.driver_connection.cursor()
        assert fast_query.walks(cursor, shape, params, criteria.limit)  # every scene is a candidate
        sql = fast_query.statement(shape, RECORD_COLUMNS, walk=True)
        plan = cursor.execute("EXPLAIN QUERY PLAN " + sql, fast_query.walk_params(shape, params)).fetchall()
        outer = [detail for _, parent, _, detail in plan if parent == 0]
        assert outer[0].startswith("SEARCH s USING INDEX ix_scenes_acq_start")
        assert "USE TEMP B-TREE FOR ORDER BY" not in outer  # rows come in order: the walk stops at the limit
        small = CatalogFilter.create(aoi=Footprint.from_bbox(10.2, 45.2, 10.4, 45.4), start="2024-01-01", limit=3)
        assert not fast_query.walks(cursor, *fast_query.shape_and_params(small), small.limit)  # few candidates
    finally:
        raw.close()
