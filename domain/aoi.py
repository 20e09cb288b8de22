"""Area of interest: parse what the user gave into a validated EPSG:4326 Footprint.

Accepted: WKT (also EWKT ``SRID=n;...``), GeoJSON text or mapping (Geometry, Feature,
FeatureCollection), shapely geometries and anything with ``__geo_interface__``, a bbox
``(west, south, east, north)`` (sequence or ``"w,s,e,n"`` text), and vector files through a
:class:`~eoharvest.domain.ports.VectorReader`.
"""

from __future__ import annotations

import json
import logging
import os
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import shapely
from shapely.geometry.base import BaseGeometry

from eoharvest.domain import antimeridian
from eoharvest.domain.aoi_coords import build_geometry, preview, wkt_structure
from eoharvest.domain.aoi_checks import (
    FORMS,
    bbox_geometry,
    check_finite,
    check_ranges,
    check_valid,
    limit_vertices,
    to_wgs84,
)
from eoharvest.domain.errors import InputError
from eoharvest.domain.footprint import Footprint
from eoharvest.domain.ports import VectorReader

logger = logging.getLogger("eoharvest.aoi")

MAX_VERTICES = 10_000
"""Default vertex limit; larger AOIs are simplified (providers reject long query geometries)."""
HARD_CAP_VERTICES = 5_000_000
HARD_CAP_TEXT = 50 * 1024 * 1024

# A word followed by "(", EMPTY or Z/M/ZM is WKT (even an unknown type, so GEOS can name it).
_WKT_START = re.compile(
    r"^\s*(?:SRID=(?P<srid>\d+)\s*;)?\s*(?P<body>[A-Za-z]+\s*(?:\(|EMPTY\b|[ZM]{1,2}\b).*)$",
    re.IGNORECASE | re.DOTALL,
)
_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_BBOX_TEXT = re.compile(rf"^\s*({_NUM})" + rf"\s*[,\s]\s*({_NUM})" * 3 + r"\s*$")


@dataclass(frozen=True)
class ParsedAOI:
    """A validated AOI, the warnings raised while parsing it, and the CRS it was given in."""

    footprint: Footprint
    warnings: tuple[str, ...] = ()
    source_crs: str | None = None


class _Notes(list[str]):
    def __call__(self, message: str) -> None:
        if message not in self:
            self.append(message)
            logger.warning(message)


def parse_aoi(
    value: Any,
    *,
    reader: VectorReader | None = None,
    max_vertices: int = MAX_VERTICES,
    fix: bool = False,
) -> ParsedAOI:
    """Parse and validate an AOI; every problem raises :class:`InputError` saying what to do.

    Rings must be closed and have at least 4 points, coordinates must be finite lon/lat in
    range, polygons must be valid (``fix=True`` repairs them with ``make_valid`` and warns).
    Z values are dropped, other CRSs reprojected to EPSG:4326, AOIs crossing the antimeridian
    split at ±180, and AOIs above ``max_vertices`` simplified, each with a warning.
    """
    if isinstance(max_vertices, bool) or not isinstance(max_vertices, int) or max_vertices < 4:
        raise InputError(f"max_vertices {max_vertices!r} must be an integer of at least 4")
    notes = _Notes()
    try:
        geometries, crs = _read(value, reader, notes)
        geometry = _prepare(geometries, crs, notes, fix=fix, max_vertices=max_vertices)
    except shapely.errors.GEOSException as exc:
        raise InputError(
            f"AOI geometry cannot be used: {exc}", hint="check the geometry in a GIS tool"
        ) from None
    except RecursionError:
        raise InputError(f"AOI is nested too deeply: {preview(value)}") from None
    return ParsedAOI(Footprint(geometry), tuple(notes), crs)


def aoi_summary(parsed: ParsedAOI) -> str:
    """One line for a human: type, vertices, bbox and centroid (catches a lat/lon swap by eye)."""
    geometry = parsed.footprint.geometry
    west, south, east, north = antimeridian.wrapped_bbox(geometry)
    lon, lat = (v + 0.0 for v in antimeridian.centroid(geometry))  # + 0.0 turns -0 into 0
    text = (
        f"AOI {geometry.geom_type}, {shapely.get_num_coordinates(geometry)} vertices, "
        f"bbox (W,S,E,N) {west:.6g},{south:.6g},{east:.6g},{north:.6g}, "
        f"centroid (lon,lat) {lon:.6g},{lat:.6g}"
    )
    if west > east:
        text += ", crosses the antimeridian"
    if parsed.source_crs:
        text += f", reprojected from {parsed.source_crs}"
    return text


