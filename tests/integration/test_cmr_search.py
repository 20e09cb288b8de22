"""CmrSource search against the loopback CMR: collection look-up, Search-After paging over several
pages, zero hits, the recorded error bodies, form POST for long queries, anonymous searches."""

import json
import logging

import pytest

from eoharvest.adapters.providers.cmr.source import CmrPage
from eoharvest.application.sensor_api import SearchIterator
from eoharvest.domain.errors import AuthError, InputError, ProviderResponseError, RetryExhausted
from eoharvest.domain.footprint import Footprint
from eoharvest.domain.ports import Credentials
from eoharvest.domain.query import SearchQuery
from eoharvest.entrypoints.bootstrap import build
from fakes import FakeClock
from fakes.cmr_server import CMR_HOST, CmrFake, collection_entry, hls_granule, loopback_names, settings_for

GRANULES = "/search/granules.umm_json"


@pytest.fixture
def fake(monkeypatch):
    loopback_names(monkeypatch)
    with CmrFake() as server:
        yield server


@pytest.fixture
def source(fake, tmp_path):
    services = build(settings_for(fake, tmp_path), clock=FakeClock())
    yield services.connect("cmr")
    services.close()


def hls(n, **kw):
    return hls_granule(f"HLS.L30.T13SDV.20210{n:02d}T173836.v2.0", concept_id=f"G21475561{n:02d}-LPCLOUD",
                       start=f"2021-02-{n:02d}T17:38:36.830Z", **kw)


def searches(fake):
    return [s for s in fake.seen if s.host == CMR_HOST and s.path == GRANULES]


def iterate(source, query):
    iterator = SearchIterator(lambda ref: source.search_page(query, ref))
    return iterator, list(iterator)


def test_search_after_pages_resend_every_parameter_and_stop_once_cmr_hits_arrived(fake, source):
    fake.add(*(hls(n) for n in range(1, 8)))
    query = SearchQuery.create(platforms=("HLS",), start_date="2021-02-01", end_date="2021-02-28",
                               aoi=Footprint.from_bbox(-106, 35.5, -105.5, 36), page_size=3)
    iterator, scenes = iterate(source, query)
    assert iterator.total == 7 and len(scenes) == 7
    assert [s.scene_id for s in scenes] == [f"HLS.L30.T13SDV.20210{n:02d}T173836.v2.0" for n in range(1, 8)]
    pages = searches(fake)
    assert len(pages) == 3  # 3 + 3 + 1: the short last page holds the last of the 7 hits
    first = pages[0].params
    assert all(p.params == first for p in pages)  # every parameter, every time
    assert ("collection_concept_id[]", "C2021957657-LPCLOUD") in first
    assert ("collection_concept_id[]", "C2021957295-LPCLOUD") in first
    assert ("bounding_box", "-106,35.5,-105.5,36") in first
    assert ("temporal[]", "2021-02-01T00:00:00Z,2021-02-28T23:59:59Z") in first and ("page_size", "3") in first
    cursors = [p.headers.get("cmr-search-after") for p in pages]
    assert cursors[0] is None and all(json.loads(c)[0] == "lpcloud" for c in cursors[1:])
    assert all("authorization" not in p.headers for p in fake.seen)  # searches are anonymous


def test_a_full_last_page_leads_to_the_empty_page_without_header_only_when_hits_are_not_known(fake, source):
    fake.add(*(hls(n) for n in range(1, 7)))
    query = SearchQuery.create(platforms=("HLS",), page_size=3)
    iterator, scenes = iterate(source, query)
    assert len(scenes) == 6 and len(searches(fake)) == 2  # CMR-Hits says 6: no extra request
    # Without CMR-Hits the end is the empty page, which carries no Search-After header.
    fake.send_hits = False
    fake.seen.clear()
    iterator, scenes = iterate(source, query)
    assert len(scenes) == 6 and iterator.total is None
    pages = searches(fake)
    assert len(pages) == 3 and pages[-1].headers.get("cmr-search-after")


def test_zero_hits_is_one_request_and_an_empty_search(fake, source):
    fake.add(hls(1))
    iterator, scenes = iterate(source, SearchQuery.create(platforms=("HLS",), start_date="1990-01-01", end_date="1990-01-02"))
    assert scenes == [] and iterator.total == 0 and len(searches(fake)) == 1


