"""CDSE Keycloak tokens: one password login, then refresh-token renewals (OAuth 2.0, RFC 6749 §4.3 and §6).

The access token lives ~600 s and the refresh token ~3600 s. Every new token counts as a CDSE
session (max 100), so the token is cached, renewed with the refresh token shortly before it
expires, and the password is used again only when the refresh token is refused or expired.
A wrong password fails after exactly one request and the failure is remembered, so many
concurrent downloads do not each try to log in (CDSETool #84 style loops).
"""

from __future__ import annotations

import hashlib
import logging
import threading
from dataclasses import dataclass
from typing import Any, Mapping

from eoharvest.adapters.http.jsonapi import JsonApi
from eoharvest.domain.errors import AuthError, ProviderResponseError, RetryExhausted
from eoharvest.domain.ports import Clock, Credentials
from eoharvest.domain.redaction import SECRETS, redact

log = logging.getLogger("eoharvest.copernicus.auth")

CLIENT_ID = "cdse-public"
#: After the token endpoint could not be reached (retries exhausted), how long every further
#: token request fails at once instead of retrying again (one failure per run, not per scene).
UNREACHABLE_COOLDOWN = 300.0
RENEW_MARGIN = 60.0  # seconds before expiry at which a token is renewed


@dataclass
class _Token:
    access: str
    access_expires: float  # clock.monotonic() deadline
    refresh: str | None
    refresh_expires: float
    issued_at: float

    def fresh(self, now: float) -> bool:
        # Renew RENEW_MARGIN s before expiry; short-lived tokens (tests, other realms) use a tenth.
        margin = min(RENEW_MARGIN, (self.access_expires - self.issued_at) / 10)
        return self.access_expires - now > margin

    def refreshable(self, now: float) -> bool:
        margin = min(RENEW_MARGIN / 6, (self.refresh_expires - self.issued_at) / 10)
        return bool(self.refresh) and self.refresh_expires - now > margin


