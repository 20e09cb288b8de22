"""Large upserts: SpatiaLite's per-row triggers bypassed, the R*Tree kept exact and complete."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta, timezone

import pytest
from fakes import catalog_scene
from shapely.geometry import Polygon
from sqlalchemy import text

from eoharvest.adapters.catalog import bulk, encode_ahead, open_catalog, repository
from eoharvest.adapters.catalog.spatialite import WRITER_CACHE_KIB
from eoharvest.domain.catalog_query import CatalogFilter
from eoharvest.domain.footprint import Footprint

T0 = datetime(2024, 5, 1, 10, 30, tzinfo=timezone.utc)
N = 3000


def grid(n: int, *, dx: float = 0.0, prefix: str = "s", **extra):
    return [
        catalog_scene(f"{prefix}{i}", bbox=(i % 100 + dx, i // 100 - 40, i % 100 + dx + 0.5, i // 100 - 39.5),
                      when=T0 + timedelta(minutes=i), **extra)  # fmt: skip
        for i in range(n)
    ]


def triggers(repo) -> dict[str, str]:
    with repo.reader.connect() as conn:
        rows = conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'scenes'"))
        return dict(rows.all())


def health(repo) -> dict:
    with repo.reader.connect() as conn:
        return {
            "index_ok": conn.execute(text("SELECT CheckSpatialIndex('scenes', 'footprint')")).scalar(),
            "rtree_rows": conn.execute(text("SELECT count(*) FROM idx_scenes_footprint")).scalar(),
            "with_footprint": conn.execute(text("SELECT count(*) FROM scenes WHERE footprint IS NOT NULL")).scalar(),
            "orphans": conn.execute(
                text("SELECT count(*) FROM idx_scenes_footprint WHERE pkid NOT IN (SELECT id FROM scenes)")
            ).scalar(),
        }


@pytest.fixture(params=["bulk", "per-row"])
def repo(request, tmp_path):
    catalog = open_catalog(tmp_path / "c.db")
    catalog.bulk_min = 1 if request.param == "bulk" else 10**9
    yield catalog
    catalog.close()


def test_a_large_ingest_keeps_the_spatial_index_exact_and_the_triggers(repo):
    before = triggers(repo)
    assert set(bulk.BYPASSED_TRIGGERS) <= set(before)
    assert repo.upsert_scenes(grid(N)) == N
    assert triggers(repo) == before
    assert health(repo) == {"index_ok": 1, "rtree_rows": N, "with_footprint": N, "orphans": 0}
    found = repo.query(CatalogFilter.create(aoi=Footprint.from_bbox(5.1, -39.9, 5.2, -39.8), distinct_products=False))
    assert [r.scene.scene_id for r in found] == ["s5"]
    with repo.reader.connect() as conn:
        stamp = conn.execute(text("SELECT last_insert FROM geometry_columns_time WHERE f_table_name = 'scenes'"))
        assert stamp.scalar() is not None


def test_re_upserting_moved_and_removed_footprints_updates_their_index_entries(repo):
    repo.upsert_scenes(grid(N), seen_at=T0)
    moved = grid(N, dx=0.25)
    moved[7] = dataclasses.replace(moved[7], footprint=None)
    mixed = moved + grid(500, prefix="new")
    assert repo.upsert_scenes(mixed, seen_at=T0 + timedelta(days=1)) == 500
    assert repo.count() == N + 500
    assert health(repo) == {"index_ok": 1, "rtree_rows": N + 499, "with_footprint": N + 499, "orphans": 0}
    # s5 spans 5.25..5.75 now: found east of its old box, not in the strip it left.
    east = repo.query(CatalogFilter.create(aoi=Footprint.from_bbox(5.6, -39.9, 5.7, -39.8), distinct_products=False))
    west = repo.query(CatalogFilter.create(aoi=Footprint.from_bbox(5.05, -39.9, 5.2, -39.8), distinct_products=False))
    assert "s5" in [r.scene.scene_id for r in east]
    assert "s5" not in [r.scene.scene_id for r in west]
    [record] = repo.query(CatalogFilter.create(where="scene_id = 's5'", distinct_products=False))
    assert (record.first_seen, record.last_seen) == (T0, T0 + timedelta(days=1))
    assert repo.get_scene("cdse", "s7").footprint is None
    assert repo.upsert_scenes(mixed) == 0


def test_a_failing_bulk_write_rolls_back_rows_and_triggers(tmp_path, monkeypatch):
    with open_catalog(tmp_path / "c.db") as repo:
        repo.bulk_min = 1
        before = triggers(repo)
        monkeypatch.setattr(bulk, "_RTREE_RANGE", "INSERT INTO no_such_table VALUES (?, ?)")
        with pytest.raises(Exception, match="no_such_table"):
            repo.upsert_scenes(grid(50))
        assert repo.count() == 0
        assert triggers(repo) == before
        monkeypatch.undo()
        assert repo.upsert_scenes(grid(50)) == 50
        assert health(repo)["index_ok"] == 1


def test_z_footprints_are_stored_flat_and_times_in_sqlalchemy_format(repo):
    z = Footprint(Polygon([(0, 0, 5), (1, 0, 5), (1, 1, 5), (0, 1, 5), (0, 0, 5)]))
    assert repo.upsert_scenes([catalog_scene("z", footprint=z)]) == 1
    got = repo.get_scene("cdse", "z").footprint.geometry
    assert got.geom_type == "MultiPolygon" and not got.has_z
    with repo.reader.connect() as conn:
        row = conn.execute(text("SELECT acq_start, CoordDimension(footprint) FROM scenes")).one()
    assert tuple(row) == ("2024-05-01 10:30:00.000000", "XY")
    exact = repo.query(CatalogFilter.create(start=T0, end=T0, distinct_products=False))
    assert [r.scene.scene_id for r in exact] == ["z"]


@pytest.fixture
def small_batches(monkeypatch):
    """Batches of 700 scenes, transactions of 2000: a 3000-scene list takes two transactions,
    of three batches and of two."""
    monkeypatch.setattr(repository, "BATCH", 700)
    monkeypatch.setattr(repository, "BULK_TRANSACTION", 2000)


def statements(repo, needle: str):
    """A list that collects the statements run on the writer's connection containing ``needle``."""
    seen: list[str] = []
    raw = repo.writer.raw_connection()
    raw.driver_connection.set_trace_callback(lambda sql: seen.append(sql) if needle in sql else None)
    raw.close()  # back to the pool: the next write uses this connection
    return seen


