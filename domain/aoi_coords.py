"""AOI coordinates as the user wrote them, checked before shapely sees them.

Shapely closes rings silently when building from coordinates, and GEOS' WKT reader reports a
2-point ring as "not closed"; to say exactly what is wrong (too few points, ring not closed,
NaN) the GeoJSON structure is checked here, and WKT that GEOS rejects is re-read into the same
structure by a small parser so it gets the same messages.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from eoharvest.domain.errors import InputError

Warn = Callable[[str], None]

RING_HINT = "a polygon ring needs at least 4 points and its last point must repeat the first"


def preview(value: Any, limit: int = 80) -> str:
    """A short repr of ``value`` for error messages."""
    text = value if isinstance(value, str) else repr(value)
    text = " ".join(text.split())
    return repr(text[:limit] + "..." if len(text) > limit else text)


# -- GeoJSON geometry -> shapely ----------------------------------------------------------
def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _positions(coords: Any, what: str, warn: Warn) -> np.ndarray:
    """An (n, 2) float array; Z (and M) dropped with a warning; NaN/Infinity rejected."""
    if not isinstance(coords, (list, tuple)):
        raise InputError(f"{what}: coordinates must be a list of [lon, lat], got {preview(coords)}")
    if not coords:
        return np.empty((0, 2))
    try:
        arr = np.asarray(coords)
    except (ValueError, TypeError, OverflowError):
        arr = None
    if arr is None or arr.ndim != 2 or arr.dtype.kind not in "iuf" or arr.shape[1] < 2:
        # Ragged, non-numeric or badly nested: find the offending position for the message.
        rows = []
        for i, pos in enumerate(coords):
            if not isinstance(pos, (list, tuple)) or len(pos) < 2 or not all(map(_is_number, pos)):
                raise InputError(
                    f"{what}: position {i} {preview(pos)} is not [lon, lat] numbers",
                    hint="each position is a list of two numbers, longitude first",
                )
            rows.append(pos)
        if any(len(pos) > 2 for pos in rows):
            warn(f"{what}: Z/M values dropped (AOIs are 2D lon/lat)")
        try:
            arr = np.array([[float(pos[0]), float(pos[1])] for pos in rows])
        except OverflowError:
            raise InputError(f"{what}: a coordinate is too large to be a number") from None
    if arr.shape[1] > 2:
        warn(f"{what}: Z/M values dropped (AOIs are 2D lon/lat)")
        arr = arr[:, :2]
    arr = arr.astype(float)
    finite = np.isfinite(arr)
    if not finite.all():
        bad = arr[~finite][0]
        raise InputError(
            f"{what}: coordinate {bad} is not a finite number",
            hint="remove NaN/Infinity values from the AOI",
        )
    return arr


def _ring(coords: Any, what: str, warn: Warn) -> np.ndarray:
    arr = _positions(coords, what, warn)
    if len(arr) < 4:
        raise InputError(
            f"{what}: ring needs at least 4 points (the last repeating the first), "
            f"got {len(arr)}: {preview(arr.tolist())}",
            hint=RING_HINT,
        )
    if not np.array_equal(arr[0], arr[-1]):
        raise InputError(
            f"{what}: ring is not closed: first point ({arr[0][0]:g} {arr[0][1]:g}) differs "
            f"from last point ({arr[-1][0]:g} {arr[-1][1]:g})",
            hint="repeat the first point at the end; eoharvest does not close rings for you",
        )
    return arr


def _polygon(rings: Any, what: str, warn: Warn) -> shapely.Polygon:
    if not isinstance(rings, (list, tuple)):
        raise InputError(f"{what}: coordinates must be a list of rings, got {preview(rings)}")
    if not rings:
        return shapely.Polygon()
    checked = [_ring(r, f"{what} ring {i}", warn) for i, r in enumerate(rings)]
    return shapely.Polygon(checked[0], checked[1:])


def _line(coords: Any, what: str, warn: Warn) -> shapely.LineString:
    arr = _positions(coords, what, warn)
    if len(arr) == 0:
        return shapely.LineString()
    if len(arr) < 2:
        raise InputError(f"{what}: a LineString needs at least 2 points, got {len(arr)}")
    return shapely.LineString(arr)


def _list(value: Any, what: str) -> list[Any] | tuple[Any, ...]:
    if not isinstance(value, (list, tuple)):
        raise InputError(f"{what}: expected a list, got {preview(value)}")
    return value


def build_geometry(obj: Mapping[str, Any], warn: Warn, what: str = "AOI") -> BaseGeometry:
    """A shapely geometry from a GeoJSON geometry mapping, with every raw check applied."""
    kind = obj.get("type")
    what = f"{what} {kind}" if isinstance(kind, str) else what
    if kind == "GeometryCollection":
        members = _list(obj.get("geometries"), what)
        parts = []
        for i, member in enumerate(members):
            if not isinstance(member, Mapping):
                raise InputError(f"{what}: member {i} is not a geometry: {preview(member)}")
            parts.append(build_geometry(member, warn, f"{what} member {i}"))
        return shapely.GeometryCollection(parts)
    if "coordinates" not in obj:
        raise InputError(
            f"{what}: not a GeoJSON geometry (no 'coordinates'): {preview(obj)}",
            hint="give a GeoJSON Geometry, Feature or FeatureCollection",
        )
    coords = obj["coordinates"]
    if kind == "Point":
        if isinstance(coords, (list, tuple)) and not coords:
            return shapely.Point()
        return shapely.Point(_positions([coords], what, warn)[0])
    if kind == "MultiPoint":
        arr = _positions(coords, what, warn)
        return shapely.MultiPoint(arr) if len(arr) else shapely.MultiPoint()
    if kind == "LineString":
        return _line(coords, what, warn)
    if kind == "MultiLineString":
        items = _list(coords, what)
        lines = [_line(c, f"{what} part {i}", warn) for i, c in enumerate(items)]
        return shapely.MultiLineString([g for g in lines if not g.is_empty])
    if kind == "Polygon":
        return _polygon(coords, what, warn)
    if kind == "MultiPolygon":
        items = _list(coords, what)
        polygons = [_polygon(c, f"{what} part {i}", warn) for i, c in enumerate(items)]
        return shapely.MultiPolygon([g for g in polygons if not g.is_empty])
    raise InputError(
        f"{what}: unknown GeoJSON geometry type {preview(kind)}",
        hint="use Point, LineString, Polygon, their Multi* forms or GeometryCollection",
    )


# -- WKT text -> GeoJSON-like structure (only used to explain what GEOS rejected) -----------
_TOKEN = re.compile(
    r"\s*(?:(?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)"
    r"|(?P<word>[A-Za-z]+)|(?P<sym>[(),])|(?P<bad>\S))"
)
_TYPES = {
    "POINT": "Point", "LINESTRING": "LineString", "POLYGON": "Polygon",
    "MULTIPOINT": "MultiPoint", "MULTILINESTRING": "MultiLineString",
    "MULTIPOLYGON": "MultiPolygon", "GEOMETRYCOLLECTION": "GeometryCollection",
}
_NONFINITE = {"NAN": math.nan, "INF": math.inf, "INFINITY": math.inf}


class _WktReader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str, int]] = []
        for m in _TOKEN.finditer(text):
            kind = m.lastgroup or "bad"
            self.tokens.append((kind, m.group(kind), m.start(kind)))
        self.i = 0

    def fail(self, expected: str) -> InputError:
        pos = self.tokens[self.i][2] if self.i < len(self.tokens) else len(self.text)
        return InputError(
            f"not valid WKT: {preview(self.text)}: expected {expected} at character {pos}",
            hint="e.g. POLYGON((lon lat, lon lat, lon lat, lon lat)) with the first point repeated",
        )

    def peek(self) -> tuple[str, str]:
        if self.i < len(self.tokens):
            kind, value, _ = self.tokens[self.i]
            return kind, value.upper()
        return "end", ""

    def take(self, value: str) -> bool:
        if self.peek()[1] == value:
            self.i += 1
            return True
        return False

    def expect(self, value: str) -> None:
        if not self.take(value):
            raise self.fail(repr(value))

    def number(self) -> float:
        kind, value = self.peek()
        if kind == "num" or (kind == "word" and value in _NONFINITE):
            self.i += 1
            return float(value) if kind == "num" else _NONFINITE[value]
        raise self.fail("a number")

    def position(self) -> list[float]:
        coords = [self.number()]
        while self.peek()[0] in ("num", "word") and self.peek()[1] not in ("EMPTY",):
            coords.append(self.number())
        return coords

    def sequence(self, item: Callable[[], Any]) -> list[Any]:
        if self.take("EMPTY"):
            return []
        self.expect("(")
        items = [item()]
        while self.take(","):
            items.append(item())
        self.expect(")")
        return items

    def point_member(self) -> list[float]:
        if self.take("("):
            pos = self.position()
            self.expect(")")
            return pos
        return self.position()

    def point(self) -> list[float]:
        if self.take("EMPTY"):
            return []
        self.expect("(")
        pos = self.position()
        self.expect(")")
        return pos

    def line(self) -> list[list[float]]:
        return self.sequence(self.position)

    def polygon(self) -> list[list[list[float]]]:
        return self.sequence(self.line)

    def geometry(self) -> dict[str, Any]:
        kind, word = self.peek()
        if kind != "word" or word not in _TYPES:
            raise self.fail("a geometry type such as POLYGON")
        self.i += 1
        if self.peek()[1] in ("Z", "M", "ZM"):
            self.i += 1
        name = _TYPES[word]
        if name == "GeometryCollection":
            return {"type": name, "geometries": self.sequence(self.geometry)}
        body: Callable[[], Any] = {
            "Point": self.point,
            "LineString": self.line,
            "Polygon": self.polygon,
            "MultiPoint": lambda: self.sequence(self.point_member),
            "MultiLineString": lambda: self.sequence(self.line),
            "MultiPolygon": lambda: self.sequence(self.polygon),
        }[name]
        return {"type": name, "coordinates": body()}


def wkt_structure(text: str) -> dict[str, Any]:
    """WKT as a GeoJSON-like geometry mapping, without closing or counting anything."""
    reader = _WktReader(text)
    try:
        result = reader.geometry()
    except RecursionError:
        raise InputError(f"not valid WKT: {preview(text)}: nested too deeply") from None
    if reader.i != len(reader.tokens):
        raise reader.fail("the end of the WKT")
    return result