# -- reading ------------------------------------------------------------------------------
Read = tuple[list[BaseGeometry], str | None]  # the geometries and the CRS they are in


def _read(value: Any, reader: VectorReader | None, notes: _Notes) -> Read:
    if isinstance(value, Footprint):
        return [value.geometry], None
    if isinstance(value, BaseGeometry):
        return [value], None
    if isinstance(value, os.PathLike):
        return _read_file(os.fspath(value), reader, notes)
    if isinstance(value, str):
        return _read_text(value, reader, notes)
    if isinstance(value, Mapping):
        return _read_geojson(value, notes)
    if isinstance(value, (list, tuple)):
        return [bbox_geometry(value)], None
    geo = getattr(value, "__geo_interface__", None)
    if isinstance(geo, Mapping):
        return _read_geojson(geo, notes)
    raise InputError(
        f"AOI of type {type(value).__name__} is not supported: {preview(value)}",
        hint=f"give {FORMS}",
    )


def _read_text(text: str, reader: VectorReader | None, notes: _Notes) -> Read:
    if len(text) > HARD_CAP_TEXT:
        raise InputError(
            f"AOI text is {len(text):,} characters, above the {HARD_CAP_TEXT // 2**20} MB limit",
            hint="simplify the AOI first, e.g. with ogr2ogr -simplify",
        )
    stripped = text.strip()
    if not stripped:
        raise InputError("AOI is empty (an empty string has no geometry)", hint=f"give {FORMS}")
    if stripped[0] in "{[":
        try:
            data = json.loads(stripped)
        except (ValueError, RecursionError) as exc:
            raise InputError(f"AOI is not valid JSON: {exc}: {preview(stripped)}",
                             hint="check the GeoJSON, e.g. with a JSON linter") from None
        if isinstance(data, Mapping):
            return _read_geojson(data, notes)
        if isinstance(data, list):
            return [bbox_geometry(data)], None
    wkt = _WKT_START.match(stripped)
    if wkt:
        srid = wkt.group("srid")
        return [_read_wkt(wkt.group("body"), notes)], f"EPSG:{srid}" if srid else None
    bbox = _BBOX_TEXT.match(stripped)
    if bbox:
        return [bbox_geometry([float(n) for n in bbox.groups()])], None
    return _read_file(stripped, reader, notes)


def _read_wkt(text: str, notes: _Notes) -> BaseGeometry:
    try:
        # NaN in the text makes numpy warn on stderr; the finite-coordinates check names it.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return shapely.from_wkt(text)
    except NotImplementedError as exc:  # curves (CIRCULARSTRING, ...)
        raise InputError(f"AOI WKT {preview(text)} is not supported: {exc}",
                         hint="give a POINT, LINESTRING, POLYGON or their MULTI forms") from None
    except shapely.errors.GEOSException:
        # GEOS calls a 2-point ring "not closed"; re-read the text to say exactly what is wrong.
        return build_geometry(wkt_structure(text), notes)


def _read_file(path: str, reader: VectorReader | None, notes: _Notes) -> Read:
    if reader is None:
        raise InputError(
            f"AOI {preview(path)} is not WKT, GeoJSON or a bbox, and vector files need a reader",
            hint="pass reader=OgrVectorReader() from eoharvest.adapters.vector_files to read files",
        )
    layer = reader.read(path)
    geometries = [g for g in layer.geometries if g is not None and not g.is_empty]
    if not geometries:
        raise InputError(f"AOI is empty: no geometry in {preview(path)}",
                         hint="add a shape to the file or pick another layer")
    if layer.crs is None:
        notes(f"vector file {path} has no CRS; its coordinates are taken as EPSG:4326 lon/lat")
    return geometries, layer.crs


