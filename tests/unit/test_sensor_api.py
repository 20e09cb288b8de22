"""SensorWebAPI over a scene source: validation, platform names, AOI, paging, cloud filter."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from fakes import FakeFetcher, FakeSceneSource, FakeVectorReader, make_scene
from shapely.geometry import box

from eoharvest.application.downloading import SourceDownloader, source_downloader_factory
from eoharvest.application.sensor_api import (
    Scenes,
    SearchIterator,
    SensorAPI,
    SensorWebAPI,
    SourceBackedSensorAPI,
)
from eoharvest.domain.errors import InputError
from eoharvest.domain.ports import VectorLayer

MARKHAM = """{"type": "Polygon", "coordinates":
          [[[-79.4, 43.8], [-79.3, 43.8],
            [-79.3, 43.9], [-79.4, 43.9],
            [-79.4, 43.8]]]}"""


def api_over(source, **kwargs):
    return SourceBackedSensorAPI(source, **kwargs)


def last_query(source):
    return source.queries[-1][0]


@pytest.mark.parametrize("name", ["Sentinel-2", "S2", "sentinel2", "SENTINEL-2", "s2a"])
def test_platform_names_are_case_insensitive_and_accept_aliases(name):
    source = FakeSceneSource([[make_scene("a")]])
    api = api_over(source)
    assert api.platformname(name) == "Sentinel-2"
    list(api.scenes(platformname=name))
    assert last_query(source).platforms == ("Sentinel-2",)


def test_an_unknown_platform_is_an_input_error_listing_the_supported_names():
    api = api_over(FakeSceneSource(platforms=("Sentinel-1", "Sentinel-2")))
    with pytest.raises(InputError) as caught:
        api.scenes(platformname="Landsat-8")
    message = str(caught.value)
    assert "Landsat-8" in message
    assert "Sentinel-1" in message and "Sentinel-2" in message


def test_no_platform_means_every_supported_platform():
    source = FakeSceneSource([[]], platforms=("Sentinel-1", "Sentinel-2"))
    list(api_over(source).scenes())
    assert last_query(source).platforms == ("Sentinel-1", "Sentinel-2")


def test_a_list_of_platforms_is_resolved_and_deduplicated():
    source = FakeSceneSource([[]])
    list(api_over(source).scenes(platformname=["S2", "Sentinel-2", "s1"]))
    assert last_query(source).platforms == ("Sentinel-2", "Sentinel-1")


def test_supported_platformnames_is_the_sources_on_an_instance_and_platforms_on_the_class():
    class Copernicus(SourceBackedSensorAPI):
        PLATFORMS = ("Sentinel-1", "Sentinel-2", "Sentinel-3")

    api = Copernicus(FakeSceneSource(platforms=("Sentinel-2",)))
    assert api.supported_platformnames() == ("Sentinel-2",)
    assert Copernicus.supported_platformnames() == ("Sentinel-1", "Sentinel-2", "Sentinel-3")


def test_start_after_end_is_an_input_error_raised_by_scenes_before_any_request():
    source = FakeSceneSource([[make_scene("a")]])
    with pytest.raises(InputError, match="start 2019-05-21 is after end 2019-05-11"):
        api_over(source).scenes(start_date=datetime(2019, 5, 21), end_date=datetime(2019, 5, 11))
    assert source.queries == []


def test_an_impossible_date_is_an_input_error():
    with pytest.raises(InputError, match="2019-02-30"):
        api_over(FakeSceneSource()).scenes(start_date="2019-02-30")


def test_naive_datetimes_are_taken_as_utc():
    source = FakeSceneSource([[]])
    list(api_over(source).scenes(start_date=datetime(2019, 5, 11, 12), end_date=date(2019, 5, 21)))
    query = last_query(source)
    assert query.start == datetime(2019, 5, 11, 12, tzinfo=timezone.utc)
    assert query.end.date() == date(2019, 5, 21) and query.end.tzinfo is not None
    assert query.end.utcoffset() == timedelta(0)


def test_aware_datetimes_are_converted_to_utc():
    source = FakeSceneSource([[]])
    toronto = timezone(timedelta(hours=-4))
    list(api_over(source).scenes(start_date=datetime(2019, 5, 11, 8, tzinfo=toronto)))
    assert last_query(source).start == datetime(2019, 5, 11, 12, tzinfo=timezone.utc)


def test_cloud_min_above_cloud_max_is_an_input_error():
    with pytest.raises(InputError, match="cloud_min 50 is greater than cloud_max 10"):
        api_over(FakeSceneSource()).scenes(cloud_min=50, cloud_max=10)


@pytest.mark.parametrize("bad", [-5, 101, float("nan"), "12%"])
def test_cloud_values_outside_0_to_100_or_not_numbers_are_input_errors(bad):
    with pytest.raises(InputError, match="cloud_max"):
        api_over(FakeSceneSource()).scenes(cloud_max=bad)


def test_a_geojson_aoi_becomes_the_query_footprint():
    source = FakeSceneSource([[]])
    list(api_over(source).scenes(aoi=MARKHAM))
    assert last_query(source).aoi.bbox == pytest.approx((-79.4, 43.8, -79.3, 43.9))


def test_a_vector_file_aoi_is_read_through_the_vector_reader():
    reader = FakeVectorReader(
        {"area.gpkg": VectorLayer((box(-79.4, 43.8, -79.3, 43.9),), "EPSG:4326")}
    )
    source = FakeSceneSource([[]])
    list(api_over(source, aoi_reader=reader).scenes(aoi="area.gpkg"))
    assert reader.reads == ["area.gpkg"]
    assert last_query(source).aoi.bbox == pytest.approx((-79.4, 43.8, -79.3, 43.9))


def test_an_invalid_aoi_is_an_input_error_raised_by_scenes():
    source = FakeSceneSource([[]])
    with pytest.raises(InputError):
        api_over(source).scenes(aoi="POLYGON((0 0, 1 1))")
    assert source.queries == []


def test_scenes_validates_at_once_but_fetches_pages_only_while_iterating():
    source = FakeSceneSource([[make_scene("a")], [make_scene("b")]], total=2)
    search = api_over(source).scenes(platformname="S2")
    assert isinstance(search, SearchIterator)
    assert source.queries == []
    assert [s.scene_id for s in search] == ["a", "b"]
    assert source.refs_requested == [None, 1]


def test_the_providers_total_is_reported():
    source = FakeSceneSource([[make_scene("a")], [make_scene("b")]], total=2)
    assert api_over(source).scenes().total == 2


def test_provider_options_reach_the_source_query():
    source = FakeSceneSource([[]])
    list(api_over(source).scenes(productType="S2MSI2A"))
    assert last_query(source).options == {"productType": "S2MSI2A"}


def test_query_returns_one_page_selected_by_ref():
    source = FakeSceneSource([[make_scene("a")], [make_scene("b")]])
    api = api_over(source)
    first = api.query(platformname="S2")
    assert isinstance(first, Scenes)
    assert [s.scene_id for s in first] == ["a"]
    second = api.query(platformname="S2", ref=first.get_next_ref(None))
    assert [s.scene_id for s in second] == ["b"]
    assert second.get_next_ref(1) is None


def test_cloud_range_is_applied_client_side_when_the_source_cannot_filter():
    scenes = [make_scene("clear", cloud=5), make_scene("cloudy", cloud=80), make_scene("sar")]
    source = FakeSceneSource([scenes], total=3)
    search = api_over(source).scenes(cloud_max=20)
    assert [s.scene_id for s in search] == ["clear", "sar"]
    assert search.total is None


def test_a_source_that_filters_clouds_keeps_its_total_and_a_scene_it_wrongly_returns_is_dropped():
    scenes = [make_scene("clear", cloud=5), make_scene("cloudy", cloud=80)]
    source = FakeSceneSource([scenes], total=2, filters_cloud=True)
    search = api_over(source).scenes(cloud_max=20)
    assert search.total == 2
    assert [s.scene_id for s in search] == ["clear"]
    assert last_query(source).cloud_max == 20


def test_scenes_are_bound_to_the_downloader_factory_and_carry_the_provider(tmp_path):
    source = FakeSceneSource([[make_scene("a", provider="")]], name="cdse")
    fetcher = FakeFetcher()
    api = api_over(source, downloader_factory=source_downloader_factory(source, fetcher))
    scene = next(api.scenes())
    assert scene.provider == "cdse"
    downloader = scene.downloader()
    assert isinstance(downloader, SourceDownloader)
    assert downloader.scene_id == "a"
    assert downloader.activate() is True
    result = downloader.download(str(tmp_path))
    assert (tmp_path / "a.zip").read_bytes() == b"fake bytes of a\n"
    assert result.out_files == (str(tmp_path / "a.zip"),)


def test_a_scene_without_a_downloader_factory_says_it_is_unbound():
    scene = next(api_over(FakeSceneSource([[make_scene("a")]])).scenes())
    with pytest.raises(InputError, match="not bound"):
        scene.downloader()


def test_sensor_api_and_sensor_web_api_are_abstract():
    with pytest.raises(TypeError):
        SensorAPI()  # type: ignore[abstract]
    with pytest.raises(TypeError):
        SensorWebAPI()  # type: ignore[abstract]
