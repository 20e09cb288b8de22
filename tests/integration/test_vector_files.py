"""Vector files on disk: the OGR reader adapter, AOIs from files, and the eoharvest.vector helpers."""

import json

import numpy as np
import pyogrio.raw
import pytest
import shapely
from shapely.geometry import box

from eoharvest import vector
from eoharvest.adapters.vector_files import OgrVectorReader, list_layers
from eoharvest.domain.aoi import parse_aoi
from eoharvest.domain.errors import InputError
from eoharvest.domain.ports import VectorLayer
from eoharvest.vector import (
    InvalidShapeIdError,
    get_seg_bbox,
    get_seg_bbox_geojson,
    shape_to_geojson,
    to_geojson_polygon,
    to_geojson_polygon_string,
)

UTM_BOX = box(500000, 4750000, 510000, 4760000)  # near -81, 43 in UTM zone 17N
BIG_UTM_BOX = box(300000, 4500000, 700000, 4900000)  # big enough for reprojection to bend it


def _write(path, geometries, *, layer=None, driver, crs="EPSG:32617", geometry_type="Polygon"):
    wkb = np.array([None if g is None else shapely.to_wkb(g) for g in geometries], dtype=object)
    pyogrio.raw.write(str(path), wkb, [], [], layer=layer, driver=driver,
                      geometry_type=geometry_type, crs=crs)
    return path


@pytest.fixture
def shapefile(tmp_path):
    return _write(tmp_path / "area.shp", [UTM_BOX], driver="ESRI Shapefile")


@pytest.fixture
def geopackage(tmp_path):
    path = tmp_path / "areas.gpkg"
    _write(path, [box(10, 50, 11, 51)], layer="europe", driver="GPKG", crs="EPSG:4326")
    _write(path, [UTM_BOX, BIG_UTM_BOX], layer="ontario", driver="GPKG")
    return path


# -- the reader adapter ---------------------------------------------------------------------
def test_the_reader_defaults_to_the_last_layer_of_a_geopackage(geopackage):
    assert list_layers(geopackage) == ["europe", "ontario"]
    layer = OgrVectorReader().read(geopackage)
    assert layer.layer == "ontario"
    assert layer.crs == "EPSG:32617"
    assert [g.equals(b) for g, b in zip(layer.geometries, [UTM_BOX, BIG_UTM_BOX])] == [True, True]


def test_the_reader_picks_a_layer_by_name_or_index(geopackage):
    reader = OgrVectorReader()
    assert reader.read(geopackage, "europe").crs == "EPSG:4326"
    assert reader.read(geopackage, 0).layer == "europe"
    assert reader.read(geopackage, -1).layer == "ontario"


def test_an_unknown_layer_lists_the_layers_there_are(geopackage):
    with pytest.raises(InputError, match="no layer 'asia'.*0: 'europe', 1: 'ontario'"):
        OgrVectorReader().read(geopackage, "asia")
    with pytest.raises(InputError, match="no layer 5"):
        OgrVectorReader().read(geopackage, 5)


def test_null_geometries_are_skipped_and_fids_kept(tmp_path):
    path = tmp_path / "holes.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": None},
        {"type": "Feature", "properties": {}, "geometry": {"type": "Point", "coordinates": [1, 2]}},
    ]}))
    shapes = OgrVectorReader().read_shapes(path)
    assert len(shapes.layer.geometries) == 1
    assert shapes.fids == (1,)


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "does not exist"), ("", "is empty"), ("not a vector file", "cannot be opened by OGR")],
    ids=["missing", "empty file", "garbage"],
)
def test_unreadable_files_raise_input_errors_naming_the_path(tmp_path, content, message):
    path = tmp_path / "aoi.geojson"
    if content is not None:
        path.write_text(content)
    with pytest.raises(InputError, match=message) as info:
        OgrVectorReader().read(path)
    assert str(path) in str(info.value)
    assert info.value.exit_code == 2


# -- AOIs from files (B-01, B-09) --------------------------------------------------------------
def _assert_near_ontario(parsed):
    lon, lat = parsed.footprint.centroid
    assert lon == pytest.approx(-80.94, abs=0.05)
    assert lat == pytest.approx(42.95, abs=0.05)


def test_a_projected_shapefile_aoi_is_reprojected_to_lon_lat(shapefile):
    parsed = parse_aoi(shapefile, reader=OgrVectorReader())
    _assert_near_ontario(parsed)
    assert parsed.source_crs == "EPSG:32617"


def test_a_geopackage_aoi_uses_the_last_layer(geopackage):
    parsed = parse_aoi(str(geopackage), reader=OgrVectorReader())
    assert parsed.footprint.geometry.contains(shapely.Point(-80.94, 42.95))
    assert parsed.footprint.bbox[0] < -82  # the big box is there too: both features are used


def test_a_geojson_file_with_a_legacy_crs_member_is_reprojected(tmp_path):
    path = tmp_path / "area.geojson"
    path.write_text(json.dumps({
        "type": "FeatureCollection",
        "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32617"}},
        "features": [{"type": "Feature", "properties": {}, "geometry": shapely.geometry.mapping(UTM_BOX)}],
    }))
    _assert_near_ontario(parse_aoi(path, reader=OgrVectorReader()))


def test_a_kml_file_is_read_as_lon_lat(tmp_path):
    path = tmp_path / "area.kml"
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?><kml xmlns="http://www.opengis.net/kml/2.2"><Document>'
        "<Placemark><Polygon><outerBoundaryIs><LinearRing><coordinates>"
        "-81,42.9 -80.9,42.9 -80.9,43 -81,43 -81,42.9"
        "</coordinates></LinearRing></outerBoundaryIs></Polygon></Placemark></Document></kml>"
    )
    parsed = parse_aoi(path, reader=OgrVectorReader())
    assert parsed.footprint.bbox == pytest.approx((-81, 42.9, -80.9, 43))


