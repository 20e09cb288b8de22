"""Earthdata Login for downloads: the ``httpx.Auth`` the download engine calls on every hop.

Data hosts of NASA's DAACs accept ``Authorization: Bearer <EDL user token>`` (tokens come from
:mod:`~eoharvest.adapters.providers.cmr.login`). Hosts that want the OAuth redirect instead send
the request to ``<login>/oauth/authorize``: that hop, and only that hop, gets Basic credentials;
the data host's session cookie goes into this provider's jar (never the process-wide client).
Signed S3/CloudFront URLs the data host redirects to get nothing (an ``Authorization`` header
would make S3 answer 400 and leak the token). Earthdata Login documentation: "OAuth 2 login flow".

An unaccepted EULA or unapproved application (403 JSON with ``resolution_url``, a redirect back
with ``error=access_denied``, or an HTML page served with 200) is an :class:`AuthError` naming
where to accept it, and is never saved as data.
"""

from __future__ import annotations

import json
import threading
from typing import Any, Generator, Iterable, Mapping
from urllib.parse import parse_qs

import httpx

from eoharvest.adapters.providers.cmr.errors import eula_error, page_title, redirect_refusal
from eoharvest.adapters.providers.cmr.login import EarthdataLogin
from eoharvest.domain.errors import AuthError, ProviderResponseError
from eoharvest.domain.redaction import SECRETS, redact
from eoharvest.domain.urls import Origin, origin_of

MAX_ERROR_BODY = 64 * 1024
MIN_SECRET_COOKIE = 12


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
