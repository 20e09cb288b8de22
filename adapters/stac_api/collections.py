"""Collections: the collection ids the served items carry, with extents from the catalog.

An item from a STAC provider keeps its provider's ``collection``; any other item gets a
per-platform collection (``sentinel-2``, ``landsat-8``). The catalog has no collection column,
so one grouped scan over ``scenes`` (provider, platform, the raw item's collection) gives each
collection's groups, scene count and extents; it is cached for ``ttl`` seconds because on a
large catalog it takes seconds (tens of seconds at a million scenes). A collections filter becomes ``provider = ? AND platform = ?``
conditions on those groups; a group shared by several collections is also checked per item.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping

from sqlalchemy import Engine, text

from eoharvest.adapters.catalog.rows import to_aware_utc
from eoharvest.adapters.catalog.tables import scenes_rtree
from eoharvest.adapters.providers.stac.stac_item import is_stac_item
from eoharvest.domain.catalog_fields import Comparison, Expr, Logical

log = logging.getLogger("eoharvest.serve")

_SQLITE = """
SELECT s.provider, s.platform,
       CASE WHEN json_extract(s.raw, '$.type') = 'Feature' AND json_type(s.raw, '$.stac_version') = 'text'
                 AND json_type(s.raw, '$.collection') = 'text'
            THEN json_extract(s.raw, '$.collection') END AS collection,
       count(*), min(s.acq_start), max(s.acq_start), min(r.xmin), min(r.ymin), max(r.xmax), max(r.ymax)
FROM scenes AS s LEFT JOIN {rtree} AS r ON r.pkid = s.id
GROUP BY 1, 2, 3
"""
_POSTGRES = """
SELECT s.provider, s.platform,
       CASE WHEN s.raw::jsonb->>'type' = 'Feature' AND jsonb_typeof(s.raw::jsonb->'stac_version') = 'string'
                 AND jsonb_typeof(s.raw::jsonb->'collection') = 'string'
            THEN s.raw::jsonb->>'collection' END AS collection,
       count(*), min(s.acq_start), max(s.acq_start),
       ST_XMin(ST_Extent(s.footprint)), ST_YMin(ST_Extent(s.footprint)),
       ST_XMax(ST_Extent(s.footprint)), ST_YMax(ST_Extent(s.footprint))
FROM scenes AS s
GROUP BY 1, 2, 3
"""


def platform_collection(platform: str) -> str:
    """The collection id of a non-STAC provider's items: the platform as a slug."""
    return re.sub(r"[^a-z0-9]+", "-", platform.lower()).strip("-") or "unknown"


def item_collection(raw: Mapping[str, Any], platform: str) -> str:
    """The collection an item is served in (the same rule as the grouped scan)."""
    collection = raw.get("collection") if is_stac_item(raw) else None
    return collection if isinstance(collection, str) and collection else platform_collection(platform)


@dataclass(frozen=True)
class CollectionInfo:
    """One collection: where its items come from, how many scenes, and its extents."""

    id: str
    groups: tuple[tuple[str, str], ...]  # (provider, platform)
    scenes: int
    start: datetime | None
    end: datetime | None
    bbox: tuple[float, float, float, float] | None


class Collections:
    """The collections of a catalog. The first scan is waited for; after ``ttl`` seconds the
    next caller gets the current answer while one background thread rescans (on a catalog of
    a million scenes a scan takes tens of seconds, which no request should wait for twice)."""

    def __init__(self, engine: Engine, ttl: float = 300.0) -> None:
        self._engine = engine
        self._ttl = ttl
        self._lock = threading.Lock()
        self._loaded_at: float | None = None
        self._refreshing = False
        self._by_id: dict[str, CollectionInfo] = {}
        self._shared: frozenset[tuple[str, str]] = frozenset()

    def warm(self) -> None:
        """Start the first scan in the background (the server calls this at startup)."""
        threading.Thread(target=self.all, name="eoharvest-collections", daemon=True).start()

    def all(self) -> dict[str, CollectionInfo]:
        with self._lock:
            if self._loaded_at is None:
                self._load()
            elif time.monotonic() - self._loaded_at > self._ttl and not self._refreshing:
                self._refreshing = True
                threading.Thread(target=self._refresh, name="eoharvest-collections", daemon=True).start()
            return self._by_id

    def _load(self) -> None:
        by_id, shared = _scan(self._engine)
        self._by_id, self._shared, self._loaded_at = by_id, shared, time.monotonic()

    def _refresh(self) -> None:
        try:
            by_id, shared = _scan(self._engine)
        except Exception as exc:  # keep serving the last answer; the next request retries
            log.warning("rescanning the collections failed: %s", exc)
            by_id = None
        with self._lock:
            if by_id is not None:
                self._by_id, self._shared, self._loaded_at = by_id, shared, time.monotonic()
            self._refreshing = False

    def get(self, collection_id: str) -> CollectionInfo | None:
        return self.all().get(collection_id)

    def condition(self, ids: tuple[str, ...]) -> tuple[Expr | None, bool]:
        """A catalog condition selecting ``ids``, and whether items must be checked one by one
        (a provider/platform group shared with another collection). No known id: a condition
        nothing matches."""
        by_id = self.all()
        groups = sorted({g for cid in ids if cid in by_id for g in by_id[cid].groups})
        if not groups:
            return Comparison("provider", "in", ()), False
        terms: list[Expr] = [
            Logical("and", (Comparison("provider", "=", p), Comparison("platform", "=", q))) for p, q in groups
        ]
        shared = any(g in self._shared for g in groups)
        return (terms[0] if len(terms) == 1 else Logical("or", tuple(terms))), shared


def _scan(engine: Engine) -> tuple[dict[str, CollectionInfo], frozenset[tuple[str, str]]]:
    sql = _POSTGRES if engine.dialect.name == "postgresql" else _SQLITE.format(rtree=scenes_rtree.name)
    with engine.connect() as conn:
        rows = conn.execute(text(sql)).all()
    merged: dict[str, dict[str, Any]] = {}
    seen: dict[tuple[str, str], set[str]] = {}
    for provider, platform, raw_collection, count, start, end, xmin, ymin, xmax, ymax in rows:
        cid = raw_collection or platform_collection(platform)
        seen.setdefault((provider, platform), set()).add(cid)
        entry = merged.setdefault(cid, {"groups": set(), "scenes": 0, "start": [], "end": [], "boxes": []})
        entry["groups"].add((provider, platform))
        entry["scenes"] += count
        if start is not None:
            entry["start"].append(to_aware_utc(start))
        if end is not None:
            entry["end"].append(to_aware_utc(end))
        if xmin is not None:
            entry["boxes"].append((xmin, ymin, xmax, ymax))
    by_id = {
        cid: CollectionInfo(
            id=cid,
            groups=tuple(sorted(e["groups"])),
            scenes=e["scenes"],
            start=min(e["start"]) if e["start"] else None,
            end=max(e["end"]) if e["end"] else None,
            bbox=(
                min(b[0] for b in e["boxes"]), min(b[1] for b in e["boxes"]),
                max(b[2] for b in e["boxes"]), max(b[3] for b in e["boxes"]),
            ) if e["boxes"] else None,
        )  # fmt: skip
        for cid, e in sorted(merged.items())
    }
    shared = frozenset(group for group, ids in seen.items() if len(ids) > 1)
    return by_id, shared