def test_an_empty_layer_or_empty_file_is_an_empty_aoi(tmp_path):
    gpkg = _write(tmp_path / "empty.gpkg", [], layer="nothing", driver="GPKG")
    with pytest.raises(InputError, match="AOI is empty"):
        parse_aoi(gpkg, reader=OgrVectorReader())
    blank = tmp_path / "blank.geojson"
    blank.write_text("")
    with pytest.raises(InputError, match="empty"):
        parse_aoi(blank, reader=OgrVectorReader())


# -- eoharvest.vector ------------------------------------------------------------------------------
def test_the_extent_in_the_layers_own_crs_is_its_axis_aligned_box(geopackage):
    corners = get_seg_bbox(geopackage)
    assert corners == [(300000, 4500000), (700000, 4500000), (700000, 4900000), (300000, 4900000)]
    assert get_seg_bbox(geopackage, "EPSG:32617") == corners


def test_a_reprojected_extent_has_four_distinct_corners_that_are_not_a_rectangle(geopackage):
    (llx, lly), (lrx, lry), (urx, ury), (ulx, uly) = corners = get_seg_bbox(geopackage, 4326)
    assert len(set(corners)) == 4
    assert llx != pytest.approx(ulx, abs=1e-6) or lly != pytest.approx(lry, abs=1e-6)
    assert -84 < llx < -78 and 40 < lly < 45


def test_the_extent_as_geojson_is_a_closed_polygon(geopackage):
    polygon = get_seg_bbox_geojson(geopackage, "EPSG:4326")
    ring = polygon["coordinates"][0]
    assert polygon["type"] == "Polygon"
    assert len(ring) == 5 and ring[0] == ring[-1]


def test_vec_id_picks_the_layer_and_a_read_layer_works_as_vec(geopackage):
    assert get_seg_bbox(geopackage, vec_id="europe") == [(10, 50), (11, 50), (11, 51), (10, 51)]
    layer = OgrVectorReader().read(geopackage, "europe")
    assert get_seg_bbox(layer) == [(10, 50), (11, 50), (11, 51), (10, 51)]


def test_an_empty_layer_has_no_extent(tmp_path):
    gpkg = _write(tmp_path / "empty.gpkg", [], layer="nothing", driver="GPKG")
    assert get_seg_bbox(gpkg) is None
    assert get_seg_bbox_geojson(gpkg, 4326) is None
    assert get_seg_bbox(VectorLayer((), None)) is None


def test_shapes_are_found_by_ogr_fid_and_reprojected(geopackage, shapefile):
    # GeoPackage FIDs start at 1, shapefile FIDs at 0.
    assert shapely.geometry.shape(shape_to_geojson(geopackage, 1)).equals(UTM_BOX)
    lon, lat = shape_to_geojson(shapefile, 0, "EPSG:4326")["coordinates"][0][0]
    assert lon == pytest.approx(-80.88, abs=0.05) and lat == pytest.approx(42.9, abs=0.05)


def test_an_already_read_layer_with_fids_is_addressed_by_fid(geopackage):
    shapes = OgrVectorReader().read_shapes(geopackage)
    assert shapes.fids == (1, 2)
    assert shapely.geometry.shape(shape_to_geojson(shapes, np.int64(2))).equals(BIG_UTM_BOX)


def test_an_invalid_shape_id_names_the_id_and_the_valid_range(geopackage):
    with pytest.raises(InvalidShapeIdError, match="invalid shape id 7.*valid ids are 1..2") as info:
        shape_to_geojson(geopackage, 7)
    assert isinstance(info.value, InputError)
    with pytest.raises(InvalidShapeIdError, match="valid ids are 0..0"):
        shape_to_geojson(VectorLayer((UTM_BOX,), "EPSG:32617"), 1)


def test_a_layer_without_a_crs_cannot_be_reprojected():
    with pytest.raises(InputError, match="has no CRS"):
        get_seg_bbox(VectorLayer((UTM_BOX,), None), 4326)


def test_geojson_polygons_are_built_with_holes_and_open_rings_closed():
    exterior = [(0, 0), (10, 0), (10, 10), (0, 10)]  # open: the helper closes it
    polygon = to_geojson_polygon(exterior, holes=[[(2, 2), (4, 2), (4, 4), (2, 2)]])
    assert polygon == {
        "type": "Polygon",
        "coordinates": [
            [[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0], [0.0, 0.0]],
            [[2.0, 2.0], [4.0, 2.0], [4.0, 4.0], [2.0, 2.0]],
        ],
    }
    text = to_geojson_polygon_string(polygon["coordinates"][0])
    assert shapely.geometry.shape(json.loads(text)).area == 100
    with pytest.raises(InputError, match="at least 3 vertices"):
        to_geojson_polygon([(0, 0), (1, 1)])


def test_the_module_is_importable_as_eoharvest_vector():
    assert vector.get_seg_bbox is get_seg_bbox


def test_an_unclosed_ring_in_a_geojson_file_is_one_clear_error_without_ogr_warnings_on_stderr(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    path = tmp_path / "unclosed.geojson"
    ring = [[0, 0], [1, 0], [1, 1], [0, 1]]  # the first point is not repeated at the end (B-03)
    path.write_text(json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", "coordinates": [ring]}}]}))
    eoharvest = Path(sys.executable).with_name("eoharvest")
    result = subprocess.run([str(eoharvest), "aoi", "check", str(path)], capture_output=True, text=True,
                            timeout=60, env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "ring is not closed" in result.stderr
    assert "Warning" not in result.stderr
