"""The fast paths of the transfer engine keep its guarantees (issue 20): a large body read
straight from the socket keeps every received byte when cut off and resumes; the sidecar is
written once per response; a file's catalog row turns `available` only after the directory of
its rename (and a folder it created) was fsynced; worker threads are reused across files."""

from __future__ import annotations

import hashlib
import os
import random
import threading
from pathlib import Path

import httpx
import pytest

import eoharvest.adapters.http.dirsync as dirsync_module
import eoharvest.adapters.http.partfile as partfile_module
from eoharvest.adapters.http.guard import UrlGuard
from eoharvest.adapters.http.rawbody import RAW_MIN_BYTES, REUSABLE_RAW_MIN_BYTES
from eoharvest.adapters.http.transfer import FetchSpec, TransferEngine, TransferLimits
from eoharvest.adapters.transfers import ProviderTransfers, SafeArchives
from eoharvest.application.scene_download import SceneDownloadService
from eoharvest.domain.errors import RetryExhausted
from eoharvest.domain.models import Checksum, DownloadDescriptor
from eoharvest.domain.retry import RetryPolicy
from fakes import InMemoryCatalog, make_scene
from faultserver.fixtures import fault_server, fault_server_factory  # noqa: F401

BIG = RAW_MIN_BYTES + (3 << 20) + 12345  # takes the direct socket path


def engine_for(attempts=3):
    client = httpx.Client(timeout=httpx.Timeout(10.0, connect=5.0), trust_env=False)
    engine = TransferEngine(client, guard=UrlGuard(allow_private=True),
                            policy=RetryPolicy(max_attempts=attempts, base_delay=0.01, max_delay=0.02),
                            limits=TransferLimits(), rng=random.Random(5))
    return engine, client


def spec_for(server, name, outdir: Path):
    return FetchSpec(server.url(name), outdir / name, size=len(server.content(name)),
                     checksums=(Checksum("sha256", server.expected_sha256(name), "test"),))


def test_a_large_body_read_from_the_socket_arrives_whole_and_verified(fault_server, tmp_path):
    fault_server.add_file("big.bin", BIG)
    engine, client = engine_for()
    with client:
        outcome = engine.fetch(spec_for(fault_server, "big.bin", tmp_path))
    assert outcome.received == BIG and outcome.verified_with == "sha256:test"
    assert hashlib.sha256((tmp_path / "big.bin").read_bytes()).hexdigest() == fault_server.expected_sha256("big.bin")


@pytest.mark.parametrize("fault", ["reset", "truncate"])
def test_a_large_body_cut_off_mid_block_keeps_every_byte_received_and_resumes(fault_server, tmp_path, fault):
    cut = RAW_MIN_BYTES + 1_000_003  # inside a block, not at its edge
    fault_server.add_file("big.bin", BIG)
    fault_server.script("big.bin", [f"{fault}@{cut}"])
    engine, client = engine_for(attempts=1)
    with client:
        with pytest.raises(RetryExhausted):
            engine.fetch(spec_for(fault_server, "big.bin", tmp_path))
        kept = (tmp_path / "big.bin.part").stat().st_size
        if fault == "truncate":
            assert kept == cut  # a clean close: everything sent was written
        else:
            assert kept > RAW_MIN_BYTES  # a reset may lose what sat in the kernel's buffers
        assert (tmp_path / "big.bin.part").read_bytes() == fault_server.content("big.bin")[:kept]
    engine2, client2 = engine_for()
    with client2:
        outcome = engine2.fetch(spec_for(fault_server, "big.bin", tmp_path))
    assert outcome.received == BIG - kept
    assert fault_server.requests_for("big.bin")[-1].header("Range") == f"bytes={kept}-"
    assert (tmp_path / "big.bin").read_bytes() == fault_server.content("big.bin")


def test_the_sidecar_is_written_once_per_download(fault_server, tmp_path, monkeypatch):
    fault_server.add_file("a.bin", 300_000)
    saved = []
    real = partfile_module.PartFile.save_sidecar

    def counting(self, sidecar):
        saved.append(sidecar.etag)
        real(self, sidecar)

    monkeypatch.setattr(partfile_module.PartFile, "save_sidecar", counting)
    engine, client = engine_for()
    with client:
        engine.fetch(spec_for(fault_server, "a.bin", tmp_path))
    assert len(saved) == 1 and saved[0]  # once, with the validator the resume needs
    assert not list(tmp_path.glob("*.json"))


