"""Request handler: routes ``/files/*``, ``/token`` and ``/__stats``, and applies faults."""
from __future__ import annotations

import json
import math
import socket
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from faultserver import content
from faultserver.faults import Fault
from faultserver.ranges import Selection, http_date, select
from faultserver.records import RequestRecord
from faultserver.sending import send_body

if TYPE_CHECKING:
    from faultserver.server import FaultServer

LOGIN_PAGE = (
    b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>"
    b"<form method='post' action='/login'><input name='username'>"
    b"<input type='password' name='password'><button>Sign in</button></form></body></html>"
)
MAX_BODY = 1 << 20


class FaultHandler(BaseHTTPRequestHandler):
    """One connection; HTTP/1.1 keep-alive unless a fault closes it."""

    protocol_version = "HTTP/1.1"
    #: Idle keep-alive connections are dropped after this many seconds.
    timeout = 10
    record: RequestRecord | None = None

    @property
    def owner(self) -> FaultServer:
        """The ``FaultServer`` this handler serves for."""
        return self.server.owner  # type: ignore[attr-defined]

    def setup(self) -> None:
        super().setup()
        # Without this, Nagle's algorithm would batch a drip's single bytes.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Silence the default stderr access log; the request log records everything."""

    def send_response(self, code: int, message: str | None = None) -> None:
        if self.record is not None:
            self.record.status = code
        super().send_response(code, message)

    def send_header(self, keyword: str, value: str) -> None:
        if self.record is not None:
            self.record.response_headers[keyword] = value
        super().send_header(keyword, value)

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self._serve()

    do_HEAD = do_POST = do_PUT = do_DELETE = do_GET  # noqa: N815

    def _serve(self) -> None:
        self.record = None
        body = self._read_body()
        path = urllib.parse.urlsplit(self.path).path
        if path == "/__stats":
            self._answer(200, json.dumps(self.owner.stats()).encode(), "application/json")
            return
        self.record = record = RequestRecord(
            server=self.owner.name, origin=self.server.origin, method=self.command,
            target=self.path, path=path,
            headers=list(self.headers.items()), received=time.monotonic(), wall=time.time(),
            body=body,
        )
        self.owner.log.append(record)
        try:
            self._route(path)
        except OSError:  # the client went away, or a fault closed the socket under us
            record.aborted = True
            self.close_connection = True
        finally:
            record.completed = time.monotonic()

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            self.close_connection = True  # the unread rest would desynchronise keep-alive
        return self.rfile.read(min(length, MAX_BODY)) if length > 0 else b""

    def _route(self, path: str) -> None:
        ranged = self.command == "GET" and "Range" in self.headers
        if path == "/token" and self.command == "POST":
            fault = self._draw(path, ranged=False)
            if fault is None or not self._answer_fault(fault):
                self._answer(200, json.dumps(self.owner.issue_token_response()).encode(),
                             "application/json")
            return
        name = urllib.parse.unquote(path[len("/files/"):]) if path.startswith("/files/") else ""
        entry = self.owner.files.get(name)
        if entry is None:
            self._answer(404, b"not found", "text/plain")
            return
        fault = self._draw(path, ranged)
        if fault is not None and fault.kind == "etag_change":
            self.owner.bump_version(name)
            self._applied(fault)
            fault = None
        if self.owner.require_auth and not self._authorized():
            return
        if fault is not None and self._answer_fault(fault):
            return
        self._serve_file(entry, fault)

    def _draw(self, path: str, ranged: bool) -> Fault | None:
        fault = self.owner.next_fault(path, self.command, ranged)
        if fault is not None and self.record is not None:
            self.record.fault_drawn = fault.kind
        return fault

    def _applied(self, fault: Fault) -> None:
        if self.record is not None:
            self.record.fault = fault.kind

    def _authorized(self) -> bool:
        outcome = self.owner.check_token(self.headers.get("Authorization"))
        assert self.record is not None
        self.record.auth = outcome
        if outcome == "ok":
            return True
        self._answer(401, b'{"error": "invalid_token"}', "application/json",
                     {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return False

    def _answer_fault(self, fault: Fault) -> bool:
        """Send a whole-answer fault (429, 503, HTML, JSON, redirect, 401); False if none."""
        kind = fault.kind
        if kind in ("r429", "r503"):
            seconds = fault.param("retry_after")
            if fault.param("form") == "date":
                value = http_date(math.ceil(time.time()) + math.ceil(seconds))
            else:
                value = str(seconds)
            status = 429 if kind == "r429" else 503
            self._answer(status, b"try again later", "text/plain", {"Retry-After": value})
        elif kind == "html200":
            self._answer(200, LOGIN_PAGE, "text/html; charset=utf-8")
        elif kind == "json_not_ready":
            self._answer(200, b'{"status": "not ready"}', "application/json")
        elif kind == "auth_expire":
            self._answer(401, b'{"error": "token expired"}', "application/json",
                         {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        elif kind == "redirect":
            location = fault.params.get("location")  # exact, e.g. file:// or a metadata IP
            if location is None:
                target = fault.params.get("to") or self.owner.redirect_to
                if not target:
                    raise RuntimeError("redirect fault without a target: set redirect_to")
                location = target.rstrip("/") + self.path
            self._answer(int(fault.param("status")), b"", "text/plain", {"Location": location})
        else:
            return False
        self._applied(fault)
        return True

    def _answer(self, status: int, body: bytes, ctype: str,
                headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
            if self.record is not None:
                self.record.bytes_sent += len(body)

    def _serve_file(self, entry: content.FileEntry, fault: Fault | None) -> None:
        size, version = entry.size, entry.version  # read once: etag_change may bump it
        etag, modified = entry.etag_for(version), entry.last_modified_for(version)
        range_header = self.headers.get("Range") if self.command == "GET" else None
        sel = select(range_header, self.headers.get("If-Range"), size, etag, modified)
        headers = {"ETag": etag, "Last-Modified": http_date(modified), "Accept-Ranges": "bytes"}
        if sel.status == 416:
            headers["Content-Range"] = f"bytes */{size}"
            self._answer(416, b"", "text/plain", headers)
            return
        shift = 0  # silent_offset: bytes come from elsewhere, headers stay honest
        kind = fault.kind if fault else None
        if kind == "ignore_range" and sel.status == 206:
            sel = Selection(200, 0, size)
            self._applied(fault)
        elif kind == "bad_offset" and sel.status == 206 and size > 1:
            lie = (sel.start + _shift(fault, size)) % size
            sel = Selection(206, lie, min(size, lie + sel.end - sel.start))
            self._applied(fault)
        elif kind == "silent_offset" and sel.status == 206 and size > 1:
            shift = _shift(fault, size)
            self._applied(fault)
        elif kind == "short_body" and sel.end > sel.start:
            sel = Selection(sel.status, sel.start, sel.end - 1)
            self._applied(fault)
        length = sel.end - sel.start
        if sel.status == 206:
            headers["Content-Range"] = f"bytes {sel.start}-{sel.end - 1}/{size}"
        self.send_response(sel.status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(length))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command == "HEAD":
            return
        pieces = content.iter_rotated(entry.name, version, size, sel.start + shift, length)
        body_fault = fault if kind in ("reset", "truncate", "stall", "drip") else None
        if body_fault is not None:
            self._applied(body_fault)
        send_body(self, pieces, length, body_fault)


def _shift(fault: Fault, size: int) -> int:
    """Non-zero shift (mod ``size``) for offset lies: explicit ``@offset`` or drawn."""
    if fault.offset:
        return fault.offset % size or 1
    return 1 + int(fault.fraction * min(size - 1, 1 << 20)) % (size - 1)
