"""Send one request, following redirects hop by hop through the URL guard and the scoped auth."""

from __future__ import annotations

from typing import Any

import httpx

from eoharvest.adapters.http.auth import NoAuth
from eoharvest.adapters.http.guard import UrlGuard
from eoharvest.domain.errors import UnsafeURL
from eoharvest.domain.redaction import redact
from eoharvest.domain.urls import resolve_link

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


def send_guarded(
    client: httpx.Client,
    method: str,
    url: str,
    *,
    guard: UrlGuard,
    auth: httpx.Auth | None = None,
    max_redirects: int = 10,
    stream: bool = False,
    **request_kwargs: Any,
) -> httpx.Response:
    """Like ``client.request`` with redirects on, but every hop is checked by ``guard`` and gets
    credentials only if ``auth`` allows that hop's origin. 303 (and 301/302 after POST) turn
    into a GET without a body, as browsers and curl do."""
    auth = auth or NoAuth()
    for _hop in range(max_redirects + 1):
        guard.check(url)
        request = client.build_request(method, url, **request_kwargs)
        response = client.send(request, auth=auth, stream=stream)
        location = response.headers.get("Location")
        if response.status_code not in REDIRECT_STATUSES or not location:
            return response
        response.close()
        url = resolve_link(url, location)
        if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
            method = "GET"
            request_kwargs = {k: v for k, v in request_kwargs.items() if k not in ("json", "data", "content")}
    raise UnsafeURL(
        f"more than {max_redirects} redirects starting at {redact(url)[:200]!r}",
        hint="the provider may be misconfigured; try again later",
    )
