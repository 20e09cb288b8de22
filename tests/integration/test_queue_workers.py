"""A daemon's queue workers and the queueing pass on a real catalog with the in-memory transfer
(tests/fakes/transfers.py): jobs completed once, a lost lease never publishes or completes, a
paused host gives the job back, the heartbeat never calls a job lost that was claimed while it
renewed, and a pass queues each missing file once."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from pathlib import Path

import pytest
from fakes.catalog import catalog_scene
from fakes.transfers import FakeArchives, FakeTransfer
from sqlalchemy import select, update

from eoharvest.adapters.catalog import open_catalog
from eoharvest.adapters.catalog.job_queue import CatalogJobQueue
from eoharvest.adapters.catalog.tables import download_jobs
from eoharvest.application.download_queue import DescriptorCache, QueueingFetcher
from eoharvest.application.queue_workers import QueueWorkers, local_provider_slots
from eoharvest.domain.errors import HostPaused, InsufficientSpace
from eoharvest.domain.models import DownloadDescriptor


@pytest.fixture
def catalog(tmp_path):
    with open_catalog(tmp_path / "catalog.db") as opened:
        yield opened


def queued(catalog, names):
    catalog.upsert_scenes([catalog_scene(n, provider="links", product_key=n) for n in names])
    queue = CatalogJobQueue(catalog, retry_base=timedelta(0))
    for n in names:
        queue.enqueue(catalog.record_file("links", n, f"{n}.bin", href=f"http://127.0.0.1:9/{n}.bin"))
    return queue


def workers(queue, transfer, tmp_path, owner="host:1:t"):
    return QueueWorkers(queue, transfer, FakeArchives(), owner=owner, outdir=str(tmp_path / "archive"),
                        provider_slot=local_provider_slots({}, 4), workers=1, lease_seconds=30)  # fmt: skip


def state(catalog, job_id):
    with catalog.reader.connect() as conn:
        return conn.execute(select(download_jobs).where(download_jobs.c.id == job_id)).one()


def test_a_claimed_job_is_fetched_verified_and_completed_once(catalog, tmp_path):
    queue = queued(catalog, ["a"])
    transfer = FakeTransfer({"a.bin": b"alpha"})
    pool = workers(queue, transfer, tmp_path)
    job = queue.claim(pool.owner, 30)
    pool.run(job)
    row = state(catalog, job.job_id)
    assert row.state == "available" and row.completed_by == pool.owner
    assert catalog.available_files("a") == [str(tmp_path / "archive" / "a" / "a.bin")]
    assert catalog.stored_files("a")[0].sha256 == hashlib.sha256(b"alpha").hexdigest()
    assert transfer.prepared == [str(tmp_path / "archive" / "a")]


def test_a_worker_whose_lease_was_taken_over_neither_publishes_nor_completes(catalog, tmp_path):
    queue = queued(catalog, ["a"])
    pool = workers(queue, FakeTransfer({"a.bin": b"alpha"}), tmp_path, owner="slow")
    job = queue.claim("slow", 30)
    with catalog.writer.begin() as conn:  # its daemon was cut off: the lease ran out, another took it
        conn.execute(update(download_jobs).values(lease_until=None))
    queue.requeue_expired(owners=["slow"])
    other = queue.claim("other", 30)
    pool.run(job)  # validate() before the rename finds the lease gone
    assert not (tmp_path / "archive" / "a" / "a.bin").exists()
    row = state(catalog, job.job_id)
    assert row.state == "fetching" and row.lease_owner == "other" and row.attempts == other.attempt


def test_a_paused_host_gives_the_job_back_and_a_full_disk_pauses_it(catalog, tmp_path):
    queue = queued(catalog, ["a", "b"])
    transfer = FakeTransfer({}, errors={"a.bin": HostPaused("paused", retry_in=30.0),
                                        "b.bin": InsufficientSpace("disk full")})  # fmt: skip
    pool = workers(queue, transfer, tmp_path)
    first, second = queue.claim(pool.owner, 30), queue.claim(pool.owner, 30)
    pool.run(first)
    pool.run(second)
    a, b = state(catalog, first.job_id), state(catalog, second.job_id)
    assert a.state == "queued" and a.next_attempt_at is not None and a.lease_owner is None
    assert b.state == "paused" and b.error_class == "InsufficientSpace"


def test_a_job_claimed_while_the_heartbeat_renews_is_not_called_lost(catalog, tmp_path):
    queue = queued(catalog, ["a"])
    pool = workers(queue, FakeTransfer({}), tmp_path)
    real_renew = queue.renew

    def renew_then_claim(owner, seconds, job_ids):
        held = real_renew(owner, seconds, job_ids)
        job = queue.claim(owner, 30)  # a worker claims right after the renewal was read
        pool._active[job.job_id] = job
        return held

    queue.renew = renew_then_claim
    pool.beat_once()
    assert pool._lost == set()


def test_a_pass_queues_each_missing_file_once_and_reuses_verified_ones(catalog, tmp_path):
    queue = CatalogJobQueue(catalog)
    cache = DescriptorCache()
    fetcher = QueueingFetcher(catalog, queue, cache)
    scene = catalog_scene("s1", provider="links", product_key="s1")
    catalog.upsert_scenes([scene])
    descriptors = [DownloadDescriptor("http://127.0.0.1:9/x.bin", "x.bin", size=3),
                   DownloadDescriptor("http://127.0.0.1:9/y.bin", "y.bin", size=3)]  # fmt: skip
    fetcher.fetch(scene, descriptors, str(tmp_path))
    fetcher.fetch(scene, descriptors, str(tmp_path))  # a second pass while they wait
    assert queue.counts() == {"queued": 2}
    job = queue.claim("d", 30)
    assert cache.get(job.file_id).url.endswith(job.name)
    verified = tmp_path / "s1" / job.name
    verified.parent.mkdir(parents=True)
    verified.write_bytes(b"abc")
    queue.complete(job, str(verified), "ab" * 32, 3)
    result = fetcher.fetch(scene, descriptors, str(tmp_path))
    assert result.out_files == (str(verified),) and queue.counts() == {"available": 1, "queued": 1}
    assert Path(result.out_files[0]).read_bytes() == b"abc"


def test_at_start_a_daemon_sweeps_only_its_dead_predecessors_jobs_and_leftovers(tmp_path):
    import socket
    import subprocess
    from datetime import datetime, timezone

    from eoharvest.adapters.catalog.daemon_registry import CatalogDaemonRegistry
    from eoharvest.application.settings import DownloadSettings, Settings
    from eoharvest.domain.jobs import DaemonRecord, daemon_owner
    from eoharvest.entrypoints.bootstrap import build
    from eoharvest.entrypoints.daemon_queue import QueueSettings, SharedDaemon

    archive = tmp_path / "archive"
    services = build(Settings(catalog_path=tmp_path / "catalog.db", download=DownloadSettings(directory=archive)))
    try:
        catalog = services.catalog()
        queue = queued(catalog, ["a", "b"])
        host, now = socket.gethostname()[:64], datetime.now(timezone.utc)
        ended = subprocess.Popen(["true"])
        ended.wait()
        dead_pid = ended.pid  # a daemon of this host killed earlier: its pid no longer runs
        live = subprocess.Popen(["sleep", "60"])
        try:
            registry = CatalogDaemonRegistry(catalog)
            dead, alive = daemon_owner(host, dead_pid, now), daemon_owner(host, live.pid, now)
            for owner, pid in ((dead, dead_pid), (alive, live.pid)):
                registry.register(DaemonRecord(owner, host, pid, now, now, "test", 1.0))
            mine, theirs = queue.claim(dead, 600), queue.claim(alive, 600)
            for name in ("a", "b"):
                (archive / name).mkdir(parents=True)
                (archive / name / f"{name}.bin.part").write_bytes(b"half")  # no sidecar: a leftover
            (archive / "a" / "a.bin.part.json.77-abcd.tmp").write_text("{")
            daemon = SharedDaemon(services, QueueSettings(workers=1, lease_seconds=600), queued_downloads=True)
            daemon.registry.register(daemon._record())
            daemon.sweep_previous_incarnations()
            assert state(catalog, mine.job_id).state == "queued"
            assert state(catalog, theirs.job_id).lease_owner == alive  # a live daemon's job stays
            assert sorted(p.name for p in (archive / "a").iterdir()) == []
            assert (archive / "b" / "b.bin.part").exists()  # never another daemon's folder
            status = {d.owner: d.stopped_at is not None for d in registry.daemons()}
            assert status[dead] and not status[alive]
        finally:
            live.kill()
            live.wait()
    finally:
        services.close()


def test_an_archive_fetched_by_a_queue_worker_has_its_members_recorded_with_the_completion(catalog, tmp_path):
    # `serve` and `verify` know an extracted archive only by its member rows: a daemon's worker
    # must record them as the single-process download does (regression: it recorded none).
    catalog.upsert_scenes([catalog_scene("z", provider="links", product_key="z")])
    queue = CatalogJobQueue(catalog, retry_base=timedelta(0))
    job_id = queue.enqueue(catalog.record_file("links", "z", "z.zip", href="http://127.0.0.1:9/z.zip"))
    archives = FakeArchives({"z.SAFE/manifest.safe": b"<xml/>", "z.SAFE/band.jp2": b"pixels"})
    pool = QueueWorkers(queue, FakeTransfer({"z.zip": b"zip bytes"}), archives, owner="host:1:t",
                        outdir=str(tmp_path / "archive"), provider_slot=local_provider_slots({}, 4),
                        workers=1, lease_seconds=30)  # fmt: skip
    job = queue.claim(pool.owner, 30)
    assert job is not None and job.job_id == job_id
    pool.run(job)
    assert state(catalog, job_id).state == "available"
    members = {m.path: m.sha256 for m in catalog.stored_members("z")}
    assert members == {
        "z.SAFE/manifest.safe": hashlib.sha256(b"<xml/>").hexdigest(),
        "z.SAFE/band.jp2": hashlib.sha256(b"pixels").hexdigest(),
    }


#: Another process downloading a product in process (`eoharvest download`): it holds the product
#: folder exclusively through the same adapter call as the scene download service, writes a
#: file there, and waits for ``release`` before it lets go.
_DOWNLOAD_PROCESS = """
import sys, time
from pathlib import Path
from eoharvest.adapters.transfers import ProviderTransfers
folder, signal = Path(sys.argv[1]), Path(sys.argv[2])
with ProviderTransfers(lambda provider: None).hold_directory(str(folder)) as waited:
    (folder / "other.bin").write_bytes(b"from the download process")
    signal.with_name("held").write_text("waited" if waited else "first")
    deadline = time.monotonic() + 20
    while not signal.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
