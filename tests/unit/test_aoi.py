"""AOI parsing and validation: test plan rows B-01..B-12 and every accepted input form."""

import json
import logging
import math
from pathlib import Path

import numpy as np
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import LineString, Point, box

from fakes import FakeVectorReader

from eoharvest.domain.aoi import ParsedAOI, aoi_summary, parse_aoi
from eoharvest.domain.errors import InputError
from eoharvest.domain.footprint import Footprint
from eoharvest.domain.ports import VectorLayer

UTM17_CRS = {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32617"}}


def _collection(*geometries, crs=None):
    data = {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "properties": {}, "geometry": g} for g in geometries],
    }
    if crs:
        data["crs"] = crs
    return data


# -- B-01..B-12: every bad input raises InputError (exit code 2) with a telling message --------
BAD_INPUTS = [
    pytest.param("", ["AOI is empty"], id="B-01 empty string"),
    pytest.param("   \n", ["AOI is empty"], id="B-01 blank string"),
    pytest.param("empty.gpkg", ["AOI is empty", "no geometry"], id="B-01 empty file"),
    pytest.param("POLYGON((0 0, 1 1))", ["ring needs at least 4 points"], id="B-02 WKT too few points"),
    pytest.param({"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [0, 0]]]},
                 ["ring needs at least 4 points", "got 3"], id="B-02 GeoJSON too few points"),
    pytest.param("POLYGON((0 0, 1 0, 1 1, 0 1))", ["ring is not closed", "(0 1)"], id="B-03 WKT open ring"),
    pytest.param({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]},
                 ["ring is not closed"], id="B-03 GeoJSON open ring"),
    pytest.param("POLYGON((0 0, 2 2, 2 0, 0 2, 0 0))",
                 ["Self-intersection at (1, 1)", "--fix-geometry"], id="B-04 bow-tie"),
    pytest.param("POINT(200 10)", ["longitude 200", "out of range"], id="B-05 lon 200"),
    pytest.param("POINT(10 95)", ["latitude 95", "out of range"], id="B-05 lat 95"),
    pytest.param((-10, 10, 200, 20), ["longitude 200", "out of range"], id="B-05 bbox east 200"),
    pytest.param("POINT(35.7 139.7)", ["latitude 139.7 out of range", "did you swap lat/lon?"],
                 id="B-06 Tokyo swapped"),
    pytest.param({"type": "FeatureCollection", "features": []}, ["AOI is empty", "no geometry"],
                 id="B-08 FeatureCollection without features"),
    pytest.param(_collection(None), ["AOI is empty", "no feature"], id="B-08 features without geometry"),
    pytest.param({"type": "Point", "coordinates": [1, 2],
                  "crs": {"type": "name", "properties": {"name": "EPSG:999999"}}},
                 ["EPSG:999999", "not understood"], id="B-09 unknown CRS"),
    pytest.param("POINT(NaN 1)", ["nan", "not a finite number"], id="B-10 NaN in WKT"),
    pytest.param('{"type": "Point", "coordinates": [Infinity, 1]}', ["inf", "not a finite"],
                 id="B-10 Infinity in GeoJSON"),
    pytest.param((0, 0, math.nan, 1), ["nan", "not a finite"], id="B-10 NaN in bbox"),
    pytest.param(12, ["type int", "not supported"], id="unsupported type"),
    pytest.param("POLYGON((0 0, 1 0, 1 1, 0 0)", ["not valid WKT", "POLYGON((0 0"], id="malformed WKT"),
    pytest.param('{"type": "Polygon", ', ["not valid JSON", '{"type"'], id="malformed JSON"),
    pytest.param("CIRCULARSTRING(0 0, 1 1, 2 0)", ["CIRCULARSTRING", "not supported"], id="curved WKT"),
    pytest.param({"type": "Hexagon", "coordinates": []}, ["unknown GeoJSON geometry type", "Hexagon"],
                 id="unknown GeoJSON type"),
    pytest.param((1, 2, 3), ["bbox of 4 numbers"], id="bbox of 3 numbers"),
    pytest.param((5, 0, 5, 1), ["has no area"], id="bbox of zero width"),
]