def test_a_row_is_available_only_after_the_directory_fsyncs_of_its_rename(fault_server, tmp_path, monkeypatch):
    events: list[tuple[str, str]] = []
    real_fsync_dir = dirsync_module.fsync_dir

    def recording_fsync_dir(directory):
        real_fsync_dir(directory)
        events.append(("fsync", str(directory)))

    monkeypatch.setattr(dirsync_module, "fsync_dir", recording_fsync_dir)
    monkeypatch.setattr(partfile_module, "fsync_dir", recording_fsync_dir)
    catalog = InMemoryCatalog()
    real_state = catalog.set_file_state

    def recording_state(file_id, state, **kw):
        events.append((state, ""))
        return real_state(file_id, state, **kw)

    monkeypatch.setattr(catalog, "set_file_state", recording_state)
    names = [f"f{i}.bin" for i in range(6)]
    for name in names:
        fault_server.add_file(name, 100_000)
    engine, client = engine_for()
    service = SceneDownloadService(ProviderTransfers(lambda provider: engine), SafeArchives(), lambda: catalog)
    outdir = tmp_path / "archive"
    outdir.mkdir()

    def download(name):
        scene = make_scene(name[:-4], provider="test", product_key=f"P-{name[:-4]}")
        descriptor = DownloadDescriptor(fault_server.url(name), name, size=100_000,
                                        checksums=(Checksum("sha256", fault_server.expected_sha256(name), "t"),))
        service.fetch(scene, [descriptor], str(outdir))

    with client:
        threads = [threading.Thread(target=download, args=(n,)) for n in names]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    for name in names:
        product = outdir / f"P-{name[:-4]}"
        assert (product / name).read_bytes() == fault_server.content(name)
    available_at = [i for i, (what, _) in enumerate(events) if what == "available"]
    assert len(available_at) == len(names)
    product_syncs = [i for i, (what, where) in enumerate(events) if what == "fsync" and "P-" in where]
    archive_syncs = [i for i, (what, where) in enumerate(events) if what == "fsync" and where == str(outdir)]
    # Each row waits for an fsync of its product folder and one of the folder holding it (the
    # product folders were created by these downloads); the latter are shared between files.
    assert len(product_syncs) == len(names)
    assert sorted(available_at)[0] > min(product_syncs) and sorted(available_at)[0] > min(archive_syncs)
    assert 1 <= len(archive_syncs) <= len(names)


def test_worker_threads_are_reused_across_files(fault_server, tmp_path):
    names = [f"t{i}.bin" for i in range(12)]
    for name in names:
        fault_server.add_file(name, 200_000)
    before = {t.ident for t in threading.enumerate()}
    seen: set[int | None] = set()
    engine, client = engine_for()
    with client:
        for name in names:
            engine.fetch(spec_for(fault_server, name, tmp_path))
            seen |= {t.ident for t in threading.enumerate() if t.name.startswith("eoharvest")} - before
    # the monitor, one thread hashing and one writing
    assert len(seen) <= 3, sorted(t.name for t in threading.enumerate())
    engine.writers.close()


def test_a_disk_error_while_writing_a_large_body_is_raised_not_swallowed(fault_server, tmp_path, monkeypatch):
    import eoharvest.adapters.http.blocks as blocks_module

    fault_server.add_file("big.bin", BIG)
    calls = {"n": 0}
    real_write = os.write

    def failing_write(fd, data):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(5, "Input/output error")
        return real_write(fd, data)

    monkeypatch.setattr(blocks_module.os, "write", failing_write)
    engine, client = engine_for(attempts=1)
    with client, pytest.raises(OSError, match="Input/output error"):
        engine.fetch(spec_for(fault_server, "big.bin", tmp_path))
    assert not (tmp_path / "big.bin").exists()


