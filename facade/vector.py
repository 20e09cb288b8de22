"""Vector helpers of the reference API (``pci.downloaders.vector``): extents and GeoJSON shapes.

``vec`` is a path to a vector file or an already-read layer (a :class:`VectorLayer`, or the
:class:`LayerShapes` of ``OgrVectorReader().read_shapes``, which keeps FIDs). For a path,
``vec_id`` picks the layer (a name or 0-based index); by default the LAST layer is used, as in
the reference. ``output_crs`` is anything ``pyproj.CRS.from_user_input`` takes (4326,
"EPSG:4326", WKT, ...); points are reprojected with x = easting/longitude first.
"""

from __future__ import annotations

import json
import operator
import os
from collections.abc import Sequence
from typing import Any, Union

import numpy as np
import pyproj
import shapely
from shapely.geometry.base import BaseGeometry

from eoharvest.adapters.vector_files import LayerShapes, OgrVectorReader
from eoharvest.domain.errors import InputError
from eoharvest.domain.ports import VectorLayer

Vec = Union[str, "os.PathLike[str]", VectorLayer, LayerShapes]
Point = tuple[float, float]

__all__ = [
    "InvalidShapeIdError",
    "get_seg_bbox",
    "get_seg_bbox_geojson",
    "shape_to_geojson",
    "to_geojson_polygon",
    "to_geojson_polygon_string",
]


class InvalidShapeIdError(InputError):
    """An invalid shape id was used for a vector layer."""


def _layer(vec: Vec, vec_id: str | int | None) -> VectorLayer:
    return _shapes(vec, vec_id)[0]


def _shapes(vec: Vec, vec_id: str | int | None) -> tuple[VectorLayer, tuple[int, ...]]:
    """The layer and the id of each shape: OGR FIDs for a file, 0-based indexes for a VectorLayer."""
    if isinstance(vec, VectorLayer):
        # An opened layer: vec_id does not apply (as for a reference VectorIO).
        return vec, tuple(range(len(vec.geometries)))
    if isinstance(vec, LayerShapes):
        return vec.layer, vec.fids
    if isinstance(vec, (str, os.PathLike)):
        shapes = OgrVectorReader().read_shapes(vec, vec_id)
        return shapes.layer, shapes.fids
    raise InputError(
        f"vec must be a vector file path or a VectorLayer, got {type(vec).__name__}",
        hint="pass a file name or the result of OgrVectorReader().read(...)",
    )


def _crs(value: Any, what: str) -> pyproj.CRS:
    try:
        return pyproj.CRS.from_user_input(value)
    except pyproj.exceptions.CRSError:
        raise InputError(
            f"{what} {value!r} is not a CRS pyproj understands",
            hint="use an EPSG code such as 4326 or 'EPSG:32617'",
        ) from None


def _transformer(layer: VectorLayer, output_crs: Any) -> pyproj.Transformer | None:
    """None when no reprojection is needed (no output_crs, or the same CRS as the layer)."""
    if output_crs is None:
        return None
    target = _crs(output_crs, "output_crs")
    if layer.crs is None:
        raise InputError(
            f"layer {layer.layer!r} has no CRS, so it cannot be reprojected to {output_crs!r}",
            hint="give the file a CRS (e.g. a .prj) or leave output_crs unset",
        )
    source = _crs(layer.crs, "layer CRS")
    if source.equals(target, ignore_axis_order=True):
        return None
    return pyproj.Transformer.from_crs(source, target, always_xy=True)


