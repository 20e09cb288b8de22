"""The transfer engine's small parts: shared directory fsyncs, the block writer on reused
threads, host pauses, and the stall/throughput watcher."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from pathlib import Path

import pytest

import eoharvest.adapters.http.dirsync as dirsync_module
from eoharvest.adapters.http.blocks import BlockWriter, WriterPool
from eoharvest.adapters.http.dirsync import DirectorySync
from eoharvest.adapters.http.hashing import MultiHasher
from eoharvest.adapters.http.hosts import HostHealth, HostPausePolicy
from eoharvest.adapters.http.monitor import Watch


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_concurrent_renames_in_one_directory_share_fsyncs_and_each_waits_for_one_started_after_it(
    tmp_path, monkeypatch
):
    calls: list[float] = []
    real = dirsync_module.fsync_dir

    def slow_fsync(directory: Path) -> None:
        calls.append(time.monotonic())
        time.sleep(0.05)
        real(directory)

    monkeypatch.setattr(dirsync_module, "fsync_dir", slow_fsync)
    syncs = DirectorySync()
    returned: list[tuple[float, float]] = []

    def publish() -> None:
        asked = time.monotonic()
        syncs.sync(tmp_path)
        returned.append((asked, time.monotonic()))

    threads = [threading.Thread(target=publish) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(returned) == 16
    assert len(calls) < 16  # shared: far fewer fsyncs than renames
    for asked, done in returned:
        # Some fsync started after the caller asked and finished before it returned.
        assert any(asked <= start and start + 0.05 <= done + 1e-3 for start in calls)


def test_a_failed_directory_fsync_reaches_its_caller_and_the_next_caller_tries_again(tmp_path, monkeypatch):
    failures = [OSError(5, "I/O error")]

    def flaky(directory: Path) -> None:
        if failures:
            raise failures.pop()

    monkeypatch.setattr(dirsync_module, "fsync_dir", flaky)
    syncs = DirectorySync()
    with pytest.raises(OSError):
        syncs.sync(tmp_path)
    syncs.sync(tmp_path)  # no exception, no hang


def test_the_block_writer_hashes_and_writes_every_block_in_order_on_a_reused_thread(tmp_path):
    pool = WriterPool(max_workers=2)
    data = os.urandom(3 << 20)
    names = []
    try:
        for n in range(3):
            path = tmp_path / f"f{n}"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT)
            hasher = MultiHasher()
            with BlockWriter(pool, fd, hasher, block_size=256 << 10, depth=2) as out:
                for i in range(0, len(data), 200_000):
                    block = out.buffer()
                    piece = data[i : i + 200_000]
                    block[: len(piece)] = piece
                    out.hand_over(block, len(piece), recycle=True)
                out.hand_over(b"tail")
            os.close(fd)
            assert path.read_bytes() == data + b"tail"
            assert hasher.hexdigests()["sha256"] == hashlib.sha256(data + b"tail").hexdigest()
            names.append({t.name for t in threading.enumerate() if t.name.startswith("eoharvest-write")})
    finally:
        pool.close()
    assert len(set.union(*names)) <= 2  # the same threads served every file


def test_a_write_error_on_the_worker_reaches_the_reading_thread(tmp_path):
    pool = WriterPool(max_workers=1)
    fd = os.open(tmp_path / "f", os.O_RDONLY | os.O_CREAT)  # writes fail with EBADF
    try:
        with pytest.raises(OSError):
            with BlockWriter(pool, fd, MultiHasher()) as out:
                out.hand_over(b"x" * 1000)
    finally:
        os.close(fd)
        pool.close()


def test_a_host_is_paused_after_consecutive_failures_within_the_window_only():
    clock = Clock()
    hosts = HostHealth(HostPausePolicy(failures=3, window=10.0, pause=30.0), monotonic=clock)
    url = "https://data.example.com:443/a.zip"
    for _ in range(2):
        assert hosts.failed(url) == 0
    clock.now += 11  # the third failure comes too late to count with the first
    assert hosts.failed(url) == 0 and hosts.paused_for(url) == 0
    hosts.succeeded(url)  # a success starts the count again
    hosts.failed(url), hosts.failed(url)
    assert hosts.failed(url) == 30.0
    assert hosts.paused_for(url) == 30.0
    assert hosts.paused_for("https://other.example.com/b.zip") == 0  # other hosts go on
    clock.now += 30
    assert hosts.paused_for(url) == 0


class Stopped:
    def __init__(self) -> None:
        self.value = False

    def __call__(self) -> bool:
        return self.value


def test_the_watcher_cuts_off_silence_at_the_stall_limit_and_a_trickle_at_the_window():
    silent = Watch(None, Stopped(), now=0.0, min_throughput=1000, window=10.0, stall_limit=3.0)  # type: ignore[arg-type]
    assert not silent.check(2.9)
    assert silent.check(3.0) and silent.reason and "no data" in silent.reason
    trickle = Watch(None, Stopped(), now=0.0, min_throughput=1000, window=10.0, stall_limit=3.0)  # type: ignore[arg-type]
    for t in range(1, 10):
        trickle.received += 100  # 100 B/s: progress, but under the floor
        assert not trickle.check(float(t))
    trickle.received += 100
    assert trickle.check(10.0) and trickle.reason and trickle.reason.startswith("too slow")
    fast = Watch(None, Stopped(), now=0.0, min_throughput=1000, window=10.0, stall_limit=3.0)  # type: ignore[arg-type]
    fast.received = 50_000
    assert not fast.check(10.0) and fast.reason is None


def test_the_watcher_reports_cancellation():
    stopped = Stopped()
    watch = Watch(None, stopped, now=0.0, min_throughput=1, window=10.0, stall_limit=3.0)  # type: ignore[arg-type]
    stopped.value = True
    assert watch.check(0.1) and watch.cancelled and watch.reason is None