def _legacy_crs(member: Any) -> str | None:
    """The CRS named by a pre-RFC 7946 GeoJSON ``crs`` member, or None."""
    if member is None:
        return None
    props = member.get("properties") if isinstance(member, Mapping) else None
    if isinstance(props, Mapping):
        name = props.get("name")
        if member.get("type") == "name" and isinstance(name, str):
            return name
        if member.get("type") == "EPSG" and isinstance(props.get("code"), int):
            return f"EPSG:{props['code']}"
    raise InputError(
        f"GeoJSON crs member {preview(member)} is not understood",
        hint='use {"type": "name", "properties": {"name": "EPSG:<code>"}} or reproject to EPSG:4326',
    )


def _read_geojson(obj: Mapping[str, Any], notes: _Notes) -> Read:
    crs = _legacy_crs(obj.get("crs"))
    kind = obj.get("type")
    if kind == "FeatureCollection":
        features = obj.get("features")
        if not isinstance(features, list):
            raise InputError(f"GeoJSON FeatureCollection has no 'features' list: {preview(obj)}")
        if not features:
            raise InputError("AOI is empty: the FeatureCollection has 0 features (no geometry)",
                             hint="add a feature with a geometry")
        geometries = [
            g for i, f in enumerate(features) if (g := _feature(f, notes, f"feature {i}")) is not None
        ]
        if not geometries:
            raise InputError("AOI is empty: no feature of the FeatureCollection has a geometry")
        return geometries, crs
    if kind == "Feature":
        geometry = _feature(obj, notes, "Feature")
        if geometry is None:
            raise InputError("AOI is empty: the Feature has no geometry")
        return [geometry], crs
    return [build_geometry(obj, notes)], crs


def _feature(feature: Any, notes: _Notes, what: str) -> BaseGeometry | None:
    if not isinstance(feature, Mapping) or feature.get("type") != "Feature":
        raise InputError(f"GeoJSON {what} is not a Feature: {preview(feature)}")
    geometry = feature.get("geometry")
    if geometry is None:
        return None
    if not isinstance(geometry, Mapping):
        raise InputError(f"GeoJSON {what} geometry is not an object: {preview(geometry)}")
    return build_geometry(geometry, notes, f"{what}")


# -- the pipeline -------------------------------------------------------------------------
def _prepare(geometries: list[BaseGeometry], crs: str | None, notes: _Notes, *, fix: bool,
             max_vertices: int) -> BaseGeometry:
    if all(g.is_empty for g in geometries):
        raise InputError("AOI is empty (the geometry has no coordinates)", hint=f"give {FORMS}")
    total = sum(int(shapely.get_num_coordinates(g)) for g in geometries)
    if total > HARD_CAP_VERTICES:
        raise InputError(
            f"AOI has {total:,} vertices, above the hard limit of {HARD_CAP_VERTICES:,}",
            hint="simplify the AOI first, e.g. with ogr2ogr -simplify, or give its bbox",
        )
    parts = []
    crossed = False
    for geometry in geometries:
        if geometry.is_empty:
            continue
        if shapely.has_z(geometry) or shapely.has_m(geometry):
            notes("AOI Z/M values dropped (AOIs are 2D lon/lat)")
            geometry = shapely.force_2d(geometry)
        check_finite(geometry)
        geometry = to_wgs84(geometry, crs)
        geometry = check_ranges(geometry)
        # Simplify before the validity check: GEOS needs minutes for some million-vertex rings.
        geometry = limit_vertices(geometry, max_vertices, notes)
        geometry = check_valid(geometry, fix=fix, warn=notes)
        split = antimeridian.split(geometry)
        crossed = crossed or split is not geometry
        parts.append(split)
    geometry = parts[0] if len(parts) == 1 else shapely.union_all(parts)
    if geometry.is_empty:
        raise InputError(
            "AOI is empty once cut at the antimeridian (the shape has no area or length left)",
            hint="check the coordinates; a sliver polygon cannot be searched",
        )
    if crossed:
        parts_count = shapely.get_num_geometries(geometry)
        notes(f"AOI crosses the antimeridian; split at ±180 into {parts_count} parts")
    return limit_vertices(geometry, max_vertices, notes)