def _counting_connections(monkeypatch) -> list[tuple[str, int]]:
    """Every TCP connection the client opens (httpcore's sync backend uses create_connection)."""
    import socket

    opened: list[tuple[str, int]] = []
    real = socket.create_connection

    def counting(address, *args, **kwargs):
        opened.append(address)
        return real(address, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", counting)
    return opened


@pytest.mark.parametrize("size", [REUSABLE_RAW_MIN_BYTES + 54321, BIG])
def test_bodies_read_from_the_socket_leave_the_connection_open_for_the_next_file(
    fault_server, tmp_path, monkeypatch, size
):
    names = [f"r{i}.bin" for i in range(3)]
    for name in names:
        fault_server.add_file(name, size)
    opened = _counting_connections(monkeypatch)
    engine, client = engine_for()
    with client:
        for name in names:
            outcome = engine.fetch(spec_for(fault_server, name, tmp_path))
            assert outcome.verified_with == "sha256:test"
            assert (tmp_path / name).read_bytes() == fault_server.content(name)
    engine.writers.close()
    assert len(opened) == 1  # one connection carried all three files


def test_without_a_known_http_layering_a_large_body_still_arrives_and_its_connection_is_not_reused(
    fault_server, tmp_path, monkeypatch
):
    import eoharvest.adapters.http.rawbody as rawbody_module

    monkeypatch.setattr(rawbody_module, "_h11_state", lambda response: None)
    fault_server.add_file("small.bin", REUSABLE_RAW_MIN_BYTES + 1)  # through httpx, as before
    fault_server.add_file("a.bin", BIG)
    fault_server.add_file("b.bin", BIG)
    opened = _counting_connections(monkeypatch)
    engine, client = engine_for()
    with client:
        for name in ("small.bin", "a.bin", "b.bin"):
            engine.fetch(spec_for(fault_server, name, tmp_path))
            assert (tmp_path / name).read_bytes() == fault_server.content(name)
    engine.writers.close()
    assert len(opened) == 2  # a.bin's connection (h11 never saw its body) was closed


def test_a_small_body_read_from_the_socket_and_cut_off_resumes_on_a_new_connection(fault_server, tmp_path):
    size = REUSABLE_RAW_MIN_BYTES + (1 << 20)
    cut = REUSABLE_RAW_MIN_BYTES + 4321
    fault_server.add_file("s.bin", size)
    fault_server.add_file("next.bin", size)
    fault_server.script("s.bin", [f"truncate@{cut}"])
    engine, client = engine_for(attempts=2)
    with client:
        outcome = engine.fetch(spec_for(fault_server, "s.bin", tmp_path))
        assert outcome.resumes == 1 and outcome.received == size
        engine.fetch(spec_for(fault_server, "next.bin", tmp_path))  # the pool holds no broken connection
    engine.writers.close()
    assert fault_server.requests_for("s.bin")[-1].header("Range") == f"bytes={cut}-"
    assert (tmp_path / "s.bin").read_bytes() == fault_server.content("s.bin")
    assert (tmp_path / "next.bin").read_bytes() == fault_server.content("next.bin")


def test_a_resumed_body_is_sent_to_the_disk_from_its_offset_during_the_transfer_and_then_dropped(
    fault_server, tmp_path, monkeypatch
):
    import eoharvest.adapters.http.partfile as partfile_module
    import eoharvest.adapters.http.writeback as writeback_module

    cut = RAW_MIN_BYTES + 1_000_003
    fault_server.add_file("big.bin", BIG)
    fault_server.script("big.bin", [f"truncate@{cut}"])
    engine, client = engine_for(attempts=1)
    with client, pytest.raises(RetryExhausted):
        engine.fetch(spec_for(fault_server, "big.bin", tmp_path))
    kept = (tmp_path / "big.bin.part").stat().st_size
    started: list[tuple[int, int]] = []
    real = writeback_module._sync_file_range

    def recording(fd, start, length, flags):
        if flags == 2:
            started.append((start, length))
        return real(fd, start, length, flags) if real is not None else 0

    advised: list[tuple[int, int, int]] = []
    monkeypatch.setattr(writeback_module, "_sync_file_range", recording)
    monkeypatch.setattr(partfile_module.os, "posix_fadvise", lambda fd, start, length, advice: advised.append((start, length, advice)), raising=False)
    engine2, client2 = engine_for()
    with client2:
        engine2.fetch(spec_for(fault_server, "big.bin", tmp_path))
    engine2.writers.close()
    assert (tmp_path / "big.bin").read_bytes() == fault_server.content("big.bin")
    # Ranges follow the resumed bytes from the partial's end, in order, while the body arrives.
    assert started and started[0][0] == kept
    assert all(a[0] + a[1] == b[0] for a, b in zip(started, started[1:]))
    assert started[-1][0] + started[-1][1] > BIG - (8 << 20)
    # Not an archive, so nobody reads it back at once: its clean pages leave the cache.
    assert advised == [(0, 0, os.POSIX_FADV_DONTNEED)]


def test_a_partial_another_process_creates_right_after_our_publish_is_left_alone(fault_server, tmp_path, monkeypatch):
    # Once our rename took the partial, a new <name>.part can only be another process's (its
    # own inode, its own lock): the finished fetch neither stats nor removes it.
    fault_server.add_file("a.bin", 300_000)
    real = partfile_module.PartFile.discard_sidecar

    def discard_then_another_process_starts(self):
        real(self)
        self.part.write_bytes(b"")  # another process's fresh, still empty partial

    monkeypatch.setattr(partfile_module.PartFile, "discard_sidecar", discard_then_another_process_starts)
    engine, client = engine_for()
    with client:
        engine.fetch(spec_for(fault_server, "a.bin", tmp_path))
    assert (tmp_path / "a.bin").read_bytes() == fault_server.content("a.bin")
    assert (tmp_path / "a.bin.part").exists()


def test_a_published_download_makes_no_cleanup_calls(fault_server, tmp_path, monkeypatch):
    fault_server.add_file("a.bin", 300_000)
    unlinked: list[str] = []
    real_unlink = Path.unlink
    monkeypatch.setattr(Path, "unlink", lambda self, *a, **k: unlinked.append(self.name) or real_unlink(self, *a, **k))
    engine, client = engine_for()
    with client:
        engine.fetch(spec_for(fault_server, "a.bin", tmp_path))
    assert unlinked == ["a.bin.part.json"]  # the sidecar, removed by publish; nothing else tried
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.bin"]
