"""SensorRegistry and AggregateSensorAPI: credentials-based instantiation, merge, dedup, totals."""

from __future__ import annotations

import logging

import pytest
from fakes import FakeSceneSource, make_scene

from eoharvest.application.aggregate import AggregateSensorAPI
from eoharvest.application.registry import SensorRegistry
from eoharvest.application.sensor_api import SourceBackedSensorAPI
from eoharvest.domain.errors import AuthError, InputError, ProviderResponseError


def api_class(name, source, credential, platforms):
    """A SensorAPI class over ``source`` that needs the keyword ``credential`` to be created."""

    class Api(SourceBackedSensorAPI):
        PLATFORMS = tuple(platforms)
        provider_name = name

        @classmethod
        def create_instance(cls, **kwargs):
            if not kwargs.get(credential):
                raise AuthError(f"{name}: {credential} is missing")
            return cls(source)

    Api.__name__ = Api.__qualname__ = name.capitalize()
    return Api


@pytest.fixture
def sources():
    return {
        "copernicus": FakeSceneSource(
            [[make_scene("S2A_1", provider="copernicus", product_key="S2A_1")],
             [make_scene("S2A_2", provider="copernicus", product_key="S2A_2")]],
            name="copernicus", platforms=("Sentinel-1", "Sentinel-2"), total=2,
        ),
        "cmr": FakeSceneSource(
            [[make_scene("G1-S2A_2", provider="cmr", product_key="S2A_2"),
              make_scene("G2-HLS", provider="cmr", platform="HLS", product_key="HLS_1")]],
            name="cmr", platforms=("Sentinel-2", "HLS"), total=2,
        ),
        "planet": FakeSceneSource(
            [[make_scene("psscene1", provider="planet", platform="PlanetScope")]],
            name="planet", platforms=("PlanetScope",), total=1,
        ),
    }


@pytest.fixture
def registry(sources):
    reg = SensorRegistry()
    reg.register(api_class("copernicus", sources["copernicus"], "copernicus_username",
                           ["Sentinel-1", "Sentinel-2"]))
    reg.register(api_class("cmr", sources["cmr"], "cmr_username", ["Sentinel-2", "HLS"]))
    reg.register(api_class("planet", sources["planet"], "planet_api_key", ["PlanetScope"]))
    return reg


ALL_CREDENTIALS = {"copernicus_username": "u", "cmr_username": "u", "planet_api_key": "k"}


def ids(scenes):
    return [s.scene_id for s in scenes]


# -- registry ----------------------------------------------------------------------------
def test_registry_lists_names_in_registration_order_and_looks_them_up_ignoring_case(registry):
    assert registry.names() == ["copernicus", "cmr", "planet"]
    assert registry.get("CMR").__name__ == "Cmr"
    assert "Planet" in registry and len(registry) == 3


def test_an_unknown_name_is_an_input_error_listing_the_registered_ones(registry):
    with pytest.raises(InputError, match="copernicus, cmr, planet"):
        registry.get("usgs")


def test_registering_another_class_under_a_taken_name_is_refused_but_re_registering_is_fine(
    registry, sources
):
    cls = registry.get("cmr")
    assert registry.register(cls) is cls
    with pytest.raises(InputError, match="already registered"):
        registry.register(api_class("cmr", sources["cmr"], "x", ["HLS"]))


def test_a_class_without_create_instance_cannot_be_registered():
    class Bare(SourceBackedSensorAPI):
        pass

    with pytest.raises(InputError, match="create_instance"):
        SensorRegistry().register(Bare)


def test_create_instances_skips_classes_whose_credentials_are_missing(registry, caplog):
    with caplog.at_level(logging.DEBUG, logger="eoharvest"):
        instances = registry.create_instances(cmr_username="u")
    assert [i.name for i in instances] == ["cmr"]
    assert "copernicus_username is missing" in caplog.text


def test_create_instances_lets_other_errors_through(registry):
    class Broken(SourceBackedSensorAPI):
        @classmethod
        def create_instance(cls, **kwargs):
            raise ValueError("bad configuration")

    registry.register(Broken)
    with pytest.raises(ValueError, match="bad configuration"):
        registry.create_instances(**ALL_CREDENTIALS)


def test_create_instances_skips_a_class_that_returns_none(registry):
    class Optional(SourceBackedSensorAPI):
        @classmethod
        def create_instance(cls, **kwargs):
            return None

    registry.register(Optional)
    assert len(registry.create_instances(**ALL_CREDENTIALS)) == 3


# -- aggregate ---------------------------------------------------------------------------
def test_aggregate_needs_a_registry():
    with pytest.raises(InputError, match="registry"):
        AggregateSensorAPI(copernicus_username="u")