def test_each_batch_fills_the_rtree_entries_of_its_new_rows_once_and_the_index_stays_exact(tmp_path, small_batches):
    with open_catalog(tmp_path / "c.db") as repo:
        repo.bulk_min = 1
        before = triggers(repo)
        rtree_fills = statements(repo, "INSERT OR REPLACE INTO idx_scenes_footprint")
        # The last 800 scenes move the first 800 again: updates of rows written by an earlier
        # batch of the same transaction.
        scenes = grid(N) + grid(800, dx=0.25)
        assert repo.upsert_scenes(scenes) == N
        # One range fill per batch with new rows (700, 700, 600 | 700, 200 + 500 updates); the
        # last batch (300 updates) inserts nothing. Each new id is filled exactly once.
        fills = [sql for sql in rtree_fills if "BETWEEN" in sql]
        assert [sql.rsplit("BETWEEN ", 1)[1].split(" AND footprint")[0] for sql in fills] == [
            "1 AND 700", "701 AND 1400", "1401 AND 2000", "2001 AND 2700", "2701 AND 3000"]  # fmt: skip
        assert triggers(repo) == before
        assert health(repo) == {"index_ok": 1, "rtree_rows": N, "with_footprint": N, "orphans": 0}
        east = repo.query(CatalogFilter.create(aoi=Footprint.from_bbox(5.6, -39.9, 5.7, -39.8), distinct_products=False))
        assert [r.scene.scene_id for r in east] == ["s5"]  # moved by the later batch
        cache = repo.writer.raw_connection()
        try:  # the large bulk cache lasted as long as the transaction
            assert cache.driver_connection.execute("PRAGMA cache_size").fetchone()[0] == -WRITER_CACHE_KIB
        finally:
            cache.close()


