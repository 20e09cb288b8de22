"""URL rules for provider-supplied links: pure checks, no DNS."""

from __future__ import annotations

import ipaddress
from typing import NamedTuple
from urllib.parse import urljoin, urlsplit

from eoharvest.domain.errors import InputError, UnsafeURL
from eoharvest.domain.redaction import redact

ALLOWED_SCHEMES = frozenset({"https", "http"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


class Origin(NamedTuple):
    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"


def origin_of(url: str) -> Origin:
    """(scheme, lower-case host, explicit port) — what credentials are scoped to."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    try:
        port = parts.port or _DEFAULT_PORTS.get(scheme, 0)
    except ValueError:
        raise UnsafeURL(f"URL {redact(url)!r} has an invalid port") from None
    return Origin(scheme, host, port)


def check_endpoint_url(url: str, what: str) -> str:
    """``url`` if it can be an API root (http or https, a host, a valid port), else InputError
    naming ``what`` (``--stac-url``, ``setting stac_url``) so the user knows which value to fix."""
    shown = redact(url)[:200]
    example = "give an http(s) URL such as https://earth-search.aws.element84.com/v1"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing the port is what raises for "host:port" typos
    except ValueError as exc:
        raise InputError(f"{what} {shown!r} is not a valid URL: {exc}", hint=example) from None
    if parts.scheme.lower() not in ALLOWED_SCHEMES or not parts.hostname or any(c.isspace() for c in url):
        raise InputError(f"{what} {shown!r} is not an http(s) URL with a host", hint=example)
    return url


def check_url_shape(url: str) -> Origin:
    """Refuse forbidden schemes (file:, ftp:, ...), userinfo, and URLs without a host."""
    shown = redact(url)[:200]
    if not isinstance(url, str) or not url:
        raise UnsafeURL(f"empty download URL {url!r}")
    if any(ch in url for ch in "\r\n\x00"):
        raise UnsafeURL(f"URL {shown!r} contains control characters")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise UnsafeURL(
            f"URL {shown!r} uses scheme {scheme or '(none)'!r}",
            hint="only http and https links from providers are followed",
        )
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise UnsafeURL(
            f"URL {shown!r} carries credentials in its user-info part",
            hint="credentials are configured per provider, never taken from links",
        )
    if not parts.hostname:
        raise UnsafeURL(f"URL {shown!r} has no host")
    return origin_of(url)


def resolve_link(base_url: str, href: str) -> str:
    """An href (possibly relative, RFC 3986 §5) made absolute against the document it came from."""
    if href.startswith(("https://", "http://")) and "/." not in href:
        # Already absolute without dot segments: urljoin would hand it back unchanged (it is
        # called for every asset of every item, and costs more than the rest of the mapping).
        return href
    return urljoin(base_url, href)


def url_basename(url: str) -> str:
    """The last segment of a URL's path (``posixpath.basename(urlsplit(url).path)``), or ""."""
    path = url.partition("#")[0].partition("?")[0]
    scheme_end = path.find("://")
    if scheme_end >= 0:
        slash = path.find("/", scheme_end + 3)
        path = path[slash:] if slash >= 0 else ""
    return path.rpartition("/")[2]


def address_class(ip: str) -> str:
    """'link-local', 'loopback', 'private', 'multicast', 'reserved' or 'public'."""
    addr = ipaddress.ip_address(ip.split("%")[0])
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    if addr.is_link_local:
        return "link-local"
    if addr.is_loopback:
        return "loopback"
    if addr.is_multicast:
        return "multicast"
    if addr.is_unspecified or addr.is_reserved:
        return "reserved"
    if addr.is_private:
        return "private"
    return "public"


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return False
    return True
