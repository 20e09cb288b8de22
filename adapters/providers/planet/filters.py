"""The quick-search request body for a query (Planet Data API v1 search filters).

One ``AndFilter`` of: a ``GeometryFilter`` on ``geometry`` (the AOI as a GeoJSON object: Planet
refuses WKT), a ``DateRangeFilter`` on ``acquired``, a ``RangeFilter`` on ``cloud_cover`` (Planet
counts it as a fraction 0-1, eoharvest as a percentage 0-100), a ``DateRangeFilter`` on
``published`` for a publication-time watermark, and always a ``PermissionFilter`` on
``assets:download``, so only items the key may download come back. Pure: no I/O.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Mapping

from eoharvest.adapters.providers.planet.item_types import (
    ITEM_TYPES,
    PRODUCT_TYPES,
    PUBLISHED_SINCE,
    default_item_type,
)
from eoharvest.domain import product_types
from eoharvest.domain.errors import InputError
from eoharvest.domain.query import SearchQuery, parse_datetime

#: quick-search's largest ``_page_size``.
MAX_PAGE_SIZE = 250


def rfc3339(moment: datetime) -> str:
    """UTC time as Planet writes it: ``2022-01-25T07:55:09.676173Z``."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def cloud_fraction(percent: float) -> float:
    """eoharvest's 0-100 percentage as Planet's 0-1 fraction (rounded so 7 % is 0.07, not
    0.07000000000000001)."""
    return round(percent / 100.0, 6)


def item_types_for(query: SearchQuery) -> list[str]:
    """The item types to search: the ``product_type`` option resolved per platform, else each
    platform's default item type."""
    platforms = [p for p in query.platforms if p in ITEM_TYPES] or ["PlanetScope"]
    unknown = [p for p in query.platforms if p not in ITEM_TYPES]
    if unknown:
        raise InputError(f"planet cannot search {', '.join(unknown)}", hint=f"supported: {', '.join(ITEM_TYPES)}")
    wanted = product_types.resolve(query.options.get("product_type"), platforms, PRODUCT_TYPES, provider="planet")
    if wanted:
        return [t for p in platforms for t in wanted.get(p, ())]
    return [default_item_type(p) for p in platforms]


def search_filter(query: SearchQuery) -> dict[str, Any]:
    """The ``AndFilter`` for ``query``."""
    parts: list[dict[str, Any]] = []
    if query.aoi is not None:
        parts.append({"type": "GeometryFilter", "field_name": "geometry", "config": query.aoi.geojson})
    acquired: dict[str, str] = {}
    if query.start is not None:
        acquired["gte"] = rfc3339(query.start)
    if query.end is not None:
        acquired["lte"] = rfc3339(query.end)
    if acquired:
        parts.append({"type": "DateRangeFilter", "field_name": "acquired", "config": acquired})
    cloud: dict[str, float] = {}
    if query.cloud_min is not None:
        cloud["gte"] = cloud_fraction(query.cloud_min)
    if query.cloud_max is not None:
        cloud["lte"] = cloud_fraction(query.cloud_max)
    if cloud:
        parts.append({"type": "RangeFilter", "field_name": "cloud_cover", "config": cloud})
    since = published_since(query.options)
    if since is not None:
        parts.append({"type": "DateRangeFilter", "field_name": "published", "config": {"gte": rfc3339(since)}})
    parts.append({"type": "PermissionFilter", "config": ["assets:download"]})
    return {"type": "AndFilter", "config": parts}


def published_since(options: Mapping[str, Any]) -> datetime | None:
    value = options.get(PUBLISHED_SINCE)
    return parse_datetime(value, name=PUBLISHED_SINCE) if value is not None else None


def search_body(query: SearchQuery) -> dict[str, Any]:
    """The JSON body of ``POST /quick-search``."""
    return {"item_types": item_types_for(query), "filter": search_filter(query)}


def page_size(query: SearchQuery, default: int = MAX_PAGE_SIZE) -> int:
    """``_page_size``: the ``page_size`` option or ``default``, capped by the query's limit; 1..250."""
    size = query.page_size(default)
    if size > MAX_PAGE_SIZE:
        raise InputError(f"planet page_size {size} is too large", hint=f"quick-search pages hold at most {MAX_PAGE_SIZE}")
    return size