@pytest.mark.parametrize(("value", "words"), BAD_INPUTS)
def test_bad_aoi_raises_input_error_naming_the_problem(value, words):
    reader = FakeVectorReader({"empty.gpkg": VectorLayer((), "EPSG:4326")})
    with pytest.raises(InputError) as info:
        parse_aoi(value, reader=reader)
    assert info.value.exit_code == 2
    for word in words:
        assert word in str(info.value)


def test_a_vector_file_without_a_reader_says_a_reader_is_needed():
    with pytest.raises(InputError, match="vector files need a reader"):
        parse_aoi(Path("area.gpkg"))


def test_a_bow_tie_is_repaired_with_a_warning_when_fix_is_asked():
    parsed = parse_aoi("POLYGON((0 0, 2 2, 2 0, 0 2, 0 0))", fix=True)
    assert parsed.footprint.is_valid
    assert parsed.footprint.geometry.area == pytest.approx(2.0)
    assert any("make_valid" in w for w in parsed.warnings)


def test_toronto_swapped_is_valid_but_the_summary_shows_bbox_and_centroid():
    parsed = parse_aoi("POINT(43.65 -79.38)")  # lat, lon: lands in Antarctica, not an error
    summary = aoi_summary(parsed)
    assert "bbox (W,S,E,N) 43.65,-79.38,43.65,-79.38" in summary
    assert "centroid (lon,lat) 43.65,-79.38" in summary


# -- B-07: the antimeridian ---------------------------------------------------------------
@pytest.mark.parametrize(
    "value",
    [
        "POLYGON((170 -10, -170 -10, -170 10, 170 10, 170 -10))",
        "POLYGON((170 -10, 190 -10, 190 10, 170 10, 170 -10))",
        (170, -10, -170, 10),
    ],
    ids=["jumps from 170 to -170", "continues past 180", "bbox with west > east"],
)
def test_an_aoi_crossing_the_antimeridian_is_split_into_two_narrow_parts(value):
    parsed = parse_aoi(value)
    geometry = parsed.footprint.geometry
    assert geometry.geom_type == "MultiPolygon"
    assert len(geometry.geoms) == 2
    assert all(east - west < 30 for west, _, east, _ in parsed.footprint.part_bboxes)
    assert geometry.area == pytest.approx(400.0)
    assert "170,-10,-170,10" in aoi_summary(parsed)


def test_a_line_crossing_the_antimeridian_is_split_too():
    parsed = parse_aoi("LINESTRING(175 0, -175 1)")
    assert parsed.footprint.geom_type == "MultiLineString"
    assert all(east - west <= 5 for west, _, east, _ in parsed.footprint.part_bboxes)


def test_the_world_box_is_not_mistaken_for_an_antimeridian_crossing():
    parsed = parse_aoi("POLYGON((-180 -90, 180 -90, 180 90, -180 90, -180 -90))")
    assert parsed.footprint.bbox == (-180, -90, 180, 90)
    assert parse_aoi((-170, -10, 170, 10)).footprint.bbox == (-170, -10, 170, 10)


# -- B-09: other CRSs ---------------------------------------------------------------------
def test_geojson_with_a_legacy_crs_member_is_reprojected_to_lon_lat():
    square = json.loads(shapely.to_geojson(box(500000, 4750000, 510000, 4760000)))
    parsed = parse_aoi(_collection(square, crs=UTM17_CRS))
    lon, lat = parsed.footprint.centroid
    assert lon == pytest.approx(-80.94, abs=0.05) and lat == pytest.approx(42.95, abs=0.05)
    assert parsed.source_crs == "urn:ogc:def:crs:EPSG::32617"


