"""Antimeridian and polar footprints from providers are found where they are, and only there."""

import json

import pytest
from click.testing import CliRunner
from shapely.geometry import Polygon

from corpus import load
from eoharvest.adapters.catalog import open_catalog
from eoharvest.adapters.providers.copernicus.items import scene_from_odata_product
from eoharvest.adapters.providers.stac.items import scene_from_stac_item
from eoharvest.domain.footprint import Footprint
from eoharvest.domain.models import Scene
from eoharvest.entrypoints.bootstrap import open_catalog_at
from eoharvest.entrypoints.cli_catalog import catalog as catalog_group
from eoharvest.entrypoints.context import AppContext

JUMP = [[170.0, 44.0], [-170.0, 44.0], [-170.0, 46.0], [170.0, 46.0], [170.0, 44.0]]
GREENWICH = "0,40,1,50"
WHERE_IT_IS = "174,44,176,46"


def stac_scene(geometry):
    item = {"type": "Feature", "id": "S2B_T01TCN_20240601T000000_L2A", "properties": {"datetime": "2024-06-01T00:00:00Z"},
            "geometry": geometry, "assets": {}, "links": []}
    return scene_from_stac_item(item, provider="earth-search", base_url="https://example.test/v1")


def odata_scene(**footprint):
    product = {"Id": "8e4d1f4a-0000-4000-8000-000000000001", "Name": "S1A_IW_GRDH_1SDV_20240601T000000_X.SAFE",
               "ContentDate": {"Start": "2024-06-01T00:00:00.000Z"}, "Footprint": None, "GeoFootprint": None, **footprint}
    return scene_from_odata_product(product)


def cmr_polar_scene():
    """A NASA CMR MODIS granule recorded crossing the north pole (no CMR mapper yet: its ring)."""
    umm = load("cmr", "01_granules_umm_json_page1_MOD02QKM_page_size2.json")["items"][0]["umm"]
    points = umm["SpatialExtent"]["HorizontalSpatialDomain"]["Geometry"]["GPolygons"][0]["Boundary"]["Points"]
    ring = Polygon([(p["Longitude"], p["Latitude"]) for p in points])
    return Scene("Terra", umm["GranuleUR"], Footprint.from_provider(ring), None, None, raw=umm, provider="cmr")


CASES = {
    # STAC item (Earth Search mapper): a ring stepping from 170 to -170
    "stac ring jumping 170 -> -170": (lambda: stac_scene({"type": "Polygon", "coordinates": [JUMP]}), WHERE_IT_IS, GREENWICH),
    # CDSE OData GeoFootprint with the same jump, and EWKT with longitudes past 180
    "odata GeoJSON jumping": (lambda: odata_scene(GeoFootprint={"type": "Polygon", "coordinates": [JUMP]}), WHERE_IT_IS, GREENWICH),
    "odata WKT past 180": (lambda: odata_scene(Footprint="geography'SRID=4326;POLYGON ((170 44, 190 44, 190 46, 170 46, 170 44))'"),
                           "-176,44,-174,46", GREENWICH),
    # a bounding rectangle with west > east (as CMR sends them)
    "bounding rectangle west > east": (lambda: Scene("Aqua", "rect", Footprint.from_provider_bbox(170, 44, -170, 46), None, None,
                                                     provider="cmr"), "-176,44,-174,46", GREENWICH),
    # a swath winding round the north pole: near the pole it is everywhere, at 72°N on 0° it is not
    "polar swath": (cmr_polar_scene, "175,85,176,86", "0,71.9,1,72.1"),
}


def query(path, aoi):
    obj = AppContext(overrides={"catalog_path": path})
    try:
        result = CliRunner().invoke(catalog_group, ["query", "--format", "geojson", "--aoi", aoi], obj=obj)
    finally:
        obj.close()
    assert result.exit_code == 0, result.output
    return [f["properties"]["scene_id"] for f in json.loads(result.output)["features"]]


@pytest.mark.parametrize("case", list(CASES))
def test_an_antimeridian_footprint_is_found_on_its_side_and_not_across_the_globe(catalog_location, case):
    # On SpatiaLite and on PostGIS alike (catalog_location: tests/conftest.py).
    make, inside, outside = CASES[case]
    scene = make()
    with open_catalog_at(catalog_location) as repo:
        repo.upsert_scenes([scene])
    assert query(catalog_location, inside) == [scene.scene_id]
    assert query(catalog_location, outside) == []


def test_the_provider_original_geometry_stays_in_the_raw_record(tmp_path):
    scene = stac_scene({"type": "Polygon", "coordinates": [JUMP]})
    with open_catalog(tmp_path / "c.db") as repo:
        repo.upsert_scenes([scene])
        stored = repo.get_scene("earth-search", scene.scene_id)
    assert stored.raw["geometry"]["coordinates"] == [JUMP]
    assert stored.footprint.geom_type == "MultiPolygon"
