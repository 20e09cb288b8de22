"""The planet source against the loopback Planet fake: quick-search on the recorded page and its
empty successor, the filter as Planet evaluates it, the recorded 400/401/404 bodies, a page cycle,
and the key sent to the Data API origin only."""

import pytest
from fakes.planet_server import PSSCENE_AOI, SACRAMENTO_AOI, PlanetFake

from eoharvest.adapters.credentials import LayeredCredentials
from eoharvest.adapters.providers.planet import filters
from eoharvest.adapters.providers.planet.source import PlanetPage
from eoharvest.application.settings import Endpoints, Settings
from eoharvest.domain.aoi import parse_aoi
from eoharvest.domain.errors import AuthError, InputError, ProviderResponseError
from eoharvest.domain.ports import Credentials
from eoharvest.domain.query import SearchQuery
from eoharvest.entrypoints.bootstrap import build
from fakes import FakeClock


@pytest.fixture
def fake():
    with PlanetFake() as planet:
        yield planet


def connect(fake, key=None):
    settings = Settings(endpoints=Endpoints(planet_url=fake.url))
    store = LayeredCredentials(explicit={"planet": Credentials(None, key or fake.api_key)}, environ={},
                               keyring_module=False)  # fmt: skip
    services = build(settings, credentials=store, clock=FakeClock())
    return services, services.connect("planet")


def scenes_of(services, source, **kw):
    return list(services.sensor_api(source).scenes(**kw))


def test_the_recorded_page_then_the_empty_page_after_it_end_the_search(fake):
    services, source = connect(fake)
    with services:
        found = scenes_of(services, source, platformname="PlanetScope", aoi=SACRAMENTO_AOI, product_type="PSScene4Band",
                          start_date="2016-08-31", end_date="2016-08-31")  # fmt: skip
    assert len(found) == 17 and len(fake.page_requests) == 1, "one GET: the empty page after the recorded one"
    assert fake.search_bodies[0]["item_types"] == ["PSScene4Band"]


def test_the_fake_applies_the_date_cloud_and_area_filters_we_send(fake):
    fake.add_psscene(5, cloud=0.3)
    services, source = connect(fake)
    with services:
        cloudy = scenes_of(services, source, platformname="PSScene", aoi=PSSCENE_AOI, cloud_min=25, cloud_max=35)
        dated = scenes_of(services, source, platformname="PSScene", aoi=PSSCENE_AOI, start_date="2022-01-26",
                          end_date="2022-01-27")  # fmt: skip
        nowhere = scenes_of(services, source, platformname="PSScene", aoi="10,10,10.1,10.1")
    assert len(cloudy) == 5 and {s.cloudcover_percentage for s in cloudy} == {30.0}
    assert sorted(s.acq_date.day for s in dated) == [26, 27] and nowhere == []


def test_published_since_asks_planet_for_items_published_after_it(fake):
    fake.add_psscene(4)  # published a day after acquisition: Jan 26 .. Jan 29
    services, source = connect(fake)
    with services:
        found = scenes_of(services, source, platformname="PSScene", aoi=PSSCENE_AOI,
                          published_since="2022-01-28T00:00:00Z")  # fmt: skip
    # the clones of Jan 27 and 28 (published Jan 28, 29) and the recorded item (published in April)
    assert sorted(s.scene_id[-4:] for s in found) == ["0002", "0003", "1061"]


def test_a_wrong_key_is_an_auth_error_with_planets_message_and_no_key(fake):
    services, source = connect(fake, key="PLAK-CANARY-WRONG-456")
    with services, pytest.raises(AuthError) as caught:
        source.search_page(SearchQuery.create(platforms=("PlanetScope",)), None)
    text = str(caught.value)
    assert "Please enter your API key." in text and "PLAK-CANARY-WRONG-456" not in text
    assert caught.value.exit_code == 3


def test_a_geometry_planet_refuses_is_an_input_error_with_the_recorded_message(fake, monkeypatch):
    def wkt_filter(query):
        return {"type": "AndFilter", "config": [{"type": "GeometryFilter", "field_name": "geometry",
                                                 "config": "POINT(40 -90)"}]}  # fmt: skip

    monkeypatch.setattr(filters, "search_filter", wkt_filter)
    services, source = connect(fake)
    with services, pytest.raises(InputError, match="'POINT\\(40 -90\\)' is not of type 'object'"):
        source.search_page(SearchQuery.create(platforms=("PlanetScope",)), None)


