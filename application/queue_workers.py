"""A daemon's download workers: claim a queued job, fetch its file, complete it exactly once.

Each worker thread claims one job at a time (a lease owned by the daemon, see
:mod:`eoharvest.domain.jobs`); one heartbeat thread renews all the daemon's leases every
``heartbeat`` seconds and returns expired leases of any daemon to the queue. A job whose lease
is no longer renewed (this daemon lost it: its heartbeat came too late and another daemon took
the job) is stopped: its transfer is cancelled, and before the rename into place the worker
checks that it still holds the lease, so it never publishes over another daemon's work. The
completion itself names the lease (owner and attempt), so only one attempt completes a job.

Files land where the scene download service puts them, ``<outdir>/<product key>/<file name>``,
beside a ``.part`` and sidecar named after the file: a job taken over after a crash resumes
the partial of the daemon that died (the ``.part`` is ``flock``'ed by its writer, so two
writers never share it), and the folder's crash leftovers are cleaned before each fetch.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Callable, Sequence

from eoharvest.application.download_plan import is_archive
from eoharvest.application.download_queue import DescriptorCache
from eoharvest.application.relink import needs_relink
from eoharvest.domain.errors import (
    AuthError,
    DownloadCancelled,
    HostPaused,
    InputError,
    InsufficientSpace,
    UnsafeFilename,
)
from eoharvest.domain.filenames import safe_filename
from eoharvest.domain.catalog_query import ExtractedMember
from eoharvest.domain.jobs import ClaimedJob
from eoharvest.domain.models import DownloadDescriptor
from eoharvest.domain.ports import ArchiveHandler, DownloadQueue, FileTransfer

log = logging.getLogger("eoharvest.queue")

#: ``provider_slot(provider, stopped)``: a context manager holding one of the provider's
#: download slots while a file is fetched (see :func:`local_provider_slots`).
ProviderSlot = Callable[[str, Callable[[], bool]], AbstractContextManager[object]]


class LeaseLost(Exception):
    """This worker's lease of a job was taken over; it must not publish or complete it.

    Internal, never shown to a user, and deliberately not an ``EoharvestError``: the transfer
    engine treats those from ``validate`` as bad content (it discards the partial, or removes
    an existing final file); a lost lease says nothing about the bytes, which stay for the
    daemon that took the job over."""


def local_provider_slots(limits: dict[str, int], default: int) -> ProviderSlot:
    """Per-provider download slots of this process (``limits``, else ``default`` each).

    The daemon adds the provider account's budget shared by every daemon around it
    (``entrypoints/daemon_queue.py:shared_provider_slot``)."""
    semaphores: dict[str, threading.BoundedSemaphore] = {}
    guard = threading.Lock()

    def slot(provider: str, stopped: Callable[[], bool]) -> AbstractContextManager[object]:
        with guard:
            semaphore = semaphores.setdefault(provider, threading.BoundedSemaphore(limits.get(provider, default)))
        return _held(semaphore, stopped)

    return slot


class _held(AbstractContextManager[object]):
    def __init__(self, semaphore: threading.BoundedSemaphore, stopped: Callable[[], bool]) -> None:
        self._semaphore, self._stopped, self._taken = semaphore, stopped, False

    def __enter__(self) -> object:
        while not self._semaphore.acquire(timeout=0.2):
            if self._stopped():
                raise DownloadCancelled("stopped while waiting for a download slot")
        self._taken = True
        return self

    def __exit__(self, *exc: object) -> None:
        if self._taken:
            self._semaphore.release()


class QueueWorkers:
    """``workers`` threads draining the queue for the daemon ``owner`` until :meth:`stop`."""

    def __init__(
        self,
        queue: DownloadQueue,
        transfer: FileTransfer,
        archives: ArchiveHandler,
        *,
        owner: str,
        outdir: str,
        provider_slot: ProviderSlot,
        workers: int = 4,
        lease_seconds: float = 60.0,
        heartbeat: float = 10.0,
        poll_seconds: float = 1.0,
        descriptors: DescriptorCache | None = None,
        extract_archives: bool = True,
        keep_archives: bool = True,
        on_heartbeat: Callable[[], None] = lambda: None,
        relink: Callable[[ClaimedJob], DownloadDescriptor | None] | None = None,
        on_completed: Callable[[ClaimedJob], None] | None = None,
    ) -> None:
        self.queue = queue
        self.transfer = transfer
        self.archives = archives
        self.owner = owner
        self.outdir = Path(outdir)
        self.provider_slot = provider_slot
        self.workers = workers
        self.lease_seconds = lease_seconds
        self.heartbeat = heartbeat
        self.poll_seconds = poll_seconds
        self.descriptors = descriptors or DescriptorCache()
        self.extract_archives = extract_archives
        self.keep_archives = keep_archives
        self.on_heartbeat = on_heartbeat
        #: the provider's descriptor of a job's file now (application/relink.py), for a job
        #: this daemon did not queue whose recorded link was masked
        self.relink = relink
        #: called after a job's completion is recorded (the daemon closes the orders whose
        #: last file it was: OrderBook.settle)
        self.on_completed = on_completed
        self.stopping = threading.Event()
        self._active: dict[int, ClaimedJob] = {}
        self._lost: set[int] = set()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        #: what this process did, for logs and tests
        self.completed = 0
        self.failed = 0

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        self._threads = [threading.Thread(target=self._beat, name="eoharvest-heartbeat", daemon=True)]
        self._threads += [threading.Thread(target=self._work, name=f"eoharvest-worker-{i}", daemon=True)
                          for i in range(self.workers)]  # fmt: skip
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self.stopping.set()

    def join(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s in all for the workers to end (after :meth:`stop`); True if
        they all did."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(t.is_alive() for t in self._threads)

    @property
    def busy(self) -> int:
        with self._lock:
            return len(self._active)

    # -- heartbeat ----------------------------------------------------------------------------
    def _beat(self) -> None:
        while not self.stopping.wait(self.heartbeat):
            self.beat_once()

    def beat_once(self) -> None:
        """Renew this daemon's leases, mark the jobs it lost, return expired jobs to the queue."""
        try:
            self.on_heartbeat()
            with self._lock:
                working = set(self._active)  # only these: a job claimed meanwhile is not lost
            held = self.queue.renew(self.owner, self.lease_seconds, working)
            with self._lock:
                lost = {job_id for job_id in working - held if job_id in self._active}
                self._lost |= lost
            for job_id in lost:
                log.error("job %d: this daemon's lease was taken over; stopping its transfer", job_id)
            for job in self.queue.requeue_expired():
                log.warning("job %d (%s) returned to the queue: the lease of %s expired", job.job_id, job.name, job.owner)
        except Exception as error:  # noqa: BLE001 - a busy or unreachable catalog: next beat
            log.warning("heartbeat failed (%s); retrying in %ss", error, self.heartbeat)

    # -- work ---------------------------------------------------------------------------------
    def _work(self) -> None:
        while not self.stopping.is_set():
            try:
                job = self.queue.claim(self.owner, self.lease_seconds)
            except Exception as error:  # noqa: BLE001 - a busy catalog must not end the worker
                log.warning("claiming a job failed (%s); retrying", error)
                job = None
            if job is None:
                self.stopping.wait(self.poll_seconds)
                continue
            with self._lock:
                self._active[job.job_id] = job
            try:
                self.run(job)
            finally:
                with self._lock:
                    self._active.pop(job.job_id, None)
                    self._lost.discard(job.job_id)

    def run(self, job: ClaimedJob) -> None:
        """Fetch the job's file and end its attempt in the catalog (completed, retried later,
        paused, failed or given back)."""

        def stopped() -> bool:
            return self.stopping.is_set() or job.job_id in self._lost

        try:
            with self.provider_slot(job.provider, stopped):
                path, sha256, received, members = self._fetch(job, stopped)
        except (DownloadCancelled, LeaseLost):
            # Given back only while this attempt still holds the job (release is fenced by the
            # lease): after a take-over it changes nothing.
            if self.queue.release(job):
                log.info("job %d (%s): stopped; back in the queue", job.job_id, job.name)
            else:
                log.warning("job %d (%s): its lease was taken over; another daemon finishes it", job.job_id, job.name)
            return
        except HostPaused as exc:
            # Nothing was asked of the host: not the file's failure. Any daemon may try it
            # once the pause is over.
            log.info("job %d (%s): %s; back in the queue for %.0f s", job.job_id, job.name, exc, exc.retry_in)
            self.queue.release(job, delay_seconds=exc.retry_in)
            return
        except InsufficientSpace as exc:
            self._end(job, exc, retry=False, paused=True)
            return
        except (AuthError, InputError, UnsafeFilename) as exc:
            self._end(job, exc, retry=False)
            return
        except Exception as exc:  # noqa: BLE001 - any other failure is retried after a backoff
            self._end(job, exc, retry=True)
            return
        if self.queue.complete(job, path, sha256, received, members=members):
            with self._lock:
                self.completed += 1
            log.info("job %d: %s verified at %s", job.job_id, job.name, path)
            self._completed(job)
        else:
            log.warning("job %d (%s): verified, but its lease was taken over; not recorded twice", job.job_id, job.name)

    def _completed(self, job: ClaimedJob) -> None:
        if self.on_completed is None:
            return
        try:
            self.on_completed(job)
        except Exception as error:  # noqa: BLE001 - the file is recorded; a later pass settles its order
            log.warning("job %d (%s): completed, but its order could not be settled (%s); the next pass does",
                        job.job_id, job.name, error)  # fmt: skip

    def _end(self, job: ClaimedJob, exc: BaseException, *, retry: bool, paused: bool = False) -> None:
        with self._lock:
            self.failed += 1
        log.warning("job %d (%s) failed: %s", job.job_id, job.name, exc)
        if not self.queue.fail(job, exc, retry=retry, paused=paused):
            log.warning("job %d: its lease was taken over; the failure is not recorded", job.job_id)

    def _fetch(
        self, job: ClaimedJob, stopped: Callable[[], bool]
    ) -> tuple[str, str, int, Sequence[ExtractedMember]]:
        descriptor = self._descriptor(job)
        scene_dir = self.outdir / safe_filename(job.product_key or job.scene_id, what="product name")
        dest = scene_dir / safe_filename(job.name, what="file name from the provider")
        archive = self.extract_archives and is_archive(descriptor)
        # The product folder's lock, shared with the other queue workers (each file has its own
        # .part lock): an in-process download of the product (`eoharvest download`, which
        # holds it exclusively) and a worker never write in the folder at once.
        with self.transfer.hold_directory(str(scene_dir), stopped, shared=True):
            return self._fetch_in(job, descriptor, scene_dir, dest, archive, stopped)

    def _fetch_in(
        self, job: ClaimedJob, descriptor: DownloadDescriptor, scene_dir: Path, dest: Path, archive: bool,
        stopped: Callable[[], bool],
    ) -> tuple[str, str, int, Sequence[ExtractedMember]]:  # fmt: skip
        self.transfer.prepare_directory(str(scene_dir))

        def validate(part: str) -> None:
            if archive:
                self.archives.verify(part)
            # Under the .part's lock, just before the rename: never publish a file this worker
            # no longer owns (the daemon that took the job over waits for this lock, then
            # finds the file verified in place, or resumes the partial).
            if stopped() or not self.queue.holds(job):
                raise LeaseLost(f"job {job.job_id}: the lease of {job.name} was taken over")

        result = self.transfer.fetch(job.provider, descriptor, str(dest), stopped=stopped, validate=validate)
        local = result.path
        members: Sequence[ExtractedMember] = ()
        if archive:
            # recorded with the completion (one transaction), so `serve` and `verify` know them
            members = list(self.archives.extract(result.path, str(scene_dir), protected=(dest.name,)))
            if not self.keep_archives:
                os.unlink(result.path)
                local = str(scene_dir)
        return local, result.sha256, result.transferred, members

    def _descriptor(self, job: ClaimedJob) -> DownloadDescriptor:
        cached = self.descriptors.get(job.file_id)
        if cached is not None:
            return cached
        if self.relink is not None and needs_relink(job.href):
            fresh = self.relink(job)
            if fresh is not None:
                return fresh
        href = job.href
        if href is None or needs_relink(href):
            what = "no link" if not href else "only a masked link (it carried a secret)"
            listed = f", and {job.provider} no longer lists it" if self.relink is not None else ""
            raise InputError(f"job {job.job_id}: the catalog has {what} for {job.name}{listed}",
                             hint="the next pass of its saved search queues it again with a link")  # fmt: skip
        return DownloadDescriptor(href, job.name, size=job.size, checksums=(job.checksum,) if job.checksum else ())

