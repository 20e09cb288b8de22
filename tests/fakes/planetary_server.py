"""A loopback Planetary Computer: recorded STAC answers (tests/corpus.py), the SAS token endpoint
issuing ``sig=CANARY-SIG-n`` tokens, and a blob host (its real name, resolved to 127.0.0.1 by the
``pc`` fixture's caller) that refuses unsigned links and, while ``refuse_first_token``, the first
token's links."""

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
