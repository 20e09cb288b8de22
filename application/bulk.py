"""The engine behind BulkDownloader: activation and order polling, thread pools, limits and
cancellation.

One loop in the calling thread owns the schedule. It pulls scenes, checks each one's activation
(placing or polling its order), keeps scenes that are not ready yet in a heap of due times (so
they hold no thread while they wait), hands ready scenes to the download pool (or runs them
inline), and polls ``cancel_requested`` every tick. Orders still pending at the activation
timeout are reported in ``summary.pending``, not as failures.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Mapping

from eoharvest.domain.errors import (
    AuthError,
    DownloadCancelled,
    DownloadError,
    HostPaused,
    ProviderResponseError,
    RetryExhausted,
)
from eoharvest.domain.models import Activation, DownloadResult, FailedDownload, Scene
from eoharvest.domain.orders import PendingOrder
from eoharvest.domain.ports import Clock

logger = logging.getLogger("eoharvest")

#: Longest time between two checks of the cancel callback (the contract is 0.2 s).
POLL_INTERVAL = 0.1
#: After a cancel or a fatal error, how long running downloads get to notice and stop. A
#: transfer stops at its next chunk (a watchdog closes a stalled response) and puts its catalog
#: row back to ``queued``; one that takes longer is not waited for here, but its thread is
#: still joined before the process exits.
STOP_GRACE = 0.5
#: Orders are re-polled 1.5 times later each time, up to 8 times ``activation_wait`` (and at
#: most every MAX_POLL_INTERVAL seconds unless activation_wait itself is longer).
BACKOFF = 1.5
MAX_BACKOFF_FACTOR = 8.0
MAX_POLL_INTERVAL = 300.0
#: How often one scene may be put back to wait for a paused download host before its
#: ``HostPaused`` counts as its failure.
MAX_HOST_WAITS = 3


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
    activation: Activation | None = None
    host_waits: int = 0


_Outcome = Any
_After = Callable[[_Job, _Outcome, "BaseException | None"], None]


class BulkRun:
    """One execution of a bulk download; results, failures and pending orders go into ``summary``.

    Every scene is first *checked* (activation: an order placed, found or polled), then
    *fetched*. Checks come first: due re-checks and new scenes are checked before ready scenes
    are downloaded, so every order is placed before the downloads take the workers; a scene not
    ready yet waits in a heap of due times (holding no thread) and is downloaded as soon as a
    check finds it ready, whatever the scenes ordered before it are doing. Checks and downloads
    each get ``max_workers`` threads (none in sequential mode).
    """

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
        self._ready: deque[_Job] = deque()
        # Ready scenes that needed no order: new scenes are pulled only while few of them wait
        # for a download slot, so a long search is still consumed lazily.
        self._plain_ready = 0
        self._order = itertools.count()
        self._exhausted = False
        self._slept = 0.0
        self._semaphores: dict[str, threading.BoundedSemaphore] = {}
        self._semaphores_lock = threading.Lock()
        # Providers that refused our credentials in this run: their other scenes are not
        # attempted (asking again risks an account lockout and cannot succeed).
        self._refused: dict[str, AuthError] = {}

    def run(self) -> None:
        workers = self._opts.max_workers
        checkers = ThreadPoolExecutor(workers, "eoharvest-check") if self._threaded else None
        fetchers = ThreadPoolExecutor(workers, "eoharvest-fetch") if self._threaded else None
        checks: dict[Future[Any], _Job] = {}
        fetches: dict[Future[Any], _Job] = {}
        try:
            while True:
                self._raise_if_cancelled()
                self._collect(checks, self._after_check)
                self._collect(fetches, self._after_fetch)
                while checkers is None or len(checks) < workers:
                    job = self._next_check()
                    if job is None:
                        break
                    if checkers is not None:
                        checks[checkers.submit(self._check, job)] = job
                    else:
                        self._inline(self._check, job, self._after_check)
                while self._ready and (fetchers is None or len(fetches) < workers):
                    job = self._pop_ready()
                    if fetchers is not None:
                        fetches[fetchers.submit(self._fetch, job)] = job
                        continue
                    self._inline(self._fetch, job, self._after_fetch)
                    break  # sequential: due checks come before the next download
                if checks or fetches:
                    wait([*checks, *fetches], timeout=POLL_INTERVAL, return_when=FIRST_COMPLETED)
                elif self._ready:
                    continue
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
            running = [f for f in (*checks, *fetches) if not f.done()]
            if running:
                wait(running, timeout=STOP_GRACE)
            for future in fetches:  # finished while the run stopped: still in the summary
                if future.done() and not future.cancelled() and future.exception() is None:
                    self.summary.results.append(future.result())
            for pool in (checkers, fetchers):
                if pool is not None:
                    pool.shutdown(wait=not any(not f.done() for f in running), cancel_futures=True)

    def _collect(self, futures: dict[Future[Any], _Job], after: _After) -> None:
        for future in [f for f in futures if f.done()]:
            job = futures.pop(future)
            error = future.exception()
            after(job, None if error else future.result(), error)

    def _inline(self, step: Callable[[_Job], _Outcome], job: _Job, after: _After) -> None:
        try:
            outcome = step(job)
        except BaseException as exc:  # noqa: BLE001 - settled (and re-raised) by ``after``
            after(job, None, exc)
        else:
            after(job, outcome, None)
        self._raise_if_cancelled()

    def _raise_if_cancelled(self) -> None:
        if self.stop():
            done = len(self.summary.results)
            raise DownloadCancelled(f"download cancelled after {done} scene(s)")

    def _next_check(self) -> _Job | None:
        if self._waiting:
            due, _, job = self._waiting[0]
            # Also count the sleeps asked for, so a clock that does not advance cannot stall us.
            if due <= self._clock.monotonic() or job.due_slept <= self._slept:
                return heapq.heappop(self._waiting)[2]
        bound = self._opts.max_workers if self._threaded else 1
        while not self._exhausted and self._plain_ready < bound:
            try:
                scene = next(self._scenes)
            except StopIteration:
                self._exhausted = True
                break
            if self._filter is None or self._filter(scene):
                return _Job(scene)
        return None

    def _pop_ready(self) -> _Job:
        job = self._ready.popleft()
        if not _ordered(job):
            self._plain_ready -= 1
        return job

    # -- the two steps (run in worker threads when threaded) -----------------------------------
    def _check(self, job: _Job) -> Activation:
        """Place, find or poll the scene's order (or ask a plain downloader); never downloads."""
        self._refuse_if_stopped(job)
        if job.host_waits and job.activation is not None and job.activation.ready:
            return job.activation  # back from waiting for its host: checked already
        if job.downloader is None:
            job.downloader = job.scene.downloader()
        prepare = getattr(job.downloader, "prepare", None)
        if prepare is not None:
            activation: Activation = prepare(overwrite=self._opts.overwrite, **self._opts.download_params)
        else:
            check = getattr(job.downloader, "check_activation", None)
            activation = check() if check is not None else Activation(bool(job.downloader.activate()))
        job.attempts += 1
        return activation

    def _fetch(self, job: _Job) -> DownloadResult:
        self._refuse_if_stopped(job)
        with self._slot(job.scene.provider):
            opts = self._opts
            result: DownloadResult = job.downloader.download(
                opts.outdir,
                overwrite=opts.overwrite,
                skip_error=opts.skip_error,
                stopped_func=self.stop,
                **opts.download_params,
            )
        return result

    def _refuse_if_stopped(self, job: _Job) -> None:
        if self.stop():
            raise DownloadCancelled(f"download of {job.scene.scene_id} cancelled")
        refused = self._refused.get(job.scene.provider)
        if refused is not None:
            raise NotAttempted(job.scene.provider, refused)

    # -- settling (always in the thread that runs the loop) ------------------------------------
    def _after_check(self, job: _Job, activation: Activation | None, error: BaseException | None) -> None:
        if error is not None or activation is None:
            self._fail(job, error or RuntimeError("no activation answer"))
            return
        job.activation = activation
        if activation.ready:
            self._ready.append(job)
            if not _ordered(job):
                self._plain_ready += 1
            return
        try:
            delay = self._retry_delay(job, activation)
        except _StillPending as pending:
            self._pend(job, pending.reason)
            return
        except Exception as exc:  # noqa: BLE001 - a refusal or timeout is this scene's failure
            self._fail(job, exc)
            return
        due = self._clock.monotonic() + delay
        job.due_slept = self._slept + delay
        heapq.heappush(self._waiting, (due, next(self._order), job))

    def _after_fetch(self, job: _Job, result: DownloadResult | None, error: BaseException | None) -> None:
        if isinstance(error, HostPaused) and job.host_waits < MAX_HOST_WAITS:
            # Its host is paused: the scene waits (holding no worker) while other hosts go on.
            job.host_waits += 1
            logger.info("scene %s waits %.0f s for its paused host", job.scene.scene_id, error.retry_in)
            job.due_slept = self._slept + error.retry_in
            heapq.heappush(self._waiting, (self._clock.monotonic() + error.retry_in, next(self._order), job))
            return
        if error is not None or result is None:
            self._fail(job, error or RuntimeError("no download result"))
            return
        logger.debug("scene %s downloaded: %s", result.scene.scene_id, list(result.out_files))
        self.summary.results.append(result)

    def _retry_delay(self, job: _Job, activation: Activation) -> float:
        now = self._clock.monotonic()
        if job.deadline is None:
            job.deadline = now + self._opts.activation_timeout
        reason = activation.reason or "no reason given"
        scene_id = job.scene.scene_id
        if activation.permanent:
            raise ProviderResponseError(f"scene {scene_id} cannot be activated: {reason}")
        if activation.defer:
            raise _StillPending(reason)
        if now >= job.deadline or job.attempts >= self._opts.max_activation_attempts:
            if activation.order_state is not None:
                raise _StillPending(
                    f"{reason}; still {activation.order_state} after {self._opts.activation_timeout:g} s "
                    "(the order is kept: the next run or the daemon picks it up)"
                )
            raise RetryExhausted(
                f"scene {scene_id} is still not ready after {job.attempts} activation checks "
                f"over {self._opts.activation_timeout:g} s: {reason}",
                hint="raise activation_timeout or download it later",
            )
        wanted = self._opts.activation_wait
        if activation.order_state is not None:
            # Orders are polled with backoff: activation_wait, then 1.5 times longer each time.
            cap = max(wanted, min(wanted * MAX_BACKOFF_FACTOR, MAX_POLL_INTERVAL))
            wanted = min(wanted * BACKOFF ** (job.attempts - 1), cap)
        if activation.retry_after is not None:
            wanted = activation.retry_after
        return min(max(wanted, POLL_INTERVAL), job.deadline - now)

    def _slot(self, provider: str) -> _Slot:
        """This run's own limit for ``provider`` (``provider_limits``, ``max_per_provider``).
        The provider account's budget (CDSE: 4), shared by the runs of this process and on a
        PostgreSQL catalog by every process, is held inside it by the downloader around the
        transfer (``SourceDownloader`` with its ``DownloadBudget``), where the account is known."""
        with self._semaphores_lock:
            semaphore = self._semaphores.get(provider)
            if semaphore is None:
                limit = self._opts.provider_limits.get(provider, self._opts.max_per_provider)
                semaphore = self._semaphores[provider] = threading.BoundedSemaphore(limit)
        return _Slot(semaphore, self.stop)

    def _pend(self, job: _Job, reason: str) -> None:
        state = (job.activation.order_state if job.activation else None) or "none"
        logger.info("scene %s is pending (%s): %s", job.scene.scene_id, state, reason)
        self.summary.pending.append(PendingOrder(job.scene, state, reason))

    def _fail(self, job: _Job, error: BaseException) -> None:
        scene_id = job.scene.scene_id
        if isinstance(error, DownloadCancelled) or not isinstance(error, Exception):
            raise error
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


def _ordered(job: _Job) -> bool:
    return job.activation is not None and job.activation.order_state is not None


class _StillPending(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


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
