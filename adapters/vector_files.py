"""VectorReader adapter: shapes and CRS of one layer of a vector file, read with pyogrio (OGR).

The default layer is the LAST one in the file, as in the reference API (``vec_id`` unset).
"""

from __future__ import annotations

import logging
import os
import warnings
from dataclasses import dataclass

# pyogrio (GDAL: ~0.2 s and ~65 MiB) is imported when a file is first read. It must load its
# bundled GEOS/PROJ before anything dlopens SpatiaLite, whose system copies would otherwise
# interpose and crash it: load_spatialite imports it first (see preload_geo_libraries).
import shapely

from eoharvest.domain.errors import InputError
from eoharvest.domain.ports import VectorLayer

LayerId = str | int | None

log = logging.getLogger("eoharvest.vector")


@dataclass(frozen=True)
class LayerShapes:
    """A layer's shapes with the OGR feature id (FID) of each, aligned with ``layer.geometries``."""

    layer: VectorLayer
    fids: tuple[int, ...]


def _check_path(path: str) -> None:
    if not os.path.exists(path):
        raise InputError(f"vector file {path!r} does not exist", hint="check the path")
    if os.path.isfile(path) and os.path.getsize(path) == 0:
        raise InputError(
            f"vector file {path!r} is empty (0 bytes): the AOI is empty, there is no geometry",
            hint="write a shape to the file or give the AOI another way",
        )


def list_layers(path: str | os.PathLike[str]) -> list[str]:
    """Names of the layers in a vector file, in file order."""
    path = os.fspath(path)
    _check_path(path)
    import pyogrio
    import pyogrio.errors

    try:
        # Opening the file already makes OGR warn about its geometries (an unclosed ring); the
        # read of the layer reports them as the AOI error, so they are not printed twice here.
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            layers = pyogrio.list_layers(path)
    except pyogrio.errors.DataSourceError as exc:
        raise InputError(
            f"vector file {path!r} cannot be opened by OGR: {exc}",
            hint="use a format GDAL/OGR reads (GeoPackage, shapefile, GeoJSON, KML, ...)",
        ) from None
    return [str(name) for name, _geometry_type in layers]


def resolve_layer(path: str, layer: LayerId) -> str:
    """The layer name for ``layer`` (a name, a 0-based index, or None for the last layer)."""
    names = list_layers(path)
    if not names:
        raise InputError(f"vector file {path!r} has no layers")
    if layer is None:
        return names[-1]
    if isinstance(layer, int) and not isinstance(layer, bool):
        index = layer + len(names) if layer < 0 else layer
        if 0 <= index < len(names):
            return names[index]
    elif isinstance(layer, str) and layer in names:
        return layer
    raise InputError(
        f"vector file {path!r} has no layer {layer!r}; its layers are "
        + ", ".join(f"{i}: {name!r}" for i, name in enumerate(names)),
        hint="give a layer name or a 0-based index",
    )


class OgrVectorReader:
    """Reads one layer of a vector file (anything GDAL/OGR opens) into shapely geometries."""

    def read(self, path: str | os.PathLike[str], layer: LayerId = None) -> VectorLayer:
        """The non-null shapes of ``layer`` (name, 0-based index; default the last layer) and its CRS."""
        return self.read_shapes(path, layer).layer

    def read_shapes(self, path: str | os.PathLike[str], layer: LayerId = None) -> LayerShapes:
        """Like :meth:`read`, with each shape's OGR FID (shapefile/GeoJSON count from 0, GPKG from 1)."""
        path = os.fspath(path)
        name = resolve_layer(path, layer)
        import pyogrio.errors
        import pyogrio.raw

        try:
            # OGR reports geometry problems as Python warnings; they belong in the AOI error,
            # not as stray lines on stderr.
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                meta, fids, wkb, _fields = pyogrio.raw.read(
                    path, layer=name, columns=[], return_fids=True
                )
        except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError) as exc:
            raise InputError(f"vector file {path!r} layer {name!r} cannot be read by OGR: {exc}") from None
        _fold_warnings(path, name, [str(w.message) for w in caught])
        if wkb is None:
            geometries, kept = [], []
        else:
            shapes = shapely.from_wkb(wkb)
            kept = [i for i, g in enumerate(shapes) if g is not None]
            geometries = [shapes[i] for i in kept]
        return LayerShapes(
            VectorLayer(tuple(geometries), meta.get("crs") or None, name),
            tuple(int(fids[i]) for i in kept),
        )


def _fold_warnings(path: str, layer: str, messages: list[str]) -> None:
    """Turn OGR's geometry warnings into the AOI error they mean; log any others."""
    for message in messages:
        if "closed ring" in message.lower():
            raise InputError(
                f"vector file {path!r} layer {layer!r}: a polygon ring is not closed "
                "(its first and last points differ)",
                hint="close the ring in a GIS tool; eoharvest does not close rings silently",
            )
    for message in messages:
        log.warning("vector file %s layer %s: %s", path, layer, message.splitlines()[0])