class CdseTokenSource:
    """A ``CredentialSource`` (see ``adapters.http.auth``) for CDSE: ``headers()`` gives
    ``{"Authorization": "Bearer <access token>"}``; ``refresh(failed)`` renews the token once
    for all requests that failed with the same stale header. Thread-safe."""

    def __init__(
        self,
        api: JsonApi,
        token_url: str,
        credentials: Credentials,
        *,
        clock: Clock,
        totp: str | None = None,
        client_id: str = CLIENT_ID,
    ) -> None:
        if not credentials.username or not credentials.secret:
            raise AuthError("copernicus needs a username and a password", hint="set EOHARVEST_COPERNICUS_USERNAME and _PASSWORD")
        self.api = api
        self.token_url = token_url
        self._credentials = credentials
        self.clock = clock
        self._totp = totp
        self.client_id = client_id
        self._lock = threading.Lock()
        self._token: _Token | None = None
        self._failure: AuthError | None = None
        self._unreachable: tuple[float, AuthError] | None = None
        self.logins = 0
        self.refreshes = 0
        SECRETS.add(credentials.secret, totp)

    # -- CredentialSource -------------------------------------------------------------------
    def headers(self) -> Mapping[str, str]:
        return {"Authorization": f"Bearer {self.access_token()}"}

    def refresh(self, failed: Mapping[str, str]) -> None:
        """Renew the token after a 401, unless another thread already replaced the failed one."""
        with self._lock:
            if self._token is not None and failed.get("Authorization") == f"Bearer {self._token.access}":
                self._token.access_expires = float("-inf")
            self._ensure_token()

    def access_token(self) -> str:
        with self._lock:
            return self._ensure_token().access

    # -- renewal ------------------------------------------------------------------------------
    def _ensure_token(self) -> _Token:
        if self._failure is not None:
            raise self._failure
        if self._unreachable is not None:
            since, error = self._unreachable
            if self.clock.monotonic() - since < UNREACHABLE_COOLDOWN:
                raise error
            self._unreachable = None
        now = self.clock.monotonic()
        token = self._token
        if token is not None and token.fresh(now):
            return token
        if token is not None and token.refresh and token.refreshable(now):
            renewed = self._refresh_grant(token.refresh)
            if renewed is not None:
                self._token = renewed
                return renewed
        if self._token is not None and self._totp:
            # A TOTP code is single-use: an unattended re-login of a 2FA account cannot work.
            self._failure = AuthError(
                "copernicus: the session of a 2FA account has expired",
                hint="log in again with a fresh TOTP code (2FA accounts cannot re-login unattended)",
            )
            raise self._failure
        self._token = self._password_grant()
        return self._token

    def _password_grant(self) -> _Token:
        form = {
            "grant_type": "password",
            "username": self._credentials.username or "",
            "password": self._credentials.secret or "",
            "client_id": self.client_id,
        }
        if self._totp:
            form["totp"] = self._totp
        self.logins += 1
        body = self._post(form)
        if "access_token" not in body:
            self._failure = AuthError(
                f"copernicus refused the login: {_describe(body)}",
                hint="check the username and password (2FA accounts also need a TOTP code)",
            )
            raise self._failure
        log.info("copernicus: logged in")
        return self._token_from(body)

    def _refresh_grant(self, refresh_token: str) -> _Token | None:
        self.refreshes += 1
        body = self._post({"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": self.client_id})
        if "access_token" not in body:
            log.info("copernicus: token refresh refused (%s); logging in again", _describe(body))
            return None
        log.debug("copernicus: access token refreshed")
        return self._token_from(body)

    def _post(self, form: Mapping[str, str]) -> Mapping[str, Any]:
        # 400/401 are answers (invalid_grant), not transport failures: read them, never retry.
        try:
            body = self.api.post(self.token_url, data=dict(form), expect=(200, 400, 401))
        except AuthError as exc:
            self._failure = AuthError(f"copernicus login failed: {redact(exc.message)}", hint=exc.hint)
            raise self._failure from None
        except RetryExhausted as exc:
            error = AuthError(
                f"copernicus: could not log in, the token service did not answer ({redact(exc.message)})",
                hint="check the network or EOHARVEST_CDSE_TOKEN_URL; searching works without logging in",
            )
            self._unreachable = (self.clock.monotonic(), error)
            raise error from None
        if not isinstance(body, Mapping):
            raise ProviderResponseError(f"copernicus: token endpoint answered {type(body).__name__}, not an object")
        return body

    def _token_from(self, body: Mapping[str, Any]) -> _Token:
        access = body.get("access_token")
        if not isinstance(access, str) or not access:
            raise ProviderResponseError("copernicus: token answer without an access_token")
        refresh = body.get("refresh_token") if isinstance(body.get("refresh_token"), str) else None
        SECRETS.add(access, refresh)
        now = self.clock.monotonic()
        lifetime = _seconds(body.get("expires_in"), 600.0)
        return _Token(access, now + lifetime, refresh, now + _seconds(body.get("refresh_expires_in"), 0.0), now)


def _seconds(value: Any, default: float) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    return default


def _describe(body: Mapping[str, Any]) -> str:
    """Keycloak's error text (``invalid_grant: Invalid user credentials``), redacted."""
    error = str(body.get("error") or "no token in the answer")
    detail = body.get("error_description")
    return redact(f"{error}: {detail}" if detail else error)[:200]


_SHARED: dict[tuple[str, str, str], CdseTokenSource] = {}
_SHARED_LOCK = threading.Lock()


def shared_token_source(
    api: JsonApi, token_url: str, credentials: Credentials, *, clock: Clock, totp: str | None = None
) -> CdseTokenSource:
    """The process-wide token source for these credentials: one CDSE login per process, however
    many sources, searches and downloads use it (each new token is a CDSE session, max 100)."""
    digest = hashlib.sha256((credentials.secret or "").encode("utf-8")).hexdigest()
    key = (token_url, credentials.username or "", digest)
    with _SHARED_LOCK:
        source = _SHARED.get(key)
        if source is None:
            source = _SHARED[key] = CdseTokenSource(api, token_url, credentials, clock=clock, totp=totp)
        elif source.api.client.is_closed:
            # The process that logged in closed its client (a closed Copernicus() instance);
            # keep the tokens, send further token requests through the caller's live client.
            source.api = api
        return source
