"""The stac-fastapi core client over :class:`~.search.CatalogSearch`: request parameters in,
STAC JSON out. stac-fastapi does routing, request models, the landing page and conformance."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Callable, Iterable, Mapping, Sequence
from urllib.parse import urlencode

import attr
from stac_fastapi.types.core import BaseCoreClient
from stac_fastapi.types.errors import NotFoundError
from stac_fastapi.types.requests import get_base_url
from stac_fastapi.types.rfc3339 import str_to_interval
from stac_fastapi.extensions.filter.client import BaseFiltersClient
from starlette.requests import Request

from eoharvest.adapters.stac_api.collections import CollectionInfo, Collections
from eoharvest.adapters.stac_api.fields import queryables_schema, sort_field
from eoharvest.adapters.stac_api.filters import Conditions, parse_filter, parse_query
from eoharvest.adapters.stac_api.items import LocalHref, file_uri, served_item
from eoharvest.adapters.stac_api.members import MemberRef
from eoharvest.adapters.stac_api.search import DEFAULT_LIMIT, CatalogSearch, SearchPage, SearchRequest, _and
from eoharvest.domain.catalog_fields import DOWNLOAD_STATES
from eoharvest.domain.catalog_query import CatalogRecord
from eoharvest.domain.download_states import AVAILABLE
from eoharvest.domain.errors import InputError
from eoharvest.domain.footprint import Footprint

STAC_VERSION = "1.1.0"


@attr.s
class CatalogClient(BaseCoreClient):  # type: ignore[misc]
    """Core endpoints: landing page and conformance come from stac-fastapi, the rest from here."""

    searcher: CatalogSearch = attr.ib(kw_only=True)
    local_href: LocalHref = attr.ib(default=file_uri, kw_only=True)
    #: product keys -> their recorded archive members (``MemberIndex.for_products``), linked
    #: from the items' assets; None: no member links
    members: Callable[[Iterable[str]], Mapping[str, Sequence[MemberRef]]] | None = attr.ib(default=None, kw_only=True)

    @property
    def collections(self) -> Collections:
        return self.searcher.collections

    # -- search ------------------------------------------------------------------------
    def get_search(self, request: Request, **kwargs: Any) -> dict[str, Any]:
        search = _get_request(kwargs)
        return self._page(request, search, next_link=lambda token: _get_next(request, token))

    def post_search(self, search_request: Any, request: Request, **kwargs: Any) -> dict[str, Any]:
        body = search_request.model_dump(mode="json", by_alias=True, exclude_none=True)
        search = _post_request(search_request)
        base = get_base_url(request)
        return self._page(request, search,
                          next_link=lambda token: {"rel": "next", "type": "application/geo+json", "method": "POST",
                                                   "href": f"{base}search", "body": {**body, "token": token}})  # fmt: skip

    def item_collection(self, collection_id: str, request: Request, bbox: Any = None, datetime: str | None = None,
                        limit: int | None = DEFAULT_LIMIT, token: str | None = None, **kwargs: Any) -> dict[str, Any]:  # fmt: skip
        self._collection(collection_id)
        start, end = _interval(datetime)
        search = SearchRequest(collections=(collection_id,), aoi=_bbox(bbox), start=start, end=end,
                               limit=limit or DEFAULT_LIMIT, token=token)  # fmt: skip
        return self._page(request, search, next_link=lambda t: _get_next(request, t))

    def get_item(self, item_id: str, collection_id: str, request: Request, **kwargs: Any) -> dict[str, Any]:
        page = self.searcher.search(SearchRequest(ids=(item_id,), collections=(collection_id,), limit=1))
        if not page.records:
            raise NotFoundError(f"no item {item_id!r} in collection {collection_id!r}")
        return self._items(page.records, get_base_url(request))[0]

    def _page(self, request: Request, search: SearchRequest, next_link: Any) -> dict[str, Any]:
        page: SearchPage = self.searcher.search(search)
        base = get_base_url(request)
        links: list[dict[str, Any]] = [{"rel": "root", "type": "application/json", "href": base}]
        if page.next_token:
            links.append(next_link(page.next_token))
        features = self._items(page.records, base)
        return {"type": "FeatureCollection", "features": features, "links": links,
                "numberReturned": len(features)}  # fmt: skip

    def _items(self, records: Sequence[CatalogRecord], base: str) -> list[dict[str, Any]]:
        # one look-up of members per page, for the products with verified files only
        stored = [r.scene.product_key for r in records if r.download_state == AVAILABLE and r.scene.product_key]
        members = self.members(stored) if self.members is not None and stored else {}
        return [served_item(r, base, self.local_href, members.get(r.scene.product_key or "", ())) for r in records]

    # -- collections ---------------------------------------------------------------------
    def all_collections(self, request: Request, **kwargs: Any) -> dict[str, Any]:
        base = get_base_url(request)
        return {
            "collections": [_collection_json(c, base) for c in self.collections.all().values()],
            "links": [
                {"rel": "root", "type": "application/json", "href": base},
                {"rel": "self", "type": "application/json", "href": f"{base}collections"},
            ],
        }

    def get_collection(self, collection_id: str, request: Request, **kwargs: Any) -> dict[str, Any]:
        return _collection_json(self._collection(collection_id), get_base_url(request))

    def _collection(self, collection_id: str) -> CollectionInfo:
        info = self.collections.get(collection_id)
        if info is None:
            raise NotFoundError(f"no collection {collection_id!r} in this catalog")
        return info


@attr.s
class QueryablesClient(BaseFiltersClient):  # type: ignore[misc]
    """``GET /queryables``: the same fields for every collection."""

    def get_queryables(self, collection_id: str | None = None, **kwargs: Any) -> dict[str, Any]:
        request: Request = kwargs["request"]
        return queryables_schema(get_base_url(request), DOWNLOAD_STATES)


# -- request parameters -> SearchRequest --------------------------------------------------
def _interval(value: str | None) -> tuple[datetime | None, datetime | None]:
    if not value:
        return None, None
    try:
        parsed = str_to_interval(value)
    except Exception as exc:  # stac-fastapi raises HTTPException(400) with the reason
        raise InputError(f"datetime {value!r} is not an RFC 3339 instant or interval: {getattr(exc, 'detail', exc)}",
                         hint="e.g. 2024-05-01T00:00:00Z/2024-06-01T00:00:00Z or 2024-05-01T00:00:00Z/..") from None  # fmt: skip
    if isinstance(parsed, tuple):
        return parsed[0], parsed[1]
    return parsed, parsed


def _bbox(bbox: Any) -> Footprint | None:
    if not bbox:
        return None
    values = [float(v) for v in bbox]
    if len(values) == 6:
        values = [values[0], values[1], values[3], values[4]]
    if len(values) != 4:
        raise InputError(f"bbox needs 4 or 6 numbers, got {len(values)}")
    west, south, east, north = values
    if south > north:
        raise InputError(f"bbox south {south} is north of its north {north}", hint="bbox is west,south,east,north")
    return Footprint.from_provider_bbox(west, south, east, north)


def _geometry(text: str) -> Footprint:
    try:
        return Footprint.from_provider_geojson(json.loads(text))
    except ValueError:
        raise InputError(f"intersects is not a GeoJSON geometry: {text[:120]!r}",
                         hint='e.g. {"type": "Polygon", "coordinates": [[[10, 45], [11, 45], [11, 46], [10, 45]]]}') from None


def _sort(sortby: list[tuple[str, bool]] | None) -> tuple[str, bool]:
    if not sortby:
        return "acq_date", True
    if len(sortby) > 1:
        raise InputError("sortby takes one field here", hint="the catalog sorts by one field, ties by insertion order")
    name, descending = sortby[0]
    return sort_field(name), descending


def _combine(conditions: Conditions, query: Any, intersects: Footprint | None, collections: Any,
             ids: Any, **common: Any) -> SearchRequest:  # fmt: skip
    if conditions.aoi is not None and intersects is not None:
        raise InputError("give the search area once: intersects/bbox or s_intersects() in the filter")
    wanted = tuple(collections) if collections else None
    if conditions.collections is not None:
        wanted = conditions.collections if wanted is None else tuple(c for c in wanted if c in conditions.collections)
    return SearchRequest(ids=tuple(ids) if ids else None, collections=wanted, aoi=conditions.aoi or intersects,
                         where=_and(conditions.where, parse_query(query)), **common)  # fmt: skip


def _get_request(kw: dict[str, Any]) -> SearchRequest:
    if kw.get("bbox") and kw.get("intersects"):
        raise InputError("bbox and intersects exclude each other", hint="give one of them")
    intersects = _geometry(kw["intersects"]) if kw.get("intersects") else _bbox(kw.get("bbox"))
    sortby = [(s.lstrip("+-"), s.startswith("-")) for s in kw.get("sortby") or [] if s.strip()]
    sort, descending = _sort(sortby)
    start, end = _interval(kw.get("datetime"))
    return _combine(parse_filter(kw.get("filter_expr"), kw.get("filter_lang")), kw.get("query"), intersects,
                    kw.get("collections"), kw.get("ids"), start=start, end=end, sort=sort, descending=descending,
                    limit=kw.get("limit") or DEFAULT_LIMIT, token=kw.get("token"))  # fmt: skip


def _post_request(body: Any) -> SearchRequest:
    if body.bbox and body.intersects:
        raise InputError("bbox and intersects exclude each other", hint="give one of them")
    geometry = body.intersects.model_dump(mode="json") if body.intersects is not None else None
    intersects = Footprint.from_provider_geojson(geometry) if geometry else _bbox(body.bbox)
    sortby = [(str(s.field), str(s.direction.value if hasattr(s.direction, "value") else s.direction) == "desc")
              for s in getattr(body, "sortby", None) or []]  # fmt: skip
    sort, descending = _sort(sortby)
    start, end = _interval(body.datetime)
    return _combine(parse_filter(getattr(body, "filter_expr", None), getattr(body, "filter_lang", None)),
                    getattr(body, "query", None), intersects, body.collections, body.ids, start=start, end=end,
                    sort=sort, descending=descending, limit=body.limit or DEFAULT_LIMIT,
                    token=getattr(body, "token", None))  # fmt: skip


def _get_next(request: Request, token: str) -> dict[str, Any]:
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "token"] + [("token", token)]
    href = str(request.url.replace(query=urlencode(params)))
    return {"rel": "next", "type": "application/geo+json", "method": "GET", "href": href}


def _collection_json(info: CollectionInfo, base: str) -> dict[str, Any]:
    url = f"{base}collections/{info.id}"
    bbox = list(info.bbox) if info.bbox else [-180.0, -90.0, 180.0, 90.0]
    interval = [_iso(info.start), _iso(info.end)]
    providers = sorted({p for p, _ in info.groups})
    return {
        "type": "Collection",
        "stac_version": STAC_VERSION,
        "id": info.id,
        "title": info.id,
        "description": f"{info.scenes} catalogued scene(s) from {', '.join(providers)} (platforms: "
        f"{', '.join(sorted({q for _, q in info.groups}))})",
        "license": "other",
        "extent": {"spatial": {"bbox": [bbox]}, "temporal": {"interval": [interval]}},
        "links": [
            {"rel": "self", "type": "application/json", "href": url},
            {"rel": "root", "type": "application/json", "href": base},
            {"rel": "parent", "type": "application/json", "href": base},
            {"rel": "items", "type": "application/geo+json", "href": f"{url}/items"},
        ],
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None

