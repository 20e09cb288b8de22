"""The uvicorn protocol of `eoharvest serve` offers ASGI ``http.response.pathsend`` and sends
the file with sendfile(2): bytes exact, keep-alive intact, ranges/HEAD unchanged, and never other
bytes than the Content-Length announced. A real uvicorn on a loopback port, in a thread."""

from __future__ import annotations

import os
import random
import threading
import time

import httpx
import pytest

uvicorn = pytest.importorskip("uvicorn")
from starlette.responses import FileResponse, JSONResponse  # noqa: E402

from eoharvest.adapters.stac_api import sendfile  # noqa: E402
from eoharvest.adapters.stac_api.sendfile import PATHSEND, SendfileH11Protocol  # noqa: E402

DATA = random.Random(5).randbytes(3 * 1024 * 1024 + 17)


BIG = 48 * 1024 * 1024  # more than a loopback socket's buffers hold


def make_app(path):
    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        if scope["path"] == "/extensions":
            await JSONResponse(sorted(scope.get("extensions", {})))(scope, receive, send)
        elif scope["path"] == "/lying":  # announces more than the file holds
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-length", str(len(DATA) + 10).encode())]})  # fmt: skip
            await send({"type": PATHSEND, "path": str(path)})
        elif scope["path"] == "/big":
            await FileResponse(path.with_name("big.bin"))(scope, receive, send)
        else:
            await FileResponse(path)(scope, receive, send)

    return app


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    path = tmp_path_factory.mktemp("sendfile") / "data.bin"
    path.write_bytes(DATA)
    with open(path.with_name("big.bin"), "wb") as big:
        big.truncate(BIG)
    config = uvicorn.Config(make_app(path), host="127.0.0.1", port=0, log_config=None, access_log=False,
                            http=SendfileH11Protocol, lifespan="off")  # fmt: skip
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not instance.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert instance.started, "uvicorn did not start"
    port = instance.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        instance.should_exit = True
        thread.join(10)


def test_the_pathsend_extension_is_offered(server):
    assert PATHSEND in httpx.get(f"{server}/extensions").json()


def test_a_whole_file_goes_out_by_sendfile_byte_exact_and_the_connection_stays_usable(server, monkeypatch):
    calls = []
    real = os.sendfile

    def counting(*args):
        calls.append(args[3])
        return real(*args)

    monkeypatch.setattr(os, "sendfile", counting)  # asyncio's native sendfile calls os.sendfile
    with httpx.Client() as client:
        for _ in range(3):  # one keep-alive connection: h11's state is consistent after each
            answer = client.get(f"{server}/file")
            assert answer.status_code == 200 and answer.content == DATA
        ranged = client.get(f"{server}/file", headers={"Range": "bytes=100-199"})
        assert ranged.status_code == 206 and ranged.content == DATA[100:200]
        head = client.head(f"{server}/file")
        assert head.status_code == 200 and head.content == b"" and head.headers["content-length"] == str(len(DATA))
        assert client.get(f"{server}/file").content == DATA
    assert calls, "the body did not go through sendfile(2)"


def test_a_file_that_no_longer_matches_the_announced_length_ends_the_connection_without_a_body(server):
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(f"{server}/lying")
    assert httpx.get(f"{server}/file").content == DATA  # the server carries on


def test_a_send_that_is_not_uvicorns_cycle_gets_the_file_in_chunks(tmp_path):
    import asyncio

    from eoharvest.adapters.stac_api.sendfile import _send_path

    path = tmp_path / "data.bin"
    path.write_bytes(DATA)
    sent = []

    async def send(message):
        sent.append(message)

    asyncio.run(_send_path(send, str(path), len(DATA), False))
    assert b"".join(m["body"] for m in sent) == DATA and sent[-1]["more_body"] is False


@pytest.mark.parametrize("threads", [sendfile.MAX_THREADS, 0])
def test_many_whole_files_at_once_arrive_exact_from_threads_and_from_the_event_loop(server, monkeypatch, threads):
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr(sendfile, "MAX_THREADS", threads)  # 0: every file by loop.sendfile
    with ThreadPoolExecutor(24) as pool:
        answers = list(pool.map(lambda _: httpx.get(f"{server}/file", timeout=60), range(24)))
    assert all(a.status_code == 200 and a.content == DATA for a in answers)
    assert sendfile._threads == 0


def test_a_client_that_stops_reading_is_dropped_after_the_stall_time_and_the_server_carries_on(server, monkeypatch):
    import socket

    monkeypatch.setattr(sendfile, "STALL_SECONDS", 1.0)
    host, port = server.split("//")[1].split(":")
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect((host, int(port)))
        sock.sendall(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
        deadline = time.monotonic() + 20
        while sendfile._threads == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        while sendfile._threads and time.monotonic() < deadline:  # stalled: dropped after ~1 s
            time.sleep(0.1)
        assert sendfile._threads == 0
        sock.settimeout(10)
        received = 0
        while chunk := sock.recv(1 << 20):
            received += len(chunk)
        assert received < BIG  # the connection ended before the whole body
    assert httpx.get(f"{server}/file").content == DATA