def test_a_vanished_search_id_is_reported_with_the_recorded_404_message(fake):
    services, source = connect(fake)
    with services, pytest.raises(ProviderResponseError, match="The requested search id does not exist"):
        source.search_page(SearchQuery.create(platforms=("PlanetScope",)),
                           PlanetPage(f"{fake.url}/searches/0123456789abcdef0123456789abcdef/results?_page=e30"))


def test_a_next_link_repeating_its_page_keeps_the_page_then_stops_with_a_page_cycle(tmp_path):
    with PlanetFake(repeat_next=True) as fake:
        services, source = connect(fake)
        search = services.sensor_api(source).scenes(platformname="PlanetScope", aoi=SACRAMENTO_AOI,
                                                    product_type="PSScene4Band")  # fmt: skip
        kept = []
        with services, pytest.raises(ProviderResponseError, match="repeats the page just read"):
            for scene in search:
                kept.append(scene)
    assert len(kept) == 17 and fake.page_requests == []


def test_the_key_goes_to_the_data_api_only_as_basic_auth_with_an_empty_password(fake):
    services, source = connect(fake)
    with services:
        source.search_page(SearchQuery.create(platforms=("PlanetScope",), aoi=parse_aoi(PSSCENE_AOI).footprint), None)
    import base64

    (headers,) = fake.api_headers
    assert base64.b64decode(headers["Authorization"][6:]).decode() == f"{fake.api_key}:"
    auth = source.api.auth
    assert auth.allows(f"{fake.url}/quick-search") and not auth.allows(f"{fake.storage.origin}/files/x")


def test_a_used_up_quota_pauses_activations_but_not_searches_and_the_pause_ends(tmp_path):
    from eoharvest.domain.orders import OrderRequest

    with PlanetFake(quota_exhausted=True) as fake:
        settings = Settings(endpoints=Endpoints(planet_url=fake.url))
        store = LayeredCredentials(explicit={"planet": Credentials(None, fake.api_key)}, environ={},
                                   keyring_module=False)  # fmt: skip
        clock = FakeClock()
        with build(settings, credentials=store, clock=clock) as services:
            source = services.connect("planet")
            query = SearchQuery.create(platforms=("PlanetScope",), aoi=parse_aoi(PSSCENE_AOI).footprint)
            (scene,) = source.search_page(query, None).scenes
            request = OrderRequest(scene, None, "label")
            for _ in range(2):
                with pytest.raises(AuthError, match="download quota is used up"):
                    source.place_order(request)
            assert sum(fake.activation_requests.values()) == 1, "the quota 429 is never retried"
            assert source.search_page(query, None).scenes, "searching goes on"
            clock.advance(3601)
            with pytest.raises(AuthError):
                source.place_order(request)
    assert sum(fake.activation_requests.values()) == 2, "asked again once the pause is over"


def test_activations_are_paced_on_the_keys_budget_through_the_port(monkeypatch):
    """Planet's 5 activations a second are asked of the composition root's provider budgets
    (shared by every process on a PostgreSQL catalog), under the key's digest, never the key."""
    from contextlib import nullcontext

    from eoharvest.domain.budgets import ACTIVATIONS, BudgetKey, account_digest
    from eoharvest.domain.orders import OrderRequest
    from eoharvest.entrypoints.bootstrap import Services

    class Recording:
        def __init__(self):
            self.paces = []

        def slot(self, key, limit, stopped=None):
            return nullcontext()

        def pace(self, key, rate, stopped=None):
            self.paces.append((key, rate))

        def close(self):
            pass

    recording = Recording()
    monkeypatch.setattr(Services, "budgets", lambda self: recording)
    with PlanetFake() as fake:
        services, source = connect(fake)
        with services:
            query = SearchQuery.create(platforms=("PlanetScope",), aoi=parse_aoi(PSSCENE_AOI).footprint)
            (scene,) = source.search_page(query, None).scenes
            source.place_order(OrderRequest(scene, None, "label"))
        activations = sum(fake.activation_requests.values())
    key = BudgetKey("planet", account_digest(fake.api_key), ACTIVATIONS)
    assert activations >= 1 and recording.paces == [(key, 5.0)] * activations
    assert fake.api_key not in str(key)
