"""GeoJSON Features written straight from catalog rows, chunk by chunk.

The same Features as :func:`eoharvest.adapters.catalog.export.geojson_collection`, without
building a ``Scene`` and a ``CatalogRecord`` per row or a dict per geometry, and without shapely:
SpatiaLite orients the rings (RFC 7946) in the query, :mod:`wkb_geojson` writes the WKB as
GeoJSON text, and the text is spliced into the Feature. Only the columns a Feature shows are read
(not the raw provider record), and only one chunk is held at a time, so memory does not grow
with the result.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Iterable, Iterator

from eoharvest.adapters.catalog.fast_query import RowChunk
from eoharvest.adapters.catalog.wkb_geojson import geojson_text
from eoharvest.adapters.json_codec import dumps_compact

#: The columns a Feature is written from, in row order (the footprint as WKB, RFC 7946-oriented).
FEATURE_COLUMNS = (
    "id", "provider", "scene_id", "product_key", "scene_key", "platform", "acq_start", "cloud_cover",
    "size", "online", "footprint_rfc7946", "first_seen", "last_seen", "download_state",
)  # fmt: skip


def feature_texts(chunks: Iterable[RowChunk]) -> Iterator[str]:
    """One GeoJSON Feature (as text) per row of ``chunks`` (rows in :data:`FEATURE_COLUMNS` order)."""
    stamps: dict[Any, str | None] = {None: None}

    def iso(value: Any) -> str | None:
        # Stored times are naive UTC text; first/last_seen repeat across a whole ingest batch.
        text = stamps.get(value)
        if text is None and value is not None:
            text = stamps[value] = _aware(value).isoformat()
        return text

    for chunk in chunks:
        # The unpacking below is FEATURE_COLUMNS, in order.
        for (pk, provider, scene_id, product_key, scene_key, platform, acq_start, cloud, size, online, wkb,
             first_seen, last_seen, state) in chunk.rows:  # fmt: skip
            properties = {
                "provider": provider,
                "scene_id": scene_id,
                "product_key": product_key,
                "scene_key": scene_key,
                "platform": platform,
                "acq_date": iso(acq_start),
                "cloud": cloud,
                "size": size,
                "online": bool(online),
                "download_state": state,
                "first_seen": iso(first_seen),
                "last_seen": iso(last_seen),
                "local_paths": ";".join(chunk.paths.get(pk, ())),
            }
            yield (
                f'{{"type":"Feature","id":{dumps_compact(f"{provider}:{scene_id}")},'
                f'"geometry":{geojson_text(wkb)},"properties":{dumps_compact(properties)}}}'
            )


def write_feature_collection(features: Iterable[str], write: Any, *, batch: int = 500) -> int:
    """Write a FeatureCollection of ``features`` through ``write(text)``, a batch of Features
    at a time; returns how many were written."""
    count = 0
    write('{"type":"FeatureCollection","features":[')
    pending: list[str] = []
    for feature in features:
        pending.append(feature)
        count += 1
        if len(pending) >= batch:
            write(("," if count > len(pending) else "") + ",".join(pending))
            pending = []
    if pending:
        write(("," if count > len(pending) else "") + ",".join(pending))
    write("]}")
    return count


def _aware(value: Any) -> datetime:
    stamp = datetime.fromisoformat(value) if isinstance(value, str) else value
    return stamp.replace(tzinfo=timezone.utc) if stamp.tzinfo is None else stamp
