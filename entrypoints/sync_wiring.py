"""Wires the sync service (application/sync_service.py) from the composition root's Services:
provider searches for saved searches, download options from the settings."""

from __future__ import annotations

import threading
from typing import Any, Iterable

from eoharvest.adapters.processes import LocalProcess
from eoharvest.application.downloading import Fetcher
from eoharvest.application.sync import SyncOptions
from eoharvest.application.sync_service import ProviderGate, SyncService
from eoharvest.domain.footprint import Footprint
from eoharvest.domain.models import Scene
from eoharvest.domain.providers import PUBLISHED_SINCE
from eoharvest.domain.watch import ACQUIRED, PUBLISHED, SearchWindow, WatchDefinition
from eoharvest.entrypoints.bootstrap import Services



class ProviderSearches:
    """A ``SearchOpener``: ``opener(definition, window)`` -> the provider's scenes in the window.

    Sources and their sensor APIs are built once per provider and endpoint (a saved search's
    own ``stac_url``, else the configured one); the lock matters because the daemon runs passes
    of different searches in parallel threads.
    """

    def __init__(self, services: Services, fetcher: Fetcher | None = None) -> None:
        self._services = services
        #: where downloads go (default: the services' scene download use case; a daemon on a
        #: shared catalog queues them instead)
        self._fetcher = fetcher
        self._apis: dict[tuple[str, str | None], Any] = {}
        self._lock = threading.Lock()

    def api(self, provider: str, url: str | None = None) -> Any:
        with self._lock:
            if (provider, url) not in self._apis:
                source = self._services.connect(provider, url=url) if url else self._services.source_for(provider)
                self._apis[(provider, url)] = self._services.sensor_api(source, self._fetcher)  # type: ignore[arg-type]
            return self._apis[(provider, url)]

    def bind(self, scene: Scene) -> Scene:
        """A scene read from the catalog, with its provider's downloader (to follow its order)."""
        return scene.bind_downloader(self.api(scene.provider).downloader_factory)

    def watermark_kind(self, definition: WatchDefinition) -> str:
        """Publication time where the provider declares it can search by it, else acquisition."""
        source = self.api(definition.provider, definition.stac_url).source
        return PUBLISHED if source.capabilities.publication_time_filter else ACQUIRED

    def __call__(self, definition: WatchDefinition, window: SearchWindow) -> Iterable[Scene]:
        options = definition.search_keywords()
        if window.published_since is not None:
            options[PUBLISHED_SINCE] = window.published_since
        return self.api(definition.provider, definition.stac_url).scenes(
            platformname=list(definition.platforms),
            aoi=Footprint.from_geojson(dict(definition.aoi)),
            start_date=window.start,
            end_date=window.end,
            cloud_min=definition.cloud_min,
            cloud_max=definition.cloud_max,
            **options,
        )


def sync_options(services: Services, *, use_threads: bool = True) -> SyncOptions:
    limits = services.download_limits()
    return SyncOptions(
        outdir=str(services.settings.download.directory),
        max_workers=limits.max_workers,
        max_per_provider=limits.max_per_provider,
        provider_limits=dict(limits.provider_limits),
        use_threads=use_threads,
    )


def sync_service(services: Services, *, gate: ProviderGate | None = None, fetcher: Fetcher | None = None) -> SyncService:
    """The pass runner over this process's catalog and providers; with ``fetcher``, passes hand
    their downloads to it (a daemon on a shared catalog queues them)."""
    searches = ProviderSearches(services, fetcher)
    return SyncService(
        services.catalog(), searches, clock=services.clock,
        options=sync_options(services), gate=gate, bind=searches.bind, holder=LocalProcess(),
        watermark_kind=searches.watermark_kind, shared_schedule=fetcher is not None,
    )  # fmt: skip