def test_a_batch_failing_rolls_back_its_whole_transaction_and_keeps_the_committed_ones(tmp_path, small_batches,
                                                                                       monkeypatch):  # fmt: skip
    calls = []
    real = encode_ahead.encode_scenes

    def failing_fifth_batch(batch, now):
        calls.append(len(batch))
        if len(calls) == 5:  # the second batch of the second transaction (encoded in a worker thread)
            raise OSError("injected")
        return real(batch, now)

    with open_catalog(tmp_path / "c.db") as repo:
        repo.bulk_min = 1
        before = triggers(repo)
        monkeypatch.setattr(encode_ahead, "encode_scenes", failing_fifth_batch)
        with pytest.raises(OSError, match="injected"):
            repo.upsert_scenes(grid(N))
        assert calls == [700, 700, 600, 700, 300]
        assert repo.count() == 2000  # the first transaction, whole; nothing of the second
        assert triggers(repo) == before
        assert health(repo) == {"index_ok": 1, "rtree_rows": 2000, "with_footprint": 2000, "orphans": 0}
        monkeypatch.setattr(encode_ahead, "encode_scenes", real)
        assert repo.upsert_scenes(grid(N)) == N - 2000
        assert health(repo)["rtree_rows"] == N


def test_a_harvest_page_of_100_scenes_takes_the_bulk_path(tmp_path):
    """Per-row triggers cost a harvest page more than dropping them once (bench/harvest.py)."""
    with open_catalog(tmp_path / "c.db") as repo:
        before = triggers(repo)
        rtree_fills = statements(repo, "INSERT OR REPLACE INTO idx_scenes_footprint")
        assert repo.upsert_scenes(grid(100)) == 100
        assert len(rtree_fills) == 1 and triggers(repo) == before
        assert health(repo) == {"index_ok": 1, "rtree_rows": 100, "with_footprint": 100, "orphans": 0}
        assert repo.upsert_scenes(grid(10, prefix="few")) == 10  # a few scenes: the triggers do it
        assert len(rtree_fills) == 1 and health(repo)["rtree_rows"] == 110


def test_raw_records_are_stored_as_the_compact_json_text_on_insert_and_update(repo):
    # orjson's UTF-8 is bound as CAST(? AS TEXT): the column must hold TEXT, never a BLOB, and
    # the same characters the standard library would write (including what it alone writes).
    import json
    import math

    records = [
        {"id": "a", "name": "Zürich/東京", "n": 1},
        {"id": "b", "bad": math.nan, "big": 2**70},  # the standard library's text, as str
        {"id": "c", 1: "non-string key"},
    ]
    scenes = [dataclasses.replace(s, raw=r) for s, r in zip(grid(3), records)]
    expected = [json.dumps(r, separators=(",", ":"), default=str, ensure_ascii=False) for r in records]

    def stored():
        with repo.reader.connect() as conn:
            return conn.execute(text("SELECT typeof(raw), raw FROM scenes ORDER BY scene_id")).all()

    assert repo.upsert_scenes(scenes) == 3
    assert [tuple(row) for row in stored()] == [("text", e) for e in expected]
    changed = [dataclasses.replace(s, raw={**s.raw, "v": "2·é"}) for s in scenes]
    assert repo.upsert_scenes(changed) == 0  # updates in place
    again = [json.dumps({**r, "v": "2·é"}, separators=(",", ":"), default=str, ensure_ascii=False) for r in records]
    assert [tuple(row) for row in stored()] == [("text", e) for e in again]
    assert repo.get_scene(scenes[0].provider, scenes[0].scene_id).raw["name"] == "Zürich/東京"


