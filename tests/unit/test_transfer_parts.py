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
from eoharvest.adapters.http.partfile import check_free_space
from eoharvest.domain.errors import InsufficientSpace


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


class _GatedHasher(MultiHasher):
    """Records which thread hashes; hashing the second block opens ``second_hashed``."""

    def __init__(self) -> None:
        super().__init__()
        self.threads: set[int] = set()
        self.blocks = 0
        self.second_hashed = threading.Event()

    def update(self, data) -> None:  # type: ignore[no-untyped-def]
        self.threads.add(threading.get_ident())
        super().update(data)
        self.blocks += 1
        if self.blocks == 2:
            self.second_hashed.set()


def test_hashing_runs_beside_writing_so_a_slow_write_does_not_hold_up_the_hash(tmp_path, monkeypatch):
    import eoharvest.adapters.http.blocks as blocks_module

    hasher = _GatedHasher()
    writer_threads: set[int] = set()
    real_write = os.write

    def write_after_the_second_block_was_hashed(fd, data):
        writer_threads.add(threading.get_ident())
        # With hashing and writing on one thread this would wait for ever (bounded here).
        assert hasher.second_hashed.wait(10), "the second block was not hashed while the first was written"
        return real_write(fd, data)

    monkeypatch.setattr(blocks_module.os, "write", write_after_the_second_block_was_hashed)
    pool = WriterPool()
    path = tmp_path / "f"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    try:
        with BlockWriter(pool, fd, hasher, block_size=64 << 10, depth=3) as out:
            for piece in (b"a" * 1000, b"b" * 1000, b"c" * 10):
                block = out.buffer()
                block[: len(piece)] = piece
                out.hand_over(block, len(piece), recycle=True)
    finally:
        os.close(fd)
        pool.close()
    assert path.read_bytes() == b"a" * 1000 + b"b" * 1000 + b"c" * 10
    assert hasher.hexdigests()["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert writer_threads and hasher.threads and not (writer_threads & hasher.threads)


def test_more_transfers_at_once_than_a_fixed_pool_would_hold_all_finish(tmp_path):
    # Each transfer needs two workers at once; a pool capped below that would deadlock.
    pool = WriterPool(max_workers=2)
    done: list[int] = []
    started = threading.Barrier(6, timeout=10)

    def transfer(n: int) -> None:
        fd = os.open(tmp_path / f"f{n}", os.O_WRONLY | os.O_CREAT)
        try:
            with BlockWriter(pool, fd, MultiHasher(), block_size=1 << 16, depth=1) as out:
                started.wait()  # all six hold their workers at the same time
                for _ in range(5):
                    block = out.buffer()
                    block[:] = bytes([n]) * len(block)
                    out.hand_over(block, len(block), recycle=True)
        finally:
            os.close(fd)
        done.append(n)

    threads = [threading.Thread(target=transfer, args=(n,), daemon=True) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    pool.close()
    assert sorted(done) == list(range(6))
    assert all((tmp_path / f"f{n}").read_bytes() == bytes([n]) * (5 << 16) for n in range(6))


def test_blocks_go_back_to_the_pool_and_the_next_transfer_reuses_them(tmp_path):
    from eoharvest.adapters.http.blocks import BLOCK_SIZE

    pool = WriterPool()
    seen: list[set[int]] = []
    try:
        for n in range(3):
            fd = os.open(tmp_path / f"f{n}", os.O_WRONLY | os.O_CREAT)
            ids = set()
            with BlockWriter(pool, fd, MultiHasher(), depth=2) as out:
                for _ in range(2):
                    block = out.buffer()
                    ids.add(id(block))
                    out.hand_over(block, 100, recycle=True)
            os.close(fd)
            seen.append(ids)
            assert (tmp_path / f"f{n}").stat().st_size == 200
    finally:
        pool.close()
    assert seen[1] <= seen[0] and seen[2] <= seen[0]  # no new BLOCK_SIZE allocations
    assert len(bytearray(BLOCK_SIZE)) == BLOCK_SIZE


class _RecordedRanges:
    def __init__(self, result: int = 0, errno_: int = 0) -> None:
        self.calls: list[tuple[int, int, int]] = []
        self.result, self.errno = result, errno_

    def __call__(self, fd: int, start: int, length: int, flags: int) -> int:
        self.calls.append((start, length, flags))
        if self.result:
            import ctypes

            ctypes.set_errno(self.errno)
        return self.result


def test_written_ranges_are_sent_to_the_disk_during_the_transfer_and_waited_for_a_window_behind(
    tmp_path, monkeypatch
):
    import eoharvest.adapters.http.writeback as writeback_module

    recorded = _RecordedRanges()
    dropped: list[tuple[int, int]] = []
    monkeypatch.setattr(writeback_module, "_sync_file_range", recorded)
    monkeypatch.setattr(writeback_module, "_fadvise", lambda fd, start, length, advice: dropped.append((start, length)))
    fd = os.open(tmp_path / "f", os.O_WRONLY | os.O_CREAT)
    try:
        wb = writeback_module.Writeback(fd, 1000, drop_behind=True, kick=1 << 20, lag=4 << 20)
        for _ in range(10):
            wb.written(1 << 20)
    finally:
        os.close(fd)
    started = [(s, n) for s, n, flags in recorded.calls if flags == 2]
    waited = [(s, n) for s, n, flags in recorded.calls if flags == 7]
    # Every written MiB is started at once, in order, from the resume offset on.
    assert started == [(1000 + i * (1 << 20), 1 << 20) for i in range(10)]
    # What lies more than the window behind is waited for (then dropped), and nothing nearer.
    assert waited and waited[0][0] == 1000
    assert sum(n for _, n in waited) == (10 << 20) - (4 << 20)
    assert dropped == waited


def test_writeback_turns_itself_off_where_unsupported_and_reports_a_real_io_error(tmp_path, monkeypatch):
    import errno

    import eoharvest.adapters.http.writeback as writeback_module

    unsupported = _RecordedRanges(-1, errno.EINVAL)
    monkeypatch.setattr(writeback_module, "_sync_file_range", unsupported)
    fd = os.open(tmp_path / "f", os.O_WRONLY | os.O_CREAT)
    try:
        wb = writeback_module.Writeback(fd, 0, drop_behind=False, kick=1, lag=1)
        wb.written(10)
        wb.written(10)
        assert len(unsupported.calls) == 1  # tried once, then plain buffered writes
        failing = _RecordedRanges(-1, errno.EIO)
        monkeypatch.setattr(writeback_module, "_sync_file_range", failing)
        wb = writeback_module.Writeback(fd, 0, drop_behind=False, kick=1, lag=1)
        with pytest.raises(OSError) as raised:
            wb.written(10)
        assert raised.value.errno == errno.EIO
    finally:
        os.close(fd)


def test_an_inline_block_writer_hashes_and_writes_in_the_calling_thread_and_raises_write_errors(tmp_path):
    pool = WriterPool()
    before = {t.ident for t in threading.enumerate()}
    path = tmp_path / "f"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT)
    hasher = MultiHasher()
    try:
        with BlockWriter(pool, fd, hasher, block_size=1 << 16, inline=True) as out:
            block = out.buffer()
            block[:5] = b"hello"
            out.hand_over(block, 5, recycle=True)
            assert out.flushed == 5  # written before hand_over returned
            out.hand_over(b" world")
    finally:
        os.close(fd)
    assert path.read_bytes() == b"hello world"
    assert hasher.hexdigests()["sha256"] == hashlib.sha256(b"hello world").hexdigest()
    assert {t.ident for t in threading.enumerate()} <= before  # no worker was started
    fd = os.open(tmp_path / "g", os.O_RDONLY | os.O_CREAT)  # writes fail with EBADF
    try:
        with pytest.raises(OSError):
            with BlockWriter(pool, fd, MultiHasher(), inline=True) as out:
                out.hand_over(b"x" * 1000)
    finally:
        os.close(fd)
        pool.close()


def test_the_free_space_check_creates_a_missing_folder_and_makes_no_mkdir_for_an_existing_one(tmp_path, monkeypatch):
    target = tmp_path / "a" / "b"
    check_free_space(target, 1, 0)
    assert target.is_dir()
    mkdirs = []
    real = os.mkdir
    monkeypatch.setattr(os, "mkdir", lambda *a, **k: mkdirs.append(a) or real(*a, **k))
    check_free_space(target, 1, 0)
    assert mkdirs == []
    with pytest.raises(InsufficientSpace):
        check_free_space(target, 1 << 62, 0)
