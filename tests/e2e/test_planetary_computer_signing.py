"""Planetary Computer end to end on loopback: recorded search answers, the SAS token endpoint, and a
blob host (its real name, resolved to 127.0.0.1 in-process) that refuses unsigned or stale links."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from corpus import load
from eoharvest import StacAPI, download_all
from eoharvest.entrypoints.config import load_settings

PC = "https://planetarycomputer.microsoft.com/api/stac/v1"
BLOB_HOST = "sentinel2l2a01.blob.core.windows.net"


class FakePlanetaryComputer:
    def __init__(self) -> None:
        self.tokens_issued = 0
        self.blob_requests: list[str] = []
        self.refuse_first_token = True
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, status, body, ctype="application/json"):
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):  # noqa: N802
                parts = urlsplit(self.path)
                host = (self.headers.get("Host") or "").split(":")[0]
                if host == BLOB_HOST:
                    fake.blob_requests.append(self.path)
                    sig = parse_qs(parts.query).get("sig", [""])[0]
                    if not sig or (fake.refuse_first_token and sig == "CANARY-SIG-1"):
                        return self._send(403, b"<Error><Code>AuthenticationFailed</Code></Error>", "application/xml")
                    return self._send(200, fake.blob_bytes(parts.path), "image/tiff")
                if parts.path.startswith("/api/sas/v1/token/"):
                    fake.tokens_issued += 1
                    expiry = (datetime.now(timezone.utc) + timedelta(minutes=45)).isoformat()
                    token = f"st=x&se=y&sp=rl&sig=CANARY-SIG-{fake.tokens_issued}"
                    return self._send(200, json.dumps({"msft:expiry": expiry, "token": token}).encode())
                if parts.path.rstrip("/") == "/api/stac/v1":
                    return self._send(200, fake.rewrite(load("stac_planetary_computer", "01_landing.json")))
                self._send(404, b'{"code": "NotFoundError"}')

            def do_POST(self):  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                page = load("stac_planetary_computer", "05_search_sentinel2_l2a_datetime.json")
                page["features"] = page["features"][:1]
                self._send(200, fake.rewrite(page))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def rewrite(self, doc) -> bytes:
        text = json.dumps(doc).replace("https://planetarycomputer.microsoft.com", self.base)
        return text.replace(f"https://{BLOB_HOST}", f"http://{BLOB_HOST}:{self.port}").encode()

    @staticmethod
    def blob_bytes(path: str) -> bytes:
        return hashlib.sha256(path.encode()).digest() * 512

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def pc(monkeypatch):
    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):  # the blob host's real name, served on loopback
        return real("127.0.0.1" if host == BLOB_HOST else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    with FakePlanetaryComputer() as fake:
        yield fake


def test_assets_are_signed_a_refused_token_is_replaced_and_no_token_reaches_the_disk(pc, tmp_path):
    settings = load_settings(
        {"planetary_computer_sas_url": f"{pc.base}/api/sas/v1", "catalog_path": tmp_path / "c.db"}, environ={}
    )
    with StacAPI(f"{pc.base}/api/stac/v1", name="planetary-computer", settings=settings) as api:
        scenes = list(api.scenes(platformname="Sentinel-2", start_date="2019-01-01", end_date="2019-01-02"))
        assert scenes[0].product_key == "S2A_MSIL2A_20190101T000001_N0212_R116_T60VUK_20201007T214652"
        results, failures = download_all(scenes, str(tmp_path / "archive"), assets=["B04"])
    assert failures == []
    (path,) = results[0].out_files
    served = urlsplit(pc.blob_requests[-1]).path
    with open(path, "rb") as f:
        assert f.read() == pc.blob_bytes(served)
    assert pc.tokens_issued == 2  # the first token was refused (403), the link was signed again once
    queries = [parse_qs(urlsplit(p).query).get("sig") for p in pc.blob_requests]
    assert queries == [["CANARY-SIG-1"], ["CANARY-SIG-2"]]
    for leftover in tmp_path.rglob("*"):
        if leftover.is_file() and leftover.suffix in (".json", ".db"):
            assert b"CANARY-SIG" not in leftover.read_bytes()
