"""Wires the sync service (application/sync_service.py) from the composition root's Services:
provider searches for saved searches, download options from the settings."""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any, Iterable

from eoharvest.adapters.processes import LocalProcess
from eoharvest.application.sync import SyncOptions
from eoharvest.application.sync_service import ProviderGate, SyncService
from eoharvest.domain.footprint import Footprint
from eoharvest.domain.models import Scene
from eoharvest.domain.watch import WatchDefinition
from eoharvest.entrypoints.bootstrap import Services



class ProviderSearches:
    """A ``SearchOpener``: ``opener(definition, start)`` -> the provider's scenes since ``start``.

    Sources and their sensor APIs are built once per provider; the lock matters because the
    daemon runs passes of different searches in parallel threads.
    """

    def __init__(self, services: Services) -> None:
        self._services = services
        self._apis: dict[str, Any] = {}
        self._lock = threading.Lock()

    def api(self, provider: str) -> Any:
        with self._lock:
            if provider not in self._apis:
                source = self._services.source_for(provider)
                self._apis[provider] = self._services.sensor_api(source)
            return self._apis[provider]

    def bind(self, scene: Scene) -> Scene:
        """A scene read from the catalog, with its provider's downloader (to follow its order)."""
        return scene.bind_downloader(self.api(scene.provider).downloader_factory)

    def __call__(self, definition: WatchDefinition, start: datetime | None) -> Iterable[Scene]:
        return self.api(definition.provider).scenes(
            platformname=list(definition.platforms),
            aoi=Footprint.from_geojson(dict(definition.aoi)),
            start_date=start,
            cloud_max=definition.cloud_max,
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


def sync_service(services: Services, *, gate: ProviderGate | None = None) -> SyncService:
    """The pass runner over this process's catalog and providers."""
    searches = ProviderSearches(services)
    return SyncService(
        services.catalog(), searches, clock=services.clock,
        options=sync_options(services), gate=gate, bind=searches.bind, holder=LocalProcess(),
    )  # fmt: skip
