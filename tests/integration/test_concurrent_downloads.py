"""Downloads running at once share work instead of failing: the same file or product fetched by
two workers (threads here, processes in tests/e2e/test_concurrent_harvests.py) is fetched once,
and waiting for the other is not an error."""

from __future__ import annotations

import hashlib
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from eoharvest.adapters import flocks
from eoharvest.adapters.download_reconcile import reconcile_directory
from eoharvest.adapters.http import partfile
from eoharvest.adapters.http.guard import UrlGuard
from eoharvest.adapters.http.partfile import PartFile, Sidecar
from eoharvest.adapters.http.transfer import FetchSpec, TransferEngine, TransferLimits
from eoharvest.adapters.transfers import ProviderTransfers
from eoharvest.domain.errors import DownloadCancelled, TransferError
from eoharvest.domain.models import Checksum
from eoharvest.domain.retry import RetryPolicy
from faultserver.fixtures import fault_server, fault_server_factory  # noqa: F401


CLIENTS: list[httpx.Client] = []


@pytest.fixture(autouse=True)
def _close_clients():
    yield
    while CLIENTS:
        CLIENTS.pop().close()


def engine(**limits) -> TransferEngine:
    CLIENTS.append(client := httpx.Client(timeout=5.0))
    return TransferEngine(client, guard=UrlGuard(allow_private=True),
                          policy=RetryPolicy(max_attempts=3, base_delay=0.01), limits=TransferLimits(**limits))  # fmt: skip


def spec(server, name, outdir: Path) -> FetchSpec:
    return FetchSpec(server.url(name), outdir / name, size=len(server.content(name)),
                     checksums=(Checksum("sha256", server.expected_sha256(name), "harness"),))  # fmt: skip


def test_two_downloads_of_one_file_at_once_fetch_it_once_and_both_succeed(fault_server, tmp_path):
    fault_server.add_file("slow.bin", 150)
    fault_server.script("slow.bin", ["drip:interval=0.01,duration=10"])  # about 1.5 s: longer than any fixed wait
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(engine().fetch, spec(fault_server, "slow.bin", tmp_path))
        time.sleep(0.3)  # the first one holds the partial's lock
        second = pool.submit(engine().fetch, spec(fault_server, "slow.bin", tmp_path))
        outcomes = [first.result(timeout=30), second.result(timeout=30)]
    assert [o.skipped for o in outcomes] == [False, True]  # the second took the published file
    assert len(fault_server.requests_for("slow.bin")) == 1
    assert (tmp_path / "slow.bin").read_bytes() == fault_server.content("slow.bin")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["slow.bin"]  # nothing left behind


def test_waiting_for_another_process_ends_at_once_when_cancelled_and_fails_only_after_the_timeout(tmp_path):
    held = PartFile(tmp_path / "f.bin")
    held.lock()
    try:
        started = time.monotonic()
        with pytest.raises(DownloadCancelled, match="waiting for another process"):
            PartFile(tmp_path / "f.bin").lock(stopped=lambda: time.monotonic() - started > 0.3)
        assert time.monotonic() - started < 30  # cancelled, not the 6 h wait for the other process
        with pytest.raises(TransferError, match="still being downloaded by another eoharvest process after"):
            PartFile(tmp_path / "f.bin").lock(timeout=0.2)
    finally:
        held.unlock()


def test_a_lock_taken_on_a_part_file_that_was_published_meanwhile_is_taken_again(tmp_path, monkeypatch):
    """The holder renames its locked .part to the final name: a waiter that then gets the lock
    holds the final file's inode, which guards nothing; it must lock the new .part instead."""
    holder = PartFile(tmp_path / "f.bin")
    holder.lock()
    holder.part.write_bytes(b"complete")
    real_wait = flocks.wait_for_lock
    published = threading.Event()

    def publish_then_wait(fd, **kw):
        if not published.is_set():
            published.set()
            os.replace(holder.part, holder.final)  # published while we wait...
            holder.unlock()  # ...and released
        return real_wait(fd, **kw)

    monkeypatch.setattr(partfile, "wait_for_lock", publish_then_wait)
    waiter = PartFile(tmp_path / "f.bin")
    assert waiter.lock() is True
    try:
        locked = os.fstat(waiter._lock_fd)
        assert (locked.st_ino, locked.st_dev) == (waiter.part.stat().st_ino, waiter.part.stat().st_dev)
        assert locked.st_ino != holder.final.stat().st_ino
    finally:
        waiter.unlock()


def test_a_sidecar_being_written_survives_another_process_cleaning_the_folder(tmp_path, monkeypatch):
    """Each writer has its own temporary sidecar name, and a cleanup never removes the
    temporary sidecar of a partial someone holds (it used to: ENOENT on the rename)."""
    part = PartFile(tmp_path / "visual.bin")
    part.lock()
    real_replace = os.replace

    def replace_after_a_cleanup(src, dst):
        reconcile_directory(tmp_path)  # what another process's download does at that moment
        return real_replace(src, dst)

    monkeypatch.setattr(partfile.os, "replace", replace_after_a_cleanup)
    try:
        part.part.write_bytes(b"x" * 10)
        part.save_sidecar(Sidecar(url="http://127.0.0.1/visual.bin", expected_size=20))
        assert part.load_sidecar().expected_size == 20
    finally:
        monkeypatch.undo()
        part.unlock()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["visual.bin.part", "visual.bin.part.json"]


def test_half_written_sidecars_of_dead_writers_are_still_cleaned_up(tmp_path):
    (tmp_path / "a.bin.part").write_bytes(b"abc")
    (tmp_path / "a.bin.part.json").write_text("{}")
    (tmp_path / "a.bin.part.json.123-abcd1234.tmp").write_text("{")  # nobody holds a.bin.part
    (tmp_path / "b.bin.part.json.tmp").write_text("{")  # the old fixed name
    reconcile_directory(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin.part", "a.bin.part.json"]


def test_a_product_folder_is_held_by_one_worker_at_a_time_and_waiting_is_reported(tmp_path):
    transfers = ProviderTransfers(lambda provider: engine())
    folder = tmp_path / "S2B_PRODUCT"
    order: list[str] = []

    def second() -> bool:
        with transfers.hold_directory(str(folder), stopped=lambda: time.monotonic() > deadline) as other_waited:
            order.append("second")
            return other_waited

    deadline = time.monotonic() + 20
    with ThreadPoolExecutor(1) as pool:
        with transfers.hold_directory(str(folder)) as waited:
            assert waited is False
            result = pool.submit(second)
            time.sleep(0.3)
            order.append("first done")
        assert result.result(timeout=20) is True
    assert order == ["first done", "second"]
    assert not folder.exists()  # created for the fetch, left empty: removed again


def test_many_workers_on_one_file_fetch_it_once(fault_server, tmp_path):
    fault_server.add_file("shared.bin", 200)
    fault_server.script("shared.bin", ["drip:interval=0.003,duration=10"])  # about 0.6 s
    with ThreadPoolExecutor(6) as pool:
        outcomes = list(pool.map(lambda _: engine().fetch(spec(fault_server, "shared.bin", tmp_path)), range(6)))
    assert sum(not o.skipped for o in outcomes) == 1
    assert len(fault_server.requests_for("shared.bin")) == 1
    data = (tmp_path / "shared.bin").read_bytes()
    assert hashlib.sha256(data).hexdigest() == fault_server.expected_sha256("shared.bin")
