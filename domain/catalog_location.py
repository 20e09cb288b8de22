"""Where the catalog lives: the one parser of ``--catalog``, ``EOHARVEST_CATALOG`` and the config
file's ``catalog_path``.

A catalog is a SpatiaLite file, given as a plain path or as ``sqlite:///path``, or a
PostgreSQL/PostGIS database, given as a ``postgresql://`` URL (a :class:`CatalogUrl`, never a
``Path``: ``Path("postgresql://user@host/db")`` would collapse the double slash into a file name).
Any other ``scheme://`` value is refused. A new back end adds its scheme to :data:`_SCHEMES`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from eoharvest.domain.errors import CatalogError
from eoharvest.domain.redaction import redact

#: ``scheme://`` as RFC 3986 spells a scheme; ``C:\\...`` and ``./a:b`` are paths.
_URL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://(?P<rest>.*)$", re.DOTALL)
_WHERE = "--catalog, EOHARVEST_CATALOG or catalog_path in the config file"


#: URL schemes of a PostgreSQL/PostGIS catalog (anything else names a SpatiaLite file).
POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")
_MASK = "***"


class CatalogUrl:
    """Where a PostgreSQL/PostGIS catalog lives: ``postgresql://[user[:password]@]host[:port]/db``.

    ``str()`` and ``repr()`` mask the password (in the userinfo or a ``password=`` parameter),
    so the location can be printed, logged and put in error messages; only :attr:`url` holds
    it, for the driver. Prefer no password in the URL at all: libpq reads ``PGPASSWORD`` or
    the password file (``PGPASSFILE``, default ``~/.pgpass``).
    """

    __slots__ = ("_url",)

    def __init__(self, url: str) -> None:
        self._url = url
        parts = urlsplit(url)
        if parts.scheme.lower() not in POSTGRES_SCHEMES:
            raise CatalogError(f"{self} is not a PostgreSQL URL", hint="write postgresql://user@host:5432/database")
        try:
            parts.port
        except ValueError:
            raise CatalogError(f"the port of the catalog URL {self} is not a number", hint="e.g. postgresql://host:5432/db") from None
        if not parts.path.strip("/"):
            raise CatalogError(
                f"the catalog URL {self} names no database",
                hint="add the database name: postgresql://user@host:5432/eoharvest",
            )

    @staticmethod
    def looks_like(value: object) -> bool:
        """True for text that starts like a PostgreSQL URL (``postgresql://``, ``postgres://``)."""
        if not isinstance(value, str):
            return False
        scheme, sep, _ = value.partition("://")
        return bool(sep) and scheme.strip().lower() in POSTGRES_SCHEMES

    @property
    def url(self) -> str:
        """The URL as given, password included: for the database driver only."""
        return self._url

    @property
    def password(self) -> str | None:
        parts = urlsplit(self._url)
        query = dict(parse_qsl(parts.query))
        return parts.password or query.get("password") or None

    def redacted(self) -> str:
        parts = urlsplit(self._url)
        netloc = parts.netloc
        if parts.password is not None:
            userinfo, _, hostinfo = netloc.rpartition("@")
            netloc = f"{userinfo.partition(':')[0]}:{_MASK}@{hostinfo}"
        query = parts.query
        if query and "password" in query.lower():
            pairs = parse_qsl(query, keep_blank_values=True)
            query = urlencode([(k, _MASK if k.lower() == "password" else v) for k, v in pairs], safe="/*")
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))

    def __str__(self) -> str:
        return self.redacted()

    def __repr__(self) -> str:
        return f"CatalogUrl({self.redacted()!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CatalogUrl) and other._url == self._url

    def __hash__(self) -> int:
        return hash(self._url)


#: A catalog location: a SpatiaLite file, or a PostgreSQL/PostGIS database.
CatalogLocation = Path | CatalogUrl



def catalog_location(value: str | Path | CatalogUrl) -> Path | CatalogUrl:
    """The catalog named by ``value``: a file (a path, ``~`` expanded, or ``sqlite:///path``) or
    a PostgreSQL database (``postgresql://...``, a :class:`CatalogUrl`).

    Raises CatalogError for an empty value, a malformed PostgreSQL URL, or a URL of a back end
    eoharvest does not have.
    """
    if isinstance(value, CatalogUrl):
        return value
    if isinstance(value, Path):
        return value.expanduser()  # already a path: a caller who built one meant a file
    text = str(value)
    if not text.strip():
        raise CatalogError("the catalog location is empty", hint=f"set {_WHERE} to a file path")
    match = _URL.match(text)
    if match is None:
        return Path(text).expanduser()
    scheme = match.group("scheme").lower()
    parse = _SCHEMES.get(scheme)
    if parse is None:
        raise CatalogError(
            f"catalog location {redact(text)!r}: {scheme}:// catalogs are not supported; "
            "only file paths are (a SpatiaLite catalog file), and postgresql:// URLs (PostGIS)",
            hint=f"set {_WHERE} to a file path such as ~/eo/catalog.db or to postgresql://user@host/db",
        )
    return parse(text, match.group("rest"))


def _sqlite(text: str, rest: str) -> Path:
    # SQLAlchemy's spelling: sqlite:///relative/path, sqlite:////absolute/path.
    if not rest.startswith("/") or rest == "/":
        raise CatalogError(
            f"catalog location {redact(text)!r} names no file",
            hint="write sqlite:///relative/path.db or sqlite:////absolute/path.db, or just the path",
        )
    if "?" in rest:
        raise CatalogError(
            f"catalog location {redact(text)!r} has query options, which eoharvest does not take",
            hint="give the file path alone",
        )
    return Path(rest[1:]).expanduser()


def _postgresql(text: str, rest: str) -> CatalogUrl:
    return CatalogUrl(text.strip())


#: scheme -> parser of the rest of the URL.
_SCHEMES: dict[str, Callable[[str, str], Path | CatalogUrl]] = {
    "sqlite": _sqlite,
    **{scheme: _postgresql for scheme in POSTGRES_SCHEMES},
}
