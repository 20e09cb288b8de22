"""A plain bbox read without shapely is exactly the box parse_aoi gives; every other text is
left to parse_aoi (which names what is wrong with it)."""

from __future__ import annotations

import pytest
import shapely
from hypothesis import given
from hypothesis import strategies as st

from eoharvest.domain.aoi import parse_aoi
from eoharvest.domain.aoi_box import AoiBox, plain_box
from eoharvest.domain.errors import InputError

lon = st.floats(-180, 180, allow_nan=False)
lat = st.floats(-90, 90, allow_nan=False)


@given(west=lon, south=lat, east=lon, north=lat, separator=st.sampled_from([",", ", ", " ", " , "]))
def test_a_plain_box_is_the_geometry_parse_aoi_makes_of_the_same_text(west, south, east, north, separator):
    text = separator.join(repr(v) for v in (west, south, east, north))
    box = plain_box(text)
    try:
        parsed = parse_aoi(text).footprint.geometry
    except InputError:
        assert box is None  # parse_aoi refuses it: so must the shortcut (it leaves the text to parse_aoi)
        return
    if box is not None:
        assert shapely.equals_exact(box.geometry, parsed, 0) and box.geometry.wkt == parsed.wkt
        assert box.part_bboxes == [parsed.bounds] and box.wkb == shapely.to_wkb(parsed)
    else:  # only the antimeridian-crossing and wider-than-180° boxes go the long way
        assert west > east or east - west > 180


@pytest.mark.parametrize(
    "text, expected",
    [
        ("4,44,16,52", AoiBox(4, 44, 16, 52)),
        (" -10.5 , 0 , 10.25, .5 ", AoiBox(-10.5, 0, 10.25, 0.5)),
        ("1e1 2 3e1 4", AoiBox(10, 2, 30, 4)),
        ("-180,-90,0,90", AoiBox(-180, -90, 0, 90)),
        ("170,0,-170,10", None),  # crosses the antimeridian: two parts, parse_aoi cuts it
        ("-100,0,100,10", None),  # wider than 180°: parse_aoi adds vertices
        ("0,0,0,10", None),  # no area: parse_aoi says so
        ("0,10,5,0", None),
        ("0,0,200,10", None),
        ("0,-91,5,0", None),
        ("nan,0,5,5", None),
        ("1e999,0,5,5", None),
        ("POLYGON((0 0,1 0,1 1,0 0))", None),
        ("[0, 0, 1, 1]", None),
        ("aoi.geojson", None),
    ],
)
def test_only_plain_boxes_take_the_shortcut(text, expected):
    assert plain_box(text) == expected


def test_non_text_values_are_left_to_parse_aoi():
    assert plain_box((0, 0, 1, 1)) is None and plain_box(None) is None
