"""The one composition root: builds adapters from Settings and wires them into services.

CLI, daemon, the public API classes and tests all call :func:`build`; nothing else constructs
HTTP clients, transfer engines, catalogs or providers, and nothing is constructed at import
time. Every resource is created on first use. Providers come from the provider table
(``adapters/providers/table.py``): ``Services`` is the ``ProviderWiring`` their ``connect``
functions build on, so every JSON client and download engine gets the settings' retry policy,
timeouts, proxy and URL guard.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import httpx

from eoharvest.adapters.clock import SystemClock
from eoharvest.adapters.credentials import LayeredCredentials
from eoharvest.adapters.http.client import make_client
from eoharvest.adapters.http.guard import UrlGuard
from eoharvest.adapters.http.jsonapi import JsonApi
from eoharvest.adapters.http.hosts import HostHealth, HostPausePolicy
from eoharvest.adapters.http.monitor import TransferMonitor
from eoharvest.adapters.http.transfer import TransferEngine, TransferLimits
from eoharvest.adapters.providers.table import PROVIDERS, env_aliases, netrc_hosts, spec_for
from eoharvest.adapters.providers.wiring import ErrorHint, FoundCredentials, ProviderConnection
from eoharvest.adapters.transfers import ProviderTransfers, SafeArchives
from eoharvest.adapters.vector_files import OgrVectorReader
from eoharvest.adapters.processes import owner_alive, process_owner
from eoharvest.application.budgets import DownloadBudget, LocalBudgets
from eoharvest.application.downloading import source_downloader_factory
from eoharvest.application.orders import OrderBook
from eoharvest.application.scene_download import SceneDownloadService
from eoharvest.application.sensor_api import SourceBackedSensorAPI
from eoharvest.application.settings import CatalogUrl, Settings
from eoharvest.domain.budgets import DOWNLOADS, BudgetKey
from eoharvest.domain.errors import InputError
from eoharvest.domain.ports import (
    CatalogRepository,
    Clock,
    Credentials,
    Progress,
    ProviderBudgets,
    SceneSource,
    VectorReader,
)
from eoharvest.domain.retry import RetryPolicy
from eoharvest.domain.urls import check_endpoint_url
from eoharvest.entrypoints.logs import install_log_redaction

CatalogFactory = Callable[[Any], CatalogRepository]


def open_catalog_at(location: Path | CatalogUrl, *, read_only: bool = False) -> Any:
    """The catalog repository at ``location``: SpatiaLite for a file path, PostGIS for a
    ``postgresql://`` URL (see ``Settings.catalog_path``). Imported lazily: a command that
    never opens the catalog loads neither SQLAlchemy nor psycopg."""
    if isinstance(location, CatalogUrl):
        from eoharvest.adapters.catalog.postgis import open_postgis_catalog

        return open_postgis_catalog(location, read_only=read_only)
    from eoharvest.adapters.catalog import open_catalog

    return open_catalog(location, read_only=read_only)


@dataclass(frozen=True)
class DownloadLimits:
    """Parallelism for bulk downloads: the settings' limits, capped by each provider's own."""

    max_workers: int
    max_per_provider: int
    provider_limits: Mapping[str, int]

    def as_params(self) -> dict[str, Any]:
        return {
            "max_workers": self.max_workers,
            "max_per_provider": self.max_per_provider,
            "provider_limits": dict(self.provider_limits),
        }


@dataclass
class Services:
    """What the entrypoints use. Opened resources are closed by :meth:`close`."""

    settings: Settings
    clock: Clock
    vector_reader: VectorReader
    transport: Any = None
    catalog_factory: CatalogFactory | None = None
    credentials_store: LayeredCredentials | None = None
    _catalog: CatalogRepository | None = field(default=None, repr=False)
    _reader: CatalogRepository | None = field(default=None, repr=False)
    _client: httpx.Client | None = field(default=None, repr=False)
    _connections: dict[str, ProviderConnection] = field(default_factory=dict, repr=False)
    _download_connections: dict[str, ProviderConnection] = field(default_factory=dict, repr=False)
    _transfers: ProviderTransfers | None = field(default=None, repr=False)
    _hosts: HostHealth | None = field(default=None, repr=False)
    _monitor: TransferMonitor | None = field(default=None, repr=False)
    _orders: OrderBook | None = field(default=None, repr=False)
    _budgets: ProviderBudgets | None = field(default=None, repr=False)
    _shared_downloads: SceneDownloadService | None = field(default=None, repr=False)
    _closers: list[Callable[[], None]] = field(default_factory=list, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    # -- shared resources ----------------------------------------------------------------
    def http(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = make_client(self.settings.http, transport=self.transport)
                self._closers.append(self._client.close)
            return self._client

    def catalog(self, *, read_only: bool = False, preload_gdal: bool = True, memory_map: bool = False) -> CatalogRepository:
        """The catalog repository, opened on first use: created and migrated if needed, or with
        ``read_only`` only read (it must exist at this code's schema revision; nothing is
        created, migrated or locked for writing). A writable catalog also serves reads.
        ``preload_gdal=False`` (a process that reads no vector file and reprojects no AOI after
        opening it) saves GDAL's and PROJ's memory: see ``adapters.catalog.spatialite.create_engines``. ``memory_map``
        (long-running readers: `eoharvest serve`) reads a SpatiaLite file through a memory map."""
        with self._lock:
            if self._catalog is not None:
                return self._catalog
            if read_only and self._reader is not None:
                return self._reader
            if self.catalog_factory is not None:
                opened = self.catalog_factory(self.settings.catalog_path)
            else:
                from eoharvest.adapters.catalog import open_catalog  # a postgresql:// URL opens PostGIS

                opened = open_catalog(
                    self.settings.catalog_path, read_only=read_only, preload_gdal=preload_gdal, memory_map=memory_map
                )
            self._closers.append(opened.close)
            if read_only:
                self._reader = opened
            else:
                self._catalog = opened
            return opened

    def budgets(self) -> ProviderBudgets:
        """Provider budgets (concurrent downloads, requests in flight, request rates per provider
        account), chosen by the catalog's kind: on a PostgreSQL catalog they are kept in its
        server and shared by every process and daemon using it (``postgis_budget.py``); with a
        SpatiaLite catalog, in this process (``application/budgets.py``)."""
        with self._lock:
            if self._budgets is None:
                location = self.settings.catalog_path
                if isinstance(location, CatalogUrl):
                    from eoharvest.adapters.catalog.postgis_budget import PostgresBudgets

                    self._budgets = PostgresBudgets(location)
                else:
                    self._budgets = LocalBudgets(self.clock)
                self._closers.append(self._budgets.close)
            return self._budgets

    def account_of(self, provider: str) -> str:
        """The budget account (a digest) of ``provider``'s newest connection; "" if none."""
        with self._lock:
            connection = self._download_connections.get(provider)
        return connection.account if connection is not None else ""

    def download_budget_limits(self) -> dict[str, int]:
        """Concurrent downloads per account, by provider: the table's (CDSE: 4), set or lowered
        by ``[download] provider_budgets``."""
        limits = {s.name: s.max_concurrent_downloads for s in PROVIDERS if s.max_concurrent_downloads is not None}
        for name, limit in self.settings.download.provider_budgets.items():
            limits[name] = min(limit, limits.get(name, limit))
        return limits

    def download_budget(self, provider: str) -> DownloadBudget | None:
        """The concurrent-download budget of ``provider``'s account (:meth:`download_budget_limits`),
        shared by every process of a PostgreSQL catalog; None when the provider has none."""
        limit = self.download_budget_limits().get(provider)
        if limit is None:
            return None
        key = BudgetKey(provider, self.account_of(provider), DOWNLOADS)
        return DownloadBudget(self.budgets(), key, limit)

    def retry_policy(self) -> RetryPolicy:
        """``[http] max_retries`` retries, i.e. ``max_retries + 1`` attempts, for every request."""
        h = self.settings.http
        return RetryPolicy(
            max_attempts=h.max_retries + 1, max_seconds=h.retry_max_seconds, retry_after_cap=h.retry_after_cap
        )

    def guard_for(self, endpoint: str | None) -> UrlGuard:
        """The URL guard for a provider at ``endpoint``, or (None) for links of no provider."""
        allow = self.settings.http.allow_private_targets
        if endpoint is None:
            return UrlGuard(allow_private=allow)
        return UrlGuard.for_endpoint(endpoint, allow_private_targets=allow)

    # -- ProviderWiring (what provider packages build on) ------------------------------------
    def endpoint(self, setting: str) -> str:
        value = getattr(self.settings.endpoints, setting, None)
        if not isinstance(value, str) or not value:
            raise InputError(f"endpoint setting {setting!r} is not configured", hint="see `eoharvest config show`")
        return value

    def json_api(self, provider: str, endpoint: str, *, error_hint: ErrorHint | None = None) -> JsonApi:
        return JsonApi(
            self.http(), guard=self.guard_for(endpoint), provider=provider, policy=self.retry_policy(),
            clock=self.clock, error_hint=error_hint,
        )  # fmt: skip

    def find_credentials(self, key: str, explicit: Credentials | None = None) -> FoundCredentials:
        hosts, aliases = netrc_hosts(self.settings.endpoints), env_aliases()
        if explicit is not None:
            store = LayeredCredentials(hosts=hosts, explicit={key: explicit}, env_aliases=aliases)
        else:
            store = self.credentials_store or LayeredCredentials(hosts=hosts, env_aliases=aliases)
        return FoundCredentials(store.get(key), list(store.searched(key)))

    # -- providers ------------------------------------------------------------------------------
    def connect(self, provider: str, *, url: str | None = None, **options: Any) -> SceneSource:
        """Connect ``provider`` (a provider-table name). Without ``url`` or options the
        connection is shared by everything in this process that uses that provider."""
        spec = spec_for(provider)
        if url is not None:
            check_endpoint_url(url, f"the {provider} API URL")
        shared = url is None and not options
        with self._lock:
            if shared and provider in self._connections:
                return self._connections[provider].source
        created = spec.connect_with(self, url=url, **options)
        with self._lock:
            connection = self._connections.setdefault(provider, created) if shared else created
            if connection is not created and created.close is not None:
                created.close()  # another thread connected first: keep one session
            elif created.close is not None:
                self._closers.append(created.close)
            # Scenes carry their source's name; the newest connection under that name holds the
            # credentials and endpoint their downloads use.
            self._download_connections[connection.source.name] = connection
        return connection.source

    def source_for(self, provider: str) -> SceneSource:
        """The source that delivered scenes of ``provider`` (as recorded in the catalog)."""
        return self.connect(provider)

    def _engine_for(self, provider: str) -> TransferEngine:
        with self._lock:
            connection = self._download_connections.get(provider)
        if connection is None:
            self.connect(provider)  # scenes read from the catalog: connect by provider name
            connection = self._download_connections[provider]
        return self.transfer_engine(connection.download_endpoint, auth=connection.download_auth)

    def transfer_engine(self, endpoint: str | None, *, auth: httpx.Auth | None = None) -> TransferEngine:
        """A download engine for files of ``endpoint``'s provider with the settings' limits."""
        h = self.settings.http
        return TransferEngine(
            self.http(),
            guard=self.guard_for(endpoint),
            auth=auth,
            policy=self.retry_policy(),
            limits=TransferLimits(
                min_throughput=h.min_throughput_bytes,
                throughput_window=h.throughput_window,
                failure_budget=h.failure_budget,
                max_redirects=h.max_redirects,
                free_space_margin=self.settings.download.free_space_margin_bytes,
                max_unknown_size=self.settings.download.max_unknown_size_bytes,
            ),
            clock=self.clock,
            hosts=self.host_health(),
            monitor=self.transfer_monitor(),
        )

    def host_health(self) -> HostHealth:
        """Failing download hosts, shared by every engine (providers may share hosts)."""
        with self._lock:
            if self._hosts is None:
                h = self.settings.http
                policy = HostPausePolicy(h.host_pause_after_failures, h.host_failure_window, h.host_pause)
                self._hosts = HostHealth(policy, monotonic=self.clock.monotonic)
            return self._hosts

    def transfer_monitor(self) -> TransferMonitor:
        """The one thread that watches every transfer for stalls and cancellation."""
        with self._lock:
            if self._monitor is None:
                self._monitor = TransferMonitor(self.clock.monotonic)
            return self._monitor

    # -- downloads -----------------------------------------------------------------------------
    def transfers(self) -> ProviderTransfers:
        with self._lock:
            if self._transfers is None:
                self._transfers = ProviderTransfers(self._engine_for)
            return self._transfers

    def scene_downloads(self, *, use_catalog: bool = True, progress: Progress | None = None) -> SceneDownloadService:
        """The dedup-aware scene download use case (with ``use_catalog``, the catalog is opened
        when the first download starts). Without ``progress`` every caller shares one service,
        so the same product found at two providers is never fetched twice at once."""
        if use_catalog and progress is None:
            with self._lock:
                if self._shared_downloads is None:
                    self._shared_downloads = self._new_scene_downloads(use_catalog=True, progress=None)
                return self._shared_downloads
        return self._new_scene_downloads(use_catalog=use_catalog, progress=progress)

    def _new_scene_downloads(self, *, use_catalog: bool, progress: Progress | None) -> SceneDownloadService:
        return SceneDownloadService(
            self.transfers(),
            SafeArchives(),
            self.catalog if use_catalog else None,
            keep_archives=self.settings.download.keep_archives,
            progress=progress,
        )

    def sensor_api(self, source: SceneSource, downloads: SceneDownloadService | None = None) -> SourceBackedSensorAPI:
        """The reference API over ``source``; downloads go through ``downloads`` (default: the
        catalogued, verified download use case, built when the first download starts)."""
        return SourceBackedSensorAPI(
            source, aoi_reader=self.vector_reader, downloader_factory=self.downloader_factory(source, downloads)
        )

    def downloader_factory(self, source: SceneSource, downloads: SceneDownloadService | None = None) -> Callable[..., Any]:
        """``factory(scene, **extra) -> Downloader`` for scenes of ``source``; products of
        providers that take orders are ordered through :meth:`order_book`."""
        return source_downloader_factory(
            source, downloads or self.scene_downloads(), self.order_book(), self.download_budget(source.name)
        )

    def order_book(self) -> OrderBook:
        """This process's order book over the catalog (opened on first use)."""
        with self._lock:
            if self._orders is None:
                self._orders = OrderBook(
                    self.catalog, self.clock, owner=process_owner(), owner_alive=owner_alive,
                    budgets=self.budgets(), account_of=self.account_of,
                )  # fmt: skip
            return self._orders

    def download_limits(self, workers: int | None = None) -> DownloadLimits:
        """``[download] max_workers`` (or ``workers``) threads, ``per_provider_limit`` per
        provider, lowered where a provider's budget allows fewer parallel downloads."""
        d = self.settings.download
        per_provider = max(1, d.per_provider_limit)
        limits = {name: min(per_provider, limit) for name, limit in self.download_budget_limits().items()}
        return DownloadLimits(max(1, workers or d.max_workers), per_provider, limits)

    # -- lifecycle ------------------------------------------------------------------------------
    def close(self) -> None:
        while self._closers:
            self._closers.pop()()

    def __enter__(self) -> Services:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def build(
    settings: Settings,
    *,
    transport: Any = None,
    clock: Clock | None = None,
    vector_reader: VectorReader | None = None,
    catalog_factory: CatalogFactory | None = None,
    credentials: LayeredCredentials | None = None,
) -> Services:
    """Wire everything for ``settings``. ``transport`` (an httpx transport) lets tests route all
    HTTP traffic to loopback fakes or an ``httpx.MockTransport``; ``catalog_factory`` swaps the
    SpatiaLite catalog for another repository (tests, PostGIS later); ``credentials`` replaces
    the environment/netrc/keyring lookup (tests)."""
    install_log_redaction()
    return Services(
        settings=settings,
        clock=clock or SystemClock(),
        vector_reader=vector_reader or OgrVectorReader(),
        transport=transport,
        catalog_factory=catalog_factory,
        credentials_store=credentials,
    )
