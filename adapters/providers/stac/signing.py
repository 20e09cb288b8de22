"""Planetary Computer SAS signing: blob hrefs get a token from the SAS API, cached until shortly
before it expires (tokens live about 45 minutes)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from eoharvest.adapters.http.jsonapi import JsonApi
from eoharvest.domain.errors import ProviderResponseError
from eoharvest.domain.ports import Clock
from eoharvest.domain.query import parse_datetime
from eoharvest.domain.redaction import SECRETS

REFRESH_MARGIN = timedelta(minutes=5)


class SasSigner:
    """``signer(href) -> signed href`` for ``https://<account>.blob.core.windows.net/<container>/...``."""

    def __init__(self, api: JsonApi, sas_url: str, clock: Clock) -> None:
        self.api = api
        self.sas_url = sas_url.rstrip("/")
        self.clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[tuple[str, str], tuple[str, datetime]] = {}
        self.fetches = 0

    def __call__(self, href: str, *, fresh: bool = False) -> str:
        """``href`` signed with the container's SAS token; ``fresh`` fetches a new token even if
        the cached one has not expired (after the blob service refused it)."""
        parts = urlsplit(href)
        host = parts.hostname or ""
        if not host.endswith(".blob.core.windows.net") or "sig=" in parts.query:
            return href  # not an Azure blob, or already signed
        account = host.split(".", 1)[0]
        container = parts.path.lstrip("/").split("/", 1)[0]
        token = self._token(account, container, fresh)
        return f"{href}{'&' if parts.query else '?'}{token}"

    def _token(self, account: str, container: str, fresh: bool = False) -> str:
        key = (account, container)
        with self._lock:
            cached = self._tokens.get(key)
            if cached and not fresh and cached[1] - self.clock.now() > REFRESH_MARGIN:
                return cached[0]
            data: Any = self.api.get(f"{self.sas_url}/token/{account}/{container}")
            self.fetches += 1
            token = data.get("token") if isinstance(data, dict) else None
            expiry = data.get("msft:expiry") if isinstance(data, dict) else None
            if not token or not expiry:
                raise ProviderResponseError(f"planetary-computer: SAS answer for {account}/{container} lacks token or expiry")
            SECRETS.add(token)
            expires = parse_datetime(expiry, name="msft:expiry")
            self._tokens[key] = (token, expires)
            return token
