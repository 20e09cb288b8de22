"""GeoJSON text written from WKB without shapely holds shapely's own GeoJSON values, float for float."""

from __future__ import annotations

import json

import pytest
import shapely
from hypothesis import given
from hypothesis import strategies as st

from eoharvest.adapters.catalog.wkb_geojson import geojson_text

coordinate = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False) | st.sampled_from([0.1, 1e-300, -0.0, 5e-324])
point = st.tuples(coordinate, coordinate)


def ring(points):
    return [*points, points[0]]


polygons = st.lists(st.lists(point, min_size=3, max_size=8).map(ring), min_size=1, max_size=3).map(
    lambda rings: shapely.Polygon(rings[0], rings[1:])
)
geometries = st.one_of(
    point.map(shapely.Point),
    st.lists(point, min_size=2, max_size=6).map(shapely.LineString),
    polygons,
    st.lists(point, min_size=1, max_size=4).map(shapely.MultiPoint),
    st.lists(st.lists(point, min_size=2, max_size=4).map(shapely.LineString), min_size=1, max_size=3).map(
        shapely.MultiLineString
    ),
    st.lists(polygons, min_size=1, max_size=3).map(shapely.MultiPolygon),
)


@given(geometry=geometries | st.lists(geometries, min_size=1, max_size=3).map(shapely.GeometryCollection),
       big_endian=st.booleans())  # fmt: skip
def test_the_text_is_shapelys_geojson(geometry, big_endian):
    wkb = shapely.to_wkb(geometry, byte_order=0 if big_endian else 1)
    text = geojson_text(wkb)
    # The same values, float for float (no number rounded), each written as the shortest text
    # that reads back exactly (GEOS sometimes writes a 17th digit that changes nothing).
    assert json.loads(text) == json.loads(shapely.to_geojson(geometry))


def test_a_missing_footprint_is_null():
    assert geojson_text(None) == "null"


@pytest.mark.parametrize(
    "wkb",
    [
        shapely.to_wkb(shapely.Point(1, 2, 3)),  # 3-D: the catalog stores 2-D only
        shapely.to_wkb(shapely.box(0, 0, 1, 1))[:-3],  # truncated
        shapely.to_wkb(shapely.box(0, 0, 1, 1)) + b"\x00",  # trailing bytes
        b"\x02\x03\x00\x00\x00",  # no byte-order mark
        b"",
    ],
)
def test_anything_but_2d_wkb_is_a_value_error(wkb):
    with pytest.raises(ValueError, match="not 2-D WKB"):
        geojson_text(wkb)
