"""The USGS source against the loopback M2M fake: login-token and its errors, the key only on the
M2M origin, key expiry, one request in flight per account, paging to totalHits, and the order
calls (download-request / download-retrieve by label, duplicates, quota)."""

import logging
import threading

import httpx
import pytest
from fakes.usgs_server import UsgsFake, c2_scene, settings_for

from eoharvest.domain.errors import AuthError, InputError
from eoharvest.domain.orders import INTENT, PENDING, READY, OrderRef, OrderRequest
from eoharvest.domain.query import SearchQuery
from eoharvest.entrypoints.bootstrap import build
from eoharvest.domain.ports import Credentials

OT = "landsat_ot_c2_l2"
FIRST = "LC08_L2SP_033032_20231008_20231017_02_T1"


@pytest.fixture
def fake():
    with UsgsFake(prepare_polls=1) as server:
        yield server


def connect(fake, tmp_path, *, username=None, token=None, **options):
    services = build(settings_for(fake, tmp_path))
    credentials = Credentials(username or fake.username, token or fake.token, "test")
    return services, services.connect("usgs", credentials=credentials, **options)


def search(source, **criteria):
    query = SearchQuery.create(**criteria)
    scenes, ref, pages = [], None, 0
    while pages < 50:
        page = source.search_page(query, ref)
        scenes += page.scenes
        pages += 1
        ref = page.next_ref
        if ref is None:
            return scenes, pages, page
    raise AssertionError("paging did not end")


def test_one_login_token_for_many_calls_the_key_only_on_the_m2m_origin_and_logout_on_close(fake, tmp_path):
    services, source = connect(fake, tmp_path)
    with services:
        for _ in range(3):
            search(source, platforms=("Landsat-8",))
    logins = fake.calls("login-token")
    assert len(logins) == 1 and logins[0].body == {"username": fake.username, "token": fake.token}
    assert "x-auth-token" not in logins[0].headers
    key = fake.calls("scene-search")[0].headers["x-auth-token"]
    assert key.startswith("CANARY-APIKEY-") and all(c.headers.get("x-auth-token") == key for c in fake.calls("scene-search"))
    assert [c.endpoint for c in fake.calls()][-1] == "logout" and key not in fake.keys


def test_a_refused_application_token_says_how_to_create_one(fake, tmp_path):
    services, source = connect(fake, tmp_path, token="not-the-token")
    with services, pytest.raises(AuthError) as err:
        search(source)
    assert "AUTH_INVALID" in str(err.value) and "Application Tokens" in err.value.hint
    assert "not-the-token" not in str(err.value) + err.value.hint


def test_an_account_without_m2m_access_is_told_how_to_request_it(fake, tmp_path):
    fake.no_access.add(fake.username)
    services, source = connect(fake, tmp_path)
    with services, pytest.raises(AuthError, match="UNAUTHORIZED_USER") as err:
        search(source)
    assert "Access Request" in err.value.hint


def test_the_retired_password_login_answers_not_found(fake):
    answer = httpx.post(f"{fake.m2m_url}/login", json={"username": fake.username, "password": "secret"}).json()
    assert (answer["errorCode"], answer["errorMessage"], answer["data"]) == ("NOT_FOUND", "Invalid Endpoint", None)


def test_without_credentials_searching_fails_with_the_places_looked_in(fake, tmp_path):
    from eoharvest.adapters.credentials import LayeredCredentials

    store = LayeredCredentials(environ={}, hosts={"usgs": "127.0.0.1"}, home=tmp_path, keyring_module=False)
    services = build(settings_for(fake, tmp_path), credentials=store)
    with services, pytest.raises(AuthError, match="no credentials for usgs") as err:
        search(services.connect("usgs"))
    assert "application token" in err.value.hint and fake.calls() == []


def test_t11_an_expired_key_is_replaced_by_one_new_login_and_the_call_repeated(fake, tmp_path):
    services, source = connect(fake, tmp_path)
    with services:
        first, _, _ = search(source, platforms=("Landsat-8",))
        fake.expire_keys()
        again, _, _ = search(source, platforms=("Landsat-8",))
    assert [s.scene_id for s in again] == [s.scene_id for s in first]
    assert len(fake.calls("login-token")) == 2