def test_the_recorded_granules_page_through_search_after_and_map_field_by_field(fake, source):
    fake.add_recorded()
    query = SearchQuery.create(platforms=(), collection_concept_id=["C1378579425-LAADS", "C2270392799-POCLOUD"], page_size=2)
    iterator, scenes = iterate(source, query)
    assert iterator.total == 5 and len(scenes) == 5 and len(searches(fake)) == 3
    by_id = {s.scene_id: s for s in scenes}
    first = by_id["LAADS:2715071895"]
    assert first.platformname == "Terra" and first.product_key == "MOD02QKM.A2000055.0005.061.2017171194850"
    assert first.download_links == (f"{fake.base('data.laadsdaac.earthdatacloud.nasa.gov')}"
                                    "/prod-lads/MOD02QKM/MOD02QKM.A2000055.0005.061.2017171194850.hdf",)
    assert first.size == 27984421 and first.checksums[0].value == "f354ac721cb0f66e1da78b420e734c6a"
    assert by_id["ssh_grids_v2205_2020010212"].footprint.geom_type == "MultiPolygon"


def test_a_short_name_at_two_cmr_providers_searches_the_cloud_one_and_says_so(fake, source, caplog):
    fake.collections.append(collection_entry("C1000000001-LPDAAC_ECS", "HLSL30", "2.0", "LPDAAC_ECS", cloud_hosted=False))
    fake.add(hls(1))
    with caplog.at_level(logging.WARNING, logger="eoharvest.cmr"):
        _, scenes = iterate(source, SearchQuery.create(platforms=("HLS",), product_type="HLSL30"))
    assert [s.scene_id for s in scenes] == ["HLS.L30.T13SDV.2021001T173836.v2.0"]
    assert ("collection_concept_id[]", "C2021957657-LPCLOUD") in searches(fake)[0].params
    assert "HLSL30 v2.0 is also at LPDAAC_ECS; searching HLSL30 v2.0 at LPCLOUD (C2021957657-LPCLOUD)" in caplog.text


def test_provider_id_chooses_the_other_cmr_provider(fake, source):
    fake.collections.append(collection_entry("C1000000001-LPDAAC_ECS", "HLSL30", "2.0", "LPDAAC_ECS", cloud_hosted=False))
    iterate(source, SearchQuery.create(platforms=("HLS",), short_name="HLSL30", provider_id="LPDAAC_ECS"))
    assert ("collection_concept_id[]", "C1000000001-LPDAAC_ECS") in searches(fake)[0].params


def test_an_unknown_short_name_is_an_input_error_that_says_how_to_find_one(fake, source):
    with pytest.raises(InputError) as caught:
        iterate(source, SearchQuery.create(platforms=("HLS",), product_type="HLSL31"))
    assert "CMR has no collection HLSL31" in str(caught.value) and "providers cmr collections --keyword HLSL31" in caught.value.hint


def test_cloud_cover_goes_to_cmr_for_hls_and_the_total_stays_true(fake, source):
    fake.add(hls(1, cloud=14), hls(2, cloud=2), hls(3, cloud=80))
    query = SearchQuery.create(platforms=("HLS",), cloud_max=20)
    page = source.search_page(query, None)
    assert ("cloud_cover", ",20") in searches(fake)[0].params
    assert page.cloud_filtered and page.total == 2 and sorted(s.cloudcover_percentage for s in page.scenes) == [2.0, 14.0]


def test_a_cloud_filter_on_sentinel_1_is_ignored_with_a_warning(fake, source, caplog):
    with caplog.at_level(logging.WARNING, logger="eoharvest.cmr"):
        page = source.search_page(SearchQuery.create(platforms=("Sentinel-1",), cloud_max=20), None)
    assert page.cloud_filtered and not any(k == "cloud_cover" for k, _ in searches(fake)[0].params)
    assert "cloud filter ignored for SENTINEL-1A_SLC, SENTINEL-1B_SLC (radar has no cloud cover)" in caplog.text


def test_an_aoi_across_the_antimeridian_is_one_bounding_box_with_west_greater_than_east(fake, source):
    from eoharvest.domain.aoi import parse_aoi

    aoi = parse_aoi("POLYGON((170 -20, -170 -20, -170 -10, 170 -10, 170 -20))").footprint
    source.search_page(SearchQuery.create(platforms=("HLS",), aoi=aoi), None)
    assert ("bounding_box", "170,-20,-170,-10") in searches(fake)[0].params


