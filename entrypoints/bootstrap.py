"""The one composition root: builds adapters from Settings and wires them into services.

CLI, daemon, the public API classes and tests all call :func:`build`; nothing else constructs
adapters, and nothing is constructed at import time. Every resource is created on first use.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable

import httpx

from eoharvest.adapters.credentials import LayeredCredentials
from eoharvest.adapters.download_executor import SceneDownloadExecutor
from eoharvest.adapters.http.auth import ScopedAuth
from eoharvest.adapters.http.client import make_client
from eoharvest.adapters.http.guard import UrlGuard
from eoharvest.adapters.http.jsonapi import JsonApi
from eoharvest.adapters.http.transfer import TransferEngine, TransferLimits
from eoharvest.adapters.providers.copernicus import CdseSource, build_copernicus_source
from eoharvest.adapters.providers.pc_signing import SasSigner
from eoharvest.adapters.providers.stac import StacSource
from eoharvest.adapters.providers.stac_collections import FLAVOURS, flavour_for
from eoharvest.adapters.vector_files import OgrVectorReader
from eoharvest.application.clock import SystemClock
from eoharvest.application.downloading import source_downloader_factory
from eoharvest.application.sensor_api import SourceBackedSensorAPI
from eoharvest.application.settings import Settings
from eoharvest.domain.errors import InputError
from eoharvest.domain.ports import Clock, Credentials, SceneSource, VectorReader
from eoharvest.domain.retry import RetryPolicy
from eoharvest.entrypoints.logs import install_log_redaction

Progress = Callable[[str, int, "int | None"], None]


@dataclass
class Services:
    """What the entrypoints use. Opened resources are closed by :meth:`close`."""

    settings: Settings
    clock: Clock
    vector_reader: VectorReader
    transport: Any = None
    catalog_factory: Callable[[Any], Any] | None = None
    progress: Progress | None = None
    _catalog: Any = field(default=None, repr=False)
    _client: httpx.Client | None = field(default=None, repr=False)
    _engines: dict[str, TransferEngine] = field(default_factory=dict, repr=False)
    _closers: list[Callable[[], None]] = field(default_factory=list, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    _sources: dict[str, SceneSource] = field(default_factory=dict, repr=False)

    # -- shared resources ----------------------------------------------------------------
    def http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = make_client(self.settings.http, transport=self.transport)
                self._closers.append(self._client.close)
            return self._client

    def catalog(self) -> Any:
        """The catalog repository, opened (and migrated) on first use."""
        with self._lock:
            return self._open_catalog()

    def _open_catalog(self) -> Any:
        if self._catalog is None:
            if self.catalog_factory is not None:
                self._catalog = self.catalog_factory(self.settings.catalog_path)
            else:
                from eoharvest.adapters.catalog import open_catalog

                self._catalog = open_catalog(self.settings.catalog_path)
            self._closers.append(self._catalog.close)
        return self._catalog

    def retry_policy(self) -> RetryPolicy:
        h = self.settings.http
        return RetryPolicy(
            max_attempts=h.max_retries + 1, max_seconds=h.retry_max_seconds, retry_after_cap=h.retry_after_cap
        )

    def guard_for(self, endpoint: str) -> UrlGuard:
        return UrlGuard.for_endpoint(endpoint, allow_private_targets=self.settings.http.allow_private_targets)

    def json_api(self, provider: str, endpoint: str, auth: httpx.Auth | None = None) -> JsonApi:
        return JsonApi(self.http(), guard=self.guard_for(endpoint), provider=provider, auth=auth, clock=self.clock)

    # -- downloads -----------------------------------------------------------------------------
    def register_engine(self, provider: str, endpoint: str, auth: ScopedAuth | None = None) -> TransferEngine:
        """The transfer engine of ``provider``: its URL guard and (origin-scoped) credentials."""
        h = self.settings.http
        engine = TransferEngine(
            self.http(),
            guard=self.guard_for(endpoint),
            auth=auth,
            policy=self.retry_policy(),
            limits=TransferLimits(
                min_throughput=h.min_throughput_bytes,
                throughput_window=h.throughput_window,
                max_redirects=h.max_redirects,
                free_space_margin=self.settings.download.free_space_margin_bytes,
            ),
            clock=self.clock,
        )
        self._engines[provider] = engine
        return engine

    def engine_for(self, provider: str) -> TransferEngine:
        try:
            return self._engines[provider]
        except KeyError:
            raise LookupError(f"no transfer engine registered for provider {provider!r}") from None

    def executor(self, *, use_catalog: bool = True) -> SceneDownloadExecutor:
        return SceneDownloadExecutor(
            self.engine_for,
            self.catalog() if use_catalog else None,
            keep_archives=self.settings.download.keep_archives,
            progress=self.progress,
        )

    def sensor_api(self, source: SceneSource, *, use_catalog: bool = True) -> SourceBackedSensorAPI:
        """The reference API over ``source``; downloads go through the verified engine."""
        return SourceBackedSensorAPI(
            source, aoi_reader=self.vector_reader, downloader_factory=self.downloader_factory(source, use_catalog=use_catalog)
        )

    def downloader_factory(self, source: SceneSource, *, use_catalog: bool = True) -> Callable[..., Any]:
        """``factory(scene, **extra) -> Downloader`` for scenes of ``source``."""
        return source_downloader_factory(source, _LazyExecutor(lambda: self.executor(use_catalog=use_catalog)))

    # -- providers ------------------------------------------------------------------------------
    def stac_source(self, url: str | None = None, *, name: str | None = None, flavour: str | None = None) -> StacSource:
        """A STAC API source (default: the configured ``stac_url``, Earth Search)."""
        base = url or self.settings.endpoints.stac_url
        # A provider name that is a known flavour wins over guessing from the URL, so a mirror
        # (or a test server) of Planetary Computer still gets its assets signed.
        flavour = flavour or (name if name in FLAVOURS else flavour_for(base))
        provider = name or (flavour if flavour != "generic" else "stac")
        api = self.json_api(provider, base)
        signer = None
        if flavour == "planetary-computer":
            sas_url = self.settings.endpoints.planetary_computer_sas_url
            signer = SasSigner(self.json_api(provider, sas_url), sas_url, self.clock)
        self.register_engine(provider, base)
        return StacSource(api, base, name=provider, flavour=flavour, signer=signer)

    def copernicus_source(
        self, user: str | None = None, password: str | None = None, *, totp: str | None = None
    ) -> CdseSource:
        """The CDSE OData source; credentials from the arguments, else environment, netrc, keyring."""
        explicit = {"copernicus": Credentials(user, password, "arguments")} if user and password else None
        credentials = LayeredCredentials.from_endpoints(self.settings.endpoints, explicit=explicit)
        source = build_copernicus_source(self.http(), self.settings, credentials, self.clock, totp=totp)
        self.register_engine(source.name, self.settings.endpoints.cdse_download_url, auth=source.download_auth)
        return source

    def source_for(self, provider: str) -> SceneSource:
        """The source that delivered scenes of ``provider`` (as recorded in the catalog)."""
        if provider in self._sources:
            return self._sources[provider]
        endpoints = self.settings.endpoints
        stac_urls = {
            "earth-search": endpoints.stac_url,
            "stac": endpoints.stac_url,
            "planetary-computer": endpoints.planetary_computer_url,
            "cdse-stac": endpoints.cdse_stac_url,
        }
        if provider == "copernicus":
            source: SceneSource = self.copernicus_source()
        elif provider in stac_urls:
            source = self.stac_source(stac_urls[provider], name=provider)
        else:
            raise InputError(
                f"no provider named {provider!r} is configured",
                hint=f"known providers: {', '.join(['copernicus', *stac_urls])}",
            )
        self._sources[provider] = source
        return source

    # -- lifecycle ------------------------------------------------------------------------------
    def close(self) -> None:
        while self._closers:
            self._closers.pop()()

    def __enter__(self) -> Services:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _LazyExecutor:
    """Defers building the executor (and opening the catalog) until a download really starts."""

    def __init__(self, make: Callable[[], SceneDownloadExecutor]) -> None:
        self._make = make
        self._executor: SceneDownloadExecutor | None = None
        self._lock = threading.Lock()

    def fetch(self, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            if self._executor is None:
                self._executor = self._make()
        return self._executor.fetch(*args, **kwargs)


def build(
    settings: Settings,
    *,
    transport: Any = None,
    clock: Clock | None = None,
    vector_reader: VectorReader | None = None,
    catalog_factory: Callable[[Any], Any] | None = None,
    progress: Progress | None = None,
) -> Services:
    """Wire everything for ``settings``. ``transport`` (an httpx transport) lets tests route all
    HTTP traffic to loopback fakes or an ``httpx.MockTransport``; ``catalog_factory`` swaps the
    SpatiaLite catalog for another repository (tests, PostGIS later)."""
    install_log_redaction()
    return Services(
        settings=settings,
        clock=clock or SystemClock(),
        vector_reader=vector_reader or OgrVectorReader(),
        transport=transport,
        catalog_factory=catalog_factory,
        progress=progress,
    )
