"""CdseSource + TransferEngine against the loopback CDSE fake: tokens, sessions, redirects, offline."""

import logging
import threading
import time
import uuid

import httpx
import pytest

from eoharvest.adapters.credentials import LayeredCredentials
from eoharvest.adapters.providers.table import netrc_hosts
from eoharvest.adapters.http.guard import UrlGuard
from eoharvest.adapters.http.transfer import FetchSpec, TransferEngine
from eoharvest.adapters.clock import SystemClock
from eoharvest.application.settings import Endpoints, Settings
from eoharvest.domain.errors import AuthError
from eoharvest.domain.ports import Credentials
from eoharvest.domain.query import SearchQuery
from eoharvest.domain.retry import RetryPolicy
from eoharvest.adapters.providers.table import spec_for
from eoharvest.entrypoints.bootstrap import build
from fakes import FakeClock
from fakes.copernicus_server import CdseFake

SIZE = 200_000
NAME = "S2B_MSIL2A_20240604T101559_N0510_R065_T32TMS_20240604T1201{:02d}.SAFE"


def new_fake(**kw):
    return CdseFake(username=f"{uuid.uuid4().hex}@example.com", **kw)


class Wired:
    """The composition a CLI run would build, pointed at the fake."""

    def __init__(self, fake, tmp_path, clock, *, password=None, credentials=True):
        settings = Settings(endpoints=Endpoints(cdse_token_url=fake.token_url, cdse_odata_url=fake.odata_url,
                                                cdse_download_url=fake.download_url))
        explicit = {"copernicus": Credentials(fake.username, password or fake.password)} if credentials else {}
        store = LayeredCredentials(explicit=explicit, environ={}, hosts=netrc_hosts(settings.endpoints),
                                   home=tmp_path, keyring_module=False)
        self.services = build(settings, credentials=store, clock=clock)
        self.client = self.services.http()  # closing it closes everything the services opened
        self.source = self.services.connect("copernicus")
        self.engine = TransferEngine(self.client, guard=UrlGuard(allow_private=True), auth=self.source.download_auth,
                                     policy=RetryPolicy(max_attempts=8, base_delay=0.05, max_delay=0.5), clock=clock)
        self.tmp_path = tmp_path

    def scenes(self):
        page = self.source.search_page(SearchQuery.create(platforms=("Sentinel-2",)), None)
        return sorted(page.scenes, key=lambda s: s.scene_id)

    def fetch(self, scene):
        (descriptor,) = self.source.download_descriptors(scene)
        spec = FetchSpec(descriptor.url, self.tmp_path / descriptor.filename, descriptor.size, descriptor.checksums,
                         descriptor.media_type, "copernicus")
        return self.engine.fetch(spec)

    def fetch_all(self, scenes):
        outcomes, errors = {}, {}

        def run(scene):
            try:
                outcomes[scene.scene_id] = self.fetch(scene)
            except Exception as exc:  # noqa: BLE001 - collected for the assertions
                errors[scene.scene_id] = exc

        threads = [threading.Thread(target=run, args=(s,)) for s in scenes]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        return outcomes, errors


def stock(fake, count=1, **kw):
    return [fake.add_product(f"0000000{i}-aaaa-bbbb-cccc-dddddddddddd", NAME.format(i), SIZE, **kw) for i in range(count)]


def test_a_product_found_by_search_downloads_and_is_verified_by_its_odata_md5(tmp_path):
    with new_fake() as fake:
        stock(fake)
        wired = Wired(fake, tmp_path, SystemClock())
        (scene,) = wired.scenes()
        outcome = wired.fetch(scene)
        wired.client.close()
    assert outcome.verified_with == "md5:odata"
    assert outcome.path.name == NAME.format(0) + ".zip" and outcome.size == SIZE
    assert fake.grant_counts() == {"password": 1}
    assert all(a.startswith("Bearer CANARY-TOKEN-") for a in fake.download_auth)
    assert spec_for("copernicus").max_concurrent_downloads == 4


