"""The checks and repairs parse_aoi applies to a shapely geometry, in pipeline order."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from eoharvest.domain import antimeridian
from eoharvest.domain.aoi_coords import preview
from eoharvest.domain.errors import InputError

if TYPE_CHECKING:
    import pyproj

Warn = Callable[[str], None]

FIX_HINT = (
    "fix the geometry: --fix-geometry on the command line, parse_aoi(..., fix=True) "
    "or shapely.make_valid()"
)
FORMS = "WKT, GeoJSON, a bbox west,south,east,north or a vector file"
_REASON = re.compile(r"^(?P<what>.*?)\[(?P<x>\S+) (?P<y>\S+)\]$")


def bbox_geometry(values: Any) -> BaseGeometry:
    """A box from (west, south, east, north); west > east means it crosses the antimeridian."""
    if len(values) != 4 or not all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in values
    ):
        raise InputError(
            f"a list/tuple AOI must be a bbox of 4 numbers (west, south, east, north), "
            f"got {preview(list(values))}",
            hint=f"or give {FORMS}",
        )
    try:
        west, south, east, north = (float(v) for v in values)
    except OverflowError:
        raise InputError(f"bbox {preview(list(values))} has a number too large for a coordinate") from None
    corners = shapely.MultiPoint([(west, south), (east, north)])
    check_finite(corners)
    check_ranges(corners, preview([west, south, east, north]))
    if south >= north or west == east:
        raise InputError(
            f"bbox {west:g},{south:g},{east:g},{north:g} has no area (south must be < north, "
            "west != east)",
            hint="the order is west, south, east, north",
        )
    if west > east:  # GeoJSON bbox convention for crossing the antimeridian
        return shapely.MultiPolygon([shapely.box(west, south, 180.0, north),
                                     shapely.box(-180.0, south, east, north)])
    box = shapely.box(west, south, east, north)
    # Extra vertices keep every edge under 180° so the box is not read as crossing ±180.
    return shapely.segmentize(box, 90.0) if east - west > 180 else box


def check_finite(geometry: BaseGeometry) -> None:
    """NaN or Infinity anywhere is an InputError naming the value."""
    coords = shapely.get_coordinates(geometry)
    finite = np.isfinite(coords)
    if not finite.all():
        raise InputError(
            f"AOI coordinate {coords[~finite][0]} is not a finite number",
            hint="remove NaN/Infinity values from the AOI",
        )


@lru_cache(maxsize=32)
def _transformer(crs: str) -> pyproj.Transformer | None:
    import pyproj  # ~0.1 s: only an AOI in another CRS needs it

    try:
        source = pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError:
        raise InputError(
            f"AOI CRS {crs!r} is not understood",
            hint="use an EPSG code such as EPSG:32617, or reproject the AOI to EPSG:4326",
        ) from None
    if source.to_epsg() == 4326 or source.equals(pyproj.CRS("OGC:CRS84")):
        return None  # lon/lat WGS84 already (axis order is taken as lon, lat like GeoJSON)
    return pyproj.Transformer.from_crs(source, "EPSG:4326", always_xy=True)


def to_wgs84(geometry: BaseGeometry, crs: str | None) -> BaseGeometry:
    """The geometry reprojected from ``crs`` to EPSG:4326 lon/lat (unchanged when None/4326)."""
    if crs is None:
        return geometry
    transformer = _transformer(crs)
    if transformer is None:
        return geometry

    def forward(xy: np.ndarray) -> np.ndarray:
        return np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))

    from pyproj.exceptions import ProjError

    try:
        result = shapely.transform(geometry, forward)
    except ProjError as exc:
        raise InputError(f"AOI cannot be reprojected from {crs} to EPSG:4326: {exc}") from None
    if not np.isfinite(shapely.get_coordinates(result)).all():
        raise InputError(
            f"AOI cannot be reprojected from {crs} to EPSG:4326 (some points fall outside that CRS)",
            hint=f"check that the coordinates really are in {crs}",
        )
    return result


def check_ranges(geometry: BaseGeometry, shown: str | None = None) -> BaseGeometry:
    """Check lat in [-90, 90] and lon in [-180, 180]; return the geometry unwrapped if it crosses ±180.

    Longitudes past ±180 are accepted only for lines/polygons that use them to stay continuous
    across the antimeridian (``170..190``); a lone ``lon 200`` is out of range. ``shown`` is how
    the AOI is quoted in messages (default: its WKT, computed only when there is an error).
    """
    coords = shapely.get_coordinates(geometry)
    x, y = coords[:, 0], coords[:, 1]
    bad_lat = np.abs(y) > 90
    if bad_lat.any():
        value = float(y[bad_lat][0])
        swapped = bool((np.abs(x) <= 90).all() and (np.abs(y) <= 180).all())
        raise InputError(
            f"latitude {value:g} out of range [-90, 90] in {shown or preview(geometry.wkt)}"
            + ("; did you swap lat/lon?" if swapped else ""),
            hint=_range_hint(coords, "WKT and GeoJSON take longitude first: POINT(lon lat)"),
        )
    bad_lon = np.abs(x) > 180
    if bad_lon.any() and (shapely.get_dimensions(geometry) == 0 or (np.abs(x) > 540).any()):
        raise _lon_error(float(x[bad_lon][0]), shown or preview(geometry.wkt), coords)
    if bad_lon.any() or antimeridian.needs_unwrap(geometry):
        unwrapped = antimeridian.unwrap(geometry)
        west, _, east, _ = unwrapped.bounds
        straddles = west < 180 < east or west < -180 < east
        if (west < -180 or east > 180) and not (straddles and east - west < 360):
            value = float(x[bad_lon][0]) if bad_lon.any() else west
            raise _lon_error(value, shown or preview(geometry.wkt), coords)
        return unwrapped
    return geometry


def _lon_error(value: float, shown: str, coords: np.ndarray) -> InputError:
    return InputError(
        f"longitude {value:g} out of range [-180, 180] in {shown}",
        hint=_range_hint(coords, "give longitudes in [-180, 180]"),
    )


def _range_hint(coords: np.ndarray, default: str) -> str:
    if (np.abs(coords) > 1000).any():
        return "the coordinates look projected: state their CRS (GeoJSON crs member, EWKT SRID=, or a .prj)"
    return default


def check_valid(geometry: BaseGeometry, *, fix: bool, warn: Warn) -> BaseGeometry:
    """Invalid polygons raise with GEOS' reason and location, or are repaired when ``fix``."""
    reason = shapely.is_valid_reason(geometry)
    if reason == "Valid Geometry":
        return geometry
    match = _REASON.match(reason)
    if match:
        x, y = float(match["x"]), float(match["y"])
        x = x - 360 if x > 180 else x + 360 if x < -180 else x  # report unwrapped points as lon
        reason = f"{match['what']} at ({x:.10g}, {y:.10g})"
    if not fix:
        raise InputError(f"AOI polygon is not valid: {reason}", hint=FIX_HINT)
    repaired = shapely.make_valid(geometry)
    dimension = shapely.get_dimensions(geometry)
    kept = [p for p in shapely.get_parts(repaired) if shapely.get_dimensions(p) == dimension]
    if not kept:
        raise InputError(f"AOI polygon is not valid ({reason}) and nothing is left after repair")
    repaired = kept[0] if len(kept) == 1 else shapely.union_all(kept)
    warn(f"AOI polygon was not valid ({reason}); repaired with make_valid")
    return repaired


