"""Item search over the catalog port: one request -> one page of records and the next cursor.

Every query goes through ``CatalogRepository.query`` (on SpatiaLite the fast path of
``catalog query``), with one row per product as ``catalog query`` gives by default. Which
provider's copy represents a product follows the issue's rule, not the catalog's default
(earliest catalogued): the copy whose files are on disk, else the most recently seen one. A
second query on the page's product keys (same criteria) finds the copies.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from eoharvest.adapters.stac_api.collections import Collections, item_collection
from eoharvest.adapters.stac_api.paging import Cursor, decode, next_cursor
from eoharvest.domain.catalog_fields import Comparison, Expr, Logical
from eoharvest.domain.catalog_query import CatalogFilter, CatalogRecord
from eoharvest.domain.download_states import AVAILABLE
from eoharvest.domain.errors import InputError
from eoharvest.domain.footprint import Footprint
from eoharvest.domain.ports import CatalogRepository

MAX_LIMIT = 1000
DEFAULT_LIMIT = 10


@dataclass(frozen=True)
class SearchRequest:
    """A normalised item search (GET or POST, /search or a collection's /items)."""

    ids: tuple[str, ...] | None = None
    collections: tuple[str, ...] | None = None
    aoi: Footprint | None = None
    start: datetime | None = None
    end: datetime | None = None
    where: Expr | None = None
    sort: str = "acq_date"
    descending: bool = True
    limit: int = DEFAULT_LIMIT
    token: str | None = None

    def __post_init__(self) -> None:
        if self.start and self.end and self.start > self.end:
            raise InputError(f"datetime interval starts after it ends: {self.start.isoformat()} > {self.end.isoformat()}")
        if self.limit < 1:
            raise InputError(f"limit {self.limit} must be at least 1")


@dataclass(frozen=True)
class SearchPage:
    records: list[CatalogRecord]
    next_token: str | None


def _and(*items: Expr | None) -> Expr | None:
    present = tuple(i for i in items if i is not None)
    return None if not present else present[0] if len(present) == 1 else Logical("and", present)


class CatalogSearch:
    """Runs :class:`SearchRequest` s against a catalog (read-only)."""

    def __init__(self, catalog: CatalogRepository, collections: Collections) -> None:
        self.catalog = catalog
        self.collections = collections

    def search(self, request: SearchRequest) -> SearchPage:
        limit = min(request.limit, MAX_LIMIT)
        check_each = False
        collection_cond: Expr | None = None
        if request.collections is not None:
            if not set(request.collections) & set(self.collections.all()):
                return SearchPage([], None)
            collection_cond, check_each = self.collections.condition(request.collections)
        ids_cond = Comparison("scene_id", "in", request.ids) if request.ids else None
        base = _and(request.where, ids_cond, collection_cond)
        cursor: Cursor | None = decode(request.token, request.sort, request.descending) if request.token else None
        skip = cursor.skip if cursor else 0
        criteria = CatalogFilter(
            aoi=request.aoi, start=request.start, end=request.end,
            where=_and(base, cursor.condition() if cursor else None),
            sort=request.sort, descending=request.descending, limit=skip + limit + 1, distinct_products=True,
        )  # fmt: skip
        rows = list(self.catalog.query(criteria))
        end = min(len(rows), skip + limit)
        page = rows[skip:end]
        more = len(rows) > end
        token = next_cursor(rows, end, request.sort, request.descending).encode() if more and page else None
        records = self._representatives(page, replace(criteria, where=base, limit=None))
        if check_each:
            wanted = set(request.collections or ())
            records = [r for r in records if item_collection(r.scene.raw, r.scene.platformname) in wanted]
        return SearchPage(records, token)

    def _representatives(self, page: list[CatalogRecord], criteria: CatalogFilter) -> list[CatalogRecord]:
        """Each product's served copy: on disk first, else the most recently seen.

        The copies are looked up by product key (an index) with the filter's ``where``; the
        area and time conditions are checked here, on a handful of rows, instead of running
        the spatial query a second time."""
        if not page:
            return page
        keys = tuple(dict.fromkeys(str(r.scene.product_key) for r in page))
        copies = self.catalog.query(
            replace(criteria, aoi=None, start=None, end=None, distinct_products=False, sort="product_key",
                    where=_and(criteria.where, Comparison("product_key", "in", keys)))
        )  # fmt: skip
        best: dict[str, CatalogRecord] = {}
        for record in copies:
            if not _matches(record, criteria):
                continue
            key = str(record.scene.product_key)
            current = best.get(key)
            if current is None or _rank(record) > _rank(current):
                best[key] = record
        return [best.get(str(r.scene.product_key), r) for r in page]


def _matches(record: CatalogRecord, criteria: CatalogFilter) -> bool:
    """The area and time conditions of ``criteria`` (as the catalog applies them)."""
    when = record.scene.acq_date
    if criteria.start is not None and (when is None or when < criteria.start):
        return False
    if criteria.end is not None and (when is None or when > criteria.end):
        return False
    if criteria.aoi is not None:
        footprint = record.scene.footprint
        return footprint is not None and footprint.intersects(criteria.aoi)
    return True


def _rank(record: CatalogRecord) -> tuple[bool, datetime]:
    return record.download_state == AVAILABLE, record.last_seen
