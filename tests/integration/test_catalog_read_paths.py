"""The catalog's lean read paths give the same answers as the portable ones they shortcut:
stats in plain SQL (also without SpatiaLite), GeoJSON Features streamed from rows."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import datetime, timezone

import pytest
from fakes import catalog_scene
from shapely.geometry import MultiPolygon, Polygon

from eoharvest.adapters.catalog import columns, export, fast_query, open_catalog, open_reader, sql_filters, tables
from eoharvest.adapters.catalog.geojson_stream import write_feature_collection
from eoharvest.domain.catalog_query import CatalogFilter
from eoharvest.domain.errors import CatalogError
from eoharvest.domain.footprint import Footprint

STATES = ("available", "failed", "queued", "fetching", "paused")


@pytest.fixture
def catalog_path(tmp_path):
    """Scenes of two platforms and three years, some without a date; files in every state, some
    scenes with several files (the most advanced state wins)."""
    path = tmp_path / "c.db"
    with open_catalog(path) as repo:
        scenes = [
            catalog_scene(f"s{i}", platform=("Sentinel-2", "Landsat-8")[i % 2], product_key=f"P{i % 17}",
                          when=datetime(2021 + i % 3, 1 + i % 12, 1, 12, 0, 0, i, tzinfo=timezone.utc),
                          cloud=None if i % 7 == 0 else float(i % 100), bbox=(i % 20, 40, i % 20 + 1.5, 41.25))
            for i in range(60)
        ]  # fmt: skip
        holed = Polygon([(0, 0), (0, 4), (4, 4), (4, 0)], [[(1, 1), (3, 1), (3, 3), (1, 3)]])  # clockwise shell
        scenes.append(catalog_scene("holed", footprint=Footprint(MultiPolygon([holed])), scene_key="k", size=7))
        repo.upsert_scenes(scenes)
        for i in range(0, 60, 3):
            for k, state in enumerate(STATES[: 1 + i % len(STATES)]):
                file_id = repo.record_file("cdse", f"s{i}", f"f{k}.zip", size=100 + i)
                if state != "queued":
                    repo.enqueue_download(file_id)
                    repo.set_file_state(file_id, state, local_path=str(tmp_path / f"s{i}-{k}.zip"), sha256="ab" * 32)
        repo.record_file("cdse", "s1", "never.zip")  # a file nothing was asked for: state 'none'
    return path


def test_stats_in_plain_sql_match_the_portable_statements(catalog_path):
    with open_catalog(catalog_path, read_only=True) as repo:
        fast, portable = repo.stats(), repo._stats_sqlalchemy()
    assert fast == portable
    assert sum(fast.per_state.values()) == fast.scenes == 61
    assert fast.per_state["available"] > 0 and fast.per_state["none"] > 0
    for spatial in (False, True):
        with open_reader(catalog_path, spatial=spatial) as reader:
            assert reader.stats() == fast


def test_the_lean_reader_makes_the_checks_of_a_read_only_open(tmp_path):
    with pytest.raises(CatalogError, match="no catalog"):
        open_reader(tmp_path / "missing.db")
    foreign = tmp_path / "other.db"
    sqlite3.connect(foreign).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(CatalogError, match="not an eoharvest catalog"):
        open_reader(foreign)


def test_stats_load_neither_spatialite_nor_sqlalchemy(catalog_path):
    code = (
        "import sys; from eoharvest.adapters.catalog import open_reader\n"
        f"print(open_reader({str(catalog_path)!r}, spatial=False).stats().scenes)\n"
        "print(sorted(m for m in ('sqlalchemy', 'geoalchemy2', 'shapely', 'pyproj', 'pyogrio') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["61", "[]"]


@pytest.mark.parametrize(
    "criteria",
    [
        CatalogFilter(),
        CatalogFilter(distinct_products=False),
        CatalogFilter(aoi=Footprint.from_bbox(3, 40, 9, 42), sort="cloud", descending=True),
        CatalogFilter.create(platforms=["Landsat-8"], cloud_max="50", limit=5),
        CatalogFilter.create(states=["available", "none"], distinct_products=False),
    ],
)
def test_streamed_geojson_features_are_those_of_the_full_export(catalog_path, criteria, monkeypatch):
    monkeypatch.setattr(fast_query, "CHUNK_ROWS", 7)  # several chunks, and a last partial one
    with open_catalog(catalog_path, read_only=True) as repo, open_reader(catalog_path) as reader:
        expected = export.geojson_collection(repo.query(criteria))
        for source in (repo, reader):
            out: list[str] = []
            count = write_feature_collection(source.geojson_features(criteria), out.append, batch=4)
            assert count == len(expected["features"]) > 0
            assert json.loads("".join(out)) == expected
    streamed = expected
    holed = [f for f in streamed["features"] if f["properties"]["scene_id"] == "holed"]
    if holed:  # RFC 7946: exterior ring counter-clockwise, holes clockwise
        shell, hole = holed[0]["geometry"]["coordinates"][0]
        assert Polygon(shell).exterior.is_ccw and not Polygon(hole).exterior.is_ccw


def test_an_empty_result_is_an_empty_feature_collection(catalog_path):
    with open_catalog(catalog_path, read_only=True) as repo:
        out: list[str] = []
        write_feature_collection(repo.geojson_features(CatalogFilter.create(platforms=["Sentinel-1"])), out.append)
    assert json.loads("".join(out)) == {"type": "FeatureCollection", "features": []}


def test_a_stream_closed_early_ends_its_read_transaction(catalog_path):
    def checkpoint_blocked() -> bool:
        conn = sqlite3.connect(catalog_path)
        try:  # a TRUNCATE checkpoint reports busy (1) while a reader holds an older snapshot
            return conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 1
        finally:
            conn.close()

    with open_catalog(catalog_path) as repo:
        features = repo.geojson_features(CatalogFilter())
        next(features)
        repo.upsert_scenes([catalog_scene("after", bbox=(0, 0, 1, 1))])
        assert checkpoint_blocked()
        features.close()
        assert not checkpoint_blocked()


def test_the_plain_column_names_are_those_of_the_table_definitions():
    assert columns.FIELD_COLUMNS == {field: column.name for field, column in sql_filters.COLUMNS.items()}
    assert (columns.RTREE, columns.SRID) == (tables.scenes_rtree.name, tables.SRID)


HEAVY = ("sqlalchemy", "geoalchemy2", "httpx", "alembic", "shapely", "numpy", "pyproj", "pyogrio", "rich")


def _query_process(catalog_path, *options):
    code = (
        "import json, sys; from eoharvest.entrypoints.cli import main\n"
        f"main(['--catalog', {str(catalog_path)!r}, 'catalog', 'query', '--format', 'geojson', *json.loads(sys.argv[1])])\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(options)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    collection, loaded = proc.stdout.strip().splitlines()
    return json.loads(collection), loaded


def test_a_bbox_query_process_loads_none_of_the_heavy_libraries(catalog_path):
    collection, loaded = _query_process(catalog_path, "--aoi", "0,39,30,42", "--start", "2022-01-01",
                                        "--end", "2023-12-31", "--cloud-max", "50", "--limit", "9")  # fmt: skip
    criteria = CatalogFilter.create(aoi=Footprint.from_bbox(0, 39, 30, 42), start="2022-01-01", end="2023-12-31",
                                    cloud_max=50, limit=9)  # fmt: skip
    with open_catalog(catalog_path, read_only=True) as repo:
        assert collection == export.geojson_collection(repo.query(criteria))
    assert len(collection["features"]) == 9
    assert loaded == "[]"


def test_other_aois_load_shapely_before_spatialite_and_answer_the_same(catalog_path):
    as_bbox, _ = _query_process(catalog_path, "--aoi", "0,39,30,42")
    as_wkt, loaded = _query_process(catalog_path, "--aoi", "POLYGON((0 39, 30 39, 30 42, 0 42, 0 39))")
    assert as_wkt == as_bbox and len(as_bbox["features"]) == 17
    assert loaded == "['numpy', 'shapely']"


def test_geo_libraries_imported_after_a_lean_spatialite_load_fail_instead_of_crashing(catalog_path):
    code = (
        "from eoharvest.adapters.catalog import open_reader\n"
        f"open_reader({str(catalog_path)!r}, preload=False).close()\n"
        "for name in ('pyogrio', 'pyproj', 'shapely'):\n"
        "    try:\n        __import__(name)\n    except ImportError as exc:\n        print('refused:', exc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    refusals = proc.stdout.splitlines()
    assert refusals[0].startswith("refused: pyogrio cannot be imported after SpatiaLite was loaded")
    assert refusals[1].startswith("refused: pyproj cannot be imported after SpatiaLite was loaded")
    assert refusals[2].startswith("refused: shapely cannot be imported after SpatiaLite was loaded")


def _mmap_size(connection) -> int:
    return connection.execute("PRAGMA mmap_size").fetchone()[0]


def test_only_long_running_readers_map_the_catalog_file(catalog_path):
    """`eoharvest serve` reads through a memory map (faster queries); short commands and the
    lean reader do not (their peak RSS must not grow with the catalog)."""
    criteria = CatalogFilter.create(aoi=Footprint.from_bbox(0, 39, 30, 42), cloud_max=50)
    answers = []
    for memory_map in (False, True):
        with open_catalog(catalog_path, read_only=True, memory_map=memory_map) as repo:
            raw = repo.reader.raw_connection()
            try:
                assert (_mmap_size(raw.driver_connection) > 0) is memory_map
            finally:
                raw.close()
            answers.append(export.geojson_collection(repo.query(criteria)))
    assert answers[0] == answers[1] and answers[0]["features"]
    with open_catalog(catalog_path) as repo:  # a writer (harvest, download) neither
        raw = repo.writer.raw_connection()
        try:
            assert _mmap_size(raw.driver_connection) == 0
        finally:
            raw.close()
    with open_reader(catalog_path) as reader:
        assert _mmap_size(reader._connection) == 0
