"""Thread-safe record of every request a fault server saw and what it answered."""
from __future__ import annotations

import threading
import urllib.parse
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

#: Header names treated as credentials (lower case); any name containing one of
#: ``CREDENTIAL_MARKERS`` counts too, so ``X-Api-Key`` or ``X-Auth-Token`` are caught.
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
CREDENTIAL_MARKERS = ("api-key", "apikey", "auth", "token")


def is_credential_header(name: str) -> bool:
    """Return True for headers that carry a secret (Authorization, Cookie, API keys...)."""
    lowered = name.lower()
    return lowered in CREDENTIAL_HEADERS or any(m in lowered for m in CREDENTIAL_MARKERS)


@dataclass
class RequestRecord:
    """One request and its answer.  Mutated only by the handler thread serving it."""

    server: str
    origin: str
    method: str
    target: str
    path: str
    headers: list[tuple[str, str]]
    received: float
    wall: float
    body: bytes = b""
    status: int | None = None
    fault: str | None = None
    fault_drawn: str | None = None
    auth: str | None = None
    bytes_sent: int = 0
    completed: float | None = None
    aborted: bool = False
    response_headers: dict[str, str] = field(default_factory=dict)

    def header(self, name: str) -> str | None:
        """Return the first value of header ``name`` (case-insensitive), if present."""
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), None)

    @property
    def range(self) -> str | None:
        """The raw ``Range`` header."""
        return self.header("Range")

    @property
    def if_range(self) -> str | None:
        """The raw ``If-Range`` header."""
        return self.header("If-Range")

    @property
    def credentials(self) -> dict[str, str]:
        """Credential-bearing headers of this request, by their original name."""
        return {k: v for k, v in self.headers if is_credential_header(k)}

    def carries(self, secret: str) -> bool:
        """True if ``secret`` appears in any header, the URL (raw or decoded) or the body."""
        haystacks = [self.target, urllib.parse.unquote_plus(self.target)]
        haystacks += [f"{k}: {v}" for k, v in self.headers]
        if secret in "\n".join(haystacks):
            return True
        return secret.encode() in self.body or secret in urllib.parse.unquote_plus(
            self.body.decode("latin-1")
        )


class RequestLog:
    """Append-only list of ``RequestRecord`` guarded by a lock."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []
        self.tokens_issued = 0

    def append(self, record: RequestRecord) -> None:
        """Add a record (called when the request arrives, before it is answered)."""
        with self._lock:
            self._records.append(record)

    def count_token(self) -> None:
        """Count one token issued by ``POST /token``."""
        with self._lock:
            self.tokens_issued += 1

    def snapshot(self) -> list[RequestRecord]:
        """Return a copy of the record list, oldest first."""
        with self._lock:
            return list(self._records)

    def __iter__(self) -> Iterator[RequestRecord]:
        return iter(self.snapshot())

    def __len__(self) -> int:
        with self._lock:
            return len(self._records)

    def for_path(self, path: str) -> list[RequestRecord]:
        """Records whose path (without query) equals ``path``."""
        return [r for r in self.snapshot() if r.path == path]

    def canary_hits(self, secret: str, origin: str | None = None) -> int:
        """Number of requests (to ``origin``, if given) that carried ``secret`` anywhere."""
        return sum(1 for r in self.snapshot()
                   if r.carries(secret) and origin in (None, r.origin))

    def stats(self) -> dict[str, Any]:
        """Counts per fault kind, status and auth outcome, plus totals."""
        records = self.snapshot()
        return {
            "requests": len(records),
            "faults": dict(Counter(r.fault for r in records if r.fault)),
            "faults_drawn": dict(Counter(r.fault_drawn for r in records if r.fault_drawn)),
            "status": {str(k): v for k, v in Counter(r.status for r in records).items()},
            "auth": dict(Counter(r.auth for r in records if r.auth)),
            "ranged": sum(1 for r in records if r.range),
            "bytes_sent": sum(r.bytes_sent for r in records),
            "aborted": sum(1 for r in records if r.aborted),
            "tokens_issued": self.tokens_issued,
            "with_credentials": sum(1 for r in records if r.credentials),
        }
