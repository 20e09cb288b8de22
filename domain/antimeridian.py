"""Antimeridian handling for lon/lat geometries: unwrap, split at ±180, and summarise.

A ring whose consecutive vertices jump by more than 180° of longitude is read as crossing the
antimeridian by the short way (RFC 7946 §3.1.9), so ``170 → -170`` is a 20° step east, not a
340° step west. Such rings are first *unwrapped* into continuous longitudes (``170 → 190``),
and the result is then *split* into parts that each lie within [-180, 180].
"""

from __future__ import annotations

from typing import cast

import numpy as np
import shapely
from shapely.affinity import translate
from shapely.geometry import LinearRing, LineString, MultiLineString, MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from eoharvest.domain.errors import InputError

_HALF_TURN = 180.0


def _shifts(x: np.ndarray) -> np.ndarray:
    """Per step, the whole turn that makes it the short way round (0 for most steps).

    A step between two points that both lie on ±180 is a move along that meridian or a pole,
    not a crossing, so the world box (-180..180) keeps its width.
    """
    steps = np.diff(x)
    on_edge = np.abs(x) == _HALF_TURN
    along_edge = on_edge[:-1] & on_edge[1:]
    shifts = np.where(steps > _HALF_TURN, -360.0, np.where(steps < -_HALF_TURN, 360.0, 0.0))
    shifts[along_edge] = 0.0
    return shifts


def _unwrap_x(x: np.ndarray) -> np.ndarray:
    """Longitudes with every jump of more than 180° replaced by the short way round."""
    if len(x) < 2:
        return x
    shifts = _shifts(x)
    if not shifts.any():
        return x
    return x + np.concatenate(([0.0], np.cumsum(shifts)))


def _unwrap_coords(coords: np.ndarray, *, closed: bool) -> np.ndarray:
    raw_x = coords[:, 0]
    x = _unwrap_x(raw_x)
    if x is raw_x:
        return coords
    if closed and abs(x[-1] - x[0]) > 1e-9:
        # The ring winds once round the globe: it encloses a pole, which lon/lat cannot express.
        raise InputError(
            f"AOI ring goes all the way round the globe (longitudes from {coords[:, 0].min():g} "
            f"to {coords[:, 0].max():g}), so it encloses a pole",
            hint="split the area at the pole or give it as a bbox west,south,east,north",
        )
    return np.column_stack((x, coords[:, 1]))


def _center_near(coords: np.ndarray, target: float) -> np.ndarray:
    """Shift a ring by whole turns so its middle is closest to ``target`` longitude."""
    middle = (coords[:, 0].min() + coords[:, 0].max()) / 2
    turns = round((target - middle) / 360.0)
    if turns == 0:
        return coords
    return np.column_stack((coords[:, 0] + 360.0 * turns, coords[:, 1]))


def unwrap(geometry: BaseGeometry) -> BaseGeometry:
    """The geometry with continuous longitudes (may extend past ±180); others are returned as is."""
    if isinstance(geometry, Polygon):
        raw_shell = shapely.get_coordinates(geometry.exterior)
        shell = _unwrap_coords(raw_shell, closed=True)
        if shell is raw_shell and not geometry.interiors:
            return geometry
        middle = (shell[:, 0].min() + shell[:, 0].max()) / 2
        holes = [
            _center_near(_unwrap_coords(shapely.get_coordinates(h), closed=True), middle)
            for h in geometry.interiors
        ]
        return Polygon(shell, holes)
    if isinstance(geometry, LineString) and not isinstance(geometry, LinearRing):
        return LineString(_unwrap_coords(shapely.get_coordinates(geometry), closed=False))
    if isinstance(geometry, MultiPolygon):
        return MultiPolygon([cast(Polygon, unwrap(part)) for part in geometry.geoms])
    if isinstance(geometry, MultiLineString):
        return MultiLineString([cast(LineString, unwrap(part)) for part in geometry.geoms])
    return geometry


def needs_unwrap(geometry: BaseGeometry) -> bool:
    """True when some ring or line jumps by more than 180° between consecutive vertices."""
    for part in shapely.get_parts(geometry):
        if isinstance(part, Polygon):
            lines = [part.exterior, *part.interiors]
        elif isinstance(part, LineString):
            lines = [part]
        else:
            continue
        for line in lines:
            x = shapely.get_coordinates(line)[:, 0]
            if len(x) > 1 and _shifts(x).any():
                return True
    return False