def test_a_polygon_aoi_across_the_antimeridian_is_two_counter_clockwise_polygons_or_ed(fake, source):
    from eoharvest.domain.aoi import parse_aoi

    aoi = parse_aoi("POLYGON((170 -20, -170 -25, -175 -10, 170 -20))").footprint
    page = source.search_page(SearchQuery.create(platforms=("HLS",), aoi=aoi), None)
    params = searches(fake)[0].params
    polygons = [v for k, v in params if k == "polygon[]"]
    assert len(polygons) == 2 and ("options[spatial][or]", "true") in params
    assert page.total == 0  # the fake refuses clockwise rings with the recorded 400, so these are CCW


def test_a_very_long_polygon_query_is_sent_as_a_form_post(fake, source):
    import shapely

    circle = shapely.Point(-105.8, 35.6).buffer(0.4, quad_segs=300)
    fake.add(hls(1))
    page = source.search_page(SearchQuery.create(platforms=("HLS",), aoi=Footprint(circle)), None)
    sent = searches(fake)[0]
    assert sent.method == "POST" and sent.query == "" and len(sent.body) > 5000
    assert [s.scene_id for s in page.scenes] == ["HLS.L30.T13SDV.2021001T173836.v2.0"]


def test_recorded_error_bodies_map_to_documented_error_classes(fake, source):
    query = SearchQuery.create(platforms=("HLS",))
    first = source.search_page(query, None)
    assert first.total == 0
    bad_cursor = CmrPage(f"{fake.cmr_url}{GRANULES[7:]}", (("page_size", "10"),), "not-a-json-array")
    with pytest.raises(ProviderResponseError) as paging:
        source.search_page(query, bad_cursor)
    assert "search-after header value is invalid, must be in the form of a JSON array" in str(paging.value)
    unknown = CmrPage(f"{fake.cmr_url}{GRANULES[7:]}", (("foo", "1"),))
    with pytest.raises(InputError) as refused:
        source.search_page(query, unknown)
    assert "cmr refused the search: Parameter [foo] was not recognized." in str(refused.value)
    fake.fail_next.extend([500, 500, 500])
    with pytest.raises(RetryExhausted) as exhausted:
        source.search_page(query, None)
    assert "failed 3 times; last: HTTP 500" in str(exhausted.value)


def test_a_page_size_over_2000_is_refused_before_any_request(fake, source):
    with pytest.raises(InputError) as caught:
        source.search_page(SearchQuery.create(platforms=("HLS",), page_size=2001), None)
    assert "page_size 2001 is out of range" in str(caught.value) and "1 to 2000" in caught.value.hint
    assert searches(fake) == []


def test_unknown_search_options_are_refused_with_the_list_cmr_accepts(fake, source):
    with pytest.raises(InputError) as caught:
        source.search_page(SearchQuery.create(platforms=("HLS",), orbit_direction="ascending"), None)
    assert "orbit_direction" in str(caught.value) and "collection_concept_id" in caught.value.hint


def test_publication_time_and_day_night_flag_become_cmr_parameters(fake, source):
    query = SearchQuery.create(platforms=("MODIS",), updated_since="2024-06-01T00:00:00Z", day_night_flag="Day",
                               revision_date=("2024-06-01", None))
    with pytest.raises(InputError):  # the fake has no MOD09GA/MYD09GA collections: nothing to search
        source.search_page(query, None)
    fake.collections.append(collection_entry("C2202497474-LPCLOUD", "MOD09GA", "061", "LPCLOUD"))
    source.search_page(query, None)
    params = searches(fake)[0].params
    assert ("updated_since", "2024-06-01T00:00:00Z") in params and ("day_night_flag", "day") in params
    assert ("revision_date[]", "2024-06-01T00:00:00Z,") in params
    assert source.capabilities.publication_time_filter and not source.capabilities.needs_activation


def test_searches_never_send_a_token_even_with_credentials(fake, tmp_path):
    fake.add(hls(1))
    services = build(settings_for(fake, tmp_path), clock=FakeClock())
    try:
        source = services.connect("cmr", credentials=Credentials(fake.username, fake.password))
        page = source.search_page(SearchQuery.create(platforms=("HLS",)), None)
    finally:
        services.close()
    assert len(page.scenes) == 1 and all("authorization" not in s.headers for s in fake.seen)
    assert fake.requests_to("urs.earthdata.nasa.gov") == []  # no login for a search


def test_a_token_added_on_the_way_gets_the_recorded_401_as_an_auth_error(fake, source):
    source.api.client.headers["Authorization"] = "Bearer expired"
    try:
        with pytest.raises(AuthError) as caught:
            source.search_page(SearchQuery.create(platforms=("HLS",)), None)
    finally:
        del source.api.client.headers["Authorization"]
    assert "has expired" in str(caught.value) and "without a token" in caught.value.hint

