"""Where the catalog lives: the one parser of ``--catalog``, ``EOHARVEST_CATALOG`` and the config
file's ``catalog_path``.

Today a catalog is a SpatiaLite file, given as a plain path or as ``sqlite:///path``. Any other
``scheme://`` value is refused: ``Path("postgresql://user@host/db")`` would otherwise collapse the
double slash and silently create a SpatiaLite file named ``postgresql:/user@host/db``. A new
back end adds its scheme to :data:`_SCHEMES` and returns its own location there.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable

from eoharvest.domain.errors import CatalogError
from eoharvest.domain.redaction import redact

#: ``scheme://`` as RFC 3986 spells a scheme; ``C:\\...`` and ``./a:b`` are paths.
_URL = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://(?P<rest>.*)$", re.DOTALL)
_WHERE = "--catalog, EOHARVEST_CATALOG or catalog_path in the config file"


def catalog_location(value: str | Path) -> Path:
    """The catalog file named by ``value`` (a path, ``~`` expanded, or ``sqlite:///path``).

    Raises CatalogError for an empty value or a URL of a back end eoharvest does not have.
    """
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
            "only file paths are (a SpatiaLite catalog file)",
            hint=f"set {_WHERE} to a file path such as ~/eo/catalog.db",
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


#: scheme -> parser of the rest of the URL (the PostgreSQL back end hooks in here).
_SCHEMES: dict[str, Callable[[str, str], Path]] = {"sqlite": _sqlite}
