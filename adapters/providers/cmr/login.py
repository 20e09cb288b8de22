"""Earthdata Login (EDL) user tokens for one account (EDL documentation, "EDL API": user tokens).

With a username and password, a token is found or created with
``POST /api/users/find_or_create_token`` (HTTP Basic, to the login host only), reused until it
expires (its JWT ``exp``, else ``expiration_date``) or a data host refuses it, then renewed once
for all requests that failed with it. A token given alone is used until refused. A refused
password is remembered, so it is tried once however many downloads run.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Generator, Mapping

import httpx

from eoharvest.adapters.http.jsonapi import JsonApi
from eoharvest.domain.errors import AuthError, ProviderResponseError
from eoharvest.domain.ports import Clock, Credentials
from eoharvest.domain.redaction import SECRETS
from eoharvest.domain.urls import origin_of

log = logging.getLogger("eoharvest.cmr.auth")

RENEW_MARGIN = timedelta(seconds=60)
TOKEN_PATH = "/api/users/find_or_create_token"


def jwt_expiry(token: str) -> datetime | None:
    """The ``exp`` claim of an EDL token (a JWT; read, not verified: the server verifies it)."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return None
    exp = payload.get("exp") if isinstance(payload, dict) else None
    if isinstance(exp, (int, float)) and not isinstance(exp, bool):
        return datetime.fromtimestamp(exp, timezone.utc)
    return None


def _date_expiry(text: Any) -> datetime | None:
    """EDL's ``expiration_date`` (``MM/DD/YYYY``), read as the start of that day (UTC)."""
    try:
        return datetime.strptime(str(text), "%m/%d/%Y").replace(tzinfo=timezone.utc)
    except ValueError:
        return None


@dataclass
class _Token:
    value: str
    expires: datetime | None

    def usable(self, now: datetime) -> bool:
        return self.expires is None or self.expires - now > RENEW_MARGIN


class _LoginBasic(httpx.Auth):
    """Basic credentials for the login host's user API, and for nothing else."""

    def __init__(self, login: EarthdataLogin) -> None:
        self.login = login

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if origin_of(str(request.url)) == self.login.origin and request.url.path.startswith("/api/users/"):
            request.headers["Authorization"] = self.login.basic()
            self.login.logins += 1
        yield request


class EarthdataLogin:
    """One account's EDL credentials: a username/password (tokens found, created, renewed) or a
    token alone (used until refused). Thread-safe; a refused login is remembered."""

    def __init__(self, api: JsonApi, login_url: str, credentials: Credentials, *, clock: Clock) -> None:
        if not credentials.secret:
            raise AuthError("cmr needs an Earthdata Login password or token", hint="see `eoharvest providers cmr --help`")
        self.api = api
        self.login_url = login_url.rstrip("/")
        self.origin = origin_of(self.login_url)
        self.username = credentials.username
        self._secret = credentials.secret
        self.source = credentials.source or "arguments"
        self.clock = clock
        self._lock = threading.RLock()
        self._failure: AuthError | None = None
        self.logins = 0  # requests that carried the password
        self.token_requests = 0
        SECRETS.add(credentials.secret)
        self._token: _Token | None = None
        if self.username is None:
            self._token = _Token(credentials.secret, jwt_expiry(credentials.secret))
        api.auth = _LoginBasic(self)

    @property
    def has_password(self) -> bool:
        return self.username is not None

    def basic(self) -> str:
        if self.username is None:
            raise AuthError(
                f"cmr: the data host sent the download to Earthdata Login, which needs a username and "
                f"password; only a token was given ({self.source})",
                hint="set EARTHDATA_USERNAME and EARTHDATA_PASSWORD (or a netrc entry for the login host)",
            )
        pair = f"{self.username}:{self._secret}".encode()
        return "Basic " + base64.b64encode(pair).decode("ascii")

    def check(self) -> None:
        if self._failure is not None:
            raise self._failure

    def remember(self, failure: AuthError) -> AuthError:
        with self._lock:
            self._failure = self._failure or failure
            return self._failure

    # -- tokens -----------------------------------------------------------------------------
    def token(self) -> str:
        """A bearer token that is not known to be expired (fetched on first use)."""
        with self._lock:
            self.check()
            token = self._token
            if token is not None and token.usable(self.clock.now()):
                return token.value
            if not self.has_password:
                raise self.remember(self._expired_token_error())
            self._token = self._fetch()
            return self._token.value

    def renew(self, refused: str) -> str | None:
        """A new token after a data host refused ``refused``; None when EDL hands out that same
        token again (the refusal is not about its age). Renews once for concurrent refusals."""
        with self._lock:
            self.check()
            if self._token is not None and self._token.value != refused:
                return self._token.value
            if not self.has_password:
                raise self.remember(self._expired_token_error(refused=True))
            fresh = self._fetch()
            if fresh.value == refused:
                return None
            self._token = fresh
            log.info("cmr: Earthdata Login token renewed")
            return fresh.value

    def _expired_token_error(self, refused: bool = False) -> AuthError:
        what = "was refused by the data host" if refused else "has expired"
        return AuthError(
            f"cmr: the Earthdata Login token from {self.source} {what}",
            hint=f"create a new one at {self.login_url}/users/tokens, or give a username and password "
            "so eoharvest can renew tokens itself",
        )

    def _fetch(self) -> _Token:
        self.token_requests += 1
        try:
            answer = self.api.exchange("POST", self.login_url + TOKEN_PATH, expect=(200, 404))
            if answer.status == 404:  # a login server without find_or_create_token
                return self._from_token_list()
        except AuthError as exc:
            raise self.remember(AuthError(
                f"cmr: Earthdata Login refused the credentials of {self.username!r} from {self.source}",
                hint=exc.hint or "check the username and password",
            )) from None
        return self._token_from(answer.body)

    def _from_token_list(self) -> _Token:
        listed = self.api.get(self.login_url + "/api/users/tokens")
        now = self.clock.now()
        tokens = [self._token_from(t, grace=False) for t in listed if isinstance(t, Mapping)] if isinstance(listed, list) else []
        usable = sorted((t for t in tokens if t.usable(now)), key=lambda t: t.expires or now, reverse=True)
        if usable:
            return usable[0]
        return self._token_from(self.api.post(self.login_url + "/api/users/token"))

    def _token_from(self, body: Any, *, grace: bool = True) -> _Token:
        value = body.get("access_token") if isinstance(body, Mapping) else None
        if not isinstance(value, str) or not value:
            raise ProviderResponseError(
                f"cmr: Earthdata Login's token answer has no access_token (got {type(body).__name__})",
                hint="the login service may be in maintenance; try again later",
            )
        SECRETS.add(value)
        expires = jwt_expiry(value) or _date_expiry(body.get("expiration_date"))
        if grace and expires is not None and expires - self.clock.now() <= RENEW_MARGIN:
            expires = None  # EDL just handed it out: valid today, used until a host refuses it
        return _Token(value, expires)
