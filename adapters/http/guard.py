"""UrlGuard: checks every URL (and every redirect hop) before a request is sent."""

from __future__ import annotations

import socket
from typing import Callable, Sequence

from eoharvest.domain.errors import UnsafeURL
from eoharvest.domain.redaction import redact
from eoharvest.domain.urls import Origin, address_class, check_url_shape, is_ip_literal, origin_of

Resolver = Callable[[str, int], Sequence[str]]


def _system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        return []  # the request itself will fail with a clear connection error
    return [info[4][0] for info in infos]


class UrlGuard:
    """Refuses forbidden schemes, userinfo, link-local targets (cloud metadata) always, and
    loopback/private/multicast targets unless ``allow_private``.

    ``allow_private`` is true for a provider whose configured endpoint is itself on loopback or
    a LAN (a local mirror, a test server): such a provider may hand out such addresses.
    Note: the name is resolved here and again by the HTTP client; a DNS answer that changes in
    between is not caught (accepted: providers are configured, not arbitrary).
    """

    def __init__(self, *, allow_private: bool = False, resolver: Resolver | None = None) -> None:
        self.allow_private = allow_private
        self._resolve = resolver or _system_resolver

    @classmethod
    def for_endpoint(cls, endpoint_url: str, *, allow_private_targets: bool = False) -> UrlGuard:
        origin = origin_of(endpoint_url)
        local = _host_is_private(origin.host, origin.port)
        return cls(allow_private=allow_private_targets or local)

    def check(self, url: str) -> Origin:
        origin = check_url_shape(url)
        host = origin.host.strip("[]")
        addresses = [host] if is_ip_literal(host) else self._resolve(host, origin.port)
        for address in addresses:
            kind = address_class(address)
            if kind == "link-local":
                raise UnsafeURL(
                    f"refusing {redact(url)[:200]!r}: {host} is a link-local address ({address})",
                    hint="link-local targets such as cloud metadata services are never fetched",
                )
            if kind != "public" and not self.allow_private:
                raise UnsafeURL(
                    f"refusing {redact(url)[:200]!r}: {host} resolves to a {kind} address ({address})",
                    hint="a provider with a public endpoint may not send us to local addresses; "
                    "set allow_private_targets only if you run that server yourself",
                )
        return origin


def _host_is_private(host: str, port: int) -> bool:
    host = host.strip("[]")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    addresses = [host] if is_ip_literal(host) else _system_resolver(host, port)
    return bool(addresses) and all(address_class(a) != "public" for a in addresses)
