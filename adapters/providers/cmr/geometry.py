"""Granule footprints from UMM-G ``SpatialExtent`` (UMM-G specification, "HorizontalSpatialDomain").

``GPolygons`` of a GEODETIC collection have great-circle edges: long edges are densified along
the great circle so that the lon/lat footprint follows them. A ring that crosses the antimeridian
is split at ±180 with :mod:`eoharvest.domain.antimeridian`; a ring that goes all the way round a
pole (polar swaths) is closed over that pole. ``BoundingRectangles`` with West > East cross the
antimeridian and become two boxes.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Iterable, Mapping

import numpy as np
import shapely
from shapely.geometry import LineString, Point, Polygon
from shapely.geometry.base import BaseGeometry

from eoharvest.domain import antimeridian
from eoharvest.domain.errors import InputError

log = logging.getLogger("eoharvest.cmr")

#: Great-circle edges longer than this many degrees of arc get intermediate points.
MAX_ARC_DEGREES = 1.0


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _points(value: Any) -> np.ndarray | None:
    """[{Longitude, Latitude}, ...] as an (n, 2) array, or None when anything is unusable."""
    if not isinstance(value, list) or not value:
        return None
    coords = []
    for point in value:
        p = _mapping(point)
        lon, lat = _number(p.get("Longitude")), _number(p.get("Latitude"))
        if lon is None or lat is None or not (-180 <= lon <= 180 and -90 <= lat <= 90):
            return None
        coords.append((lon, lat))
    return np.array(coords, dtype=float)


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def densify_great_circles(coords: np.ndarray, max_arc: float = MAX_ARC_DEGREES) -> np.ndarray:
    """Insert points along each great-circle edge longer than ``max_arc`` degrees."""
    lon, lat = np.radians(coords[:, 0]), np.radians(coords[:, 1])
    xyz = np.column_stack((np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)))
    out = [coords[0]]
    for i in range(1, len(coords)):
        a, b = xyz[i - 1], xyz[i]
        omega = math.acos(max(-1.0, min(1.0, float(np.dot(a, b)))))
        steps = math.ceil(math.degrees(omega) / max_arc)
        if steps > 1 and math.sin(omega) > 1e-9:  # antipodal points have no unique great circle
            for k in range(1, steps):
                t = k / steps
                v = (math.sin((1 - t) * omega) * a + math.sin(t * omega) * b) / math.sin(omega)
                out.append((math.degrees(math.atan2(v[1], v[0])), math.degrees(math.asin(max(-1.0, min(1.0, v[2]))))))
        out.append(coords[i])
    return np.array(out, dtype=float)


def _polar_cap(ring: np.ndarray) -> BaseGeometry:
    """A ring that winds once round a pole: closed over that pole, then split at ±180.

    CMR lists points counter-clockwise, so a ring running east encloses the north pole.
    """
    x = ring[:, 0].copy()
    steps = np.diff(x)
    x[1:] += np.cumsum(np.where(steps > 180, -360.0, np.where(steps < -180, 360.0, 0.0)))
    pole = 90.0 if x[-1] > x[0] else -90.0
    shell = [*zip(x.tolist(), ring[:, 1].tolist()), (x[-1], pole), (x[0], pole)]
    pieces = antimeridian.split(shapely.make_valid(Polygon(shell)))
    return shapely.union_all(shapely.get_parts(pieces))  # the pieces share the meridian of the ring's start


def ring_geometry(ring: np.ndarray, holes: Iterable[np.ndarray] = (), *, geodetic: bool = True) -> BaseGeometry:
    """One GPolygon as a lon/lat geometry within [-180, 180] (a MultiPolygon when split)."""
    if geodetic:
        ring = densify_great_circles(ring)
        holes = [densify_great_circles(h) for h in holes]
    polygon = Polygon(ring, [h for h in holes if len(h) >= 4])
    if not antimeridian.needs_unwrap(polygon):
        return polygon
    try:
        unwrapped = antimeridian.unwrap(polygon)
    except InputError:  # the ring goes round a pole
        return _polar_cap(ring)
    if not unwrapped.is_valid:
        unwrapped = shapely.make_valid(unwrapped)
    return antimeridian.split(unwrapped)


def rectangle_geometry(rect: Mapping[str, Any]) -> BaseGeometry | None:
    """A UMM-G BoundingRectangle; West > East means it crosses the antimeridian."""
    values = [_number(rect.get(f"{side}BoundingCoordinate")) for side in ("West", "South", "East", "North")]
    if any(v is None for v in values):
        return None
    west, south, east, north = (float(v or 0.0) for v in values)
    if not (-180 <= west <= 180 and -180 <= east <= 180 and -90 <= south <= north <= 90):
        return None
    if west <= east:
        return shapely.box(west, south, east, north)
    return shapely.MultiPolygon([shapely.box(west, south, 180.0, north), shapely.box(-180.0, south, east, north)])


def umm_footprint(spatial: Any, *, geodetic: bool = True, granule: str = "?") -> BaseGeometry | None:
    """The footprint of a UMM-G ``SpatialExtent`` (None when it has no usable geometry)."""
    geometry = _mapping(_mapping(_mapping(spatial).get("HorizontalSpatialDomain")).get("Geometry"))
    parts: list[BaseGeometry] = []
    try:
        for gpolygon in _list(geometry.get("GPolygons")):
            polygon = _mapping(gpolygon)
            ring = _points(_mapping(polygon.get("Boundary")).get("Points"))
            if ring is None or len(ring) < 4:
                continue
            zone = _list(_mapping(polygon.get("ExclusiveZone")).get("Boundaries"))
            holes = [h for h in (_points(_mapping(b).get("Points")) for b in zone) if h is not None]
            parts.append(ring_geometry(ring, holes, geodetic=geodetic))
        for rect in _list(geometry.get("BoundingRectangles")):
            box = rectangle_geometry(_mapping(rect))
            if box is not None:
                parts.append(box)
        if not parts:
            parts.extend(_points_and_lines(geometry))
    except (shapely.errors.GEOSException, ValueError, TypeError) as exc:
        log.warning("cmr: granule %s has an unusable footprint (%s); kept without one", granule, exc)
        return None
    if not parts:
        return None
    areal = [p for p in parts if not p.is_empty]
    return areal[0] if len(areal) == 1 else shapely.union_all(areal)


def _points_and_lines(geometry: Mapping[str, Any]) -> list[BaseGeometry]:
    found: list[BaseGeometry] = []
    single = _points(geometry.get("Points"))
    if single is not None:
        found.extend(Point(p) for p in single)
    for line in _list(geometry.get("Lines")):
        coords = _points(_mapping(line).get("Points"))
        if coords is not None and len(coords) >= 2:
            found.append(LineString(coords))
    return found
