"""An M2M session: ``login-token`` once per account and process, the API key sent as
``X-Auth-Token`` to the M2M origin only, one request in flight per account, ``logout`` when the
last user of the key closes.

USGS allows one request at a time per account (``RATE_LIMIT_USER``): every call of every thread
of this process for one account goes through the account's lock, then holds the account's
``requests`` budget (a mutex of the ``ProviderBudgets`` port, shared by every process on a
PostgreSQL catalog); a ``RATE_LIMIT_USER`` that still arrives (another program on the same
account) is waited out a bounded number of times.
The API key's lifetime is documented as one to two hours; it is not trusted either way: when
M2M refuses it (``AUTH_KEY_INVALID``/``AUTH_EXPIRED``) the session logs in again once and
repeats the call.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Mapping

from eoharvest.adapters.http.auth import ScopedAuth
from eoharvest.adapters.http.jsonapi import JsonApi
from eoharvest.adapters.providers.usgs.errors import BUSY, KEY_REFUSED, TOKEN_HELP, M2mAuthError, M2mError, envelope_data
from eoharvest.domain.errors import AuthError, EoharvestError, ProviderResponseError
from eoharvest.domain.budgets import BudgetKey
from eoharvest.domain.ports import Clock, Credentials, ProviderBudgets
from eoharvest.domain.redaction import SECRETS

log = logging.getLogger("eoharvest.usgs")

#: HTTP statuses whose body is still read as an envelope (M2M normally answers 200)
ENVELOPE_STATUSES = (200, 400, 401, 403, 404)
BUSY_RETRIES = 5
BUSY_DELAY = 2.0


@dataclass
class _Account:
    """What every session of one account in this process shares: the key and the lock."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    key: str | None = None
    users: int = 0


_ACCOUNTS: dict[tuple[str, str, str], _Account] = {}
_ACCOUNTS_LOCK = threading.Lock()


def _account(base_url: str, credentials: Credentials) -> _Account:
    digest = hashlib.sha256((credentials.secret or "").encode("utf-8")).hexdigest()
    key = (base_url, credentials.username or "", digest)
    with _ACCOUNTS_LOCK:
        account = _ACCOUNTS.setdefault(key, _Account())
        account.users += 1
        return account


class M2mSession:
    """Calls M2M endpoints for one account (``call(endpoint, payload) -> data``)."""

    def __init__(
        self, api: JsonApi, base_url: str, credentials: Credentials | None, *, clock: Clock, missing: str,
        busy_retries: int = BUSY_RETRIES, busy_delay: float = BUSY_DELAY,
        in_flight: tuple[ProviderBudgets, BudgetKey] | None = None,
    ) -> None:  # fmt: skip
        self.api = api
        self.base_url = base_url.rstrip("/")
        self.credentials = credentials
        self.clock = clock
        self.missing = missing
        self.busy_retries = busy_retries
        self.busy_delay = busy_delay
        self._closed = False
        #: the account's one-request-in-flight budget (None: this process's lock alone)
        self._in_flight = in_flight
        self._account = _account(self.base_url, credentials) if credentials is not None else None
        if credentials is not None:
            SECRETS.add(credentials.secret)
        # The key rides on this client's requests to the M2M origin only, redirects included.
        api.auth = ScopedAuth(self, [self.base_url + "/"])

    # -- CredentialSource (for ScopedAuth) ------------------------------------------------------
    def headers(self) -> Mapping[str, str]:
        key = self._account.key if self._account else None
        return {"X-Auth-Token": key} if key else {}

    def refresh(self, failed: Mapping[str, str]) -> None:
        """M2M reports a refused key inside the envelope (see :meth:`call`), not with a 401."""

    # -- calls ----------------------------------------------------------------------------------
    @property
    def has_credentials(self) -> bool:
        return self.credentials is not None

    def call(self, endpoint: str, payload: Mapping[str, Any] | None = None) -> Any:
        """The ``data`` of ``endpoint``'s answer; errors are mapped (errors.py)."""
        account = self._require_account()
        with account.lock, self._one_request():
            if account.key is None:
                self._login(account)
            relogged = False
            busy = 0
            while True:
                try:
                    return self._post(endpoint, payload)
                except M2mAuthError as exc:
                    if exc.code not in KEY_REFUSED or relogged:
                        raise
                    log.info("usgs: the M2M API key was refused (%s); logging in again", exc.code)
                    relogged = True
                    account.key = None
                    self._login(account)
                except M2mError as exc:
                    if exc.code not in BUSY or busy >= self.busy_retries:
                        raise
                    busy += 1
                    delay = self.busy_delay * busy
                    log.warning("usgs: %s: %s; retrying in %.0f s", endpoint, exc.code, delay)
                    self.clock.sleep(delay)

    def close(self) -> None:
        """Log out when this was the last session using the account's key in this process."""
        if self._closed or self._account is None:
            return
        self._closed = True
        account = self._account
        with _ACCOUNTS_LOCK:
            account.users -= 1
            last = account.users <= 0
        if not last or account.key is None or self.api.client.is_closed:
            return
        try:
            with account.lock, self._one_request():
                try:
                    self._post("logout", None)
                finally:
                    account.key = None
        except (EoharvestError, OSError) as exc:  # the key dies on its own anyway
            log.debug("usgs: logout failed: %s", exc)

    # -- internals ------------------------------------------------------------------------------
    def _one_request(self) -> AbstractContextManager[None]:
        """The account's request budget, held from before a call (and its login) to its end."""
        if self._in_flight is None:
            return nullcontext()
        budgets, key = self._in_flight
        return budgets.slot(key, 1)

    def _require_account(self) -> _Account:
        if self._account is None:
            raise AuthError(self.missing, hint=TOKEN_HELP)
        return self._account

    def _login(self, account: _Account) -> None:
        assert self.credentials is not None
        body = {"username": self.credentials.username or "", "token": self.credentials.secret or ""}
        key = self._post("login-token", body)
        if not isinstance(key, str) or not key:
            raise ProviderResponseError("usgs: login-token answered without an API key")
        SECRETS.add(key)
        account.key = key

    def _post(self, endpoint: str, payload: Mapping[str, Any] | None) -> Any:
        answer = self.api.exchange("POST", f"{self.base_url}/{endpoint}", json=dict(payload or {}), expect=ENVELOPE_STATUSES)
        if answer.status in (401, 403) and not (isinstance(answer.body, Mapping) and answer.body.get("errorCode")):
            raise AuthError(f"usgs: {endpoint} refused with HTTP {answer.status}", hint=TOKEN_HELP)
        return envelope_data(answer.body, endpoint)
