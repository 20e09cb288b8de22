"""Footprint: a scene's or an AOI's geometry, always lon/lat in EPSG:4326."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import shapely
from shapely.geometry import mapping, shape
from shapely.geometry.base import BaseGeometry

from eoharvest.domain.antimeridian import bbox_footprint, normalise_footprint, wrapped_bbox
from eoharvest.domain.errors import InputError

WGS84 = "EPSG:4326"
_HALF_TURN = 180.0
_isfinite = math.isfinite


def _within_one_half_turn(obj: dict[str, Any]) -> bool:
    """True when a GeoJSON Polygon or MultiPolygon has finite plain-number coordinates, every
    longitude in [-180, 180] and all of them within 180 degrees of each other: then no two of its
    points (consecutive or not) are more than a half turn apart, and
    :func:`~eoharvest.domain.antimeridian.normalise_footprint` keeps it as it is. False means
    "not decided here" (any other shape, type or value), never "needs normalising"."""
    kind = obj.get("type")
    coordinates = obj.get("coordinates")
    if type(coordinates) is not list or not coordinates:
        return False
    if kind == "Polygon":
        polygons = [coordinates]
    elif kind == "MultiPolygon":
        polygons = coordinates
    else:
        return False
    try:
        low, high = _extent(polygons)
    except (OverflowError, _NotDecided):  # an integer beyond a float, or not plain numbers
        return False
    return -_HALF_TURN <= low and high <= _HALF_TURN and high - low <= _HALF_TURN


def plain_polygon_footprints(geometries: Sequence[Any]) -> list[Footprint | None]:
    """For each GeoJSON geometry, built for all of them at once: the footprint
    :meth:`Footprint.from_provider_geojson` gives, when the geometry is a Polygon of one ring of
    2-D points that it keeps as given (see :func:`_within_one_half_turn`); None for every other
    geometry, left to ``from_provider_geojson`` (and its errors). A search page maps a hundred
    items: two shapely calls for the page cost less than one ``shape()`` per item."""
    chosen: list[int] = []
    rings: list[list[Any]] = []
    for index, obj in enumerate(geometries):
        if type(obj) is dict and obj.get("type") == "Polygon":
            coordinates = obj.get("coordinates")
            if type(coordinates) is list and len(coordinates) == 1 and _within_one_half_turn(obj):
                ring = coordinates[0]
                if all(len(point) == 2 for point in ring):
                    chosen.append(index)
                    rings.append(ring)
    out: list[Footprint | None] = [None] * len(geometries)
    if not chosen:
        return out
    try:
        flat = np.array([point for ring in rings for point in ring], dtype=float)
        owner = np.repeat(np.arange(len(rings)), [len(ring) for ring in rings])
        polygons: Any = shapely.polygons(shapely.linearrings(flat, indices=owner))
    except (shapely.errors.GEOSException, ValueError):  # e.g. a ring too short: each on its own
        return out
    for index, polygon in zip(chosen, polygons.tolist()):
        out[index] = Footprint(polygon)
    return out


class _NotDecided(Exception):
    pass


def _extent(polygons: list[Any]) -> tuple[float, float]:
    """The least and greatest longitude of GeoJSON polygon coordinates (raises _NotDecided)."""
    low, high = _HALF_TURN, -_HALF_TURN
    for polygon in polygons:
        if type(polygon) is not list or not polygon:
            raise _NotDecided
        for ring in polygon:
            if type(ring) is not list or not ring:
                raise _NotDecided
            for point in ring:
                if type(point) is not list or len(point) < 2:
                    raise _NotDecided
                x, y = point[0], point[1]
                if type(x) is not float and type(x) is not int or type(y) is not float and type(y) is not int:
                    raise _NotDecided
                if not (_isfinite(x) and _isfinite(y)):
                    raise _NotDecided
                if x < low:
                    low = x
                if x > high:
                    high = x
    return low, high


@dataclass(frozen=True, eq=False)
class Footprint:
    """An immutable EPSG:4326 geometry with WKT, GeoJSON and WKB round trips.

    A provider's footprint is built with the ``from_provider*`` constructors, which every
    provider mapper uses: they cut it at the antimeridian (RFC 7946 §3.1.9) so that every part
    lies within [-180, 180], and otherwise keep it as given, valid or not (``is_valid`` tells);
    the scene's raw record keeps the provider's original. AOIs are validated by
    :func:`eoharvest.domain.aoi.parse_aoi` before they become a Footprint. Two footprints are
    equal when their geometries are topologically equal.
    """

    geometry: BaseGeometry

    def __post_init__(self) -> None:
        if not isinstance(self.geometry, BaseGeometry):
            raise InputError(
                f"a footprint needs a shapely geometry, got {type(self.geometry).__name__}"
            )

    # -- constructors -----------------------------------------------------------------
    @classmethod
    def from_wkt(cls, text: str) -> Footprint:
        try:
            return cls(shapely.from_wkt(text))
        except shapely.errors.GEOSException as exc:
            raise InputError(f"not valid WKT: {text[:80]!r}: {exc}") from None

    @classmethod
    def from_wkb(cls, data: bytes) -> Footprint:
        try:
            return cls(shapely.from_wkb(data))
        except shapely.errors.GEOSException as exc:
            raise InputError(f"not valid WKB ({len(data)} bytes): {exc}") from None

    @classmethod
    def from_geojson(cls, obj: str | dict[str, Any]) -> Footprint:
        """From a GeoJSON geometry (as a dict or a JSON string)."""
        parsed: Any = json.loads(obj) if isinstance(obj, str) else obj
        try:
            return cls(shape(parsed))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InputError(f"not a GeoJSON geometry: {str(obj)[:80]}: {exc}") from None

    @classmethod
    def from_bbox(cls, west: float, south: float, east: float, north: float) -> Footprint:
        return cls(shapely.box(west, south, east, north))

    # -- provider footprints (normalised: see eoharvest.domain.antimeridian) ------------------
    @classmethod
    def from_provider(cls, geometry: BaseGeometry) -> Footprint:
        """A provider's footprint geometry, cut at the antimeridian and closed over a pole."""
        return cls(normalise_footprint(geometry))

    @classmethod
    def from_provider_geojson(cls, obj: str | dict[str, Any]) -> Footprint:
        if isinstance(obj, dict) and _within_one_half_turn(obj):
            # What normalise_footprint would hand back unchanged, decided on the GeoJSON itself
            # (a harvest maps every item's footprint: numpy's fixed costs exceed the whole check).
            return cls.from_geojson(obj)
        return cls.from_provider(cls.from_geojson(obj).geometry)

    @classmethod
    def from_provider_wkt(cls, text: str) -> Footprint:
        return cls.from_provider(cls.from_wkt(text).geometry)

    @classmethod
    def from_provider_bbox(cls, west: float, south: float, east: float, north: float) -> Footprint:
        """A provider's bounding rectangle; ``west > east`` means it crosses the antimeridian."""
        return cls(bbox_footprint(west, south, east, north))

    # -- views ------------------------------------------------------------------------
    @property
    def wkt(self) -> str:
        return self.geometry.wkt

    @property
    def wkb(self) -> bytes:
        return shapely.to_wkb(self.geometry)

    @property
    def geojson(self) -> dict[str, Any]:
        """The geometry as a GeoJSON dict (lists, not tuples, so it serialises as written)."""
        parsed: dict[str, Any] = json.loads(shapely.to_geojson(self.geometry))
        return parsed

    @property
    def rfc7946_geojson(self) -> dict[str, Any]:
        """GeoJSON for export: exterior rings counter-clockwise, holes clockwise (RFC 7946 §3.1.6)."""
        oriented = shapely.orient_polygons(self.geometry, exterior_cw=False)
        parsed: dict[str, Any] = json.loads(shapely.to_geojson(oriented))
        return parsed

    @property
    def rfc7946_bbox(self) -> tuple[float, float, float, float]:
        """(west, south, east, north) with west > east for parts on both sides of ±180 (RFC 7946 §5.2)."""
        return wrapped_bbox(self.geometry)

    @property
    def __geo_interface__(self) -> dict[str, Any]:
        return mapping(self.geometry)

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """(west, south, east, north) of the geometry as stored."""
        minx, miny, maxx, maxy = self.geometry.bounds
        return (minx, miny, maxx, maxy)

    @property
    def part_bboxes(self) -> list[tuple[float, float, float, float]]:
        """One bbox per part; an antimeridian-split AOI gives two narrow boxes, not one wide one."""
        parts = getattr(self.geometry, "geoms", [self.geometry])
        boxes: list[tuple[float, float, float, float]] = []
        for part in parts:
            west, south, east, north = part.bounds
            boxes.append((west, south, east, north))
        return boxes

    @property
    def centroid(self) -> tuple[float, float]:
        c = self.geometry.centroid
        return (c.x, c.y)

    @property
    def is_valid(self) -> bool:
        return bool(self.geometry.is_valid)

    @property
    def geom_type(self) -> str:
        return self.geometry.geom_type

    def intersects(self, other: Footprint) -> bool:
        return bool(self.geometry.intersects(other.geometry))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Footprint):
            return NotImplemented
        return bool(self.geometry.equals(other.geometry))

    def __hash__(self) -> int:
        return hash(self.geometry.normalize().wkb)

    def __repr__(self) -> str:
        wkt = self.wkt
        return f"Footprint({wkt[:60] + '...' if len(wkt) > 60 else wkt})"
