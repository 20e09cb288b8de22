"""The sync daemon: an APScheduler 3 BackgroundScheduler running each saved search's passes.

Jobs live in APScheduler's in-memory job store and are rebuilt from the catalog's saved
searches at start (and refreshed every ``refresh_seconds``, so `watch add/remove` reach a
running daemon). The job store never goes into the catalog file: job stores must not be shared
between schedulers, and a second writer on the catalog only adds lock contention.

Stopping (:meth:`SyncDaemon.request_stop`, wired to SIGTERM/SIGINT) stops new passes at once
and makes in-flight passes cancel their downloads through ``cancel_requested``; partial files
stay on disk for the next pass to resume.
"""

from __future__ import annotations

import logging
import random
import threading
from datetime import datetime, timedelta, timezone
from typing import Callable, Protocol

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from eoharvest.application.sync import load_saved_searches
from eoharvest.application.sync_service import SyncService
from eoharvest.domain.watch import SavedSearch

log = logging.getLogger("eoharvest.daemon")

#: Jitter added to every tick: a tenth of the interval, at most five minutes.
JITTER_FRACTION = 0.1
MAX_JITTER = 300.0
#: A tick may start this late (e.g. after a suspend) and still run; later ones are dropped.
MAX_MISFIRE_GRACE = 3600


class Companion(Protocol):
    """What runs beside the passes for the daemon's lifetime (its registry row, queue workers)."""

    def start(self) -> None:
        ...

    def stop(self, timeout: float) -> bool:
        ...


class SyncDaemon:
    """Schedules ``service.run_scheduled(name)`` for every saved search."""

    def __init__(
        self,
        service: SyncService,
        *,
        max_parallel_passes: int = 2,
        refresh_seconds: float = 30.0,
        rng: random.Random | None = None,
        companion: Companion | None = None,
    ) -> None:
        self.service = service
        self.companion = companion
        self.refresh_seconds = refresh_seconds
        self.stopping = threading.Event()
        self._rng = rng or random.Random()
        self._intervals: dict[str, float] = {}
        self._in_flight = 0
        self._idle = threading.Condition()
        self.scheduler = BackgroundScheduler(
            timezone=timezone.utc,
            executors={"default": ThreadPoolExecutor(max_parallel_passes)},
            job_defaults={"coalesce": True, "max_instances": 1},
        )

    # -- lifecycle --------------------------------------------------------------------------
    def start(self) -> None:
        if self.companion is not None:
            self.companion.start()
        self.refresh()
        self.scheduler.add_job(self.refresh, IntervalTrigger(seconds=self.refresh_seconds), id="__refresh__",
                               coalesce=True, max_instances=1, misfire_grace_time=max(1, int(self.refresh_seconds)))  # fmt: skip
        self.scheduler.start()
        log.info("daemon started with %d saved search(es)", len(self._intervals))

    def request_stop(self) -> None:
        """Stop scheduling and ask in-flight passes to cancel (safe from a signal handler)."""
        self.stopping.set()

    def wait_until_stopped(self, poll: float = 0.5) -> None:
        """Block until :meth:`request_stop`; short waits keep signal handlers responsive."""
        while not self.stopping.wait(poll):
            pass

    def shutdown(self, timeout: float = 8.0) -> bool:
        """Stop the scheduler and wait up to ``timeout`` s for in-flight passes; True if idle."""
        self.stopping.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        with self._idle:
            idle = self._idle.wait_for(lambda: self._in_flight == 0, timeout=timeout)
        if self.companion is not None:
            idle = self.companion.stop(timeout) and idle
        log.info("daemon stopped%s", "" if idle else f" with {self._in_flight} pass(es) still running")
        return idle

    # -- jobs ---------------------------------------------------------------------------------
    def refresh(self) -> None:
        """Make the jobs match the catalog's enabled saved searches (added, removed, disabled,
        interval changed)."""
        if self.stopping.is_set():
            return
        searches = {name: s for name, s in load_saved_searches(self.service.catalog).items() if s.enabled}
        for name in set(self._intervals) - set(searches):
            self.scheduler.remove_job(_job_id(name))
            del self._intervals[name]
            log.info("search %s removed or disabled: no longer scheduled", name, extra={"search": name})
        for name, saved in searches.items():
            every = saved.definition.every.total_seconds()
            if self._intervals.get(name) == every:
                continue
            if name in self._intervals:
                self.scheduler.remove_job(_job_id(name))
            self._schedule(saved)
            self._intervals[name] = every

    def _schedule(self, saved: SavedSearch) -> None:
        every = saved.definition.every.total_seconds()
        now = datetime.now(timezone.utc)
        first = saved.state.next_run_at if saved.state.next_run_at and saved.state.next_run_at > now else now
        first += timedelta(seconds=self._rng.uniform(0, min(every * JITTER_FRACTION, 1.0)))
        self.scheduler.add_job(
            self._tick, IntervalTrigger(seconds=every, jitter=min(every * JITTER_FRACTION, MAX_JITTER)),
            args=[saved.name], id=_job_id(saved.name), name=saved.name, next_run_time=first,
            coalesce=True, max_instances=1, misfire_grace_time=int(min(max(every, 1), MAX_MISFIRE_GRACE)),
        )  # fmt: skip
        log.info("search %s scheduled every %ss, first at %s", saved.name, every, first.isoformat(),
                 extra={"search": saved.name})  # fmt: skip

    def _tick(self, name: str) -> None:
        if self.stopping.is_set():
            return
        with self._idle:
            self._in_flight += 1
        try:
            outcome = self.service.run_scheduled(name, cancel_requested=self.stopping.is_set)
            log.info("pass %s: %s %s", name, outcome.status, outcome.detail, extra={"search": name})
        except Exception:  # noqa: BLE001 - a bug in one pass must not kill the scheduler thread
            log.exception("pass %s crashed", name, extra={"search": name})
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    @property
    def in_flight(self) -> int:
        return self._in_flight


def _job_id(name: str) -> str:
    return f"search:{name}"


def install_stop_signals(stop: Callable[[], None]) -> None:
    """SIGTERM and SIGINT call ``stop`` (main thread only, as Python requires)."""
    import signal

    def handler(signum: int, frame: object) -> None:
        log.warning("received %s: stopping (in-flight downloads keep their partial files)", signal.Signals(signum).name)
        stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
