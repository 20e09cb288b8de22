"""USGS M2M as a SceneSource (``scene-search``) and an OrderingSource: every download is an order.

An order is one ``download-request`` under the order's label (the bundle, or the band files
asked for), polled with ``download-retrieve`` by that label until every file has a URL, then
downloaded from the URLs M2M hands out (pre-signed: no key goes with them). A run that died
after M2M accepted a request finds it again by label (``find_order``); ``duplicateProducts``
(requested before, under another label) is followed through ``download-retrieve`` of the
account instead of being requested again.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Mapping, Sequence

from eoharvest.adapters.providers.usgs import query as q
from eoharvest.adapters.providers.usgs.datasets import DATASETS, PLATFORMS, PRODUCT_TYPES, SEARCH_OPTIONS, dataset_of
from eoharvest.adapters.providers.usgs.downloads import M2mFile, Retrieved, SceneFiles, request_answer, retrieved, scene_files
from eoharvest.adapters.providers.usgs.errors import DOWNLOAD_QUOTA, M2mError
from eoharvest.adapters.providers.usgs.items import published, scene_from_search_result
from eoharvest.adapters.providers.usgs.session import M2mSession
from eoharvest.domain import product_types
from eoharvest.domain.errors import InputError, ProviderResponseError
from eoharvest.domain.models import WHOLE_PRODUCT_ASSET, Activation, DownloadDescriptor, Scene, SearchPage
from eoharvest.domain.orders import EXPIRED, FAILED, INTENT, PENDING, PLACE, READY, OrderRef, OrderRequest, OrderStatus
from eoharvest.domain.product_types import ProductTypeTable
from eoharvest.domain.providers import ProviderCapabilities
from eoharvest.domain.query import SearchQuery

log = logging.getLogger("eoharvest.usgs")

class UsgsSource:
    """Landsat Collection 2 Level-2 through M2M, for the platforms of ``datasets``."""

    def __init__(
        self, session: M2mSession, *, name: str = "usgs", capabilities: ProviderCapabilities,
        datasets: Sequence[str] = tuple(DATASETS), page_size: int = q.PAGE_SIZE,
        product_types: ProductTypeTable = PRODUCT_TYPES,
    ) -> None:  # fmt: skip
        unknown = [d for d in datasets if d not in DATASETS]
        if unknown or not datasets:
            raise InputError(f"unknown USGS dataset(s) {unknown or list(datasets)}", hint=f"datasets: {', '.join(DATASETS)}")
        self.session = session
        self.name = name
        self.capabilities = capabilities
        self.datasets = tuple(datasets)
        self.page_size = page_size
        self.product_types = product_types
        # download-options per entity id: a scene's files do not change while orders are followed
        self._files: dict[str, SceneFiles] = {}
        self._files_lock = threading.Lock()

    # -- SceneSource --------------------------------------------------------------------------
    def supported_platforms(self) -> Sequence[str]:
        return tuple(p for p in PLATFORMS if dataset_of(p) in self.datasets)

    def search_page(self, query: SearchQuery, ref: q.UsgsPage | None) -> SearchPage:
        platforms = self._platforms(query)
        levels = product_types.resolve(query.options.get("product_type"), platforms, self.product_types, provider=self.name)
        if levels:
            platforms = [p for p in platforms if p in levels]
        page = ref or q.UsgsPage(tuple(dict.fromkeys(dataset_of(p) for p in platforms)))
        if not page.datasets:
            return SearchPage(())
        dataset = page.datasets[0]
        size = min(query.page_size(self.page_size), q.MAX_PAGE_SIZE)
        data = self.session.call("scene-search", q.search_body(dataset, query, page, size))
        if not isinstance(data, Mapping) or not isinstance(data.get("results"), list):
            raise ProviderResponseError(f"usgs: scene-search answered without a results list ({type(data).__name__})")
        scenes = [s for s in self._scenes(data["results"]) if self._accepts(s, query, platforms, levels)]
        start = q.next_start(data, page)
        if start is not None:
            following: q.UsgsPage | None = q.UsgsPage(page.datasets, start)
        else:
            following = q.UsgsPage(page.datasets[1:]) if len(page.datasets) > 1 else None
        exact = ref is None and len(page.datasets) == 1 and not levels and self._exact(query, dataset, platforms)
        total = data.get("totalHits") if exact and isinstance(data.get("totalHits"), int) else None
        return SearchPage(tuple(scenes), total, following, cloud_filtered=query.has_cloud_filter)

    def activate(self, scene: Scene) -> Activation:
        """Without the catalog's order book (``catalog=False``) nothing can be requested."""
        return Activation(False, f"{scene.scene_id} must be requested from USGS first (download-request); "
                          "download with the catalog on so the order can be followed", permanent=True)  # fmt: skip

    def download_descriptors(self, scene: Scene, assets: Sequence[str] | None = None) -> Sequence[DownloadDescriptor]:
        raise InputError(f"{scene.scene_id} must be requested from USGS first",
                         hint="download it through download_all / harvest with the catalog on")  # fmt: skip

    # -- OrderingSource -----------------------------------------------------------------------
    def order_need(self, scene: Scene, assets: Sequence[str] | None) -> str:
        return PLACE

    def place_order(self, request: OrderRequest) -> OrderStatus:
        wanted = self._wanted(request)
        missing = [f.display_id for f in wanted if not f.available]
        if missing:
            return OrderStatus(FAILED, reason=f"USGS cannot deliver {', '.join(missing)} (not available)")
        body = {"downloads": [f.request for f in wanted], "label": request.label}
        try:
            answer = request_answer(self.session.call("download-request", body))
        except M2mError as exc:
            if exc.code == DOWNLOAD_QUOTA:
                return OrderStatus(INTENT, reason=str(exc), quota=True)
            raise
        if answer.failed and not (answer.available or answer.preparing or answer.duplicates):
            reasons = "; ".join(str(f.get("errorMessage") or f.get("reason") or dict(f)) for f in answer.failed)
            return OrderStatus(FAILED, reason=f"download-request refused: {reasons}"[:500])
        remote = ",".join(answer.download_ids) or None
        if answer.duplicates:
            log.info("usgs: %s was requested before; following that request", request.scene.scene_id)
            status = self._status(wanted, self._retrieve(None), remote)
            return status or OrderStatus(PENDING, remote_id=remote, reason="requested before (duplicate)")
        if answer.preparing or len(answer.available) < len(wanted):
            return OrderStatus(PENDING, remote_id=remote)
        return OrderStatus(READY, remote_id=remote)

    def find_order(self, request: OrderRequest) -> OrderStatus | None:
        wanted = self._wanted(request)
        return self._status(wanted, self._retrieve(request.label), None)

    def poll_order(self, request: OrderRequest, ref: OrderRef) -> OrderStatus:
        wanted = self._wanted(request)
        status = self._status(wanted, self._retrieve(ref.label), ref.remote_id)
        if status is None:  # a request placed under another label (duplicateProducts)
            status = self._status(wanted, self._retrieve(None), ref.remote_id)
        return status or OrderStatus(EXPIRED, reason=f"USGS no longer lists the downloads of label {ref.label}")

    def cancel_order(self, request: OrderRequest, ref: OrderRef) -> None:
        self.session.call("download-order-remove", {"label": ref.label})

    def order_descriptors(self, request: OrderRequest, ref: OrderRef | None) -> Sequence[DownloadDescriptor]:
        if ref is None:
            raise InputError(f"{request.scene.scene_id} has no USGS order")
        wanted = self._wanted(request)
        urls = dict(self._retrieve(ref.label).urls)
        if any(not urls.get(f.entity_id) for f in wanted):
            for entity, url in self._retrieve(None).urls.items():  # requested under another label
                if url and not urls.get(entity):
                    urls[entity] = url
        missing = [f.display_id for f in wanted if not urls.get(f.entity_id)]
        if missing:
            raise ProviderResponseError(f"usgs: order {ref.label} has no download URL yet for {', '.join(missing)}")
        return [
            DownloadDescriptor(str(urls[f.entity_id]), f.filename, size=f.size,
                               media_type="application/x-tar" if f.asset is None else None,
                               asset=f.asset or WHOLE_PRODUCT_ASSET)  # fmt: skip
            for f in wanted
        ]

    # -- internals ------------------------------------------------------------------------------
    def _wanted(self, request: OrderRequest) -> list[M2mFile]:
        scene = request.scene
        entity = scene.raw.get("entityId")
        if not isinstance(entity, str) or not entity:
            raise ProviderResponseError(f"usgs: scene {scene.scene_id} has no entityId in its raw record")
        with self._files_lock:
            files = self._files.get(entity)
        if files is None:
            body = {"datasetName": dataset_of(scene.platformname), "entityIds": [entity]}
            files = scene_files(self.session.call("download-options", body), entity, scene.scene_id)
            with self._files_lock:
                if len(self._files) > 10_000:  # a daemon running for months: keep it bounded
                    self._files.clear()
                self._files[entity] = files
        return files.select(scene.scene_id, request.assets)

    def _retrieve(self, label: str | None) -> Retrieved:
        return retrieved(self.session.call("download-retrieve", {"label": label} if label else {}))

    @staticmethod
    def _status(wanted: Sequence[M2mFile], found: Retrieved, remote: str | None) -> OrderStatus | None:
        known, ready = found.state_of(wanted)
        if known == 0:
            return None
        return OrderStatus(READY if ready == len(wanted) else PENDING, remote_id=remote)

    def _platforms(self, query: SearchQuery) -> list[str]:
        supported = self.supported_platforms()
        unknown = [p for p in query.platforms if p not in supported]
        if unknown:
            raise InputError(f"{self.name} cannot search {', '.join(unknown)} here", hint=f"supported: {', '.join(supported)}")
        return list(query.platforms) or list(supported)

    def _scenes(self, results: list[Any]) -> list[Scene]:
        scenes = []
        for result in results:
            try:
                scenes.append(scene_from_search_result(result, provider=self.name))
            except ProviderResponseError as exc:
                log.warning("usgs: result skipped: %s", exc)
        return scenes

    @staticmethod
    def _accepts(scene: Scene, query: SearchQuery, platforms: Sequence[str],
                 levels: Mapping[str, Sequence[str]]) -> bool:  # fmt: skip
        """M2M filters by dataset, whole days and whole percents: the exact query decides."""
        if scene.platformname not in platforms:
            return False
        if levels and scene.scene_id.split("_")[1] not in levels.get(scene.platformname, ()):
            return False
        if query.has_cloud_filter and (scene.cloudcover_percentage is None or not query.cloud_accepts(scene.cloudcover_percentage)):
            return False
        if query.aoi is not None and scene.footprint is not None and not scene.footprint.geometry.intersects(query.aoi.geometry):
            return False
        day = scene.acq_date.date() if scene.acq_date is not None else None
        if day is not None and ((query.start and day < query.start.date()) or (query.end and day > query.end.date())):
            return False
        since, until = q.published_range(query.options)
        when = published(scene.raw)
        if when is not None and ((since and when < since) or (until and when > until)):
            return False
        return True

    @staticmethod
    def _exact(query: SearchQuery, dataset: str, platforms: Sequence[str]) -> bool:
        """Whether M2M's ``totalHits`` is the count of this query (nothing re-checked here)."""
        whole = set(DATASETS[dataset]) <= set(platforms)
        integral = all(v is None or float(v).is_integer() for v in (query.cloud_min, query.cloud_max))
        timed = query.options.get("published_since") or query.options.get("published_until")
        return whole and integral and query.aoi is None and not timed
