"""Catalog records as GeoJSON, STAC, CSV and GeoPackage (pyogrio with WKB arrays; no geopandas).

The STAC export lives in :mod:`eoharvest.adapters.catalog.stac_export`.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, Sequence

import shapely

from eoharvest.adapters.catalog.stac_export import stac_item, stac_item_collection
from eoharvest.domain.catalog_query import CatalogRecord
from eoharvest.domain.errors import CatalogError, UnsupportedEnvironment

__all__ = ["COLUMNS", "csv_text", "geojson_collection", "properties", "stac_item", "stac_item_collection",
           "write_geopackage", "write_json"]
COLUMNS = ("provider", "scene_id", "product_key", "scene_key", "platform", "acq_date",
           "cloud", "size", "online", "download_state", "first_seen", "last_seen", "local_paths")  # fmt: skip


def properties(record: CatalogRecord) -> dict[str, Any]:
    """The flat attributes of a record (times as ISO 8601 UTC)."""
    s = record.scene
    return {
        "provider": s.provider,
        "scene_id": s.scene_id,
        "product_key": s.product_key,
        "scene_key": s.scene_key,
        "platform": s.platformname,
        "acq_date": s.acq_date.isoformat() if s.acq_date else None,
        "cloud": s.cloudcover_percentage,
        "size": s.size,
        "online": s.online,
        "download_state": record.download_state,
        "first_seen": record.first_seen.isoformat(),
        "last_seen": record.last_seen.isoformat(),
        "local_paths": ";".join(record.local_paths),
    }


def geojson_collection(records: Sequence[CatalogRecord]) -> dict[str, Any]:
    """A GeoJSON FeatureCollection, one Feature per record."""
    return {
        "type": "FeatureCollection",
        "features": [
            {
                "type": "Feature",
                "id": f"{r.scene.provider}:{r.scene.scene_id}",
                "geometry": r.scene.footprint.rfc7946_geojson if r.scene.footprint else None,
                "properties": properties(r),
            }
            for r in records
        ],
    }


def csv_text(records: Sequence[CatalogRecord]) -> str:
    """CSV with a header row and the footprint as WKT in the last column."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*COLUMNS, "footprint_wkt"])
    for r in records:
        props = properties(r)
        writer.writerow([*("" if props[c] is None else props[c] for c in COLUMNS), r.scene.footprint.wkt if r.scene.footprint else ""])
    return out.getvalue()


def write_json(data: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, default=str), encoding="utf-8")


def write_geopackage(records: Sequence[CatalogRecord], path: Path, layer: str = "scenes") -> None:
    """A GeoPackage layer of MultiPolygons in EPSG:4326 with the record attributes."""
    try:
        import numpy as np
        from pyogrio.raw import write
    except ImportError:
        raise UnsupportedEnvironment("GeoPackage export needs pyogrio", hint="pip install pyogrio") from None
    if path.exists():
        path.unlink()
    geometries = np.array(
        [shapely.to_wkb(r.scene.footprint.geometry) if r.scene.footprint else None for r in records], dtype=object
    )
    rows = [properties(r) for r in records]
    kinds = {"cloud": float, "size": float}
    field_data = []
    for name in COLUMNS:
        if name in kinds:
            field_data.append(np.array([np.nan if p[name] is None else float(p[name]) for p in rows], dtype="float64"))
        elif name == "online":
            field_data.append(np.array([int(bool(p[name])) for p in rows], dtype="int32"))
        else:
            field_data.append(np.array(["" if p[name] is None else str(p[name]) for p in rows], dtype=object))
    try:
        write(
            str(path), geometries, field_data, list(COLUMNS), layer=layer, driver="GPKG",
            geometry_type="MultiPolygon", crs="EPSG:4326",
        )  # fmt: skip
    except Exception as exc:  # pyogrio/GDAL errors carry the reason in the message
        raise CatalogError(f"cannot write GeoPackage {str(path)!r}: {exc}") from None
