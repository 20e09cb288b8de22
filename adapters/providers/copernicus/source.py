"""Copernicus Data Space Ecosystem: OData search, zipper downloads.

Paging follows ``@odata.nextLink`` (without its ``$count=true``) under a fixed
``$orderby=ContentDate/Start``. CDSE refuses ``$skip`` above 10000, so when a search runs
into that limit it continues in a new time window that ends at the last sensing time
delivered; the products delivered at exactly that instant are remembered by Id and skipped
in the new window, so nothing is lost or repeated (ordering ties are broken by Id server-side).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Mapping, Sequence

import httpx

from eoharvest.adapters.http.auth import ScopedAuth
from eoharvest.adapters.http.jsonapi import JsonApi
from eoharvest.adapters.providers.copernicus import query as q
from eoharvest.adapters.providers.copernicus.attributes import SEARCH_OPTIONS, attribute_clause
from eoharvest.adapters.providers.copernicus.auth import CdseTokenSource
from eoharvest.adapters.providers.copernicus.collections import PRODUCT_TYPES
from eoharvest.adapters.providers.copernicus.errors import MAX_SKIP
from eoharvest.adapters.providers.copernicus.items import (
    content_start,
    download_filename,
    product_url,
    scene_from_odata_product,
)
from eoharvest.domain import product_types
from eoharvest.domain.errors import AuthError, InputError, ProviderResponseError
from eoharvest.domain.models import WHOLE_PRODUCT_ASSET, Activation, DownloadDescriptor, Scene, SearchPage
from eoharvest.domain.orders import FAILED, NO_ORDER, READY, WAIT, WAITING, OrderRef, OrderRequest, OrderStatus
from eoharvest.domain.product_types import ProductTypeTable
from eoharvest.domain.providers import PUBLISHED_SINCE, ProviderCapabilities
from eoharvest.domain.query import SearchQuery
from eoharvest.domain.urls import resolve_link

log = logging.getLogger("eoharvest.copernicus")

#: Cloud cover is filtered server-side for S2/S3 and here for Landsat; SAR has none. Offline
#: products are followed as waiting orders until they come online.
COPERNICUS_CAPABILITIES = ProviderCapabilities(
    server_cloud_filter=True, publication_time_filter=True, needs_activation=True, ordering=True,
    search_options=SEARCH_OPTIONS,
)

OFFLINE_REASON = (
    "product is offline (Online: false); CDSE cannot order it through OData, STAC or S3 — "
    "order it in the Copernicus Browser / Data Workspace, then download it again"
)
WAITING_REASON = (
    "product is offline (Online: false); CDSE cannot order it through its APIs: order it in the "
    "Copernicus Browser / Data Workspace; eoharvest re-checks it on later runs and daemon passes "
    "and downloads it once it is online"
)


@dataclass(frozen=True)
class CdsePage:
    """Reference to one result page (hashable, so the search iterator can detect cycles).

    ``skip_ids``: products already delivered at the current window's boundary instant.
    ``tail_time``/``tail_ids``: the latest-delivered sensing instant and its products.
    """

    url: str
    first: bool = False
    window_bound: datetime | None = None
    skip_ids: frozenset[str] = frozenset()
    tail_time: datetime | None = None
    tail_ids: frozenset[str] = frozenset()


class CdseSource:
    """A ``SceneSource`` over the CDSE OData catalogue and the zipper download service."""

    name = "copernicus"

    def __init__(
        self,
        api: JsonApi,
        *,
        odata_url: str = "https://catalogue.dataspace.copernicus.eu/odata/v1",
        download_url: str = "https://download.dataspace.copernicus.eu/odata/v1",
        tokens: CdseTokenSource | None = None,
        missing_credentials: str = "no credentials for copernicus",
        page_size: int = q.MAX_TOP,
        order: str = "desc",
        max_skip: int = MAX_SKIP,
        capabilities: ProviderCapabilities = COPERNICUS_CAPABILITIES,
        product_types: ProductTypeTable = PRODUCT_TYPES,
    ) -> None:
        if order not in ("asc", "desc"):
            raise InputError(f"order {order!r} must be 'asc' or 'desc'")
        self.api = api
        self.odata_url = odata_url.rstrip("/")
        self.download_url = download_url.rstrip("/")
        self.tokens = tokens
        self.missing_credentials = missing_credentials
        self.page_size = max(1, min(int(page_size), q.MAX_TOP))
        self.order = order
        self.max_skip = max_skip
        self.capabilities = capabilities
        self.product_types = product_types

    # -- SceneSource ----------------------------------------------------------------------
    def supported_platforms(self) -> Sequence[str]:
        return list(q.COLLECTIONS)

    def search_page(self, query: SearchQuery, ref: CdsePage | None) -> SearchPage:
        if ref is None:
            self._warn_ignored_cloud(query)
        page = ref or CdsePage(self._url(query, bound=None, count=True), first=True)
        if query.page_limit is not None:
            page = replace(page, url=q.cap_top(page.url, query.page_limit))
        data = self.api.get(page.url)
        if not isinstance(data, Mapping) or not isinstance(data.get("value"), list):
            raise ProviderResponseError(f"copernicus: search answer has no 'value' list (got {type(data).__name__})")
        products = [p for p in data["value"] if isinstance(p, Mapping)]
        scenes = self._scenes(products, page, query)
        count = data.get("@odata.count")
        total = count if page.first and isinstance(count, int) and not self._filters_locally(query) else None
        return SearchPage(tuple(scenes), total, self._next(data, products, page, query))

    def activate(self, scene: Scene) -> Activation:
        """Without the catalog's order book (``catalog=False``) an offline product is refused."""
        if _offline(scene):
            return Activation(ready=False, reason=OFFLINE_REASON, permanent=True)
        return Activation(ready=True)

    # -- OrderingSource: offline products are "waiting", checked by their Online flag ------------
    def order_need(self, scene: Scene, assets: Sequence[str] | None) -> str:
        return WAIT if _offline(scene) else NO_ORDER

    def place_order(self, request: OrderRequest) -> OrderStatus:
        # Deferred Available Data cannot be ordered through OData: note it and wait.
        return OrderStatus(WAITING, reason=WAITING_REASON) if _offline(request.scene) else OrderStatus(READY)

    def find_order(self, request: OrderRequest) -> OrderStatus | None:
        return None  # nothing is ever placed at CDSE

    def poll_order(self, request: OrderRequest, ref: OrderRef) -> OrderStatus:
        """``GET Products(<Id>)``: the product's current ``Online`` flag."""
        product_id = request.scene.raw.get("Id")
        if not isinstance(product_id, str):
            return OrderStatus(FAILED, reason=f"scene {request.scene.scene_id} has no OData Id in its raw record")
        data = self.api.get(f"{self.odata_url}/Products({product_id})", expect=(200, 404))
        if not isinstance(data, Mapping) or "Online" not in data:
            return OrderStatus(FAILED, reason=f"product {product_id} is no longer in the CDSE catalogue")
        return OrderStatus(READY) if data.get("Online") is True else OrderStatus(WAITING, reason=WAITING_REASON)

    def cancel_order(self, request: OrderRequest, ref: OrderRef) -> None:
        raise InputError("nothing was ordered at copernicus: there is nothing to cancel there")

    def order_descriptors(self, request: OrderRequest, ref: OrderRef | None) -> list[DownloadDescriptor]:
        return self.download_descriptors(request.scene)

    def download_descriptors(self, scene: Scene, assets: Sequence[str] | None = None) -> list[DownloadDescriptor]:
        if assets is not None:
            raise InputError(
                f"copernicus delivers whole products; asset selection {list(assets)!r} is not supported",
                hint="leave out assets/--assets for this provider",
            )
        if self.tokens is None:
            raise AuthError(self.missing_credentials, hint="copernicus downloads need a free CDSE account")
        product_id, name = scene.raw.get("Id"), scene.raw.get("Name")
        if not isinstance(product_id, str) or not isinstance(name, str):
            raise ProviderResponseError(f"copernicus: scene {scene.scene_id} has no OData Id/Name in its raw record")
        return [
            DownloadDescriptor(
                url=product_url(self.download_url, product_id),
                filename=download_filename(name.strip()),
                size=scene.size,
                checksums=scene.checksums,
                media_type="application/zip",
                asset=WHOLE_PRODUCT_ASSET,
            )
        ]

    @property
    def download_auth(self) -> httpx.Auth | None:
        """For the TransferEngine: the bearer goes to the download and catalogue origins only,
        so a redirect to any other host (followed hop by hop) travels without it."""
        if self.tokens is None:
            return None
        return ScopedAuth(self.tokens, [self.download_url, self.odata_url])

    # -- paging ---------------------------------------------------------------------------
    def _url(self, query: SearchQuery, *, bound: datetime | None, count: bool) -> str:
        platforms, types = self._platforms(query)
        start, end = query.start, query.end
        if bound is not None:
            start, end = (start, bound) if self.order == "desc" else (bound, end)
        cloud = q.cloud_clause(query.cloud_min, query.cloud_max)
        text = q.build_filter(platforms, types, aoi=query.aoi, start=start, end=end, cloud=cloud)
        for keyword, value in sorted(query.options.items()):
            if keyword == PUBLISHED_SINCE:
                text += " and " + q.publication_clause(value)
            elif keyword not in ("product_type", "page_size"):
                text += " and " + attribute_clause(keyword, value, platforms)
        top = query.page_size(self.page_size)
        return q.search_url(self.odata_url, text, order=self.order, top=min(top, q.MAX_TOP), count=count)

    def _platforms(self, query: SearchQuery) -> tuple[list[str], Mapping[str, Sequence[str]]]:
        """The platforms to search and, per platform, the ``productType`` values asked for."""
        wanted = [p for p in query.platforms if p in q.COLLECTIONS] or list(q.COLLECTIONS)
        unknown = [p for p in query.platforms if p not in q.COLLECTIONS]
        if unknown:
            raise InputError(f"copernicus cannot search {', '.join(unknown)}", hint=f"supported: {', '.join(q.COLLECTIONS)}")
        # A platform without the requested type is left out (S1+S2 with L2A searches S2 only).
        types = product_types.resolve(query.options.get("product_type"), wanted, self.product_types, provider=self.name)
        if types:
            wanted = [p for p in wanted if p in types]
        return wanted, types

    def _warn_ignored_cloud(self, query: SearchQuery) -> None:
        if query.has_cloud_filter:
            ignored = [p for p in self._platforms(query)[0] if p in q.NO_CLOUD]
            if ignored:
                log.warning("cloud filter ignored for %s (no cloud cover)", ", ".join(ignored))

    def _filters_locally(self, query: SearchQuery) -> bool:
        if not query.has_cloud_filter:
            return False
        platforms, _ = self._platforms(query)
        return any(p not in q.CLOUD_ATTRIBUTE and p not in q.NO_CLOUD for p in platforms)

    def _scenes(self, products: list[Mapping[str, Any]], page: CdsePage, query: SearchQuery) -> list[Scene]:
        scenes, skipped = [], 0
        for product in products:
            if product.get("Id") in page.skip_ids:
                continue  # delivered at the end of the previous time window
            try:
                scene = scene_from_odata_product(product, provider=self.name, download_url=self.download_url)
            except (ProviderResponseError, InputError) as exc:
                skipped += 1
                log.warning("copernicus: product skipped: %s", exc)
                continue
            if scene.platformname not in q.NO_CLOUD and not query.cloud_accepts(scene.cloudcover_percentage):
                continue
            scenes.append(scene)
        if skipped:
            log.warning("copernicus: %d unusable product(s) skipped on this page", skipped)
        return scenes

    def _next(self, data: Mapping[str, Any], products: list[Mapping[str, Any]], page: CdsePage, query: SearchQuery) -> CdsePage | None:
        tail_time, tail_ids = page.tail_time, set(page.tail_ids)
        for product in products:
            start = content_start(product)
            if start is None:
                continue
            if start != tail_time:
                tail_time, tail_ids = start, set()
            tail_ids.add(str(product.get("Id")))
        link = data.get("@odata.nextLink")
        if isinstance(link, str) and link:
            url = q.ensure_orderby(q.strip_count(resolve_link(page.url, link)), self.order)
            if q.skip_of(url) <= self.max_skip:
                return CdsePage(url, False, page.window_bound, page.skip_ids, tail_time, frozenset(tail_ids))
        top = int(q.query_params(page.url).get("$top") or 20)
        at_limit = q.skip_of(page.url) + top > self.max_skip
        if not products or len(products) < top or not at_limit:
            return None
        if tail_time is None:
            raise ProviderResponseError("copernicus: cannot continue past $skip 10000: products lack ContentDate/Start")
        if tail_time == page.window_bound:
            raise ProviderResponseError(
                f"copernicus: more than {self.max_skip} products share the sensing time {q.odata_time(tail_time)}",
                hint="narrow the search (area, product type) so it can be paged",
            )
        log.info("copernicus: $skip limit reached; continuing with products up to %s", q.odata_time(tail_time))
        url = self._url(query, bound=tail_time, count=False)
        return CdsePage(url, False, tail_time, frozenset(tail_ids), tail_time, frozenset(tail_ids))


def _offline(scene: Scene) -> bool:
    return scene.raw.get("Online") is False or not scene.online
