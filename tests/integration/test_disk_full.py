"""T-07: a full disk pauses the download with InsufficientSpace, fast and without retries."""

import shutil
import time

import httpx
import pytest

from eoharvest.adapters.http import partfile
from eoharvest.adapters.http.guard import UrlGuard
from eoharvest.adapters.http.transfer import FetchSpec, TransferEngine
from eoharvest.domain.errors import InsufficientSpace
from eoharvest.domain.models import Checksum
from eoharvest.domain.retry import RetryPolicy
from faultserver.fixtures import fault_server, fault_server_factory  # noqa: F401
from mounts import small_tmpfs


@pytest.fixture
def small_disk(tmp_path):
    """A real 1 MiB filesystem."""
    with small_tmpfs(tmp_path / "small", "1m") as mount_point:
        yield mount_point


def engine():
    client = httpx.Client(timeout=5.0)
    return TransferEngine(client, guard=UrlGuard(allow_private=True), policy=RetryPolicy(max_attempts=5, base_delay=0.01)), client


def spec(server, name, dest_dir):
    return FetchSpec(server.url(name), dest_dir / name, size=len(server.content(name)),
                     checksums=(Checksum("sha256", server.expected_sha256(name), "harness"),))


def test_a_download_larger_than_the_free_space_is_refused_before_any_request(fault_server, small_disk):
    fault_server.add_file("big.bin", 4 * 1024 * 1024)
    eng, client = engine()
    with client, pytest.raises(InsufficientSpace) as info:
        eng.fetch(spec(fault_server, "big.bin", small_disk))
    assert "not enough space" in str(info.value) and str(small_disk) in str(info.value)
    assert info.value.exit_code == 7
    assert fault_server.requests_for("big.bin") == []
    assert list(small_disk.iterdir()) == []


def test_running_out_of_space_mid_transfer_stops_at_once_and_keeps_the_partial(fault_server, small_disk, monkeypatch):
    fault_server.add_file("big.bin", 4 * 1024 * 1024)
    # The pre-flight check passes (as when another writer fills the disk meanwhile).
    monkeypatch.setattr(partfile.shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(10**12, 0, 10**12))
    eng, client = engine()
    started = time.monotonic()
    with client, pytest.raises(InsufficientSpace, match="disk full"):
        eng.fetch(spec(fault_server, "big.bin", small_disk))
    assert time.monotonic() - started < 15  # a hang guard: no waiting and no retries (counted below)
    assert len(fault_server.requests_for("big.bin")) == 1  # no retry storm
    assert not (small_disk / "big.bin").exists()
    assert (small_disk / "big.bin.part").stat().st_size > 0  # kept for resuming once space is freed
