"""Plain names of the catalog's filterable columns, for SQL written as text (the SQLite fast
path) without loading the SQLAlchemy table definitions; tests/integration/test_catalog_read_paths.py
checks them against ``sql_filters.COLUMNS`` and ``tables``."""

from __future__ import annotations

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
