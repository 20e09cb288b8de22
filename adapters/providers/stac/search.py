"""Generic STAC API provider (Earth Search, Planetary Computer, CDSE STAC, any item-search API).

Search is a POST to ``/search``. Server-side cloud filtering uses CQL2 only when the landing page
declares filter conformance, else the ``query`` extension; the API layer re-checks cloud cover on
every item anyway, because servers have ignored filters they did not declare (Earth Search).
Paging follows ``rel=next`` links in every shape seen in the wild (GET links, POST links with a
body or a merge flag; STAC API - Item Search, "Paging").
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from typing import Any, Callable, Mapping, Sequence
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from eoharvest.adapters.http.jsonapi import JsonApi
from eoharvest.adapters.providers.stac import options as stac_options
from eoharvest.adapters.providers.stac.collections import (
    FLAVOURS,
    LISTED_ONLY,
    SAR_PLATFORMS,
    collections_for,
    flavour_for,
)
from eoharvest.adapters.json_record import JsonRecord
from eoharvest.adapters.providers.stac.items import (
    asset_descriptor,
    item_self_url,
    page_footprints,
    scene_from_stac_item,
    select_assets,
)
from eoharvest.adapters.providers.stac.page_decoding import DecodedPage, decode_search_page
from eoharvest.domain.errors import AuthError, InputError, ProviderResponseError
from eoharvest.domain.models import Activation, DownloadDescriptor, Scene, SearchPage
from eoharvest.domain.platforms import PLATFORM_ALIASES
from eoharvest.domain.product_types import ProductTypeTable
from eoharvest.domain.providers import PUBLISHED_SINCE, ProviderCapabilities
from eoharvest.domain.query import SearchQuery, parse_datetime
from eoharvest.domain.urls import resolve_link

log = logging.getLogger("eoharvest.stac")

Signer = Callable[[str], str]

#: Whether a server filters cloud cover depends on its conformance classes, so each page says
#: so itself (``SearchPage.cloud_filtered``) instead of a blanket capability.
#: The item property a publication-time search filters on and the watermark follows: STAC
#: common metadata ``updated`` (it changes when an item is reprocessed or re-published).
PUBLICATION_PROPERTY = "updated"
STAC_CAPABILITIES = ProviderCapabilities(asset_selection=True, search_options=stac_options.SEARCH_OPTIONS)


@dataclass(frozen=True)
class PageRequest:
    """How to fetch one page; hashable, so the search iterator can detect a page cycle."""

    method: str
    url: str
    body: str | None = None  # canonical JSON text for POST
    #: the search asked the server to apply the query's cloud range
    cloud_filtered: bool = False


class StacSource:
    """A ``SceneSource`` over one STAC API root URL."""


    def __init__(
        self,
        api: JsonApi,
        base_url: str,
        *,
        name: str = "stac",
        flavour: str | None = None,
        page_size: int = 100,
        signer: Signer | None = None,
        capabilities: ProviderCapabilities = STAC_CAPABILITIES,
        product_types: ProductTypeTable | None = None,
    ) -> None:
        self.api = api
        self.base_url = base_url.rstrip("/")
        self.name = name
        self.flavour = flavour or flavour_for(base_url)
        self.page_size = page_size
        self.signer = signer
        self.capabilities = capabilities
        self.product_types = product_types if product_types is not None else FLAVOURS[self.flavour]
        self._conformance: frozenset[str] | None = None
        self._collections: frozenset[str] | None = None

    # -- SceneSource -------------------------------------------------------------------
    def supported_platforms(self) -> Sequence[str]:
        return list(self.product_types)

    def search_page(self, query: SearchQuery, ref: PageRequest | None) -> SearchPage:
        request = self._capped(ref, query.page_limit) if ref else self._first_request(query)
        try:
            if request.method == "POST":
                data = self.api.post(request.url, json=json.loads(request.body or "{}"), decode=decode_search_page)
            else:
                data = self.api.get(request.url, decode=decode_search_page)
        except ProviderResponseError:
            if ref is None:
                self._refuse_removed_collections(query)
            raise
        return self._page(data, query, request)

    def _refuse_removed_collections(self, query: SearchQuery) -> None:
        """After a failed first page of a search naming its collections: an InputError (a
        permanent error: a saved search is paused, not retried) when the server says a named
        collection does not exist, so the user learns that rather than a bare HTTP error."""
        named = query.options.get("collections")
        if not named:
            return
        gone = []
        for name in [named] if isinstance(named, str) else list(named):
            try:
                self.api.get(f"{self.base_url}/collections/{quote(str(name), safe='')}")
            except ProviderResponseError as exc:
                if "HTTP 404" in exc.message:
                    gone.append(str(name))
            except AuthError:
                return
        if gone:
            raise InputError(
                f"{self.name}: the server at {self.base_url} has no collection {', '.join(map(repr, gone))}",
                hint="check the collection id (`eoharvest providers` / the server's /collections); a saved "
                     "search can be changed with `eoharvest watch edit NAME --collection ...`",
            )

    def activate(self, scene: Scene) -> Activation:
        return Activation(ready=True)

    def asset_names(self, scene: Scene) -> list[str]:
        assets = scene.raw.get("assets") if isinstance(scene.raw, Mapping) else None
        return [str(key) for key in assets] if isinstance(assets, Mapping) else []

    def download_descriptors(self, scene: Scene, assets: Sequence[str] | None = None) -> list[DownloadDescriptor]:
        item = scene.raw
        item_url = item_self_url(item, self.base_url)
        descriptors = []
        for key, asset in select_assets(item, assets).items():
            descriptor = asset_descriptor(key, asset, item_url=item_url)
            if descriptor is None:
                log.warning("%s: asset %s of %s is only on S3 (requester pays); skipped", self.name, key, scene.scene_id)
                continue
            if self.signer is not None:
                unsigned, signer = descriptor.url, self.signer
                descriptor = replace(
                    descriptor,
                    url=signer(unsigned),
                    refresh_url=lambda href=unsigned: signer(href, fresh=True),  # type: ignore[call-arg]
                )
            descriptors.append(descriptor)
        if not descriptors:
            raise ProviderResponseError(
                f"{self.name}: item {scene.scene_id} has no downloadable asset over HTTP",
                hint="choose assets with --assets, or use a provider that serves the product",
            )
        return descriptors

    # -- requests ------------------------------------------------------------------------
    def conformance(self) -> frozenset[str]:
        if self._conformance is None:
            landing = self.api.get(self.base_url)
            classes = landing.get("conformsTo") if isinstance(landing, Mapping) else None
            self._conformance = frozenset(str(c) for c in (classes or []))
        return self._conformance

    def collection_ids(self) -> frozenset[str] | None:
        """The server's collection ids (first page of /collections), or None if it will not say."""
        if self._collections is None:
            try:
                data = self.api.get(f"{self.base_url}/collections")
            except (ProviderResponseError, AuthError):
                self._collections = frozenset({"?"})  # unknown: keep the default names
            else:
                listed = data.get("collections") if isinstance(data, Mapping) else None
                ids = {str(c.get("id")) for c in listed or [] if isinstance(c, Mapping) and c.get("id")}
                self._collections = frozenset(ids) if ids else frozenset({"?"})
        return None if self._collections == frozenset({"?"}) else self._collections

    def _first_request(self, query: SearchQuery) -> PageRequest:
        options = query.options
        body: dict[str, Any] = {"limit": query.page_size(self.page_size)}
        if "page_size" in options:
            stac_options.page_size(options["page_size"])
        collections = options.get("collections")
        if collections:
            body["collections"] = [collections] if isinstance(collections, str) else list(collections)
        else:
            body["collections"] = collections_for(
                self.product_types, query.platforms, options.get("product_type"), self.collection_ids,
                provider=self.name, listed_only=self.flavour in LISTED_ONLY,
            )
        if query.aoi is not None:
            body["intersects"] = query.aoi.geojson
        if query.start or query.end:
            start = query.start.isoformat().replace("+00:00", "Z") if query.start else ".."
            end = query.end.isoformat().replace("+00:00", "Z") if query.end else ".."
            body["datetime"] = f"{start}/{end}"
        if options.get("ids") is not None:
            body["ids"] = stac_options.ids(options["ids"])
        if options.get("sortby") is not None:
            self._require("sortby", "sortby")
            body["sortby"] = stac_options.sortby(options["sortby"])
        if options.get("query") is not None:
            self._require("query", "query")
            body["query"] = stac_options.query(options["query"])
        if options.get("filter") is not None:
            lang, expression = stac_options.cql2_filter(options["filter"])
            self._require("filter", "filter")
            self._require("filter", lang)
            body["filter"], body["filter-lang"] = expression, lang
        self._add_publication_filter(body, query)
        cloud_filtered = self._add_cloud_filter(body, query)
        return PageRequest("POST", f"{self.base_url}/search", json.dumps(body, sort_keys=True), cloud_filtered)

    def _require(self, option: str, need: str) -> None:
        """Refuse ``option`` before any search when the server does not declare what it needs."""
        conformance = self.conformance()
        if stac_options.conforms(conformance, need):
            return
        what = {"sortby": "the Sort extension", "query": "the Query extension", "filter": "the Filter extension",
                "cql2-text": "CQL2 text", "cql2-json": "CQL2 JSON"}[need]  # fmt: skip
        other = {"cql2-text": " (pass the filter as a CQL2 JSON dict)", "cql2-json": " (pass the filter as CQL2 text)"}
        raise InputError(
            f"{self.name} ({self.base_url}) does not support the search option {option!r}: its landing page "
            f"does not declare {what}{other.get(need, '')}",
            hint=f"this server accepts: {', '.join(stac_options.supported_options(conformance))}",
        )

    @staticmethod
    def _capped(request: PageRequest, page_limit: int | None) -> PageRequest:
        """A next-page request asking for at most ``page_limit`` items. Paging tokens are
        keysets (stac-server, pgstac), so a smaller ``limit`` continues at the same place."""
        if page_limit is None:
            return request
        if request.method == "POST":
            body = json.loads(request.body or "{}")
            if isinstance(body.get("limit"), int) and body["limit"] <= page_limit:
                return request
            body["limit"] = page_limit
            return replace(request, body=json.dumps(body, sort_keys=True))
        parts = urlsplit(request.url)
        params = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "limit"]
        old = dict(parse_qsl(parts.query)).get("limit", "")
        if old.isdigit() and int(old) <= page_limit:
            return request
        query = urlencode([*params, ("limit", str(page_limit))])
        return replace(request, url=urlunsplit(parts._replace(query=query)))

    def _add_publication_filter(self, body: dict[str, Any], query: SearchQuery) -> None:
        """``published_since``: items whose ``updated`` time is at or after it, in the same
        language as the other filters (CQL2 JSON or text with a user filter or when the server
        declares CQL2 JSON, else the Query extension)."""
        since = parse_datetime(query.options.get(PUBLISHED_SINCE), name=PUBLISHED_SINCE)
        if since is None:
            return
        stamp = since.isoformat().replace("+00:00", "Z")
        conformance = self.conformance()
        clause = {"op": ">=", "args": [{"property": PUBLICATION_PROPERTY}, {"timestamp": stamp}]}
        if "filter" in body:
            if body["filter-lang"] == "cql2-text":
                body["filter"] = f"({body['filter']}) AND {PUBLICATION_PROPERTY} >= TIMESTAMP('{stamp}')"
            else:
                body["filter"] = {"op": "and", "args": [body["filter"], clause]}
        elif stac_options.conforms(conformance, "filter") and stac_options.conforms(conformance, "cql2-json"):
            body["filter"], body["filter-lang"] = clause, "cql2-json"
        elif stac_options.conforms(conformance, "query"):
            merged = dict(body.get("query") or {})
            merged[PUBLICATION_PROPERTY] = {**merged.get(PUBLICATION_PROPERTY, {}), "gte": stamp}
            body["query"] = merged
        else:
            raise InputError(
                f"{self.name} ({self.base_url}) cannot filter by publication time: its landing page declares "
                "neither the Filter nor the Query extension",
                hint="its saved searches follow acquisition time: declare publication_time_filter only for "
                "STAC servers that can filter on 'updated'",
            )

    def _add_cloud_filter(self, body: dict[str, Any], query: SearchQuery) -> bool:
        """Add the cloud range to the request where the server can apply it; True if added.

        With a user ``filter`` the range joins it in the same CQL2 language (AND); else CQL2 JSON
        when the server declares it, else the Query extension (merged with a user ``query``).
        """
        if not query.has_cloud_filter:
            return False
        radar = sorted(set(query.platforms) & SAR_PLATFORMS)
        if radar:
            # Radar items have no eo:cloud_cover, so a server-side filter would drop them all;
            # optical items in a mixed search are still filtered client-side by the API layer.
            log.warning("cloud filter ignored for %s (radar has no cloud cover)", ", ".join(radar))
            return False
        low, high = query.cloud_min, query.cloud_max
        conformance = self.conformance()
        if "filter" in body:
            if body["filter-lang"] == "cql2-text":
                body["filter"] = f"({body['filter']}) AND {stac_options.cloud_cql2_text(low, high)}"
            else:
                body["filter"] = {"op": "and", "args": [body["filter"], stac_options.cloud_cql2_json(low, high)]}
        elif stac_options.conforms(conformance, "filter") and stac_options.conforms(conformance, "cql2-json"):
            body["filter"] = stac_options.cloud_cql2_json(low, high)
            body["filter-lang"] = "cql2-json"
        elif stac_options.conforms(conformance, "query"):
            merged = dict(body.get("query") or {})
            merged["eo:cloud_cover"] = {**merged.get("eo:cloud_cover", {}), **stac_options.cloud_query(low, high)}
            body["query"] = merged
        else:
            log.info("%s declares neither filter nor query; filtering cloud cover client-side", self.name)
            return False
        return True

    def _page(self, data: Any, query: SearchQuery, request: PageRequest) -> SearchPage:
        records: list[JsonRecord | None] | None = None
        if isinstance(data, DecodedPage):  # items kept as received, only their Scene fields decoded
            data, records = data.members, data.records
        if not isinstance(data, Mapping) or not isinstance(data.get("features"), list):
            raise ProviderResponseError(
                f"{self.name}: search answer is not a FeatureCollection (keys: {sorted(data)[:8] if isinstance(data, Mapping) else type(data).__name__})"
            )
        scenes: list[Scene] = []
        skipped = 0
        items = data["features"]
        for index, (item, footprint) in enumerate(zip(items, page_footprints(items))):
            try:
                scene = scene_from_stac_item(
                    item, provider=self.name, base_url=request.url, footprint=footprint,
                    raw=records[index] if records is not None else None,
                )  # fmt: skip
            except (ProviderResponseError, InputError) as exc:
                skipped += 1
                log.warning("%s: item skipped: %s", self.name, exc)
                continue
            if _outside_requested_platforms(scene, query):
                continue  # e.g. a Landsat-9 item from the shared landsat-c2-l2 collection
            scenes.append(scene)
        if skipped:
            log.warning("%s: %d item(s) without id skipped on this page", self.name, skipped)
        context = data.get("context") if isinstance(data.get("context"), Mapping) else {}
        total = data.get("numberMatched", context.get("matched"))
        return SearchPage(
            tuple(scenes),
            total if isinstance(total, int) else None,
            self._next(data, request),
            cloud_filtered=request.cloud_filtered,
        )

    def _next(self, data: Mapping[str, Any], request: PageRequest) -> PageRequest | None:
        if not data["features"]:
            return None  # an empty page ends the search even if a next link is present
        for link in data.get("links") or []:
            if not isinstance(link, Mapping) or link.get("rel") != "next" or not link.get("href"):
                continue
            href = resolve_link(request.url, str(link["href"]))
            method = str(link.get("method") or "GET").upper()
            if method == "POST":
                # Merge the original query with the link body: Earth Search's merge:false bodies
                # carry only the token and would silently drop the filters.
                base = json.loads(request.body) if request.body else {}
                extra = link.get("body") or {}
                if not isinstance(extra, Mapping):
                    raise ProviderResponseError(
                        f"{self.name}: next link body is not a JSON object: {str(extra)[:80]!r}"
                    )
                merged = {**base, **extra}
                return PageRequest("POST", href, json.dumps(merged, sort_keys=True), request.cloud_filtered)
            return PageRequest("GET", href, cloud_filtered=request.cloud_filtered)
        return None


def _outside_requested_platforms(scene: Scene, query: SearchQuery) -> bool:
    if not query.platforms or query.options.get("collections"):
        return False
    return scene.platformname in PLATFORM_ALIASES and scene.platformname not in query.platforms

