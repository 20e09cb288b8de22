"""CMR downloads through Earthdata Login against the loopback fake: bearer tokens found or created
once and renewed on expiry, the OAuth redirect with the provider's own cookie jar, signed S3
redirects that get no credentials, EULA and approval refusals (also served as 200 HTML), a wrong
password tried exactly once, and secrets kept out of logs and errors (T-10, T-11, T-14)."""

import base64
import hashlib
import json
import logging
from datetime import datetime, timedelta, timezone

import pytest

from eoharvest.adapters.credentials import LayeredCredentials
from eoharvest.adapters.providers.table import env_aliases, netrc_hosts
from eoharvest.domain.errors import AuthError
from eoharvest.domain.ports import Credentials
from eoharvest.domain.query import SearchQuery
from eoharvest.entrypoints.bootstrap import build
from fakes import FakeClock
from fakes.cmr_server import LOGIN_HOST, LP_HOST, S3_HOST, CmrFake, file_bytes, hls_granule, loopback_names, settings_for


@pytest.fixture
def names(monkeypatch):
    loopback_names(monkeypatch)


class Wired:
    """Services on the fake with explicit credentials (or an environment for the look-up)."""

    def __init__(self, fake, tmp_path, *, credentials=None, environ=None, clock=None):
        self.clock = clock or FakeClock(datetime.now(timezone.utc))
        fake.clock = self.clock
        settings = settings_for(fake, tmp_path)
        store = LayeredCredentials(
            explicit={"cmr": credentials} if credentials else {}, environ=environ or {}, home=tmp_path,
            hosts=netrc_hosts(settings.endpoints), keyring_module=False, env_aliases=env_aliases(),
        )
        self.services = build(settings, clock=self.clock, credentials=store)
        self.source = self.services.connect("cmr")
        self.out = tmp_path / "out"

    def scene(self, fake, **query):
        (scene,) = self.source.search_page(SearchQuery.create(platforms=("HLS",), **query), None).scenes
        return scene

    def fetch(self, scene, assets=None):
        results = []
        for descriptor in self.source.download_descriptors(scene, assets):
            results.append(self.services.transfers().fetch("cmr", descriptor, str(self.out / descriptor.filename)))
        return results

    def close(self):
        self.services.close()


@pytest.fixture
def fake(names):
    with CmrFake() as server:
        server.add(hls_granule())
        yield server


def wired(fake, tmp_path, **kw):
    kw.setdefault("credentials", Credentials(fake.username, fake.password))
    return Wired(fake, tmp_path, **kw)


def data_requests(fake):
    return fake.requests_to(LP_HOST, "/lp-prod-protected/")


def test_a_found_or_created_token_is_reused_for_every_file_and_checksums_verify(fake, tmp_path):
    w = wired(fake, tmp_path)
    try:
        results = w.fetch(w.scene(fake), assets=["B04", "Fmask", "B05"])
    finally:
        w.close()
    for result in results:
        with open(result.path, "rb") as f:
            data = f.read()
        path = f"/lp-prod-protected/HLSL30.020/HLS.L30.T13SDV.2021035T173836.v2.0/{result.path.rsplit('/', 1)[1]}"
        assert data == file_bytes(path, len(data)) and result.sha256 == hashlib.sha256(data).hexdigest()
    assert [r.path.rsplit("/", 1)[1] for r in results] == [
        "HLS.L30.T13SDV.2021035T173836.v2.0.B04.tif", "HLS.L30.T13SDV.2021035T173836.v2.0.Fmask.tif",
        "HLS.L30.T13SDV.2021035T173836.v2.0.B05.tif"]
    token_calls = fake.requests_to(LOGIN_HOST, "/api/users/find_or_create_token")
    assert len(token_calls) == 1 and token_calls[0].method == "POST"
    bearers = {r.headers["authorization"] for r in data_requests(fake)}
    assert len(bearers) == 1 and bearers.pop().startswith("Bearer ey")
    assert fake.requests_to(LOGIN_HOST, "/oauth/") == []


def test_a_signed_s3_redirect_gets_neither_the_token_nor_the_cookie(fake, tmp_path):
    fake.s3_redirect = True
    w = wired(fake, tmp_path)
    try:
        (result,) = w.fetch(w.scene(fake), assets=["B04"])
    finally:
        w.close()
    s3 = fake.requests_to(S3_HOST)
    assert len(s3) == 1 and "authorization" not in s3[0].headers and "cookie" not in s3[0].headers
    assert "X-Amz-Signature=" in s3[0].query and result.sha256