def test_ewkt_srid_is_reprojected_and_crs84_is_taken_as_is():
    assert parse_aoi("SRID=32617;POINT(500000 4750000)").footprint.centroid[0] == pytest.approx(-81.0)
    crs84 = {"type": "name", "properties": {"name": "urn:ogc:def:crs:OGC:1.3:CRS84"}}
    assert parse_aoi({"type": "Point", "coordinates": [5, 6], "crs": crs84}).footprint.centroid == (5, 6)


def test_projected_coordinates_without_a_crs_get_a_hint_to_state_it():
    with pytest.raises(InputError, match="look projected"):
        parse_aoi("POINT(500000 4750000)")


# -- B-10 / B-11: Z values and huge AOIs ------------------------------------------------------
def test_z_values_are_dropped_with_a_warning_that_is_also_logged(caplog):
    with caplog.at_level(logging.WARNING, logger="eoharvest.aoi"):
        parsed = parse_aoi("POLYGON Z ((0 0 5, 1 0 5, 1 1 5, 0 0 5))")
    assert not parsed.footprint.geometry.has_z
    assert any("Z/M values dropped" in w for w in parsed.warnings)
    assert "Z/M values dropped" in caplog.text


def _circle_ring(vertices: int) -> np.ndarray:
    angles = np.linspace(0, 2 * np.pi, vertices, endpoint=False)
    ring = np.column_stack((10 + 5 * np.cos(angles), 10 + 5 * np.sin(angles)))
    return np.vstack((ring, ring[:1]))


def test_a_million_vertex_aoi_is_simplified_under_the_limit_with_a_warning(monkeypatch):
    polygon = shapely.Polygon(_circle_ring(1_000_000))
    passes: list[tuple[bool, int]] = []  # (topology-preserving, vertices in) per simplify call
    simplify = shapely.simplify

    def counting_simplify(geometry, tolerance, preserve_topology=True, **options):
        passes.append((bool(preserve_topology), int(np.sum(shapely.get_num_coordinates(geometry)))))
        return simplify(geometry, tolerance, preserve_topology=preserve_topology, **options)

    monkeypatch.setattr(shapely, "simplify", counting_simplify)
    parsed = parse_aoi(polygon.wkt)
    # Cost in operations, not seconds (timings live in bench/): the expensive topology-preserving
    # pass runs once over the million vertices, and the cheap tolerance probes shrink their input.
    assert [n for topology, n in passes if topology] == [1_000_001]
    assert sum(n for _, n in passes) <= 4 * 1_000_001
    assert shapely.get_num_coordinates(parsed.footprint.geometry) <= 10_000
    assert parsed.footprint.is_valid
    assert parsed.footprint.geometry.area == pytest.approx(polygon.area, rel=1e-3)
    assert any("simplified" in w for w in parsed.warnings)


def test_max_vertices_sets_the_simplification_limit():
    parsed = parse_aoi(shapely.Polygon(_circle_ring(5_000)), max_vertices=100)
    assert shapely.get_num_coordinates(parsed.footprint.geometry) <= 100


def test_an_aoi_above_the_hard_vertex_cap_is_refused(monkeypatch):
    monkeypatch.setattr("eoharvest.domain.aoi.HARD_CAP_VERTICES", 1_000)
    with pytest.raises(InputError, match="above the hard limit"):
        parse_aoi(shapely.Polygon(_circle_ring(2_000)))


def test_aoi_text_above_the_size_cap_is_refused_before_parsing(monkeypatch):
    monkeypatch.setattr("eoharvest.domain.aoi.HARD_CAP_TEXT", 100)
    with pytest.raises(InputError, match="MB limit"):
        parse_aoi("POINT(1 2)" + " " * 200)


