import json

import pytest
import shapely

from eoharvest.domain.errors import InputError
from eoharvest.domain.footprint import Footprint

MARKHAM = "POLYGON ((-79.4 43.8, -79.3 43.8, -79.3 43.9, -79.4 43.9, -79.4 43.8))"


def test_wkt_geojson_and_wkb_round_trip_to_equal_footprints():
    fp = Footprint.from_wkt(MARKHAM)
    assert Footprint.from_wkb(fp.wkb) == fp
    assert Footprint.from_geojson(fp.geojson) == fp
    assert Footprint.from_geojson(json.dumps(fp.geojson)) == fp
    assert Footprint.from_wkt(fp.wkt) == fp


def test_bbox_and_centroid_are_lon_lat():
    fp = Footprint.from_wkt(MARKHAM)
    assert fp.bbox == pytest.approx((-79.4, 43.8, -79.3, 43.9))
    assert fp.centroid == pytest.approx((-79.35, 43.85))


def test_geo_interface_makes_footprints_usable_by_other_libraries():
    fp = Footprint.from_bbox(0, 0, 1, 1)
    assert shapely.geometry.shape(fp).equals(fp.geometry)


def test_each_part_of_a_multipolygon_has_its_own_bbox():
    fp = Footprint(shapely.MultiPolygon([shapely.box(170, 0, 180, 1), shapely.box(-180, 0, -170, 1)]))
    assert sorted(fp.part_bboxes) == [(-180, 0, -170, 1), (170, 0, 180, 1)]


def test_invalid_provider_footprints_are_kept_and_flagged():
    bowtie = Footprint.from_wkt("POLYGON ((0 0, 1 1, 1 0, 0 1, 0 0))")
    assert not bowtie.is_valid


def test_bad_text_is_an_input_error():
    with pytest.raises(InputError, match="not valid WKT"):
        Footprint.from_wkt("POLYGON ((0 0")
    with pytest.raises(InputError, match="not a GeoJSON geometry"):
        Footprint.from_geojson({"type": "Polygon"})
