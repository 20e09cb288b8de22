"""Earthdata Login (EDL) for downloads: user tokens, the OAuth redirect, a cookie jar of its own.

Data hosts of NASA's DAACs accept ``Authorization: Bearer <EDL user token>``; the token is found
or created with ``POST /api/users/find_or_create_token`` (HTTP Basic, the login host only), reused
until it expires or a data host refuses it, then renewed once. Hosts that want the OAuth redirect
instead send the request to ``<login>/oauth/authorize``: that hop, and only that hop, gets Basic
credentials; the data host's session cookie goes into this provider's jar (never the process-wide
client). Signed S3/CloudFront URLs the data host redirects to get nothing (an ``Authorization``
header would make S3 answer 400 and leak the token). Earthdata Login documentation: "EDL API"
(user tokens) and "OAuth 2 login flow".

An unaccepted EULA or unapproved application (403 JSON with ``resolution_url``, a redirect back
with ``error=access_denied``, or an HTML page served with 200) is an :class:`AuthError` naming
where to accept it. A refused password is remembered: one login attempt, however many downloads.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Generator, Iterable, Mapping
from urllib.parse import parse_qs

import httpx

from eoharvest.adapters.http.jsonapi import JsonApi
from eoharvest.adapters.providers.cmr.errors import eula_error, page_title, redirect_refusal
from eoharvest.domain.errors import AuthError, ProviderResponseError
from eoharvest.domain.ports import Clock, Credentials
from eoharvest.domain.redaction import SECRETS, redact
from eoharvest.domain.urls import Origin, origin_of

log = logging.getLogger("eoharvest.cmr.auth")

RENEW_MARGIN = timedelta(seconds=60)
MAX_ERROR_BODY = 64 * 1024
TOKEN_PATH = "/api/users/find_or_create_token"
MIN_SECRET_COOKIE = 12


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


def _read_some(response: httpx.Response) -> bytes:
    """At most MAX_ERROR_BODY bytes of an answer that is about to be turned into an error."""
    data = b""
    try:
        for chunk in response.iter_bytes():
            data += chunk
            if len(data) >= MAX_ERROR_BODY:
                break
    except httpx.HTTPError:
        pass
    return data[:MAX_ERROR_BODY]


def _payload(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return data.decode("utf-8", "replace")


def _is_html(response: httpx.Response) -> bool:
    return "html" in response.headers.get("Content-Type", "").split(";")[0].lower()


class EarthdataAuth(httpx.Auth):
    """The download engine's auth flow for CMR granule files (see the module docstring).

    ``allow(urls)`` registers the data hosts of the files handed out (their origins get the
    bearer token and their cookies); the login host gets Basic credentials on its OAuth
    ``authorize`` hop only; every other host gets nothing from us.
    """

    def __init__(self, login: EarthdataLogin | None, login_url: str, *, missing: str) -> None:
        self.login = login
        self.login_url = login_url.rstrip("/")
        self.login_origin = origin_of(self.login_url)
        self.missing = missing
        self.cookies = httpx.Cookies()
        self._data_origins: set[Origin] = set()
        self._cookie_origins: set[Origin] = set()
        self._origins_lock = threading.Lock()
        self._authorize_lock = threading.Lock()
        # Credentials travel over plain http only when the login service itself is configured so.
        self._plain_http = self.login_origin.scheme == "http"

    def allow(self, urls: Iterable[str]) -> None:
        with self._origins_lock:
            self._data_origins.update(origin_of(u) for u in urls)

    def _carries(self, origin: Origin, origins: set[Origin]) -> bool:
        with self._origins_lock:
            known = origin in origins
        return known and (origin.scheme == "https" or self._plain_http)

    # -- the flow ---------------------------------------------------------------------------
    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        origin = origin_of(str(request.url))
        if origin == self.login_origin:
            yield from self._login_hop(request)
        elif self._carries(origin, self._data_origins):
            yield from self._data_hop(request)
        elif self._carries(origin, self._cookie_origins):
            self.cookies.set_cookie_header(request)
            response = yield request
            self._keep_cookies(response)
        else:
            yield request  # S3/CloudFront signed URLs and anything else: nothing of ours

    def _keep_cookies(self, response: httpx.Response) -> None:
        self.cookies.extract_cookies(response)
        # Session values are masked in logs; short flags ("true", "yes") are not secrets.
        SECRETS.add(*(c.value for c in self.cookies.jar if c.value and len(c.value) >= MIN_SECRET_COOKIE))

    def _login_hop(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        self.cookies.set_cookie_header(request)
        if not request.url.path.rstrip("/").endswith("/oauth/authorize"):
            response = yield request
            self._keep_cookies(response)
            self._refuse_pages(response, request)
            return
        if self.login is None:
            raise AuthError(self.missing, hint="NASA Earthdata downloads need a free Earthdata Login account")
        self._trust_redirect_target(request)
        with self._authorize_lock:  # one password attempt at a time; a refusal ends them all
            self.login.check()
            request.headers["Authorization"] = self.login.basic()
            self.login.logins += 1
            response = yield request
            self._keep_cookies(response)
            if response.status_code in (401, 403):
                data = _read_some(response)
                failure = eula_error(_payload(data), host=self.login_origin.host, login_url=self.login_url) or AuthError(
                    f"cmr: Earthdata Login refused the credentials of {self.login.username!r} from {self.login.source} "
                    f"(HTTP {response.status_code})",
                    hint="check the username and password (EARTHDATA_USERNAME/_PASSWORD, netrc, keyring)",
                )
                raise self.login.remember(failure)
            if response.status_code == 200 and _is_html(response):
                raise self.login.remember(self._interaction_page(response, request))

    def _trust_redirect_target(self, request: httpx.Request) -> None:
        """The DAAC's ``redirect_uri`` receives the OAuth code and sets the session cookie."""
        target = parse_qs(request.url.query.decode("ascii", "replace")).get("redirect_uri", [""])[0]
        if target.startswith(("https://", "http://")):
            with self._origins_lock:
                self._cookie_origins.add(origin_of(target))

    def _interaction_page(self, response: httpx.Response, request: httpx.Request) -> AuthError:
        """A 200 HTML page from the login host: it wants a person to accept or approve something."""
        text = _read_some(response).decode("utf-8", "replace")
        found = eula_error(text, host=self.login_origin.host, login_url=self.login_url)
        if found is not None:
            return found
        client = parse_qs(request.url.query.decode("ascii", "replace")).get("client_id", [""])[0]
        approve = f"{self.login_url}/approve_app?client_id={client}" if client else f"{self.login_url}/application_search"
        title = page_title(text) or "a page for a person"
        return AuthError(
            f"cmr: Earthdata Login answered with an HTML page ({redact(title)}) instead of the file: the "
            f"application of the data host is not approved (or a EULA is not accepted); approve it at {approve}",
            hint="accept it in your browser while logged in, then run the same command again",
        )

    def _refuse_pages(self, response: httpx.Response, request: httpx.Request) -> None:
        if response.status_code == 200 and _is_html(response):
            raise self._interaction_page(response, request)

    def _data_hop(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        refusal = redirect_refusal(str(request.url), login_url=self.login_url)
        if refusal is not None:
            raise self.login.remember(refusal) if self.login else refusal
        self.cookies.set_cookie_header(request)
        sent = self.login.token() if self.login is not None else None
        if sent is not None:
            request.headers["Authorization"] = f"Bearer {sent}"
        response = yield request
        self._keep_cookies(response)
        host = request.url.host
        if response.status_code == 401 and sent is not None:
            assert self.login is not None
            fresh = self.login.renew(sent)
            if fresh is None:
                raise self._refused(response, host, "refused the Earthdata Login token")
            request.headers["Authorization"] = f"Bearer {fresh}"
            response = yield request
            self._keep_cookies(response)
        if response.status_code in (401, 403):
            raise self._refused(response, host, f"refused access (HTTP {response.status_code})")
        if response.status_code == 200 and _is_html(response):
            text = _read_some(response).decode("utf-8", "replace")
            raise eula_error(text, host=host, login_url=self.login_url) or ProviderResponseError(
                f"cmr: {host} answered an HTML page ({redact(page_title(text) or 'untitled')}) instead of the file "
                f"{request.url.path.rsplit('/', 1)[-1]}",
                hint="the data host may be in maintenance; try again later",
            )

    def _refused(self, response: httpx.Response, host: str, what: str) -> AuthError:
        payload = _payload(_read_some(response))
        found = eula_error(payload, host=host, login_url=self.login_url)
        if found is not None:
            return self.login.remember(found) if self.login else found
        detail = payload.get("error_description") or payload.get("error") if isinstance(payload, Mapping) else None
        said = f": {redact(str(detail))[:200]}" if detail else ""
        if self.login is None:
            return AuthError(f"cmr: {host} {what}{said}; {self.missing}",
                             hint="NASA Earthdata downloads need a free Earthdata Login account")  # fmt: skip
        return AuthError(f"cmr: {host} {what}{said}",
                         hint="check that the Earthdata Login account may download this collection")  # fmt: skip