def test_paging_follows_startingnumber_to_totalhits_and_asks_no_further(tmp_path):
    scenes = [c2_scene(f"LC08_L2SP_033032_202310{d:02d}_20231101_02_T1", f"LC80330322023{270 + d}LGN00",
                       acquired=f"2023-10-{d:02d}", cloud=str(d)) for d in range(1, 8)]  # fmt: skip
    with UsgsFake(scenes=scenes) as fake:
        services, source = connect(fake, tmp_path, page_size=2)
        with services:
            found, pages, first = search(source, platforms=("Landsat-8", "Landsat-9"))
            assert source.search_page(SearchQuery.create(platforms=("Landsat-8", "Landsat-9")), None).total == 7
    assert [s.acq_date.day for s in found] == list(range(1, 8)) and pages == 4
    assert [c.body["startingNumber"] for c in fake.calls("scene-search")][:4] == [1, 3, 5, 7]
    assert {c.body["datasetName"] for c in fake.calls("scene-search")} == {OT}


def test_platforms_of_several_datasets_are_searched_one_dataset_after_the_other(fake, tmp_path):
    services, source = connect(fake, tmp_path)
    with services:
        found, _, _ = search(source, platforms=("Landsat-5", "Landsat-9"))
    assert [s.scene_id[:4] for s in found] == ["LT05", "LC09"]  # Landsat-8 scenes of the OT dataset left out
    assert [c.body["datasetName"] for c in fake.calls("scene-search")] == ["landsat_tm_c2_l2", OT]


def test_a_dataset_bound_source_offers_only_its_platforms(fake, tmp_path):
    services, source = connect(fake, tmp_path, dataset="landsat_etm_c2_l2")
    with services:
        assert tuple(source.supported_platforms()) == ("Landsat-7",)
        with pytest.raises(InputError, match="Landsat-8"):
            search(source, platforms=("Landsat-8",))


def test_cloud_and_area_and_dates_are_sent_and_rechecked_exactly(fake, tmp_path):
    services, source = connect(fake, tmp_path)
    with services:
        found, _, _ = search(source, platforms=("Landsat-8", "Landsat-9"), aoi=None, start_date="2023-10-01",
                             end_date="2023-10-20", cloud_max=35.5)  # fmt: skip
    assert [s.scene_id for s in found] == [FIRST]  # 35.51 % is above 35.5 although M2M's whole percents let it through
    sent = fake.calls("scene-search")[0].body["sceneFilter"]
    assert sent["cloudCoverFilter"] == {"min": 0, "max": 36, "includeUnknown": False}


def test_published_since_uses_the_ingest_filter(fake, tmp_path):
    services, source = connect(fake, tmp_path)
    with services:
        found, _, _ = search(source, platforms=("Landsat-8", "Landsat-9"), published_since="2023-10-17T17:00:00Z")
    assert [s.scene_id[:4] for s in found] == ["LC09", "LC08"]  # the 16:40 one is older
    assert fake.calls("scene-search")[0].body["sceneFilter"]["ingestFilter"]["start"] == "2023-10-17"


def test_one_request_in_flight_per_account_across_threads(tmp_path):
    with UsgsFake(latency=0.05) as fake:
        # The fake does refuse a second concurrent call of one account ...
        key = httpx.post(f"{fake.m2m_url}/login-token", json={"username": fake.username, "token": fake.token}).json()["data"]
        answers = []

        def raw():
            answers.append(httpx.post(f"{fake.m2m_url}/scene-search", json={"datasetName": OT},
                                      headers={"X-Auth-Token": key}).json()["errorCode"])  # fmt: skip

        threads = [threading.Thread(target=raw) for _ in range(4)]
        [t.start() for t in threads]
        [t.join(10) for t in threads]
        assert "RATE_LIMIT_USER" in answers
        fake.rate_limited = 0
        # ... and the source's calls from four threads never overlap.
        services, source = connect(fake, tmp_path)
        errors = []

        def use():
            try:
                search(source, platforms=("Landsat-8",))
            except Exception as exc:  # noqa: BLE001
                errors.append(exc)

        with services:
            threads = [threading.Thread(target=use) for _ in range(4)]
            [t.start() for t in threads]
            [t.join(30) for t in threads]
        assert errors == [] and fake.rate_limited == 0 and len(fake.calls("scene-search")) == 4 + 4