def test_a_token_expiring_mid_download_is_refreshed_exactly_once(tmp_path):
    clock = FakeClock()
    with new_fake(clock=clock) as fake:
        (product,) = stock(fake)
        fake.drop_once[product["Id"]] = (SIZE // 2, lambda: clock.advance(700))
        wired = Wired(fake, tmp_path, clock)
        (scene,) = wired.scenes()
        outcome = wired.fetch(scene)
        wired.client.close()
    assert outcome.verified_with == "md5:odata" and outcome.resumes == 1
    assert fake.grant_counts() == {"password": 1, "refresh_token": 1}
    assert 206 in fake.statuses and 401 not in fake.statuses


def test_concurrent_downloads_rejected_with_the_same_stale_token_cause_one_refresh(tmp_path):
    with new_fake(reject_delay=0.3) as fake:
        stock(fake, 4)
        wired = Wired(fake, tmp_path, SystemClock())
        scenes = wired.scenes()
        wired.source.tokens.headers()
        fake.revoke_access_tokens()  # the server forgets the token (DAT-ZIP-604) while we still hold it
        outcomes, errors = wired.fetch_all(scenes)
        wired.client.close()
    assert errors == {} and len(outcomes) == 4
    assert fake.grant_counts() == {"password": 1, "refresh_token": 1}
    assert fake.statuses.count(401) == 4


def test_a_refused_refresh_and_a_changed_password_end_in_one_auth_error_quickly(tmp_path):
    with new_fake() as fake:
        stock(fake)
        wired = Wired(fake, tmp_path, SystemClock())
        (scene,) = wired.scenes()
        wired.source.tokens.headers()
        fake.revoke_access_tokens()
        fake.refresh_enabled = False
        fake.password = "changed by the user on the website"
        started = time.monotonic()
        with pytest.raises(AuthError, match="Invalid user credentials"):
            wired.fetch(scene)
        wired.client.close()
    assert time.monotonic() - started < 5
    assert [g.grant_type for g in fake.grants] == ["password", "refresh_token", "password"]


def test_a_wrong_password_fails_after_one_token_request_and_never_appears_in_messages(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    canary = "CANARY-pässword:@%"
    with new_fake() as fake:
        stock(fake, 3)
        wired = Wired(fake, tmp_path, SystemClock(), password=canary)
        outcomes, errors = wired.fetch_all(wired.scenes())
        wired.client.close()
    assert outcomes == {} and len(errors) == 3
    assert all(isinstance(e, AuthError) for e in errors.values())
    assert fake.grant_counts() == {"password": 1}
    assert fake.download_auth == []
    assert not any(canary in str(e) or canary in repr(e) for e in errors.values())
    assert canary not in caplog.text


def test_a_fifth_concurrent_download_backs_off_on_429_and_all_complete(tmp_path):
    with new_fake(hold_until_rejected=True) as fake:
        stock(fake, 5)
        wired = Wired(fake, tmp_path, SystemClock())
        outcomes, errors = wired.fetch_all(wired.scenes())
        wired.client.close()
    assert errors == {} and len(outcomes) == 5
    assert all(o.verified_with == "md5:odata" for o in outcomes.values())
    assert fake.statuses.count(429) >= 1 and fake.peak_sessions == 4


def test_a_redirect_to_another_host_does_not_carry_the_bearer_token(tmp_path):
    with new_fake() as fake:
        (product,) = stock(fake)
        fake.redirect_ids.add(product["Id"])
        wired = Wired(fake, tmp_path, SystemClock())
        (scene,) = wired.scenes()
        outcome = wired.fetch(scene)
        wired.client.close()
    assert outcome.verified_with == "md5:odata"
    assert fake.download_auth[0].startswith("Bearer CANARY-TOKEN-")
    assert fake.foreign_auth == [None]


def test_offline_products_are_refused_permanently_without_any_download(tmp_path):
    with new_fake() as fake:
        stock(fake, online=False)
        wired = Wired(fake, tmp_path, SystemClock())
        (scene,) = wired.scenes()
        activation = wired.source.activate(scene)
        wired.client.close()
    assert (activation.ready, activation.permanent) == (False, True)
    assert "Online: false" in activation.reason
    assert fake.download_auth == [] and fake.grants == []


def test_without_credentials_search_works_and_download_names_where_it_looked(tmp_path):
    with new_fake() as fake:
        stock(fake)
        wired = Wired(fake, tmp_path, SystemClock(), credentials=False)
        (scene,) = wired.scenes()
        with pytest.raises(AuthError) as err:
            wired.source.download_descriptors(scene)
        wired.client.close()
    assert str(err.value).startswith("no credentials for copernicus: looked in arguments; environment variables")
    assert wired.source.download_auth is None
