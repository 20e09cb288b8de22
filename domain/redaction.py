"""Remove secrets from text before it reaches a log, an error message or the catalog.

Two layers: patterns that look like credentials (Authorization headers, bearer tokens,
``password=``/``token=`` pairs, API-key headers, userinfo in URLs), and the exact values of
secrets registered at run time (so a password is caught wherever it shows up).
"""

from __future__ import annotations

import re
import threading
from typing import Iterable

MASK = "***"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Header lines / dict reprs: Authorization: Bearer xxx, 'X-Auth-Token': 'xxx', api-key=xxx
    (
        re.compile(
            r"(?i)(\b(?:proxy-)?authorization\b[\"']?\s*[:=]\s*[\"']?)(?:(?:bearer|basic|token|api-key)\s+)?[^\s\"',}]+"
        ),
        r"\1" + MASK,
    ),
    (
        re.compile(
            r"(?i)(\b(?:x-auth-token|x-api-key|api[-_]?key|cookie|set-cookie)\b[\"']?\s*[:=]\s*[\"']?)[^\s\"',;}]+"
        ),
        r"\1" + MASK,
    ),
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9\-._~+/]+=*"), r"\1" + MASK),
    # key=value pairs in query strings, form bodies and JSON
    (
        re.compile(
            r"(?i)([\"']?\b(?:password|passwd|pwd|secret|client_secret|access_token|refresh_token|id_token|token|apikey|api_key|sig|signature|totp)\b[\"']?\s*[:=]\s*[\"']?)[^\s\"'&,}]+"
        ),
        r"\1" + MASK,
    ),
    # header tuples as HTTP wire logs print them: (b'Set-Cookie', b'session=...')
    (
        re.compile(r"(?i)(b?[\"'](?:set-cookie|cookie|(?:proxy-)?authorization)[\"'],\s*b?[\"'])[^\"']+"),
        r"\1" + MASK,
    ),
    # OAuth 2.0 authorization codes in redirect URLs (RFC 6749 §4.1.2): ?code=...&state=...
    (re.compile(r"([?&]code=)[^&\s\"'#]+"), r"\1" + MASK),
    # userinfo in URLs: https://user:pass@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://[^/\s:@]+:)[^/\s@]+@"), r"\1" + MASK + "@"),
    # JWTs anywhere
    (re.compile(r"\beyJ[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]{5,}\.[A-Za-z0-9_\-]*"), MASK),
)


class SecretRegistry:
    """Process-wide set of secret values to mask wherever they appear."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._secrets: frozenset[str] = frozenset()

    def add(self, *secrets: str | None) -> None:
        # Very short values would mask ordinary words; they still never get logged on purpose.
        new = {s for s in secrets if s and len(s) >= 4}
        if new:
            with self._lock:
                self._secrets = self._secrets | new

    def values(self) -> frozenset[str]:
        return self._secrets

    def clear(self) -> None:
        with self._lock:
            self._secrets = frozenset()


SECRETS = SecretRegistry()


def redact(text: str, secrets: Iterable[str] | None = None) -> str:
    """``text`` with credentials masked."""
    if not text:
        return text
    known = SECRETS.values() if secrets is None else frozenset(secrets) | SECRETS.values()
    # Longest first so a secret containing another is masked whole.
    for secret in sorted(known, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def escape_control(text: str) -> str:
    """Make control characters and ANSI escapes visible, so they cannot forge log lines."""
    return "".join(
        ch if ch.isprintable() or ch == " " else ch.encode("unicode_escape").decode("ascii")
        for ch in text
    )