def test_the_oauth_redirect_logs_in_once_and_the_session_cookie_stays_in_the_providers_jar(fake, tmp_path):
    fake.accept_bearer = False
    fake.s3_redirect = True
    w = wired(fake, tmp_path)
    try:
        results = w.fetch(w.scene(fake), assets=["B01", "B02", "B03"])
        jar = {c.name: c.domain for c in w.source.auth.cookies.jar}
        shared = list(w.services.http().cookies.jar)
    finally:
        w.close()
    assert len(results) == 3
    authorize = fake.requests_to(LOGIN_HOST, "/oauth/authorize")
    assert len(authorize) == 1 and authorize[0].headers["authorization"].startswith("Basic ")
    assert fake.password_attempts() == 2  # the token request, then the one OAuth login
    callbacks = fake.requests_to(LP_HOST, "/login")
    assert len(callbacks) == 1 and "code=" in callbacks[0].query
    later = data_requests(fake)[-2:]
    assert all("nasa_session=CANARY-SESSION-" in r.headers.get("cookie", "") for r in later)
    assert jar["nasa_session"] == LP_HOST and jar["_urs-gui_session"] == LOGIN_HOST
    assert shared == []  # the process-wide client kept nothing
    for request in fake.requests_to(S3_HOST):
        assert "authorization" not in request.headers and "cookie" not in request.headers
    for request in fake.seen:
        if request.host != LOGIN_HOST:
            assert not request.headers.get("authorization", "").startswith("Basic ")


def test_an_expired_token_is_renewed_before_use_and_a_refused_one_once(fake, tmp_path):
    fake.token_ttl = timedelta(hours=2)
    w = wired(fake, tmp_path)
    try:
        scene = w.scene(fake)
        w.fetch(scene, assets=["B01"])
        w.clock.advance(3 * 3600)  # past the token's exp: renewed before it is sent
        w.fetch(scene, assets=["B02"])
        fake.tokens.clear()  # revoked at the login: the data host refuses it, it is renewed once
        w.fetch(scene, assets=["B03", "B04"])
    finally:
        w.close()
    assert len(fake.requests_to(LOGIN_HOST, "/api/users/find_or_create_token")) == 3
    bearers = [r.headers["authorization"] for r in data_requests(fake)]
    assert len(set(bearers)) == 3 and len(bearers) == 5  # B03 was sent twice: refused, then renewed


def test_a_wrong_password_is_tried_exactly_once_however_many_files(fake, tmp_path, caplog):
    w = wired(fake, tmp_path, credentials=Credentials(fake.username, "CANARY-WRONG-PW-42"))
    errors = []
    try:
        scene = w.scene(fake)
        with caplog.at_level(logging.DEBUG):
            for asset in ("B01", "B02", "B03"):
                with pytest.raises(AuthError) as caught:
                    w.fetch(scene, assets=[asset])
                errors.append(caught.value)
    finally:
        w.close()
    assert fake.password_attempts() == 1
    assert all(e.exit_code == 3 and "refused the credentials of 'edl-user'" in str(e) for e in errors)
    assert "CANARY-WRONG-PW-42" not in caplog.text + "".join(map(str, errors))
    assert data_requests(fake) == [] and not list((tmp_path / "out").glob("*"))


def test_a_wrong_password_in_the_oauth_redirect_is_tried_once_too(fake, tmp_path):
    fake.accept_bearer = False
    w = wired(fake, tmp_path, credentials=Credentials(fake.username, "CANARY-WRONG-PW-43"))
    fake.password, right = "CANARY-WRONG-PW-43", fake.password  # the token API accepts it ...
    try:
        scene = w.scene(fake)
        w.source.download_descriptors(scene)
        w.source.auth.login.token()
        fake.password = right  # ... but the OAuth login does not
        for asset in ("B01", "B02"):
            with pytest.raises(AuthError):
                w.fetch(scene, assets=[asset])
    finally:
        w.close()
    assert len(fake.requests_to(LOGIN_HOST, "/oauth/authorize")) == 1


def test_a_token_alone_from_earthdata_token_downloads_without_any_login(fake, tmp_path):
    token = fake._new_token()
    w = Wired(fake, tmp_path, environ={"EARTHDATA_TOKEN": token})
    try:
        (result,) = w.fetch(w.scene(fake), assets=["Fmask"])
        assert w.source.auth.login.source == "environment (EARTHDATA_TOKEN)"
    finally:
        w.close()
    assert result.sha256 and fake.requests_to(LOGIN_HOST) == []
    assert {r.headers["authorization"] for r in data_requests(fake)} == {f"Bearer {token}"}


def test_an_expired_token_alone_fails_before_any_download_request(fake, tmp_path):
    fake.token_ttl = timedelta(hours=-1)
    token = fake._new_token()
    w = Wired(fake, tmp_path, environ={"EARTHDATA_TOKEN": token})
    try:
        with pytest.raises(AuthError) as caught:
            w.fetch(w.scene(fake), assets=["B04"])
    finally:
        w.close()
    assert "the Earthdata Login token from environment (EARTHDATA_TOKEN) has expired" in str(caught.value)
    assert "/users/tokens" in caught.value.hint and data_requests(fake) == []


