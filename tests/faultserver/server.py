"""``FaultServer``: a loopback HTTP server with deterministic files and injected faults."""
from __future__ import annotations

import collections
import ipaddress
import secrets
import threading
import time
import urllib.parse
from collections.abc import Iterable
from typing import Any

from faultserver import content
from faultserver.faults import Fault, FaultPlan
from faultserver.listener import Listener, make_listener
from faultserver.records import RequestLog, RequestRecord

STOP_SECONDS = 1.0


class FaultServer:
    """Serve ``/files/<name>`` with deterministic bodies and inject faults per response.

    Faults come first from per-path scripts (``script``), then from ``plan`` (GET on
    ``/files/*`` only).  ``pace`` slows every body down (seconds per 64 KiB block).  With ``require_auth``, files need ``Authorization: Bearer <t>``
    with a token from ``POST /token`` younger than ``token_ttl`` seconds.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *,
                 plan: FaultPlan | None = None, require_auth: bool = False,
                 token_ttl: float = 60.0, token_prefix: str = "CANARY-TOKEN",
                 redirect_to: str | None = None, name: str = "primary",
                 pace: float = 0.0) -> None:
        _require_loopback(host)
        self.host, self.name, self.plan = host, name, plan
        #: seconds to wait after each body block (64 KiB): a slow provider, per response
        self.pace = pace
        self.require_auth, self.token_ttl = require_auth, token_ttl
        self.token_prefix = token_prefix
        self.redirect_to = redirect_to
        self.files: dict[str, content.FileEntry] = {}
        self.log = RequestLog()
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._scripts: dict[str, collections.deque[Fault | str | None]] = {}
        self._attempts: collections.Counter[str] = collections.Counter()
        self._streaks: collections.Counter[str] = collections.Counter()
        self._tokens: dict[str, float] = {}
        self._started = False
        self._listeners: list[Listener] = [make_listener(host, port, self)]
        self.port: int = self._listeners[0].server_address[1]

    # -- lifecycle -------------------------------------------------------------------

    @property
    def origin(self) -> str:
        """``http://host:port`` of the primary address (IPv6 hosts bracketed)."""
        return self._listeners[0].origin

    base_url = origin

    @property
    def origins(self) -> list[str]:
        """Origins of the primary address and every ``alias``."""
        return [listener.origin for listener in self._listeners]

    def alias(self, host: str, port: int | None = None) -> str:
        """Also serve on another loopback ``host`` (default: the same port); return its origin.

        The alias shares files, faults and the log, so a redirect to it is a redirect to
        "the same server under another host name"; ``RequestRecord.origin`` tells them apart.
        """
        _require_loopback(host)
        listener = make_listener(host, self.port if port is None else port, self)
        self._listeners.append(listener)
        if self._started:
            listener.start()
        return listener.origin

    def start(self) -> FaultServer:
        """Serve in daemon threads; returns ``self``."""
        self._started = True
        for listener in self._listeners:
            listener.start()
        return self

    def stop(self) -> None:
        """Stop within ~1 s: wake stalls, close every open connection, join threads."""
        self.stopping.set()
        deadline = time.monotonic() + STOP_SECONDS
        for listener in self._listeners:
            listener.halt(STOP_SECONDS)
        for listener in self._listeners:
            threads, _ = listener.leftovers()
            for thread in threads:
                thread.join(max(0.0, deadline - time.monotonic()))
        for listener in self._listeners:
            for conn in listener.leftovers()[1]:
                conn.close()

    def wait_idle(self, timeout: float = 2.0) -> bool:
        """Wait until every logged request has been fully answered; False on timeout.

        A client can see the last byte before the handler thread updates its record.
        """
        deadline = time.monotonic() + timeout
        while any(r.completed is None for r in self.log):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.005)
        return True

    def __enter__(self) -> FaultServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- files -----------------------------------------------------------------------

    def add_file(self, name: str, size: int, version: int = 1) -> str:
        """Register ``/files/<name>`` of ``size`` bytes; returns its URL."""
        with self._lock:
            self.files[name] = content.FileEntry(name, size, version)
        return self.url(name)

    def path(self, name: str) -> str:
        """Request path of a file."""
        return "/files/" + urllib.parse.quote(name)

    def url(self, name: str) -> str:
        """Absolute URL of a file."""
        return self.origin + self.path(name)

    def bump_version(self, name: str) -> int:
        """Publish new content (and ETag) for ``name``; returns the new version."""
        with self._lock:
            entry = self.files[name]
            entry.version += 1
            return entry.version

    def etag(self, name: str) -> str:
        """Current strong ETag of ``name``."""
        return self.files[name].etag

    def content(self, name: str, start: int = 0, end: int | None = None) -> bytes:
        """Current bytes ``[start, end)`` of ``name`` (for small slices)."""
        entry = self.files[name]
        return content.read(name, entry.version, start, entry.size if end is None else end)

    def expected_sha256(self, name: str) -> str:
        """SHA-256 of the current version, computed from the generator (cached)."""
        return self.files[name].digests()[0]

    def expected_md5(self, name: str) -> str:
        """MD5 of the current version, computed from the generator (cached)."""
        return self.files[name].digests()[1]

    # -- faults ----------------------------------------------------------------------

    def script(self, name: str, specs: Iterable[Fault | str | None]) -> None:
        """Queue faults for the next requests to ``name`` (a file name or a ``/path``).

        Each request (any method) pops one entry; ``"ok"``/``None`` means an honest
        answer.  Scripts take precedence over the plan; an empty queue falls back to it.
        """
        path = name if name.startswith("/") else self.path(name)
        parsed = [Fault.parse(spec) for spec in specs]  # validate eagerly
        with self._lock:
            self._scripts.setdefault(path, collections.deque()).extend(parsed)

    def next_fault(self, path: str, method: str, ranged: bool) -> Fault | None:
        """Pick the fault for one request (called by the handler)."""
        with self._lock:
            queue = self._scripts.get(path)
            if queue:
                return Fault.parse(queue.popleft())
            if self.plan is None or method != "GET" or not path.startswith("/files/"):
                return None
            attempt = self._attempts[path]
            self._attempts[path] += 1
            fault = self.plan.draw(path, attempt, ranged, self._streaks[path])
            self._streaks[path] = self._streaks[path] + 1 if fault else 0
            return fault

    # -- tokens ----------------------------------------------------------------------

    def issue_token(self) -> str:
        """Mint a bearer token valid for ``token_ttl`` seconds from now."""
        token = f"{self.token_prefix}-{secrets.token_hex(8)}"
        with self._lock:
            self._tokens[token] = time.monotonic()
        self.log.count_token()
        return token

    def issue_token_response(self) -> dict[str, Any]:
        """OAuth-style JSON body for ``POST /token``."""
        return {"access_token": self.issue_token(), "token_type": "Bearer",
                "expires_in": self.token_ttl}

    def check_token(self, authorization: str | None) -> str:
        """Classify an Authorization header: ``ok``, ``missing``, ``unknown`` or ``expired``."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return "missing"
        with self._lock:
            issued = self._tokens.get(token.strip())
        if issued is None:
            return "unknown"
        return "expired" if time.monotonic() - issued > self.token_ttl else "ok"

    # -- observations ----------------------------------------------------------------

    def requests_for(self, name: str) -> list[RequestRecord]:
        """Records of requests to a file name (or a ``/path``), oldest first."""
        return self.log.for_path(name if name.startswith("/") else self.path(name))

    def canary_hits(self, secret: str, origin: str | None = None) -> int:
        """Requests (optionally: to one of ``origins``) carrying ``secret`` anywhere."""
        return self.log.canary_hits(secret, origin)

    def credential_requests(self) -> list[RequestRecord]:
        """Records of requests that carried any credential-like header."""
        return [r for r in self.log if r.credentials]

    def stats(self) -> dict[str, Any]:
        """Counts per fault kind, status and auth outcome (also served at ``/__stats``)."""
        return {"server": self.name, "origin": self.origin, **self.log.stats()}


def _require_loopback(host: str) -> None:
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"FaultServer binds to loopback only, not {host!r}")