def test_a_subclass_can_bind_a_default_registry(registry):
    class Bound(AggregateSensorAPI):
        default_registry = registry

    api = Bound(**ALL_CREDENTIALS)
    assert len(api.instances) == 3
    assert Bound.supported_platformnames() == ("Sentinel-1", "Sentinel-2", "HLS", "PlanetScope")


def test_aggregate_stores_kwargs_and_supports_the_union_of_its_instances(registry):
    api = AggregateSensorAPI(registry, copernicus_username="u", planet_api_key="k")
    assert api.kwargs == {"copernicus_username": "u", "planet_api_key": "k"}
    assert api.supported_platformnames() == ("Sentinel-1", "Sentinel-2", "PlanetScope")


def test_aggregate_merges_providers_in_order_and_keeps_the_first_copy_of_a_product(
    registry, sources
):
    search = AggregateSensorAPI(registry, **ALL_CREDENTIALS).scenes()
    assert ids(search) == ["S2A_1", "S2A_2", "G2-HLS", "psscene1"]
    assert search.duplicates_dropped == 1


def test_aggregate_fetches_a_provider_only_after_the_previous_one_is_exhausted(
    registry, sources
):
    search = AggregateSensorAPI(registry, **ALL_CREDENTIALS).scenes()
    assert next(search).scene_id == "S2A_1"
    assert sources["cmr"].queries == [] and sources["planet"].queries == []
    list(search)
    assert len(sources["cmr"].queries) == 1 and len(sources["planet"].queries) == 1


def test_aggregate_asks_each_provider_only_for_the_requested_platforms_it_supports(
    registry, sources
):
    list(AggregateSensorAPI(registry, **ALL_CREDENTIALS).scenes(platformname=["S2", "HLS"]))
    assert sources["copernicus"].queries[0][0].platforms == ("Sentinel-2",)
    assert sources["cmr"].queries[0][0].platforms == ("Sentinel-2", "HLS")
    assert sources["planet"].queries == []


def test_aggregate_total_is_the_sum_of_the_provider_totals_before_deduplication(registry):
    search = AggregateSensorAPI(registry, **ALL_CREDENTIALS).scenes()
    assert search.total == 5
    assert len(list(search)) == 4


def test_aggregate_total_is_none_when_a_provider_does_not_report_one(registry, sources):
    sources["planet"].total = None
    assert AggregateSensorAPI(registry, **ALL_CREDENTIALS).scenes().total is None


def test_aggregate_skips_providers_without_credentials(registry, sources):
    search = AggregateSensorAPI(registry, cmr_username="u").scenes(platformname="Sentinel-2")
    assert ids(search) == ["G1-S2A_2"]
    assert sources["copernicus"].queries == []


def test_aggregate_without_any_credentials_is_an_auth_error_naming_the_keywords(registry):
    with pytest.raises(AuthError, match="planet_api_key"):
        AggregateSensorAPI(registry).scenes()


def test_a_platform_no_provider_supports_is_an_input_error_listing_the_union(registry):
    api = AggregateSensorAPI(registry, copernicus_username="u", planet_api_key="k")
    with pytest.raises(InputError) as caught:
        api.scenes(platformname="HLS")
    assert "Sentinel-1, Sentinel-2, PlanetScope" in str(caught.value)


def test_aggregate_validates_inputs_before_fetching_anything(registry, sources):
    api = AggregateSensorAPI(registry, **ALL_CREDENTIALS)
    with pytest.raises(InputError, match="is after end"):
        api.scenes(start_date="2019-05-21", end_date="2019-05-11")
    assert all(s.queries == [] for s in sources.values())


def test_a_failing_provider_stops_the_aggregate_search_by_default(registry, sources):
    sources["cmr"].fail_on[None] = ProviderResponseError("cmr is down")
    search = AggregateSensorAPI(registry, **ALL_CREDENTIALS).scenes()
    with pytest.raises(ProviderResponseError, match="cmr is down"):
        list(search)


def test_a_failing_provider_is_skipped_and_reported_when_asked(registry, sources, caplog):
    sources["cmr"].fail_on[None] = ProviderResponseError("cmr is down")
    api = AggregateSensorAPI(registry, **ALL_CREDENTIALS)
    search = api.scenes(skip_failed_providers=True)
    assert ids(search) == ["S2A_1", "S2A_2", "psscene1"]
    assert [name for name, _ in search.failed_providers] == ["cmr"]
    assert "cmr is down" in caplog.text


def test_a_provider_failing_on_total_is_excluded_from_total_and_results_when_skipping(
    registry, sources
):
    sources["planet"].fail_on[None] = ProviderResponseError("planet is down")
    search = AggregateSensorAPI(registry, skip_failed_providers=True, **ALL_CREDENTIALS).scenes()
    assert search.total == 4
    assert ids(search) == ["S2A_1", "S2A_2", "G2-HLS"]
