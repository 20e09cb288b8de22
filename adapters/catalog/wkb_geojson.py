"""GeoJSON geometry text straight from 2-D WKB, without shapely.

`catalog query --format geojson` is a short process: importing shapely and numpy to turn a
hundred stored footprints into text cost more than the query. The catalog stores 2-D WKB
(``rows.footprint_wkbs``) and SpatiaLite orients the rings in SQL (``ST_ForcePolygonCCW``), so
what is left is reading the coordinates (``struct``) and writing each as Python's shortest
round-trip ``repr``: the same values as shapely's GeoJSON writer gives, none rounded.
"""

from __future__ import annotations

from struct import Struct, error, unpack_from
from typing import Callable

_ENDIAN = {b"\x01": "<", b"\x00": ">"}
_UINT = {b"\x01": Struct("<I"), b"\x00": Struct(">I")}  # by WKB byte-order mark
_NAMES = {1: "Point", 2: "LineString", 3: "Polygon", 4: "MultiPoint", 5: "MultiLineString",
          6: "MultiPolygon", 7: "GeometryCollection"}  # fmt: skip


def geojson_text(wkb: bytes | None) -> str:
    """The GeoJSON geometry of ``wkb`` as compact text (``null`` for None); ValueError if
    ``wkb`` is not 2-D WKB."""
    if wkb is None:
        return "null"
    try:
        text, end = _geometry(memoryview(wkb), 0)
    except (KeyError, IndexError, ValueError, error) as exc:
        raise ValueError(f"not 2-D WKB ({len(wkb)} bytes): {exc!r}") from None
    if end != len(wkb):
        raise ValueError(f"not 2-D WKB: {len(wkb) - end} bytes after the geometry")
    return text


def _geometry(buf: memoryview, at: int) -> tuple[str, int]:
    order = bytes(buf[at : at + 1])
    (kind,) = _UINT[order].unpack_from(buf, at + 1)
    name = _NAMES[kind]  # a KeyError for Z/M types and anything else
    at += 5
    if kind == 7:
        (n,) = _UINT[order].unpack_from(buf, at)
        at += 4
        members = []
        for _ in range(n):
            text, at = _geometry(buf, at)
            members.append(text)
        return f'{{"type":"GeometryCollection","geometries":[{",".join(members)}]}}', at
    coordinates, at = _COORDINATES[kind](buf, at, order)
    return f'{{"type":"{name}","coordinates":{coordinates}}}', at


def _points(buf: memoryview, at: int, order: bytes, n: int) -> tuple[str, int]:
    values = unpack_from(f"{_ENDIAN[order]}{2 * n}d", buf, at)  # struct compiles a format once
    pairs = iter(values)
    return "[" + ",".join([f"[{x!r},{y!r}]" for x, y in zip(pairs, pairs)]) + "]", at + 16 * n


def _point(buf: memoryview, at: int, order: bytes) -> tuple[str, int]:
    text, at = _points(buf, at, order, 1)
    return text[1:-1], at


def _line(buf: memoryview, at: int, order: bytes) -> tuple[str, int]:
    (n,) = _UINT[order].unpack_from(buf, at)
    return _points(buf, at + 4, order, n)


def _polygon(buf: memoryview, at: int, order: bytes) -> tuple[str, int]:
    (n,) = _UINT[order].unpack_from(buf, at)
    at += 4
    rings = []
    for _ in range(n):
        ring, at = _line(buf, at, order)
        rings.append(ring)
    return "[" + ",".join(rings) + "]", at


def _multi(part: int) -> Callable[[memoryview, int, bytes], tuple[str, int]]:
    def read(buf: memoryview, at: int, order: bytes) -> tuple[str, int]:
        (n,) = _UINT[order].unpack_from(buf, at)
        at += 4
        members = []
        for _ in range(n):
            member_order = bytes(buf[at : at + 1])
            (kind,) = _UINT[member_order].unpack_from(buf, at + 1)
            if kind != part:
                raise ValueError(f"a {_NAMES[part]} collection holds type {kind}")
            text, at = _COORDINATES[kind](buf, at + 5, member_order)
            members.append(text)
        return "[" + ",".join(members) + "]", at

    return read


_COORDINATES: dict[int, Callable[[memoryview, int, bytes], tuple[str, int]]] = {
    1: _point, 2: _line, 3: _polygon, 4: _multi(1), 5: _multi(2), 6: _multi(3),
}  # fmt: skip