def test_a_token_alone_cannot_answer_the_oauth_redirect(fake, tmp_path):
    fake.accept_bearer = False
    w = Wired(fake, tmp_path, environ={"EARTHDATA_TOKEN": fake._new_token()})
    try:
        with pytest.raises(AuthError) as caught:
            w.fetch(w.scene(fake), assets=["B04"])
    finally:
        w.close()
    assert "needs a username and password; only a token was given" in str(caught.value)
    assert fake.requests_to(LOGIN_HOST) == []


def test_a_missing_eula_is_an_auth_error_naming_it_and_where_to_accept_it(fake, tmp_path):
    fake.eula_missing = True
    w = wired(fake, tmp_path)
    try:
        scene = w.scene(fake)
        with pytest.raises(AuthError) as caught:
            w.fetch(scene, assets=["B04"])
        with pytest.raises(AuthError):
            w.fetch(scene, assets=["B05"])
    finally:
        w.close()
    message = str(caught.value)
    assert "EULA Acceptance Failure" in message
    assert f"{fake.login_url}/approve_app?client_id={fake.client_id}" in message
    assert len(data_requests(fake)) == 1  # remembered: the second file is not even asked for
    assert not any(p.is_file() for p in tmp_path.rglob("*.tif*"))


def test_an_approval_page_served_with_200_is_an_auth_error_and_never_saved(fake, tmp_path):
    fake.accept_bearer = False
    fake.approval_page = True
    w = wired(fake, tmp_path)
    try:
        with pytest.raises(AuthError) as caught:
            w.fetch(w.scene(fake), assets=["B04"])
    finally:
        w.close()
    message = str(caught.value)
    assert "Authorize Application" in message and f"approve_app?client_id={fake.client_id}" in message
    assert caught.value.exit_code == 3 and not list(tmp_path.rglob("*.tif*"))


def test_a_redirect_back_with_access_denied_names_the_resolution_url(fake, tmp_path):
    fake.accept_bearer = False
    fake.access_denied = True
    w = wired(fake, tmp_path)
    try:
        with pytest.raises(AuthError) as caught:
            w.fetch(w.scene(fake), assets=["B04"])
    finally:
        w.close()
    assert "access_denied: App EULA has been updated" in str(caught.value)
    assert f"{fake.login_url}/approve_app?client_id={fake.client_id}" in str(caught.value)
    assert fake.requests_to(LP_HOST, "/login") == []  # the refused callback is never sent


def test_without_credentials_a_protected_file_fails_naming_every_place_looked_in(fake, tmp_path):
    fake.accept_bearer = False
    w = Wired(fake, tmp_path)
    try:
        with pytest.raises(AuthError) as caught:
            w.fetch(w.scene(fake), assets=["B04"])
    finally:
        w.close()
    message = str(caught.value)
    for name in ("EOHARVEST_CMR_USERNAME", "EOHARVEST_CMR_TOKEN", "EARTHDATA_USERNAME", "EARTHDATA_PASSWORD",
                 "EARTHDATA_TOKEN", f"machine {LOGIN_HOST}"):
        assert name in message
    assert fake.requests_to(LOGIN_HOST) == []


def test_secrets_never_reach_logs_errors_the_catalog_or_sidecars(fake, tmp_path, caplog):
    fake.accept_bearer = False
    w = wired(fake, tmp_path)
    try:
        with caplog.at_level(logging.DEBUG):
            scene = w.scene(fake)
            api = w.services.sensor_api(w.source)
            result = api.query_page(SearchQuery.create(platforms=("HLS",)), None)
            (bound,) = list(result)
            bound.downloader().download(str(tmp_path / "archive"), assets=["B04"])
        tokens = list(fake.tokens)
        sessions = list(fake.sessions)
        basic = base64.b64encode(f"{fake.username}:{fake.password}".encode()).decode()
    finally:
        w.close()
    secrets_ = [fake.password, basic, *tokens, *sessions]
    assert sessions and scene
    stored = [p.read_bytes() for p in tmp_path.rglob("*") if p.is_file() and not p.name.endswith(".tif")]
    for secret in secrets_:
        assert secret not in caplog.text
        assert all(secret.encode() not in blob for blob in stored)


def test_downloads_of_a_scene_read_back_from_the_catalog_register_its_data_host(fake, tmp_path):
    w = wired(fake, tmp_path)
    try:
        scene = w.scene(fake)
        w.services.catalog().upsert_scenes([scene])
        again = w.services.catalog().get_scene("cmr", scene.scene_id)
        (result,) = w.fetch(again, assets=["B07"])
        raw = json.loads(json.dumps(again.raw))
    finally:
        w.close()
    assert result.sha256 and raw["end_datetime"] == "2021-02-04T17:39:00.830000Z"
    assert data_requests(fake)[0].headers["authorization"].startswith("Bearer ")
