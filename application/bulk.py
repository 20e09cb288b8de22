"""The engine behind BulkDownloader: activation polling, thread pool, limits and cancellation.

One loop in the calling thread owns the schedule. It pulls scenes lazily, keeps scenes that are
not yet activated in a heap of due times (so they hold no thread while they wait), hands ready
work to a thread pool (or runs it inline), and polls ``cancel_requested`` every tick.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping

from eoharvest.domain.errors import (
    AuthError,
    DownloadCancelled,
    DownloadError,
    ProviderResponseError,
    RetryExhausted,
)
from eoharvest.domain.models import Activation, DownloadResult, FailedDownload, Scene
from eoharvest.domain.ports import Clock

logger = logging.getLogger("eoharvest")

#: Longest time between two checks of the cancel callback (the contract is 0.2 s).
POLL_INTERVAL = 0.1
#: After a cancel or a fatal error, how long running downloads get to notice and stop.
STOP_GRACE = 0.5


@dataclass(frozen=True)
class RunOptions:
    """Validated settings of one bulk download."""

    outdir: str
    overwrite: bool
    skip_error: bool
    activation_wait: float
    activation_timeout: float
    max_workers: int
    max_per_provider: int
    provider_limits: Mapping[str, int]
    download_params: Mapping[str, Any] = field(default_factory=dict)

    @property
    def max_activation_attempts(self) -> int:
        # A second bound next to the deadline, in case an injected clock never advances.
        return int(self.activation_timeout / max(self.activation_wait, POLL_INTERVAL)) + 2


class StopSignal:
    """``stopped_func`` for downloads: true once cancel was requested (or the run is failing).

    The user's callback is only called from the thread that started the run; worker threads see
    the event it sets.
    """

    def __init__(self, cancel_requested: Callable[[], bool]) -> None:
        self._callback = cancel_requested
        self._event = threading.Event()
        self._owner = threading.get_ident()

    def __call__(self) -> bool:
        if not self._event.is_set() and threading.get_ident() == self._owner:
            if self._callback():
                self._event.set()
        return self._event.is_set()

    def set(self) -> None:
        self._event.set()


@dataclass
class _Job:
    scene: Scene
    downloader: Any = None
    attempts: int = 0
    deadline: float | None = None
    due_slept: float = 0.0


class BulkRun:
    """One execution of a bulk download; results and failures go into ``summary``."""

    def __init__(
        self,
        scenes: Iterable[Scene],
        scene_filter: Callable[[Scene], bool] | None,
        options: RunOptions,
        *,
        summary: Any,
        clock: Clock,
        cancel_requested: Callable[[], bool],
        threaded: bool,
    ) -> None:
        self._scenes: Iterator[Scene] = iter(scenes)
        self._filter = scene_filter
        self._opts = options
        self.summary = summary
        self._clock = clock
        self._threaded = threaded
        self.stop = StopSignal(cancel_requested)
        self._waiting: list[tuple[float, int, _Job]] = []
        self._order = itertools.count()
        self._exhausted = False
        self._slept = 0.0
        self._semaphores: dict[str, threading.BoundedSemaphore] = {}
        self._semaphores_lock = threading.Lock()
        # Providers that refused our credentials in this run: their other scenes are not
        # attempted (asking again risks an account lockout and cannot succeed).
        self._refused: dict[str, AuthError] = {}

    def run(self) -> None:
        pool = ThreadPoolExecutor(self._opts.max_workers) if self._threaded else None
        in_flight: dict[Future[Any], _Job] = {}
        try:
            while True:
                self._raise_if_cancelled()
                for future in [f for f in in_flight if f.done()]:
                    done = in_flight.pop(future)
                    error = future.exception()
                    self._settle(done, None if error else future.result(), error)
                while pool is None or len(in_flight) < self._opts.max_workers:
                    job = self._next_job()
                    if job is None:
                        break
                    if pool is not None:
                        in_flight[pool.submit(self._step, job)] = job
                        continue
                    try:
                        outcome = self._step(job)
                    except BaseException as exc:  # noqa: BLE001 - settled (and re-raised) below
                        self._settle(job, None, exc)
                    else:
                        self._settle(job, outcome, None)
                    self._raise_if_cancelled()
                if in_flight:
                    wait(in_flight, timeout=POLL_INTERVAL, return_when=FIRST_COMPLETED)
                elif self._waiting:
                    until_due = self._waiting[0][0] - self._clock.monotonic()
                    delay = min(POLL_INTERVAL, max(until_due, 0.0))
                    self._clock.sleep(delay)
                    self._slept += delay
                elif self._exhausted:
                    return
        except BaseException as exc:
            self.stop.set()
            if isinstance(exc, Exception):
                exc.summary = self.summary  # type: ignore[attr-defined]
            raise
        finally:
            if pool is not None:
                if in_flight:
                    wait(in_flight, timeout=STOP_GRACE)
                pool.shutdown(wait=not any(not f.done() for f in in_flight), cancel_futures=True)

    def _raise_if_cancelled(self) -> None:
        if self.stop():
            done = len(self.summary.results)
            raise DownloadCancelled(f"download cancelled after {done} scene(s)")

    def _next_job(self) -> _Job | None:
        if self._waiting:
            due, _, job = self._waiting[0]
            # Also count the sleeps asked for, so a clock that does not advance cannot stall us.
            if due <= self._clock.monotonic() or job.due_slept <= self._slept:
                return heapq.heappop(self._waiting)[2]
        while not self._exhausted:
            try:
                scene = next(self._scenes)
            except StopIteration:
                self._exhausted = True
                break
            if self._filter is None or self._filter(scene):
                return _Job(scene)
        return None

    def _step(self, job: _Job) -> tuple[str, Any]:
        """Check activation, then download; ("wait", seconds) or ("done", DownloadResult)."""
        if self.stop():
            raise DownloadCancelled(f"download of {job.scene.scene_id} cancelled")
        refused = self._refused.get(job.scene.provider)
        if refused is not None:
            raise NotAttempted(job.scene.provider, refused)
        if job.downloader is None:
            job.downloader = job.scene.downloader()
        check = getattr(job.downloader, "check_activation", None)
        activation = check() if check is not None else Activation(bool(job.downloader.activate()))
        job.attempts += 1
        if not activation.ready:
            return ("wait", self._retry_delay(job, activation))
        with self._slot(job.scene.provider):
            opts = self._opts
            result = job.downloader.download(
                opts.outdir,
                overwrite=opts.overwrite,
                skip_error=opts.skip_error,
                stopped_func=self.stop,
                **opts.download_params,
            )
        return ("done", result)

    def _retry_delay(self, job: _Job, activation: Activation) -> float:
        now = self._clock.monotonic()
        if job.deadline is None:
            job.deadline = now + self._opts.activation_timeout
        reason = activation.reason or "no reason given"
        scene_id = job.scene.scene_id
        if activation.permanent:
            raise ProviderResponseError(f"scene {scene_id} cannot be activated: {reason}")
        if now >= job.deadline or job.attempts >= self._opts.max_activation_attempts:
            raise RetryExhausted(
                f"scene {scene_id} is still not ready after {job.attempts} activation checks "
                f"over {self._opts.activation_timeout:g} s: {reason}",
                hint="raise activation_timeout or download it later",
            )
        wanted = self._opts.activation_wait
        if activation.retry_after is not None:
            wanted = activation.retry_after
        return min(max(wanted, POLL_INTERVAL), job.deadline - now)

    def _slot(self, provider: str) -> _Slot:
        with self._semaphores_lock:
            semaphore = self._semaphores.get(provider)
            if semaphore is None:
                limit = self._opts.provider_limits.get(provider, self._opts.max_per_provider)
                semaphore = self._semaphores[provider] = threading.BoundedSemaphore(limit)
        return _Slot(semaphore, self.stop)

    def _settle(
        self, job: _Job, outcome: tuple[str, Any] | None, error: BaseException | None
    ) -> None:
        scene_id = job.scene.scene_id
        if error is None and outcome is not None:
            kind, value = outcome
            if kind == "wait":
                due = self._clock.monotonic() + value
                job.due_slept = self._slept + value
                heapq.heappush(self._waiting, (due, next(self._order), job))
            else:
                self._record(value)
            return
        if isinstance(error, DownloadCancelled) or not isinstance(error, Exception):
            raise error  # type: ignore[misc]
        if isinstance(error, AuthError) and not isinstance(error, NotAttempted):
            provider = job.scene.provider
            if provider in self._refused:  # in flight when the first refusal came: same cause
                error = NotAttempted(provider, self._refused[provider])
            else:
                self._refused[provider] = error
        if self._opts.skip_error:
            if isinstance(error, NotAttempted):
                logger.debug("scene %s not attempted: %s", scene_id, error)
            else:
                logger.warning("scene %s failed: %s", scene_id, error)
            self.summary.failures.append(
                FailedDownload(scene_id, (type(error), error, error.__traceback__))
            )
            return
        if isinstance(error, DownloadError):
            raise error
        raise DownloadError(scene_id, str(error) or type(error).__name__) from error

    def _record(self, result: DownloadResult) -> None:
        logger.debug("scene %s downloaded: %s", result.scene.scene_id, list(result.out_files))
        self.summary.results.append(result)


class NotAttempted(AuthError):
    """A scene skipped because its provider refused the credentials earlier in the same run."""

    def __init__(self, provider: str, cause: AuthError) -> None:
        super().__init__(
            f"not attempted: {provider or 'the provider'} refused the credentials earlier in this run "
            f"({cause.message})",
            hint=cause.hint,
        )
        self.provider = provider


class _Slot:
    """Holds a provider's semaphore; waiting for it stays responsive to cancellation."""

    def __init__(self, semaphore: threading.BoundedSemaphore, stop: StopSignal) -> None:
        self._semaphore = semaphore
        self._stop = stop

    def __enter__(self) -> None:
        while not self._semaphore.acquire(timeout=POLL_INTERVAL):
            if self._stop():
                raise DownloadCancelled("download cancelled while waiting for a provider slot")

    def __exit__(self, *exc_info: object) -> None:
        self._semaphore.release()