# -- B-12 and the accepted input forms ----------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "geom_type"),
    [
        ("POINT(-79.4 43.7)", "Point"),
        ("LINESTRING(-79.4 43.7, -79.3 43.8)", "LineString"),
        ("MULTIPOINT((0 0), (1 1))", "MultiPoint"),
        ("MULTILINESTRING((0 0, 1 1), (2 2, 3 3))", "MultiLineString"),
        ("MULTIPOLYGON(((0 0, 1 0, 1 1, 0 0)), ((5 5, 6 5, 6 6, 5 5)))", "MultiPolygon"),
        ("POLYGON((0 0, 4 0, 4 4, 0 4, 0 0), (1 1, 2 1, 2 2, 1 1))", "Polygon"),
        ('{"type": "LineString", "coordinates": [[0, 0], [1, 1]]}', "LineString"),
        ({"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 2]}}, "Point"),
        (_collection({"type": "Point", "coordinates": [1, 2]}, {"type": "Point", "coordinates": [3, 4]}),
         "MultiPoint"),
        (box(0, 0, 1, 1), "Polygon"),
        (Footprint(LineString([(0, 0), (1, 1)])), "LineString"),
        ((-79.5, 43.6, -79.2, 43.9), "Polygon"),
        ([-79.5, 43.6, -79.2, 43.9], "Polygon"),
        ("-79.5,43.6,-79.2,43.9", "Polygon"),
        ("[-79.5, 43.6, -79.2, 43.9]", "Polygon"),
    ],
)
def test_every_supported_form_gives_a_footprint(value, geom_type):
    parsed = parse_aoi(value)
    assert isinstance(parsed, ParsedAOI)
    assert parsed.footprint.geom_type == geom_type


def test_a_feature_collection_becomes_the_union_of_its_features():
    parsed = parse_aoi(_collection(json.loads(shapely.to_geojson(box(0, 0, 2, 2))),
                                   json.loads(shapely.to_geojson(box(1, 1, 3, 3)))))
    assert parsed.footprint.geometry.area == pytest.approx(7.0)


def test_objects_with_a_geo_interface_are_accepted():
    class Thing:
        __geo_interface__ = {"type": "Point", "coordinates": (1.0, 2.0)}

    assert parse_aoi(Thing()).footprint.geometry.equals(Point(1, 2))


def test_vector_files_are_read_through_the_reader_and_reprojected():
    utm_box = box(500000, 4750000, 510000, 4760000)
    reader = FakeVectorReader({"area.shp": VectorLayer((utm_box,), "EPSG:32617")})
    parsed = parse_aoi(Path("area.shp"), reader=reader)
    assert reader.reads == ["area.shp"]
    assert parsed.footprint.centroid[0] == pytest.approx(-80.94, abs=0.05)
    assert parsed.source_crs == "EPSG:32617"


# -- robustness -----------------------------------------------------------------------------
NUMBERS = st.floats() | st.integers(min_value=-(10**400), max_value=10**400) | st.floats(-200, 200)
POSITIONS = st.lists(NUMBERS, max_size=4)
RINGS = st.lists(POSITIONS, max_size=6)
JSONISH = st.recursive(
    st.none() | st.booleans() | NUMBERS | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=5)
    | st.dictionaries(
        st.sampled_from(["type", "coordinates", "geometry", "features", "crs", "x"]), inner, max_size=4
    ),
    max_leaves=20,
)
GEOJSONISH = st.fixed_dictionaries(
    {"type": st.sampled_from(["Point", "MultiPoint", "LineString", "MultiLineString", "Polygon",
                              "MultiPolygon", "Feature", "FeatureCollection", "GeometryCollection"])},
    optional={"coordinates": POSITIONS | RINGS | st.lists(RINGS, max_size=3) | JSONISH,
              "geometry": JSONISH, "features": JSONISH, "crs": JSONISH},
)
WKTISH = st.builds(
    "{}{}".format,
    st.sampled_from(["POINT", "LINESTRING", "POLYGON", "MULTIPOLYGON", "GEOMETRYCOLLECTION", "POLYGON Z"]),
    st.text(alphabet="() ,0123456789.-eNaIfEMPTY", max_size=40),
)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=60), WKTISH, JSONISH, GEOJSONISH, st.binary(max_size=10),
                 st.lists(NUMBERS, min_size=4, max_size=4)))
def test_random_input_never_raises_anything_but_input_error(value):
    try:
        parse_aoi(value)
    except InputError:
        pass
