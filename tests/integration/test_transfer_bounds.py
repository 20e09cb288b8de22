"""Transfers are bounded: a body of unknown size cannot grow without limit, and free space is
checked while writing, not only before (loopback servers; a real small tmpfs where permitted)."""

from __future__ import annotations

import shutil
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from mounts import small_tmpfs

from eoharvest.adapters.http import transfer
from eoharvest.adapters.http.guard import UrlGuard
from eoharvest.adapters.http.transfer import FetchSpec, TransferEngine, TransferLimits
from eoharvest.domain.errors import InsufficientSpace, IntegrityError, ProviderResponseError, RetryExhausted
from eoharvest.domain.models import Checksum
from eoharvest.domain.retry import RetryPolicy

MiB = 1 << 20
BLOCK = bytes(range(256)) * 256  # 64 KiB
#: Safety net for the test machine: no response body ever exceeds this, whatever the client does.
SERVER_CAP = 96 * MiB


class EndlessServer:
    """Answers every GET with a body that never ends (up to ``SERVER_CAP``): chunked, or with a
    declared ``Content-Length`` it never honours. Counts the bytes it managed to send."""

    def __init__(self, *, etag: str | None = None, declared: int | None = None) -> None:
        self.etag, self.declared = etag, declared
        self.sent = 0
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                server.requests += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                if server.etag:
                    self.send_header("ETag", server.etag)
                chunked = server.declared is None
                if chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                else:
                    self.send_header("Content-Length", str(server.declared))
                self.end_headers()
                frame = (b"%x\r\n" % len(BLOCK) + BLOCK + b"\r\n") if chunked else BLOCK
                deadline = time.monotonic() + 20
                try:
                    while server.sent < SERVER_CAP and time.monotonic() < deadline:
                        self.wfile.write(frame)
                        server.sent += len(BLOCK)
                except OSError:
                    pass
                self.close_connection = True

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/endless.bin"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> EndlessServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


CLIENTS: list[httpx.Client] = []


@pytest.fixture(autouse=True)
def _close_clients():
    yield
    while CLIENTS:
        CLIENTS.pop().close()


def engine(**limits: int) -> TransferEngine:
    CLIENTS.append(client := httpx.Client(timeout=5.0))
    return TransferEngine(
        client, guard=UrlGuard(allow_private=True),
        policy=RetryPolicy(max_attempts=2, base_delay=0.01, max_delay=0.01), limits=TransferLimits(**limits),
    )  # fmt: skip


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("etag", [None, '"v1"'], ids=["no validator", "resumable by etag"])
def test_an_endless_body_without_a_declared_size_stops_at_the_bound_and_its_partial_is_removed(tmp_path, etag):
    with EndlessServer(etag=etag) as server:
        started = time.monotonic()
        with pytest.raises(ProviderResponseError) as caught:
            engine(max_unknown_size=4 * MiB).fetch(FetchSpec(server.url, tmp_path / "endless.bin"))
        assert time.monotonic() - started < 10
    message = str(caught.value)
    assert "more than the 4,194,304 bytes allowed" in message and "endless.bin" in message
    assert "max_unknown_size_bytes" in message and caught.value.exit_code == 4
    assert server.requests == 1  # a broken bound is not retried
    assert leftovers(tmp_path) == []  # neither a partial to resume nor a final file


def test_a_declared_length_above_the_bound_is_refused_before_the_body_is_read(tmp_path):
    with EndlessServer(declared=10 << 30) as server:
        with pytest.raises(ProviderResponseError, match="the server announces 10,737,418,240 bytes"):
            engine(max_unknown_size=4 * MiB).fetch(FetchSpec(server.url, tmp_path / "endless.bin"))
    assert leftovers(tmp_path) == []


def test_the_default_bound_is_finite_and_comes_from_the_download_settings():
    from eoharvest.application.settings import Settings
    from eoharvest.entrypoints.bootstrap import build

    settings = Settings()
    assert settings.download.max_unknown_size_bytes == 50 << 30
    with build(settings) as services:
        limits = services.transfer_engine("https://example.test/").limits
    assert (limits.max_unknown_size, limits.free_space_margin) == (50 << 30, 512 * MiB)


