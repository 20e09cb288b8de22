"""The one way eoharvest builds an httpx client."""

from __future__ import annotations

from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpcore
import httpx

from eoharvest.application.settings import HttpSettings

USER_AGENT = "eoharvest/0.1 (+https://pypi.org/project/eoharvest/)"


#: httpcore receives 64 KiB per read by default: a 4 MiB file takes 64 trips through httpx's,
#: httpcore's and h11's layers. Bodies are the bulk of what eoharvest receives.
READ_BYTES = 256 << 10


def _larger_reads() -> None:
    """Let httpcore's HTTP/1.1 connections read up to READ_BYTES at a time (its class-level
    read size; a read returns what the socket has, so small answers are unaffected)."""
    connection = getattr(httpcore, "HTTP11Connection", None)
    if connection is not None and getattr(connection, "READ_NUM_BYTES", READ_BYTES) < READ_BYTES:
        connection.READ_NUM_BYTES = READ_BYTES


def make_client(settings: HttpSettings, transport: httpx.BaseTransport | None = None) -> httpx.Client:
    """A client with explicit timeouts, no implicit .netrc/proxy credentials (trust_env=False:
    CVE-2024-47081's advice) and redirects off: callers follow them hop by hop through the
    URL guard, so credentials and address checks apply to every hop. It keeps no cookies: a
    provider whose hosts need a session keeps its own jar (see ``providers/cmr/earthdata.py``),
    so no session cookie is shared across providers."""
    _larger_reads()
    return httpx.Client(
        timeout=httpx.Timeout(
            connect=settings.connect_timeout,
            read=settings.read_timeout,
            write=settings.read_timeout,
            pool=settings.connect_timeout,
        ),
        follow_redirects=False,
        trust_env=False,
        verify=settings.ca_bundle or True,
        proxy=settings.proxy or None,
        transport=transport,
        headers={"User-Agent": USER_AGENT},
        cookies=CookieJar(DefaultCookiePolicy(allowed_domains=[])),
        limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
    )
