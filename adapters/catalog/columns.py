"""Plain names of the catalog's columns and the text form of its times, for SQL written as text
(the SQLite fast path) without loading SQLAlchemy, shapely or numpy;
tests/integration/test_catalog_read_paths.py checks the names against ``sql_filters.COLUMNS`` and
``tables``."""

from __future__ import annotations

from datetime import datetime, timezone

#: Filter and sort field (``domain.catalog_fields``) -> column of ``scenes``.
FIELD_COLUMNS: dict[str, str] = {
    "provider": "provider",
    "scene_id": "scene_id",
    "product_key": "product_key",
    "scene_key": "scene_key",
    "platform": "platform",
    "acq_date": "acq_start",
    "cloud": "cloud_cover",
    "size": "size",
    "online": "online",
    "first_seen": "first_seen",
    "last_seen": "last_seen",
}
#: SpatiaLite's R*Tree of ``scenes.footprint`` and the SRID of every footprint.
RTREE = "idx_scenes_footprint"
SRID = 4326

#: The columns a catalog record is read from, in the order every reader selects them: the SQLite
#: fast path (:mod:`eoharvest.adapters.catalog.fast_query`) and the SQLAlchemy statements of the
#: repository build their select lists from this tuple, and :func:`decode_records` unpacks rows in
#: this order. ``footprint`` is selected as WKB; ``download_state`` is computed (the scene's most
#: advanced file state, see ``sql_filters.download_state``).
RECORD_COLUMNS = (
    "id", "provider", "scene_id", "product_key", "scene_key", "platform", "acq_start", "cloud_cover",
    "size", "online", "links", "checksums", "raw", "footprint", "first_seen", "last_seen",
    "download_state",
)  # fmt: skip


def to_naive_utc(value: datetime | None) -> datetime | None:
    """A datetime as naive UTC (naive values are taken as UTC already)."""
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(timezone.utc).replace(tzinfo=None)


def db_datetime(value: datetime | None) -> str | None:
    """A datetime as SQLAlchemy stores it in SQLite: naive UTC, always with microseconds.

    The exact format matters: filters compare these strings lexically.
    """
    if value is None:
        return None
    if value.tzinfo is not timezone.utc:  # UTC already (the usual case): no conversion needed
        value = to_naive_utc(value)  # type: ignore[assignment]
    return value.isoformat(" ", "microseconds")[:26]  # without the "+00:00" of an aware UTC value
