"""Catalog records as GeoJSON, STAC, CSV and GeoPackage (pyogrio with WKB arrays; no geopandas)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import shapely

from eoharvest.domain.catalog_query import CatalogRecord
from eoharvest.domain.errors import CatalogError, UnsupportedEnvironment
from eoharvest.domain.models import Scene

STAC_VERSION = "1.0.0"
EO_EXTENSION = "https://stac-extensions.github.io/eo/v1.1.0/schema.json"
#: A provider's own mapping of one of its scenes to a STAC Item (see ProviderSpec.stac_export).
StacMapper = Callable[[Scene], dict[str, Any]]
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
                "geometry": r.scene.footprint.geojson if r.scene.footprint else None,
                "properties": properties(r),
            }
            for r in records
        ],
    }


def stac_item(record: CatalogRecord, mapper: StacMapper | None = None) -> dict[str, Any]:
    """A STAC 1.0 Item for a record (eo extension for the cloud cover). ``mapper`` is the
    record's provider's own Scene -> Item mapping (richer assets and properties), if it has one."""
    s = record.scene
    if mapper is not None:
        item = mapper(s)
        item.setdefault("properties", {}).update(_eoharvest_properties(record))
        item.setdefault("assets", {}).update(_local_assets(record))
        return item
    props: dict[str, Any] = {
        "datetime": s.acq_date.isoformat().replace("+00:00", "Z") if s.acq_date else None,
        "platform": s.platformname,
        **_eoharvest_properties(record),
    }
    if s.acq_date is None:
        seen = record.first_seen.isoformat().replace("+00:00", "Z")
        props.update(start_datetime=seen, end_datetime=seen)
    if s.cloudcover_percentage is not None:
        props["eo:cloud_cover"] = s.cloudcover_percentage
    assets = {
        name: {"href": href, "roles": ["data"]}
        for name, href in zip(s.filenames or [f"file{i}" for i in range(len(s.download_links))], s.download_links)
    }
    assets.update(_local_assets(record))
    return {
        "type": "Feature",
        "stac_version": STAC_VERSION,
        "stac_extensions": [EO_EXTENSION],
        "id": s.scene_id,
        "geometry": s.footprint.geojson if s.footprint else None,
        "bbox": list(s.footprint.bbox) if s.footprint else None,
        "properties": props,
        "links": [],
        "assets": assets,
    }


def _eoharvest_properties(record: CatalogRecord) -> dict[str, Any]:
    s = record.scene
    return {
        "eoharvest:provider": s.provider,
        "eoharvest:product_key": s.product_key,
        "eoharvest:download_state": record.download_state,
    }


def _local_assets(record: CatalogRecord) -> dict[str, Any]:
    return {
        f"local{i}": {"href": Path(path).as_uri() if Path(path).is_absolute() else path, "roles": ["data", "local"]}
        for i, path in enumerate(record.local_paths)
    }


def stac_item_collection(
    records: Sequence[CatalogRecord], mappers: Mapping[str, StacMapper] | None = None
) -> dict[str, Any]:
    """An ItemCollection; ``mappers`` maps a provider name to its own Scene -> Item mapping."""
    chosen = mappers or {}
    return {"type": "FeatureCollection", "features": [stac_item(r, chosen.get(r.scene.provider)) for r in records]}


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