def test_a_batch_of_new_scenes_is_inserted_without_an_identity_look_up(repo):
    lookups = statements(repo, "json_each")
    assert repo.upsert_scenes(grid(300)) == 300
    assert lookups == []  # the insert's unique-index probe told them apart
    assert repo.upsert_scenes(grid(300, prefix="more")) == 300
    assert lookups == []


def test_a_batch_mixing_stored_and_new_scenes_updates_the_stored_and_appends_the_new(repo):
    first = T0 - timedelta(days=3)
    repo.upsert_scenes(grid(200), seen_at=first)
    with repo.reader.connect() as conn:
        ids = dict(conn.execute(text("SELECT scene_id, id FROM scenes")).all())
    moved = [dataclasses.replace(s, cloudcover_percentage=77.0) for s in grid(200)[::2]]
    mixed = grid(50, prefix="new")[:25] + moved + grid(50, prefix="new")[25:]
    assert repo.upsert_scenes(mixed, seen_at=T0) == 50
    with repo.reader.connect() as conn:
        rows = {r.scene_id: r for r in conn.execute(text("SELECT scene_id, id, cloud_cover, first_seen, last_seen FROM scenes"))}
    assert len(rows) == 250
    for scene in moved:  # same row, first_seen kept
        row = rows[scene.scene_id]
        assert (row.id, row.cloud_cover, row.first_seen, row.last_seen) == (
            ids[scene.scene_id], 77.0, "2024-04-28 10:30:00.000000", "2024-05-01 10:30:00.000000")  # fmt: skip
    assert rows["s1"].cloud_cover != 77.0 and rows["s1"].last_seen == "2024-04-28 10:30:00.000000"
    # New scenes take the next ids, in order, first seen now.
    assert [rows[f"new{i}"].id for i in range(50)] == list(range(201, 251))
    assert {rows[f"new{i}"].first_seen for i in range(50)} == {"2024-05-01 10:30:00.000000"}
    assert health(repo) == {"index_ok": 1, "rtree_rows": 250, "with_footprint": 250, "orphans": 0}


def test_the_next_batch_is_encoded_while_the_rtree_is_filled_not_during_the_inserts(tmp_path, small_batches,
                                                                                  monkeypatch):  # fmt: skip
    # A thread encoding during executemany takes the GIL from the writer between rows (no
    # overlap, see encode_ahead.py): batch k + 1 may start only once batch k's rows are in.
    events: list[str] = []
    real = encode_ahead.encode_scenes

    def recording(batch, now):
        events.append(f"encode {len(batch)}")
        return real(batch, now)

    monkeypatch.setattr(encode_ahead, "encode_scenes", recording)
    with open_catalog(tmp_path / "c.db") as repo:
        repo.bulk_min = 1
        raw = repo.writer.raw_connection()
        raw.driver_connection.set_trace_callback(
            lambda sql: events.append("rtree") if sql.startswith("INSERT OR REPLACE INTO idx_scenes_footprint")
            else events.append("insert") if sql.startswith("INSERT INTO scenes") else None)  # fmt: skip
        raw.close()
        assert repo.upsert_scenes(grid(N)) == N
    steps = [e for k, e in enumerate(events) if e != "insert" or events[k - 1] != "insert"]  # one per executemany
    # (The worker's "encode k + 1" and the writer's "rtree k" race: both follow "insert k".)
    assert [e for e in steps if e != "rtree"] == ["encode 700", "insert", "encode 700", "insert", "encode 600",
                                                 "insert", "encode 700", "insert", "encode 300", "insert"]  # fmt: skip
    assert [e for e in steps if e != "encode 700" and e != "encode 600" and e != "encode 300"] == ["insert", "rtree"] * 5
