"""Provider footprints are cut at the antimeridian and closed over a pole when a Scene is built."""

import ast
import warnings
from pathlib import Path

import pytest
import shapely
from hypothesis import example, given, settings
from hypothesis import strategies as st
from shapely.geometry import MultiPolygon, Polygon

from corpus import load
from eoharvest.domain.footprint import Footprint

ROOT = Path(__file__).resolve().parents[2]


def recorded_cmr_ring(name: str, index: int) -> list[tuple[float, float]]:
    """The GPolygon of a granule recorded from NASA CMR (UMM-G), as (lon, lat) pairs."""
    granule = load("cmr", name)["items"][index]["umm"]
    points = granule["SpatialExtent"]["HorizontalSpatialDomain"]["Geometry"]["GPolygons"][0]["Boundary"]["Points"]
    return [(p["Longitude"], p["Latitude"]) for p in points]


def lon_ranges(footprint: Footprint) -> list[tuple[float, float]]:
    return sorted((round(p.bounds[0], 6), round(p.bounds[2], 6)) for p in shapely.get_parts(footprint.geometry))


def test_a_footprint_jumping_from_170_to_minus_170_becomes_two_narrow_parts():
    fp = Footprint.from_provider_geojson(
        {"type": "Polygon", "coordinates": [[[170, 44], [-170, 44], [-170, 46], [170, 46], [170, 44]]]})
    assert fp.geom_type == "MultiPolygon" and fp.is_valid
    assert lon_ranges(fp) == [(-180, -170), (170, 180)]
    assert fp.geometry.area == pytest.approx(40.0)  # 20° x 2°, not 340° x 2°


def test_a_footprint_with_longitudes_past_180_is_cut_and_shifted_back():
    fp = Footprint.from_provider_wkt("POLYGON ((175 -17, 185 -17, 185 -16, 175 -16, 175 -17))")
    assert lon_ranges(fp) == [(-180, -175), (175, 180)]
    beyond = Footprint.from_provider_wkt("POLYGON ((190 1, 200 1, 200 2, 190 2, 190 1))")
    assert lon_ranges(beyond) == [(-170, -160)]


def test_a_bounding_rectangle_with_west_greater_than_east_covers_both_sides_of_the_antimeridian():
    fp = Footprint.from_provider_bbox(170.0, 44.0, -170.0, 46.0)
    assert lon_ranges(fp) == [(-180, -170), (170, 180)]
    assert fp.rfc7946_bbox == (170.0, 44.0, -170.0, 46.0)
    assert lon_ranges(Footprint.from_provider_bbox(-180, -90, 180, 90)) == [(-180, 180)]


def test_a_recorded_cmr_swath_crossing_the_antimeridian_is_cut_there():
    ring = recorded_cmr_ring("01_granules_umm_json_page1_MOD02QKM_page_size2.json", 1)
    fp = Footprint.from_provider(Polygon(ring))
    assert fp.is_valid and lon_ranges(fp) == [(-180, -145.975778), (145.201467, 180)]
    assert fp.intersects(Footprint.from_bbox(175, 60, 176, 61))
    assert not fp.intersects(Footprint.from_bbox(0, 60, 1, 61))


def test_a_recorded_cmr_polar_swath_winding_round_the_pole_is_closed_over_the_pole():
    ring = recorded_cmr_ring("01_granules_umm_json_page1_MOD02QKM_page_size2.json", 0)
    fp = Footprint.from_provider(Polygon(ring))
    assert fp.is_valid
    assert fp.geometry.bounds == pytest.approx((-180, 66.835767, 180, 90))
    assert fp.intersects(Footprint.from_bbox(175, 85, 176, 86))  # near the pole, far side of ±180
    assert not fp.intersects(Footprint.from_bbox(0, 71.9, 1, 72.1))  # inside the naive lon/lat shape only


def test_a_footprint_within_180_degrees_is_kept_as_given():
    polygon = Polygon([(10, 10), (11, 10), (11, 11), (10, 11), (10, 10)])
    assert Footprint.from_provider(polygon).geometry is polygon
    split = MultiPolygon([shapely.box(170, 0, 180, 1), shapely.box(-180, 0, -170, 1)])
    assert Footprint.from_provider(split).geometry is split


def test_exported_geojson_has_counter_clockwise_exterior_rings():
    clockwise = Footprint.from_wkt("POLYGON ((0 0, 0 1, 1 1, 1 0, 0 0))")
    assert Polygon(clockwise.geojson["coordinates"][0]).exterior.is_ccw is False
    assert Polygon(clockwise.rfc7946_geojson["coordinates"][0]).exterior.is_ccw


coordinate = st.tuples(st.floats(-400, 400, allow_nan=False), st.floats(-90, 90, allow_nan=False))


# Rings with subnormal latitudes that made GEOS divide by zero (a numpy RuntimeWarning, an error here).
DEGENERATE_RINGS = [
    [(150.9921122418201, 0.0), (540.0, 1e-300), (-400.0, 0.0), (360.0, -35.40019553101602), (360.0, 5e-324),
     (95.25640481373961, 90.0)],
    [(-400.0, 0.0), (400.0, 0.0), (353.4169776363897, 0.0), (-360.0, 90.0), (360.0, 5e-324)],
]  # fmt: skip


@pytest.mark.parametrize("points", DEGENERATE_RINGS)
def test_a_ring_that_makes_geos_divide_by_zero_is_kept_as_given_without_a_warning(points):
    polygon = Polygon([*points, points[0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fp = Footprint.from_provider(polygon)
    assert fp.geometry is polygon  # cannot be normalised: returned as given, never refused


@settings(max_examples=300, deadline=None)
@given(st.lists(coordinate, min_size=3, max_size=8))
@example(DEGENERATE_RINGS[0])
@example(DEGENERATE_RINGS[1])
def test_normalising_any_ring_never_raises_and_keeps_longitudes_in_range(points):
    try:
        polygon = Polygon([*points, points[0]])
    except (ValueError, shapely.errors.GEOSException):
        return
    fp = Footprint.from_provider(polygon)
    if fp.geometry is not polygon and not fp.geometry.is_empty:
        minx, _, maxx, _ = fp.geometry.bounds
        assert -180 <= minx and maxx <= 180


def test_every_provider_mapper_builds_footprints_through_the_normaliser():
    """CMR, USGS and Planet mappers inherit the normalisation only if nobody bypasses it."""
    raw = {"from_geojson", "from_wkt", "from_wkb", "from_bbox"}
    offenders = []
    for path in sorted((ROOT / "adapters" / "providers").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            call = node.func if isinstance(node, ast.Call) else None
            if isinstance(call, ast.Attribute) and isinstance(call.value, ast.Name) and call.value.id == "Footprint":
                if call.attr in raw:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} Footprint.{call.attr}")
            elif isinstance(call, ast.Name) and call.id == "Footprint":
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} Footprint(...)")
    assert offenders == []