def _lines(geometry: BaseGeometry) -> np.ndarray:
    """The rings and lines of a geometry, for cheap plain Douglas-Peucker probes."""
    parts = shapely.get_parts(geometry)
    polygonal = shapely.get_dimensions(parts) == 2
    return np.concatenate((shapely.get_rings(parts[polygonal]), parts[~polygonal]))


def _probe_tolerance(geometry: BaseGeometry, max_vertices: int) -> float:
    """A tolerance at which plain Douglas-Peucker gets under ``max_vertices``.

    Topology-preserving simplification costs about a second per million vertices per pass, so
    the tolerance is searched with plain DP on the bare rings (no polygon repair), each probe
    working on the previous probe's output, and the expensive pass runs once at the end.
    """
    minx, miny, maxx, maxy = geometry.bounds
    tolerance = max(maxx - minx, maxy - miny) * 1e-7 or 1e-12
    lines = _lines(geometry)
    count = int(shapely.get_num_coordinates(lines).sum())
    for _ in range(80):
        lines = shapely.simplify(lines, tolerance, preserve_topology=False)
        new_count = int(shapely.get_num_coordinates(lines).sum())
        if new_count <= max_vertices:
            return tolerance
        # Grow faster while a pass barely removes anything (noise far above the tolerance).
        tolerance *= 2.0 if new_count < 0.75 * count else 8.0
        count = new_count
    return tolerance


def limit_vertices(geometry: BaseGeometry, max_vertices: int, warn: Warn) -> BaseGeometry:
    """Simplify (topology-preserving, growing tolerance) until at most ``max_vertices`` remain."""
    count = int(shapely.get_num_coordinates(geometry))
    if count <= max_vertices:
        return geometry
    if shapely.get_dimensions(geometry) == 0:
        raise InputError(
            f"AOI has {count:,} points, more than the limit of {max_vertices:,}; points cannot "
            "be simplified",
            hint="give a polygon or bbox around them",
        )
    tolerance = _probe_tolerance(geometry, max_vertices)
    for _ in range(40):
        simplified = shapely.simplify(geometry, tolerance, preserve_topology=True)
        if shapely.get_num_coordinates(simplified) <= max_vertices:
            break
        tolerance *= 2
    else:
        raise InputError(
            f"AOI with {count:,} vertices cannot be simplified below {max_vertices:,} "
            f"(it has {shapely.get_num_geometries(geometry):,} parts)",
            hint="merge the parts or give a bbox around them",
        )
    warn(
        f"AOI has {count:,} vertices; simplified to {shapely.get_num_coordinates(simplified):,} "
        f"(tolerance {tolerance:.3g}°) to stay within {max_vertices:,}"
    )
    return simplified
