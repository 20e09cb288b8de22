"""Wires a daemon's part in a shared catalog: its registry row, the download queue and workers.

Every daemon registers itself (``daemon status`` lists them). On a PostgreSQL catalog, where
several daemons on several machines may serve one catalog, passes queue their downloads and
each daemon's workers claim them (:mod:`eoharvest.application.queue_workers`); a SpatiaLite
catalog keeps one daemon that downloads inside its passes.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from importlib import metadata
from pathlib import Path
from typing import Callable, Iterator

from eoharvest.adapters.catalog.daemon_registry import CatalogDaemonRegistry
from eoharvest.adapters.catalog.job_queue import CatalogJobQueue
from eoharvest.adapters.catalog.repository import SpatialiteCatalog
from eoharvest.adapters.transfers import SafeArchives
from eoharvest.application.download_queue import DescriptorCache, QueueingFetcher
from eoharvest.application.orders import OrderBook
from eoharvest.application.queue_workers import ProviderSlot, QueueWorkers, local_provider_slots
from eoharvest.application.relink import Relinker
from eoharvest.domain.jobs import ClaimedJob, DaemonRecord, daemon_owner
from eoharvest.domain.filenames import safe_filename
from eoharvest.entrypoints.bootstrap import Services

log = logging.getLogger("eoharvest.daemon")


def _version() -> str:
    try:
        return metadata.version("eoharvest")
    except metadata.PackageNotFoundError:
        return "unknown"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def shared_provider_slot(services: Services, local: ProviderSlot) -> ProviderSlot:
    """This daemon's own slot of the provider, then one of the provider account's download
    budget (CDSE: 4), which on a PostgreSQL catalog every daemon shares (``Services.budgets``)."""

    @contextmanager
    def slot(provider: str, stopped: Callable[[], bool]) -> Iterator[None]:
        with local(provider, stopped):
            services.transfers().engine(provider)  # connects: the budget is keyed by the account
            budget = services.download_budget(provider)
            with budget.hold(stopped) if budget is not None else nullcontext():
                yield None

    return slot


def settle_orders(orders: OrderBook) -> Callable[[ClaimedJob], None]:
    """After a worker verified a file: the ready orders of its product whose last file it was
    become downloaded (only then: a pass that queued an order's files leaves it ready)."""

    def settle(job: ClaimedJob) -> None:
        orders.settle(job.provider, job.product_key or job.scene_id)

    return settle


@dataclass
class DaemonIdentity:
    owner: str
    host: str
    pid: int
    started_at: datetime

    @classmethod
    def of_this_process(cls) -> DaemonIdentity:
        host = socket.gethostname()[:64]
        started = datetime.now(timezone.utc)
        return cls(daemon_owner(host, os.getpid(), started), host, os.getpid(), started)


@dataclass
class QueueSettings:
    workers: int = 4
    lease_seconds: float = 60.0
    heartbeat: float = 10.0
    poll_seconds: float = 1.0


class SharedDaemon:
    """This daemon's registry row, and on PostgreSQL its download queue and workers."""

    def __init__(self, services: Services, settings: QueueSettings, *, queued_downloads: bool) -> None:
        catalog = services.catalog()
        assert isinstance(catalog, SpatialiteCatalog)
        self.identity = DaemonIdentity.of_this_process()
        self.registry = CatalogDaemonRegistry(catalog)
        self.settings = settings
        self.queue: CatalogJobQueue | None = None
        self.workers: QueueWorkers | None = None
        self.fetcher: QueueingFetcher | None = None
        self._services = services
        self._stopping = threading.Event()
        self._beating = threading.Thread(target=self._beat, name="eoharvest-daemon-heartbeat", daemon=True)
        if queued_downloads:
            cache = DescriptorCache()
            # Backoff after an expired lease or a failed attempt starts at the lease length
            # (at most the domain's default): a crashed daemon's work comes back soon.
            self.queue = CatalogJobQueue(catalog, retry_base=timedelta(seconds=min(settings.lease_seconds, 5.0)))
            self.fetcher = QueueingFetcher(catalog, self.queue, cache)
            limits = services.download_limits()
            d = services.settings.download
            self.workers = QueueWorkers(
                self.queue, services.transfers(), SafeArchives(), owner=self.identity.owner,
                outdir=str(d.directory), provider_slot=shared_provider_slot(services, local_provider_slots(
                    dict(limits.provider_limits), limits.max_per_provider)),
                workers=settings.workers, lease_seconds=settings.lease_seconds, heartbeat=settings.heartbeat,
                poll_seconds=settings.poll_seconds, descriptors=cache, keep_archives=d.keep_archives,
                relink=Relinker(services.catalog, services.source_for, services.order_book()),
                on_completed=settle_orders(services.order_book()),
            )  # fmt: skip

    def start(self) -> None:
        me = self.identity
        self.registry.register(self._record())
        self.sweep_previous_incarnations()
        self._beating.start()
        if self.workers is not None:
            self.workers.start()

    def _beat(self) -> None:
        while not self._stopping.wait(self.settings.heartbeat):
            try:
                self._heartbeat()
            except Exception as error:  # noqa: BLE001 - a busy or unreachable catalog: next beat
                log.warning("daemon heartbeat failed (%s); retrying", error)

    def _heartbeat(self) -> None:
        if not self.registry.heartbeat(self.identity.owner):
            self.registry.register(self._record())

    def _record(self) -> DaemonRecord:
        me = self.identity
        return DaemonRecord(me.owner, me.host, me.pid, me.started_at, me.started_at, _version(),
                            self.settings.heartbeat)  # fmt: skip

    def sweep_previous_incarnations(self) -> None:
        """Daemons of this host that no longer run (an earlier run killed with -9): their jobs
        go back to the queue now, and their product folders lose the leftovers no live
        writer holds. Another live daemon's jobs and files are never touched."""
        me = self.identity
        gone = self.registry.previous_incarnations(me.owner, me.host, pid_alive)
        if not gone:
            return
        if self.queue is not None:
            jobs = self.queue.requeue_expired(owners=gone)
            outdir = Path(self._services.settings.download.directory)
            for key in sorted({j.product_key or j.scene_id for j in jobs}):
                self._services.transfers().prepare_directory(str(outdir / safe_filename(key, what="product name")))
            if jobs:
                log.warning("%d job(s) of earlier daemons of this host returned to the queue", len(jobs))
        for owner in gone:
            self.registry.stopped(owner)
            log.info("daemon %s no longer runs; marked stopped", owner)

    def stop(self, timeout: float) -> bool:
        self._stopping.set()
        idle = True
        if self.workers is not None:
            self.workers.stop()
            idle = self.workers.join(timeout)
        try:
            self.registry.stopped(self.identity.owner)
        except Exception as error:  # noqa: BLE001 - the row then shows as stale
            log.warning("could not mark this daemon stopped in the catalog: %s", error)
        return idle
