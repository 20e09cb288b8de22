"""The API key: where it comes from besides the usual places, and where it is sent.

Planet authenticates with HTTP Basic, the key as user name and an empty password. The key is
attached only to requests for the Data API's origin: the official SDK puts it on its session
and so sends it to every host a download redirects to; here a redirect to the storage host that
serves the bytes travels without it (the engine follows redirects hop by hop and asks this
auth on each).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Generator, Iterable

import httpx

from eoharvest.domain.ports import Credentials
from eoharvest.domain.redaction import SECRETS
from eoharvest.domain.urls import origin_of

log = logging.getLogger("eoharvest.planet")

#: The file the Planet CLI (``planet auth init``, SDK v1/v2) keeps the key in: ``{"key": "..."}``.
PLANET_CLI_FILE = ".planet.json"


class PlanetKeyAuth(httpx.Auth):
    """Basic auth with the key, for the allowed origins only; nothing for any other host."""

    def __init__(self, key: str, origins: Iterable[str]) -> None:
        self._basic = httpx.BasicAuth(key, "")
        self.origins = frozenset(origin_of(o) for o in origins)

    def allows(self, url: str) -> bool:
        return origin_of(url) in self.origins

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self.allows(str(request.url)):
            yield from self._basic.auth_flow(request)
        else:
            yield request


def planet_cli_path(home: Path | None = None) -> Path:
    return (home or Path.home()) / PLANET_CLI_FILE


def planet_cli_key(home: Path | None = None) -> Credentials | None:
    """The key the Planet CLI saved in ``~/.planet.json``, or None (no file, or a file of the
    newer OAuth profiles without a legacy ``key``)."""
    path = planet_cli_path(home)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("planet: cannot read %s (%s); ignored", path, type(exc).__name__)
        return None
    key = data.get("key") if isinstance(data, dict) else None
    if not isinstance(key, str) or not key.strip():
        return None
    SECRETS.add(key.strip())
    return Credentials(None, key.strip(), f"Planet CLI file {path}")