def split(geometry: BaseGeometry) -> BaseGeometry:
    """Cut an unwrapped geometry at ±180 and shift the pieces back into [-180, 180].

    Only pieces of the input's own dimension are kept (a polygon touching the cut line does not
    leave a stray line behind).
    """
    minx, _, maxx, _ = geometry.bounds
    if minx >= -_HALF_TURN and maxx <= _HALF_TURN:
        return geometry
    dimension = shapely.get_dimensions(geometry)
    pieces: list[BaseGeometry] = []
    for turns in (-1, 0, 1):
        west, east = -180.0 + 360 * turns, 180.0 + 360 * turns
        if dimension == 1:  # a plain rectangle clip is exact for lines (overlay can misplace cuts)
            piece = shapely.clip_by_rect(geometry, west, -90.0, east, 90.0)
        else:
            piece = geometry.intersection(shapely.box(west, -90.0, east, 90.0))
        for part in shapely.get_parts(piece):
            if not part.is_empty and shapely.get_dimensions(part) == dimension:
                pieces.append(translate(part, xoff=-360.0 * turns))
    if dimension == 2:
        return MultiPolygon([p for p in pieces if isinstance(p, Polygon)])
    if dimension == 1:
        return MultiLineString([p for p in pieces if isinstance(p, LineString)])
    return shapely.union_all(pieces)


def _wrapped_span(geometry: BaseGeometry) -> tuple[float, float] | None:
    """(west, east) with west > east when the parts sit on both sides of ±180, else None.

    The parts' longitude intervals are placed on the circle; the AOI's extent is the circle minus
    its largest empty gap. When that gap is not the one across ±180, the AOI crosses ±180.
    """
    parts = shapely.get_parts(geometry)
    if len(parts) < 2:
        return None
    bounds = shapely.bounds(parts)
    merged: list[list[float]] = []
    for west, east in sorted(zip(bounds[:, 0], bounds[:, 2])):
        if merged and west <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], east)
        else:
            merged.append([west, east])
    wrap_gap = merged[0][0] + 360.0 - merged[-1][1]
    gaps = [(merged[i + 1][0] - merged[i][1], i) for i in range(len(merged) - 1)]
    if not gaps:
        return None
    widest, i = max(gaps)
    if widest <= wrap_gap:
        return None
    return (merged[i + 1][0], merged[i][1])


def crosses_antimeridian(geometry: BaseGeometry) -> bool:
    """True for a split geometry whose parts are nearer each other across ±180 than across 0."""
    return _wrapped_span(geometry) is not None


def wrapped_bbox(geometry: BaseGeometry) -> tuple[float, float, float, float]:
    """(west, south, east, north); west > east when the geometry crosses the antimeridian."""
    minx, miny, maxx, maxy = geometry.bounds
    span = _wrapped_span(geometry)
    if span is None:
        return (minx, miny, maxx, maxy)
    return (span[0], miny, span[1], maxy)


def centroid(geometry: BaseGeometry) -> tuple[float, float]:
    """Centroid (lon, lat); for a split geometry it is taken on the rejoined shape, not near 0°."""
    span = _wrapped_span(geometry)
    if span is None:
        return _centroid(geometry)
    west = span[0]
    parts = [
        p if p.bounds[0] >= west else translate(p, xoff=360.0) for p in shapely.get_parts(geometry)
    ]
    lon, lat = _centroid(shapely.GeometryCollection(parts))
    return (lon - 360.0 if lon > _HALF_TURN else lon, lat)


def _centroid(geometry: BaseGeometry) -> tuple[float, float]:
    c = geometry.centroid
    if c.is_empty:  # a sliver with (numerically) no area or length: average its vertices
        x, y = shapely.get_coordinates(geometry).mean(axis=0)
        return (float(x), float(y))
    return (c.x, c.y)


# -- provider footprints ------------------------------------------------------------------
# Unlike an AOI, a provider's footprint is data: it is never refused. It is normalised so that
# every part lies within [-180, 180] and the catalog's spatial index and predicates see the
# footprint where it is (a 170°E -> -170°E swath is two narrow parts, not a 340° wide box).


def _wind_pole_cap(coords: np.ndarray) -> np.ndarray:
    """Close an unwrapped ring that winds once round a pole through that pole.

    The ring runs from x0 to x0 ± 360; the cap it bounds is closed along the pole's latitude
    (±90), on the side of the ring's mean latitude.
    """
    pole = 90.0 if coords[:, 1].mean() >= 0 else -90.0
    x_end, x_start = coords[-1, 0], coords[0, 0]
    return np.vstack((coords, [[x_end, pole], [x_start, pole], coords[0]]))