def get_seg_bbox(
    vec: Vec, output_crs: Any = None, *, vec_id: str | int | None = None
) -> list[Point] | None:
    """The four corners ``[(llx, lly), (lrx, lry), (urx, ury), (ulx, uly)]`` of all shapes' extent.

    Each corner is reprojected separately when ``output_crs`` differs from the layer's CRS, so
    the result can be a non-rectangular quadrilateral. None when the layer has no shapes.
    """
    layer = _layer(vec, vec_id)
    shapes = [g for g in layer.geometries if g is not None and not g.is_empty]
    if not shapes:
        return None
    minx, miny, maxx, maxy = (float(v) for v in shapely.total_bounds(shapes))
    corners = [(minx, miny), (maxx, miny), (maxx, maxy), (minx, maxy)]
    transformer = _transformer(layer, output_crs)
    if transformer is None:
        return corners
    xs, ys = transformer.transform([c[0] for c in corners], [c[1] for c in corners])
    return [(float(x), float(y)) for x, y in zip(xs, ys)]


def get_seg_bbox_geojson(
    vec: Vec, output_crs: Any = None, *, vec_id: str | int | None = None
) -> dict[str, Any] | None:
    """The extent of all shapes as a GeoJSON Polygon dict (see :func:`get_seg_bbox`), or None."""
    corners = get_seg_bbox(vec, output_crs, vec_id=vec_id)
    return None if corners is None else to_geojson_polygon(corners)


def shape_to_geojson(
    vec: Vec, shape_id: int, output_crs: Any = None, *, vec_id: str | int | None = None
) -> dict[str, Any]:
    """One shape as a GeoJSON geometry dict, reprojected to ``output_crs`` if given and different.

    For a file, ``shape_id`` is the OGR feature id (FID): shapefiles and GeoJSON count from 0,
    GeoPackages from 1. For an already-read VectorLayer (which has no FIDs) it is the 0-based
    index into ``layer.geometries``. An unknown id raises :class:`InvalidShapeIdError`.
    """
    layer, ids = _shapes(vec, vec_id)
    try:
        wanted = operator.index(shape_id)  # ints and numpy integers, not floats or bools
    except TypeError:
        wanted = None
    if isinstance(shape_id, bool) or wanted not in ids:
        raise InvalidShapeIdError(
            f"invalid shape id {shape_id!r} for layer {layer.layer!r}: valid ids are {_describe(ids)}"
        )
    geometry: BaseGeometry = layer.geometries[ids.index(wanted)]
    transformer = _transformer(layer, output_crs)
    if transformer is not None:
        geometry = shapely.transform(
            geometry, lambda xy: np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))
        )
    return json.loads(shapely.to_geojson(geometry))


def _describe(ids: Sequence[int]) -> str:
    if not ids:
        return "none (the layer has no shapes)"
    if list(ids) == list(range(ids[0], ids[0] + len(ids))):
        return f"{ids[0]}..{ids[-1]}"
    shown = ", ".join(str(i) for i in ids[:10])
    return shown + (f", ... ({len(ids)} in all)" if len(ids) > 10 else "")


def _ring(points: Sequence[Sequence[float]], what: str) -> list[list[float]]:
    ring = [[float(p[0]), float(p[1])] for p in points]
    if len(ring) < 3:
        raise InputError(f"{what} needs at least 3 vertices, got {len(ring)}")
    if ring[0] != ring[-1]:
        ring.append(list(ring[0]))  # unlike AOI input, closing the ring is this helper's job
    return ring


def to_geojson_polygon(
    exterior: Sequence[Sequence[float]], holes: Sequence[Sequence[Sequence[float]]] | None = None
) -> dict[str, Any]:
    """A GeoJSON Polygon dict from vertex lists; open rings are closed by repeating the first vertex."""
    rings = [_ring(exterior, "polygon exterior")]
    rings += [_ring(hole, f"polygon hole {i}") for i, hole in enumerate(holes or [])]
    return {"type": "Polygon", "coordinates": rings}


def to_geojson_polygon_string(
    exterior: Sequence[Sequence[float]], holes: Sequence[Sequence[Sequence[float]]] | None = None
) -> str:
    """:func:`to_geojson_polygon` serialised as a JSON string."""
    return json.dumps(to_geojson_polygon(exterior, holes))
