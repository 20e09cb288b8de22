"""Credentials scoped to origins: attached per request, only to allow-listed origins.

Providers never put credentials into client-wide headers; they give the client a
:class:`ScopedAuth`, so a redirect to a foreign host (followed by hand, hop by hop) goes
without them, whatever the header is called (Authorization, X-Auth-Token, api-key, ...).
"""

from __future__ import annotations

from typing import Generator, Iterable, Mapping, Protocol

import httpx

from eoharvest.domain.urls import Origin, origin_of


class CredentialSource(Protocol):
    """Produces auth headers; ``refresh`` is told which headers failed so that many requests
    failing at once with the same stale token cause one refresh, not many."""

    def headers(self) -> Mapping[str, str]:
        ...

    def refresh(self, failed: Mapping[str, str]) -> None:
        ...


class ScopedAuth(httpx.Auth):
    """httpx auth flow: add headers for allowed origins; on 401 refresh once and retry once."""

    def __init__(self, source: CredentialSource, origins: Iterable[Origin | str]) -> None:
        self.source = source
        self.origins = frozenset(o if isinstance(o, Origin) else origin_of(o) for o in origins)

    def allows(self, url: str) -> bool:
        return origin_of(url) in self.origins

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if not self.allows(str(request.url)):
            yield request
            return
        sent = dict(self.source.headers())
        request.headers.update(sent)
        response = yield request
        if response.status_code == 401:
            self.source.refresh(sent)
            request.headers.update(self.source.headers())
            yield request


class NoAuth(httpx.Auth):
    """Explicitly nothing (httpx would otherwise fall back to the client default)."""

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        yield request