def _unwrap_ring(coords: np.ndarray) -> np.ndarray:
    raw_x = coords[:, 0]
    x = _unwrap_x(raw_x)
    if x is raw_x:
        return coords
    ring = np.column_stack((x, coords[:, 1]))
    if abs(ring[-1, 0] - ring[0, 0]) > 1e-9:
        ring = _wind_pole_cap(ring)
    return ring


def _unwrap_polygon(polygon: Polygon) -> Polygon:
    raw_shell = shapely.get_coordinates(polygon.exterior)
    shell = _unwrap_ring(raw_shell)
    if shell is raw_shell and not polygon.interiors:
        return polygon
    middle = (shell[:, 0].min() + shell[:, 0].max()) / 2
    holes = [_center_near(_unwrap_ring(shapely.get_coordinates(h)), middle) for h in polygon.interiors]
    return Polygon(shell, holes)


def _into_first_turn(geometry: BaseGeometry) -> BaseGeometry:
    """Shifted by whole turns so its west edge lies in [-180, 180) (e.g. 190..200 -> -170..-160)."""
    minx = geometry.bounds[0]
    turns = int(np.floor((minx + _HALF_TURN) / 360.0))
    return translate(geometry, xoff=-360.0 * turns) if turns else geometry


def normalise_footprint(geometry: BaseGeometry) -> BaseGeometry:
    """A provider footprint with every part within [-180, 180] (RFC 7946 §3.1.9).

    Handles rings that jump across ±180 (``170 -> -170`` is the short way east), longitudes past
    ±180, and rings that wind round a pole (closed through the pole). A footprint that needs none
    of this is returned unchanged (the same object); one that cannot be normalised (degenerate or
    broken beyond repair) is returned as given, never refused: the raw record keeps the original.
    """
    if geometry.is_empty:
        return geometry
    coords = shapely.get_coordinates(geometry)
    if not np.isfinite(coords).all():
        return geometry
    x = coords[:, 0]
    if x.min() >= -_HALF_TURN and x.max() <= _HALF_TURN and (len(x) < 2 or np.abs(np.diff(x)).max() <= _HALF_TURN):
        return geometry  # the common case, decided on one coordinate array
    try:
        # Degenerate rings (subnormal or collapsed coordinates) make GEOS divide by zero; numpy
        # would report that as a RuntimeWarning and the result is not to be trusted: such a
        # footprint is returned as given, like any other that cannot be normalised.
        with np.errstate(divide="raise", over="raise", invalid="raise", under="ignore"):
            return _normalise_parts(geometry)
    except (shapely.errors.GEOSException, ValueError, InputError, FloatingPointError):
        return geometry


def _normalise_parts(geometry: BaseGeometry) -> BaseGeometry:
    """The parts of ``geometry`` unwrapped, cut at ±180 and merged (see normalise_footprint)."""
    parts = shapely.get_parts(geometry)
    unwrapped = [_unwrap_polygon(p) if isinstance(p, Polygon) else unwrap(p) for p in parts]
    changed = any(u is not p for u, p in zip(unwrapped, parts))
    minx, _, maxx, _ = geometry.bounds
    if not changed and minx >= -_HALF_TURN and maxx <= _HALF_TURN:
        return geometry
    pieces: list[BaseGeometry] = []
    for part in unwrapped:
        if not part.is_valid:
            part = shapely.make_valid(part)
        pieces.extend(shapely.get_parts(split(_into_first_turn(part))))
    # One union: a pole cap's pieces meet along its seam meridian and must become one part.
    merged = shapely.union_all(pieces)
    areal = [p for p in shapely.get_parts(merged) if isinstance(p, Polygon) and not p.is_empty]
    if areal:
        return MultiPolygon(areal) if len(areal) > 1 or isinstance(geometry, MultiPolygon) else areal[0]
    return merged if not merged.is_empty else geometry


def bbox_footprint(west: float, south: float, east: float, north: float) -> BaseGeometry:
    """A provider's bounding rectangle; ``west > east`` crosses the antimeridian (RFC 7946 §5.2)."""
    if west > east:
        east += 360.0
    return normalise_footprint(shapely.box(west, south, east, north))
