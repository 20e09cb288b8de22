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

from eoharvest.adapters.stac_api.sendfile import PATHSEND, SendfileH11Protocol  # noqa: E402

DATA = random.Random(5).randbytes(3 * 1024 * 1024 + 17)


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
        else:
            await FileResponse(path)(scope, receive, send)

    return app


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    path = tmp_path_factory.mktemp("sendfile") / "data.bin"
    path.write_bytes(DATA)
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