def order_request(source, label="eoharvest-test-label-1", assets=None, display=FIRST, fake=None):
    scene = next(s for s in search(source, platforms=("Landsat-8", "Landsat-9"))[0] if s.scene_id == display)
    return OrderRequest(scene, assets, label)


def test_an_order_is_requested_under_its_label_then_ready_after_retrieves(fake, tmp_path):
    services, source = connect(fake, tmp_path)
    with services:
        request = order_request(source, assets=("red", "qa_pixel"))
        placed = source.place_order(request)
        assert placed.state == PENDING and placed.remote_id
        assert fake.calls("download-request")[0].body["label"] == request.label
        assert len(request.label) <= 50
        assert source.find_order(request).state == PENDING  # by label
        assert source.poll_order(request, OrderRef(request.label, placed.remote_id)).state == READY
        files = source.order_descriptors(request, OrderRef(request.label, placed.remote_id))
    assert sorted(d.filename for d in files) == [f"{FIRST}_QA_PIXEL.TIF", f"{FIRST}_SR_B4.TIF"]
    assert all(d.url.startswith(fake.dds_url) and d.size for d in files)
    sent = fake.calls("download-request")[0].body["downloads"]
    assert {d["entityId"] for d in sent} == {f"L2SR_{FIRST}_SR_B4_TIF", f"L2SR_{FIRST}_QA_PIXEL_TIF"}


def test_nothing_under_the_label_is_no_order_and_an_order_gone_from_usgs_has_expired(fake, tmp_path):
    services, source = connect(fake, tmp_path)
    with services:
        request = order_request(source)
        assert source.find_order(request) is None
        placed = source.place_order(request)
        source.cancel_order(request, OrderRef(request.label, placed.remote_id))
        assert fake.downloads == {}
        assert source.poll_order(request, OrderRef(request.label, placed.remote_id)).state == "expired"


@pytest.mark.parametrize("shape", ["list", "map"])
def test_a_duplicate_request_follows_the_earlier_one_instead_of_requesting_again(tmp_path, shape):
    with UsgsFake(prepare_polls=0, duplicate_shape=shape) as fake:
        services, source = connect(fake, tmp_path)
        with services:
            first = order_request(source, label="earlier-run-label")
            assert source.place_order(first).state == READY
            again = order_request(source, label="eoharvest-other-label")
            status = source.place_order(again)
            assert status.state == READY
            files = source.order_descriptors(again, OrderRef(again.label, status.remote_id))
        assert len(fake.downloads) == 1 and [d.filename for d in files] == [f"{FIRST}.tar"]


def test_the_download_request_quota_is_an_order_quota_not_a_failure(tmp_path):
    with UsgsFake(download_quota=0) as fake:
        services, source = connect(fake, tmp_path)
        with services:
            status = source.place_order(order_request(source))
    assert status.state == INTENT and status.quota and "RATE_LIMIT_USER_DL" in status.reason


def test_t14_the_token_and_key_never_reach_logs_or_errors(fake, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    services, source = connect(fake, tmp_path)
    with services:
        search(source)
        fake.expire_keys()
        request = order_request(source)
        source.place_order(request)
        with pytest.raises(InputError) as err:
            source.download_descriptors(request.scene)
    keys = list(fake.keys) + list(fake.expired)
    text = caplog.text + str(err.value)
    assert fake.token not in text and keys and not any(k in text for k in keys)


def test_product_type_picks_l2sp_or_l2sr_from_the_product_id_and_an_unknown_one_is_refused(tmp_path):
    scenes = [c2_scene(FIRST, "LC80330322023281LGN00", acquired="2023-10-08"),
              c2_scene("LC08_L2SR_033032_20231009_20231017_02_T2", "LC80330322023282LGN00", acquired="2023-10-09")]  # fmt: skip
    with UsgsFake(scenes=scenes) as fake:
        services, source = connect(fake, tmp_path)
        with services:
            reflectance, _, _ = search(source, platforms=("Landsat-8",), product_type="L2SR")
            both, _, _ = search(source, platforms=("Landsat-8",))
            with pytest.raises(InputError, match="L1TP"):
                search(source, platforms=("Landsat-8",), product_type="L1TP")
    assert [s.scene_id for s in reflectance] == ["LC08_L2SR_033032_20231009_20231017_02_T2"]
    assert len(both) == 2