"""


class _RecordingTransfer(FakeTransfer):
    """The in-memory transfer with the real product-folder lock (adapters/flocks.py)."""

    def __init__(self, bodies, gate=None):
        super().__init__(bodies)
        self.gate = gate

    def hold_directory(self, directory, stopped=None, *, shared=False):
        from eoharvest.adapters.transfers import ProviderTransfers

        return ProviderTransfers(lambda provider: None).hold_directory(directory, stopped, shared=shared)

    def fetch(self, provider, descriptor, dest, **options):
        if self.gate is not None:
            self.gate.wait(timeout=20)
        return super().fetch(provider, descriptor, dest, **options)


def _start_download_process(tmp_path, folder):
    import subprocess
    import sys
    import time

    release = tmp_path / "release"
    child = subprocess.Popen([sys.executable, "-c", _DOWNLOAD_PROCESS, str(folder), str(release)])
    deadline = time.monotonic() + 20
    while not (tmp_path / "held").exists() and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.02)
    return child, release


def test_a_queue_worker_never_writes_a_product_folder_while_a_download_process_holds_it(catalog, tmp_path):
    import threading
    import time

    queue = queued(catalog, ["a"])
    transfer = _RecordingTransfer({"a.bin": b"alpha"})
    pool = workers(queue, transfer, tmp_path)
    folder = tmp_path / "archive" / "a"
    folder.mkdir(parents=True)
    child, release = _start_download_process(tmp_path, folder)
    try:
        assert (tmp_path / "held").read_text() == "first"
        job = queue.claim(pool.owner, 30)
        worker = threading.Thread(target=pool.run, args=(job,))
        worker.start()
        time.sleep(0.5)
        assert transfer.fetched == [] and not (folder / "a.bin").exists()  # it waits for the folder
        release.write_text("done")
        worker.join(timeout=20)
        assert not worker.is_alive() and child.wait(timeout=20) == 0
    finally:
        release.write_text("done")
        child.wait(timeout=20)
    assert transfer.fetched == [("links", "a.bin")]
    assert state(catalog, job.job_id).state == "available"
    assert (folder / "other.bin").exists() and (folder / "a.bin").read_bytes() == b"alpha"


def test_a_download_process_waits_while_queue_workers_write_in_the_product_folder(catalog, tmp_path):
    import threading
    import time

    queue = queued(catalog, ["a"])
    gate = threading.Event()
    transfer = _RecordingTransfer({"a.bin": b"alpha"}, gate)
    pool = workers(queue, transfer, tmp_path)
    job = queue.claim(pool.owner, 30)
    worker = threading.Thread(target=pool.run, args=(job,))
    worker.start()
    folder = tmp_path / "archive" / "a"
    deadline = time.monotonic() + 10
    while not folder.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    # A second worker (of this or another daemon) takes the folder's shared lock at once.
    from eoharvest.adapters.transfers import ProviderTransfers

    with ProviderTransfers(lambda provider: None).hold_directory(str(folder), shared=True) as waited:
        assert waited is False
    child, release = _start_download_process(tmp_path, folder)
    try:
        time.sleep(0.3)
        assert not (tmp_path / "held").exists()  # the download process waits for the worker
        gate.set()
        worker.join(timeout=20)
        deadline = time.monotonic() + 20
        while not (tmp_path / "held").exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert (tmp_path / "held").read_text() == "waited"
    finally:
        gate.set()
        release.write_text("done")
        child.wait(timeout=20)
    assert state(catalog, job.job_id).state == "available"
