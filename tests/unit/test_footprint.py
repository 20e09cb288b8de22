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


# -- the GeoJSON shortcut of from_provider_geojson ---------------------------------------------
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from shapely.geometry import shape as _shape  # noqa: E402

from eoharvest.domain import footprint as _footprint_module  # noqa: E402
from eoharvest.domain.antimeridian import normalise_footprint as _normalise  # noqa: E402

_lon = st.floats(min_value=-200, max_value=200, allow_nan=False) | st.integers(-400, 400)
_lat = st.floats(min_value=-90, max_value=90, allow_nan=False)


@st.composite
def _polygons(draw):
    rings = []
    for _ in range(draw(st.integers(1, 2))):
        points = [[draw(_lon), draw(_lat)] for _ in range(draw(st.integers(3, 6)))]
        rings.append(points + [list(points[0])])
    return rings


@given(st.lists(_polygons(), min_size=1, max_size=2), st.booleans())
@settings(max_examples=300, deadline=None)
def test_the_shortcut_only_skips_footprints_normalisation_keeps_as_they_are(polygons, multi):
    obj = {"type": "MultiPolygon", "coordinates": polygons} if multi else {"type": "Polygon", "coordinates": polygons[0]}
    if _footprint_module._within_one_half_turn(obj):
        geometry = _shape(obj)
        assert _normalise(geometry) is geometry
        assert Footprint.from_provider_geojson(obj).geometry.equals_exact(geometry, 0)


@pytest.mark.parametrize("obj", [
    {"type": "Polygon", "coordinates": [[[170, 0], [-170, 0], [-170, 1], [170, 1], [170, 0]]]},  # crosses ±180
    {"type": "Polygon", "coordinates": [[[175, 0], [185, 0], [185, 1], [175, 1], [175, 0]]]},  # past 180
    {"type": "Polygon", "coordinates": [[[-100, 0], [100, 0], [100, 1], [-100, 1], [-100, 0]]]},  # wider than 180
    {"type": "Polygon", "coordinates": [[[0, 0], [1, float("nan")], [1, 1], [0, 0]]]},
    {"type": "Polygon", "coordinates": [[[0, 0], ["1", 0], [1, 1], [0, 0]]]},
    {"type": "Polygon", "coordinates": [[[0, 0], [1, 10**400], [1, 1], [0, 0]]]},
    {"type": "Polygon", "coordinates": [[[True, 0], [1, 0], [1, 1], [0, 0]]]},
    {"type": "Polygon", "coordinates": []},
    {"type": "Point", "coordinates": [0, 0]},
])
def test_the_shortcut_leaves_every_other_footprint_to_normalisation(obj):
    assert not _footprint_module._within_one_half_turn(obj)


def test_a_footprint_across_the_antimeridian_from_geojson_is_still_cut():
    obj = {"type": "Polygon", "coordinates": [[[170, 0], [-170, 0], [-170, 1], [170, 1], [170, 0]]]}
    bounds = Footprint.from_provider_geojson(obj).geometry.bounds
    assert bounds[0] >= -180 and bounds[2] <= 180 and Footprint.from_provider_geojson(obj).geometry.geom_type == "MultiPolygon"


def test_a_plain_footprint_from_geojson_is_the_geojson():
    obj = {"type": "Polygon", "coordinates": [[[10, 0], [11, 0], [11, 1], [10, 1], [10, 0]]]}
    assert Footprint.from_provider_geojson(obj).geometry.equals_exact(_shape(obj), 0)


# -- footprints of a page built together ---------------------------------------------------------
import numpy as _np  # noqa: E402

from eoharvest.domain.footprint import plain_polygon_footprints  # noqa: E402


def _same(built, expected):
    assert built.geometry.geom_type == expected.geometry.geom_type
    assert _np.array_equal(shapely.get_coordinates(built.geometry, include_z=True),
                           shapely.get_coordinates(expected.geometry, include_z=True), equal_nan=True)
    assert len(built.geometry.interiors) == len(expected.geometry.interiors)


@given(st.lists(_polygons(), min_size=1, max_size=6), st.lists(st.booleans(), min_size=6, max_size=6))
@settings(max_examples=200, deadline=None)
def test_a_page_of_footprints_is_what_each_item_gives_alone(polygons, unclosed):
    objs = []
    for rings, drop_last in zip(polygons, unclosed):
        rings = [ring[:-1] for ring in rings] if drop_last else rings  # shapely closes open rings
        objs.append({"type": "Polygon", "coordinates": rings})
    for obj, built in zip(objs, plain_polygon_footprints(objs)):
        if built is not None:
            _same(built, Footprint.from_provider_geojson(obj))


def test_other_geometries_are_left_to_each_item():
    square = {"type": "Polygon", "coordinates": [[[10, 0], [11, 0], [11, 1], [10, 1], [10, 0]]]}
    others = [
        None,
        {"type": "Point", "coordinates": [0, 0]},
        {"type": "MultiPolygon", "coordinates": [square["coordinates"]]},
        {"type": "Polygon", "coordinates": [[[170, 0], [-170, 0], [-170, 1], [170, 0]]]},  # crosses ±180
        {"type": "Polygon", "coordinates": [[[10, 0, 5], [11, 0, 5], [11, 1, 5], [10, 0, 5]]]},  # 3-D
        {"type": "Polygon", "coordinates": square["coordinates"] + [[[10.2, 0.2], [10.4, 0.2], [10.4, 0.4], [10.2, 0.2]]]},
    ]
    built = plain_polygon_footprints([square, *others, square])
    assert built[1:-1] == [None] * len(others)
    _same(built[0], Footprint.from_provider_geojson(square))
    _same(built[-1], Footprint.from_provider_geojson(square))


def test_a_ring_too_short_leaves_the_whole_page_to_each_item():
    square = {"type": "Polygon", "coordinates": [[[10, 0], [11, 0], [11, 1], [10, 1], [10, 0]]]}
    short = {"type": "Polygon", "coordinates": [[[10, 0], [11, 0]]]}
    assert plain_polygon_footprints([square, short]) == [None, None]
    with pytest.raises(InputError):
        Footprint.from_provider_geojson(short)  # the item keeps its own error (and its scene)