def test_an_unknown_size_download_stops_before_the_disk_is_full_and_drops_what_cannot_resume(tmp_path):  # T-07
    with small_tmpfs(tmp_path / "small", "20m") as disk, EndlessServer() as server:
        with pytest.raises(InsufficientSpace) as caught:
            engine(free_space_margin=4 * MiB).fetch(FetchSpec(server.url, disk / "endless.bin"))
        free = shutil.disk_usage(disk).free
        assert leftovers(disk) == []  # junk without a validator is never kept as "resumable"
    message = str(caught.value)
    assert "must stay free" in message and "disk full" not in message  # stopped before ENOSPC
    assert caught.value.exit_code == 7
    assert free > 16 * MiB  # the partial is gone again


def test_free_space_is_checked_while_writing_a_file_of_known_size(tmp_path, monkeypatch):
    """Another writer fills the disk after the pre-flight check: stop at the margin, keep the
    verifiable partial for resuming, and say how much was written."""
    size = 24 * MiB
    with EndlessServer(declared=size, etag='"v1"') as server:
        real = shutil.disk_usage
        calls = {"n": 0}

        def shrinking(path):
            calls["n"] += 1
            total, used, free = real(path)
            return shutil._ntuple_diskusage(total, used, 10**12 if calls["n"] <= 3 else 1 * MiB)

        monkeypatch.setattr(transfer.shutil, "disk_usage", shrinking)
        spec = FetchSpec(server.url, tmp_path / "big.bin", size=size,
                         checksums=(Checksum("sha256", "00" * 32, "test"),))  # fmt: skip
        with pytest.raises(InsufficientSpace) as caught:
            engine(free_space_margin=8 * MiB).fetch(spec)
    assert "must stay free" in str(caught.value) and server.requests == 1
    kept = (tmp_path / "big.bin.part").stat().st_size
    assert 0 < kept < size and f"({kept:,} bytes written)" in str(caught.value)
    assert not (tmp_path / "big.bin").exists()


def test_an_interrupted_resumed_transfer_reports_the_byte_it_stopped_at(tmp_path):
    body = bytes(range(256)) * 1000
    cuts = iter([30_000, 50_000])

    class Cut(httpx.SyncByteStream):
        def __init__(self, data: bytes) -> None:
            self.data = data

        def __iter__(self):
            yield self.data
            raise httpx.ReadError("connection reset by peer")

    def origin(request: httpx.Request) -> httpx.Response:
        start = int(request.headers.get("Range", "bytes=0-")[6:-1] or 0)
        end = next(cuts)
        headers = {"ETag": '"v1"', "Content-Length": str(len(body) - start)}
        if start:
            headers["Content-Range"] = f"bytes {start}-{len(body) - 1}/{len(body)}"
        return httpx.Response(206 if start else 200, headers=headers, stream=Cut(body[start:end]))

    CLIENTS.append(client := httpx.Client(transport=httpx.MockTransport(origin)))
    eng = TransferEngine(client, guard=UrlGuard(allow_private=True),
                         policy=RetryPolicy(max_attempts=2, base_delay=0.001, max_delay=0.001))  # fmt: skip
    with pytest.raises(RetryExhausted) as caught:
        eng.fetch(FetchSpec("http://127.0.0.1:1/f.bin", tmp_path / "f.bin", size=len(body)))
    assert (tmp_path / "f.bin.part").stat().st_size == 50_000
    assert "interrupted at byte 50,000" in str(caught.value)  # not the 20,000 of the last attempt
    assert "kept" in str(caught.value)


def test_a_chunked_body_longer_than_the_providers_size_is_cut_off_and_never_published(tmp_path):
    with EndlessServer() as server:  # chunked, no Content-Length: only the metadata gives the size
        spec = FetchSpec(server.url, tmp_path / "f.bin", size=2 * MiB)
        # The same overlong body twice: an integrity failure (exit 5), not retried further.
        with pytest.raises(IntegrityError, match="the server sent more than the 2,097,152 bytes expected"):
            engine().fetch(spec)
        assert server.requests == 2 and server.sent < SERVER_CAP
    assert leftovers(tmp_path) == []
