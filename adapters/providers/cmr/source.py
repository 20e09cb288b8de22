"""NASA CMR granule search and Earthdata-protected downloads (CMR Search API documentation).

Searches go to ``<cmr>/granules.umm_json`` without any token (an expired one would make even
public searches fail with 401). Short names are resolved to collection concept ids first. Paging
is by the ``CMR-Search-After`` header only: every parameter is sent again on each page, with the
header value of the previous answer; the search ends on a page without the header, an empty
page, or once ``CMR-Hits`` granules have arrived (the header also comes on the last page).
Queries longer than a URL may be are sent as a form POST.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence
from urllib.parse import urlencode

from eoharvest.adapters.http.jsonapi import JsonApi
from eoharvest.adapters.providers.cmr import query as q
from eoharvest.adapters.providers.cmr.catalogue import CollectionCatalogue, CollectionInfo
from eoharvest.adapters.providers.cmr.collections import PLATFORMS, known_collection
from eoharvest.adapters.providers.cmr.earthdata import EarthdataAuth
from eoharvest.adapters.providers.cmr.errors import search_refused
from eoharvest.adapters.providers.cmr.items import data_files, granule_ur, scene_from_umm_item
from eoharvest.domain.errors import InputError, ProviderResponseError
from eoharvest.domain.models import Activation, DownloadDescriptor, Scene, SearchPage
from eoharvest.domain.providers import ProviderCapabilities
from eoharvest.domain.query import SearchQuery
from eoharvest.domain.redaction import redact

log = logging.getLogger("eoharvest.cmr")

CMR_CAPABILITIES = ProviderCapabilities(asset_selection=True, publication_time_filter=True)
#: Longer queries go as a POST form (CMR: URLs past ~6,000 characters may be refused).
MAX_GET_URL = 5000
FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class CmrPage:
    """How to fetch one page: the full query, and the Search-After value (None on the first).

    Hashable; equal when the query and the Search-After value are, so a CMR that hands out the
    same cursor twice is caught as a page cycle.
    """

    url: str
    params: q.Params
    search_after: str | None = None
    post: bool = False
    seen: int = field(default=0, compare=False)
    cloud_filtered: bool = field(default=False, compare=False)
    geodetic: tuple[tuple[str, bool], ...] = field(default=(), compare=False)


class CmrSource:
    """A ``SceneSource`` over CMR's granule search and the DAACs' Earthdata-protected files."""

    name = "cmr"

    def __init__(
        self,
        api: JsonApi,
        catalogue: CollectionCatalogue,
        *,
        cmr_url: str,
        auth: EarthdataAuth,
        page_size: int = q.MAX_PAGE_SIZE,
        capabilities: ProviderCapabilities = CMR_CAPABILITIES,
    ) -> None:
        self.api = api
        self.catalogue = catalogue
        self.cmr_url = cmr_url.rstrip("/")
        self.auth = auth
        self.page_size = page_size
        self.capabilities = capabilities

    # -- SceneSource ----------------------------------------------------------------------
    def supported_platforms(self) -> Sequence[str]:
        return list(PLATFORMS)

    def search_page(self, query: SearchQuery, ref: CmrPage | None) -> SearchPage:
        page = ref or self._first_page(query)
        headers = {"CMR-Search-After": page.search_after} if page.search_after else {}
        if page.post:
            headers["Content-Type"] = FORM
            answer = self.api.exchange("POST", page.url, content=urlencode(page.params), headers=headers, expect=(200, 400))
        else:
            answer = self.api.exchange("GET", f"{page.url}?{urlencode(page.params)}", headers=headers, expect=(200, 400))
        if answer.status == 400:
            raise search_refused(answer.body, redact(page.url))
        body = answer.body
        items = body.get("items") if isinstance(body, Mapping) else None
        if not isinstance(items, list):
            raise ProviderResponseError(f"cmr: granule search answer has no 'items' list (got {type(body).__name__})")
        hits_text = answer.headers.get("CMR-Hits", "")
        hits = int(hits_text) if hits_text.isdigit() else body.get("hits") if isinstance(body.get("hits"), int) else None
        if answer.headers.get("CMR-Time-Out", answer.headers.get("CMR-Timed-Out", "")).lower() == "true":
            log.warning("cmr: the search timed out inside CMR and this page is partial; paging continues")
        scenes = self._scenes(items, dict(page.geodetic))
        seen = page.seen + len(items)
        after = answer.headers.get("CMR-Search-After")
        more = bool(items) and bool(after) and (hits is None or seen < hits)
        next_ref = CmrPage(page.url, page.params, after, page.post, seen, page.cloud_filtered, page.geodetic) if more else None
        return SearchPage(tuple(scenes), hits, next_ref, cloud_filtered=page.cloud_filtered)

    def activate(self, scene: Scene) -> Activation:
        return Activation(ready=True)  # CMR files are online; nothing is ordered

    def asset_names(self, scene: Scene) -> list[str]:
        if not isinstance(scene.raw, Mapping) or not isinstance(scene.raw.get("umm"), Mapping):
            return []
        return [f.asset for f in data_files(scene.raw)]

    def download_descriptors(self, scene: Scene, assets: Sequence[str] | None = None) -> list[DownloadDescriptor]:
        if not isinstance(scene.raw, Mapping) or not isinstance(scene.raw.get("umm"), Mapping):
            raise ProviderResponseError(f"cmr: scene {scene.scene_id} has no UMM-G record in its raw record")
        files = data_files(scene.raw)
        if not files:
            raise ProviderResponseError(
                f"cmr: granule {granule_ur(scene.raw)} has no downloadable file (no http GET DATA link)",
                hint="its files may only be reachable in-region (s3://) or through a service such as OPeNDAP",
            )
        if assets is not None:
            by_name = {f.asset.lower(): f for f in files}
            missing = [a for a in assets if a.lower() not in by_name]
            if missing:
                raise ProviderResponseError(
                    f"cmr: granule {scene.scene_id} has no asset {', '.join(missing)}",
                    hint=f"its assets: {', '.join(f.asset for f in files)}",
                )
            files = [by_name[a.lower()] for a in dict.fromkeys(assets)]
        self.auth.allow(f.url for f in files)
        return [DownloadDescriptor(f.url, f.filename, f.size, f.checksums, f.media_type, asset=f.asset) for f in files]

    @property
    def download_auth(self) -> EarthdataAuth:
        return self.auth

    # -- the query --------------------------------------------------------------------------
    def collections_for(self, query: SearchQuery) -> tuple[CollectionInfo, ...]:
        wanted = q.wanted_collections(query)
        return self.catalogue.resolve(wanted.names, wanted.concept_ids, wanted.provider_id)

    def _first_page(self, query: SearchQuery) -> CmrPage:
        q.check_options(query.options)
        size = q.page_size(query.options, self.page_size)
        collections = self.collections_for(query)
        params: list[tuple[str, str]] = [("collection_concept_id[]", c.concept_id) for c in collections]
        if query.aoi is not None:
            params.extend(q.spatial_params(query.aoi))
        if (span := q.temporal(query.start, query.end)) is not None:
            params.append(("temporal[]", span))
        cloud_filtered = self._cloud(query, collections, params)
        params.extend(q.option_params(query.options))
        params.append(("page_size", str(size)))
        url = f"{self.cmr_url}/granules.umm_json"
        post = len(url) + 1 + len(urlencode(params)) > MAX_GET_URL
        geodetic = tuple((c.concept_id, c.geodetic) for c in collections)
        return CmrPage(url, tuple(params), None, post, 0, cloud_filtered, geodetic)

    def _cloud(self, query: SearchQuery, collections: Sequence[CollectionInfo], params: list[tuple[str, str]]) -> bool:
        """Add ``cloud_cover`` when every collection's granules carry it; True when the page's
        total stays true under the query's cloud range."""
        if not query.has_cloud_filter:
            return False
        refs = [known_collection(c.short_name) for c in collections]
        radar = [c.short_name for c, r in zip(collections, refs) if r is not None and r.radar]
        if radar:
            log.warning("cmr: cloud filter ignored for %s (radar has no cloud cover)", ", ".join(radar))
        if refs and all(r is not None and r.cloud_cover for r in refs):
            params.append(("cloud_cover", q.cloud_param(query.cloud_min, query.cloud_max)))
            return True
        if len(radar) == len(collections):
            return True  # nothing can be dropped: radar granules have no cloud value
        unknown = [c.short_name for c, r in zip(collections, refs) if r is None or not (r.cloud_cover or r.radar)]
        log.warning("cmr: %s granules may have no cloud cover; the cloud range is applied here to those that do",
                    ", ".join(unknown))  # fmt: skip
        return False

    def _scenes(self, items: list[Any], geodetic: Mapping[str, bool]) -> list[Scene]:
        scenes, skipped = [], 0
        for item in items:
            meta = item.get("meta") if isinstance(item, Mapping) else None
            concept = meta.get("collection-concept-id") if isinstance(meta, Mapping) else None
            try:
                scenes.append(scene_from_umm_item(item, provider=self.name, geodetic=geodetic.get(str(concept), True)))
            except (ProviderResponseError, InputError) as exc:
                skipped += 1
                log.warning("cmr: granule skipped: %s", exc)
        if skipped:
            log.warning("cmr: %d unusable granule(s) skipped on this page", skipped)
        return scenes
