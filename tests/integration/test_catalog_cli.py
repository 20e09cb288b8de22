"""`eoharvest catalog ...` over a real SpatiaLite catalog, through click's CliRunner."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone

import pytest
from click.testing import CliRunner
from fakes import catalog_scene
from shapely.geometry import MultiPolygon, box

from eoharvest.adapters.catalog import open_catalog
from eoharvest.domain.errors import InputError
from eoharvest.domain.footprint import Footprint
from eoharvest.entrypoints.cli_catalog import catalog as catalog_group
from eoharvest.entrypoints.context import AppContext


@pytest.fixture
def catalog_path(tmp_path):
    path = tmp_path / "c.db"
    with open_catalog(path) as repo:
        repo.upsert_scenes(
            [
                catalog_scene("a", product_key="S2A_one", cloud=5.0, download_links=("https://x.test/a",),
                              filenames=("a.zip",)),
                catalog_scene("a-copy", provider="earth-search", product_key="S2A_one", cloud=5.0),
                catalog_scene("b", product_key="S2B_two", cloud=60.0, platform="Landsat-8",
                              when=datetime(2023, 3, 1, tzinfo=timezone.utc)),
                catalog_scene("am", product_key="a_b%", cloud=None, footprint=Footprint(
                    MultiPolygon([box(179, 10, 180, 11), box(-180, 10, -179, 11)]))),
            ]
        )  # fmt: skip
        file_id = repo.record_file("cdse", "a", "a.zip", size=2048)
        repo.set_file_state(file_id, "available", local_path=str(path.parent / "a.zip"), sha256="ab" * 32)
    return path


def run(catalog_path, *args):
    obj = AppContext(overrides={"catalog_path": catalog_path})
    try:
        return CliRunner().invoke(catalog_group, list(args), obj=obj, catch_exceptions=True)
    finally:
        obj.close()


def test_query_prints_one_row_per_product_as_a_table(catalog_path):
    result = run(catalog_path, "query")
    assert result.exit_code == 0, result.output
    assert "S2A_one" in result.output and "S2B_two" in result.output
    assert result.output.count("S2A_one") == 1


def test_query_as_geojson_is_a_feature_collection(catalog_path):
    result = run(catalog_path, "query", "--format", "geojson", "--aoi", "10.2,45.2,10.4,45.4")
    data = json.loads(result.output)
    assert data["type"] == "FeatureCollection"
    assert [f["properties"]["product_key"] for f in data["features"]] == ["S2B_two", "S2A_one"]
    assert data["features"][0]["geometry"]["type"] == "MultiPolygon"


def test_query_as_csv_has_a_header_and_wkt(catalog_path):
    result = run(catalog_path, "query", "--format", "csv", "--sort", "cloud", "--desc", "--all-providers")
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert [r["scene_id"] for r in rows] == ["b", "a", "a-copy", "am"]
    assert rows[0]["footprint_wkt"].startswith("MULTIPOLYGON")


def test_query_as_stac_is_an_item_collection(catalog_path):
    result = run(catalog_path, "query", "--format", "stac", "--state", "available")
    data = json.loads(result.output)
    [item] = data["features"]
    assert data["type"] == "FeatureCollection" and item["stac_version"] == "1.1.0"
    assert item["id"] == "a" and item["properties"]["eo:cloud_cover"] == 5.0
    assert item["properties"]["datetime"].endswith("Z") and len(item["bbox"]) == 4
    # the downloaded file is the asset; the provider's link is its alternate
    assert item["assets"]["a"]["href"] == str(catalog_path.parent / "a.zip")
    assert item["assets"]["a"]["alternate"] == {"https": {"href": "https://x.test/a"}}


def test_query_finds_an_antimeridian_scene_from_the_west_side(catalog_path):
    result = run(catalog_path, "query", "--format", "geojson", "--aoi", "POLYGON((-179.9 10.2,-179.5 10.2,-179.5 10.5,-179.9 10.2))")
    assert [f["properties"]["scene_id"] for f in json.loads(result.output)["features"]] == ["am"]


def test_export_writes_geojson_geopackage_and_stac_that_read_back(catalog_path, tmp_path):
    pyogrio = pytest.importorskip("pyogrio")
    for fmt, name in (("geojson", "x.geojson"), ("gpkg", "x.gpkg"), ("stac", "x.json")):
        result = run(catalog_path, "export", "--format", fmt, "-o", str(tmp_path / name), "--where", "cloud < 50")
        assert result.exit_code == 0, result.output
    assert len(json.loads((tmp_path / "x.geojson").read_text())["features"]) == 1
    assert json.loads((tmp_path / "x.json").read_text())["features"][0]["stac_version"] == "1.1.0"
    info = pyogrio.read_info(tmp_path / "x.gpkg")
    assert info["features"] == 1 and info["geometry_type"] == "MultiPolygon"
    assert "4326" in info["crs"]
    _, _, geometry, fields = pyogrio.raw.read(tmp_path / "x.gpkg")
    assert len(geometry) == 1 and "S2A_one" in list(fields[2])


def test_stats_counts_platforms_years_states_and_archive_size(catalog_path):
    result = run(catalog_path, "stats", "--json")
    data = json.loads(result.output)
    assert (data["scenes"], data["products"]) == (4, 3)
    assert data["per_platform"] == {"Landsat-8": 1, "Sentinel-2": 3}
    assert data["per_state"] == {"available": 1, "none": 3}
    assert (data["files_available"], data["archive_bytes"]) == (1, 2048)
    assert "verified file" in run(catalog_path, "stats").output


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--where", "cloud < 20 OR 1=1; DROP TABLE scenes;--"], ["unexpected character", ";"]),  # B-53
        (["--sort", "acq_date; DROP TABLE scenes"], ["unknown sort field", "allowed fields", "cloud"]),  # B-54
        (["--sort", "password"], ["unknown sort field", "acq_date"]),  # B-54
        (["--where", "secret = 1"], ["unknown field", "secret"]),
        (["--aoi", "POLYGON((0 0,1 0,1 1,0 0))') --"], ["not valid WKT"]),  # B-56
    ],
)
def test_hostile_filters_are_input_errors_and_leave_the_tables_intact(catalog_path, args, words):
    result = run(catalog_path, "query", *args)
    assert isinstance(result.exception, InputError), result.output
    assert result.exception.exit_code == 2
    text = str(result.exception)
    assert all(w in text for w in words), text
    with open_catalog(catalog_path) as repo:
        assert repo.count() == 4


def test_like_treats_escaped_percent_and_underscore_literally(catalog_path):  # B-55
    literal = run(catalog_path, "query", "--format", "csv", "--where", r"name LIKE 'a\_b\%'")
    wildcard = run(catalog_path, "query", "--format", "csv", "--where", "name LIKE 'S2_%'")
    assert [r["scene_id"] for r in csv.DictReader(io.StringIO(literal.output))] == ["am"]
    assert [r["product_key"] for r in csv.DictReader(io.StringIO(wildcard.output))] == ["S2B_two", "S2A_one"]
    none = run(catalog_path, "query", "--format", "csv", "--where", r"name LIKE 'S2\_%'")
    assert list(csv.DictReader(io.StringIO(none.output))) == []
