"""CdseTokenSource: one login, refresh before expiry, one refresh for many 401s, clear failures."""

import logging
import threading
from urllib.parse import parse_qs

import httpx
import pytest

from corpus import load, load_text
from eoharvest.adapters.http.guard import UrlGuard
from eoharvest.adapters.http.jsonapi import JsonApi
from eoharvest.adapters.providers.copernicus.auth import CdseTokenSource, shared_token_source
from eoharvest.domain.errors import AuthError
from eoharvest.domain.ports import Credentials
from eoharvest.domain.retry import RetryPolicy
from fakes import FakeClock

TOKEN_URL = "https://identity.dataspace.copernicus.eu/auth/realms/CDSE/protocol/openid-connect/token"
CANARY = "pw-CANARY-ü:@%"


class Keycloak:
    """A scripted token endpoint: answers grants from recorded bodies and counts them."""

    def __init__(self, *, password=CANARY, refresh_ok=True):
        self.password = password
        self.refresh_ok = refresh_ok
        self.forms = []
        self.lock = threading.Lock()
        self.issued = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        with self.lock:
            self.forms.append(form)
            kind = form["grant_type"]
            if kind == "password" and form["password"] != self.password:
                return httpx.Response(401, text=load_text("cdse_auth", "06_handmade_token_error_invalid_user_credentials.json"),
                                      headers={"Content-Type": "application/json"})
            if kind == "refresh_token" and not self.refresh_ok:
                return httpx.Response(400, text=load_text("cdse_auth", "07_handmade_token_error_refresh_not_active.json"),
                                      headers={"Content-Type": "application/json"})
            self.issued += 1
            body = load("cdse_auth", "02_token_password_grant_2025.json")
            body.update(access_token=f"access-{self.issued}", refresh_token=f"refresh-{self.issued}")
            return httpx.Response(200, json=body)

    def grants(self):
        return [f["grant_type"] for f in self.forms]


def token_source(keycloak, clock, password=CANARY, **kw):
    client = httpx.Client(transport=httpx.MockTransport(keycloak))
    api = JsonApi(client, guard=UrlGuard(resolver=lambda h, p: ["93.184.216.34"]), provider="copernicus",
                  policy=RetryPolicy(max_attempts=3, base_delay=0.001), clock=clock)
    return CdseTokenSource(api, TOKEN_URL, Credentials("me@example.com", password), clock=clock, **kw)


def test_the_token_is_cached_and_the_password_grant_is_form_encoded():
    keycloak, clock = Keycloak(), FakeClock()
    tokens = token_source(keycloak, clock)
    assert tokens.headers() == {"Authorization": "Bearer access-1"}
    assert tokens.headers() == {"Authorization": "Bearer access-1"}
    assert keycloak.forms == [{"grant_type": "password", "username": "me@example.com", "password": CANARY, "client_id": "cdse-public"}]


def test_the_refresh_token_renews_the_access_token_a_minute_before_it_expires():
    keycloak, clock = Keycloak(), FakeClock()
    tokens = token_source(keycloak, clock)
    tokens.headers()
    clock.advance(530)
    assert tokens.headers()["Authorization"] == "Bearer access-1"
    clock.advance(20)  # 50 s left
    assert tokens.headers()["Authorization"] == "Bearer access-2"
    assert keycloak.grants() == ["password", "refresh_token"]
    assert keycloak.forms[1]["refresh_token"] == "refresh-1"


def test_an_expired_refresh_token_leads_to_one_new_login():
    keycloak, clock = Keycloak(), FakeClock()
    tokens = token_source(keycloak, clock)
    tokens.headers()
    clock.advance(3700)
    tokens.headers()
    assert keycloak.grants() == ["password", "password"]


def test_a_refused_refresh_falls_back_to_the_password_once():
    keycloak, clock = Keycloak(refresh_ok=False), FakeClock()
    tokens = token_source(keycloak, clock)
    tokens.headers()
    clock.advance(590)
    assert tokens.headers()["Authorization"] == "Bearer access-2"
    assert keycloak.grants() == ["password", "refresh_token", "password"]


def test_a_wrong_password_fails_after_one_request_and_is_never_retried(caplog):
    caplog.set_level(logging.DEBUG)
    keycloak, clock = Keycloak(password="another"), FakeClock()
    tokens = token_source(keycloak, clock)
    for _ in range(3):
        with pytest.raises(AuthError) as err:
            tokens.headers()
        assert "Invalid user credentials" in str(err.value)
        assert CANARY not in str(err.value) and CANARY not in repr(err.value)
    assert keycloak.grants() == ["password"]
    assert clock.sleeps == []
    assert CANARY not in caplog.text


def test_many_requests_failing_with_the_same_stale_token_cause_one_refresh():
    keycloak, clock = Keycloak(), FakeClock()
    tokens = token_source(keycloak, clock)
    stale = dict(tokens.headers())
    barrier = threading.Barrier(8)

    def on_401():
        barrier.wait()
        tokens.refresh(stale)

    threads = [threading.Thread(target=on_401) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert keycloak.grants() == ["password", "refresh_token"]
    assert tokens.headers() == {"Authorization": "Bearer access-2"}
    tokens.refresh(stale)  # a late report about the old token changes nothing
    assert keycloak.grants() == ["password", "refresh_token"]


def test_a_totp_code_is_sent_and_a_2fa_session_is_not_renewed_unattended():
    keycloak, clock = Keycloak(), FakeClock()
    tokens = token_source(keycloak, clock, totp="123456")
    tokens.headers()
    assert keycloak.forms[0]["totp"] == "123456"
    clock.advance(4000)
    with pytest.raises(AuthError, match="2FA"):
        tokens.headers()
    assert keycloak.grants() == ["password"]


def test_one_token_source_is_shared_per_account_in_a_process():
    keycloak, clock = Keycloak(), FakeClock()
    api = token_source(keycloak, clock).api
    creds = Credentials("shared-test@example.com", "pw-shared")
    first = shared_token_source(api, TOKEN_URL, creds, clock=clock)
    assert shared_token_source(api, TOKEN_URL, creds, clock=clock) is first
    assert shared_token_source(api, TOKEN_URL, Credentials("shared-test@example.com", "pw-other"), clock=clock) is not first
