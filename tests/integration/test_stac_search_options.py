"""STAC search options (ids, query, CQL2 filter, sortby, page_size) are sent as the item-search
extensions define them, or refused before any search when the server does not conform; and a
search with a limit never asks a page for more items than are left. Recorded landing pages and
search answers from Earth Search (query + sort, no filter) and Planetary Computer (filter,
CQL2 text and JSON, query, sort)."""

import json

import httpx
import pytest

from corpus import load_text
from eoharvest.adapters.http.guard import UrlGuard
from eoharvest.adapters.http.jsonapi import JsonApi
from eoharvest.adapters.providers.stac.search import PageRequest, StacSource
from eoharvest.application.sensor_api import SourceBackedSensorAPI
from eoharvest.domain.errors import InputError
from eoharvest.domain.query import SearchQuery
from eoharvest.domain.retry import RetryPolicy

from fakes.stac_recorder import ES, PC, Recorder, is_landing, source  # noqa: E402


def earth_search():
    return Recorder([
        (is_landing(ES), "stac_earth_search", "01_landing_v1.json"),
        (lambda r, b: b and "next" in b, "stac_earth_search", "05_search_page2_empty.json"),
        (lambda r, b: r.method == "POST", "stac_earth_search", "02_search_cql2_cloud_cover_page1.json"),
    ])


def planetary_computer():
    return Recorder([
        (is_landing(PC), "stac_planetary_computer", "01_landing.json"),
        (lambda r, b: b and b.get("token"), "stac_planetary_computer", "03_search_naip_page2_token.json"),
        (lambda r, b: r.method == "POST", "stac_planetary_computer", "02_search_naip_page1.json"),
    ])


def posts(rec):
    return [body for method, _, body in rec.requests if method == "POST"]


def test_query_and_sortby_reach_earth_search_and_the_cloud_range_joins_the_query():
    rec = earth_search()
    query = SearchQuery.create(platforms=("Sentinel-2",), cloud_max=40,
                               query={"s2:mgrs_tile": {"eq": "24MXV"}, "eo:cloud_cover": {"gte": 5}},
                               sortby="-properties.datetime", ids="S2B_T24MXV_20250731T130245_L2A")
    page = source(rec, ES).search_page(query, None)
    sent = posts(rec)[0]
    assert sent["query"] == {"s2:mgrs_tile": {"eq": "24MXV"}, "eo:cloud_cover": {"gte": 5, "lte": 40.0}}
    assert sent["sortby"] == [{"field": "properties.datetime", "direction": "desc"}]
    assert sent["ids"] == ["S2B_T24MXV_20250731T130245_L2A"]
    assert page.cloud_filtered


def test_a_cql2_filter_is_refused_by_earth_search_before_any_search_listing_what_it_accepts():
    rec = earth_search()
    query = SearchQuery.create(platforms=("Sentinel-2",), filter="s2:mgrs_tile = '24MXV'")
    with pytest.raises(InputError) as caught:
        source(rec, ES).search_page(query, None)
    assert "'filter'" in str(caught.value) and "Filter extension" in str(caught.value)
    assert "query" in caught.value.hint and "sortby" in caught.value.hint and "filter" not in caught.value.hint
    assert posts(rec) == []


def test_a_cql2_text_filter_goes_to_planetary_computer_with_the_cloud_range_anded_in_text():
    rec = planetary_computer()
    query = SearchQuery.create(platforms=("NAIP",), cloud_max=10, filter="naip:state = 'fl'")
    source(rec, PC, name="planetary-computer").search_page(query, None)
    sent = posts(rec)[0]
    assert sent["filter-lang"] == "cql2-text"
    assert sent["filter"] == "(naip:state = 'fl') AND eo:cloud_cover <= 10"
    assert "query" not in sent


def test_a_cql2_json_filter_is_anded_with_the_cloud_range_in_json():
    rec = planetary_computer()
    user = {"op": "=", "args": [{"property": "naip:state"}, "fl"]}
    query = SearchQuery.create(platforms=("NAIP",), cloud_min=1, cloud_max=10, filter=user)
    source(rec, PC, name="planetary-computer").search_page(query, None)
    sent = posts(rec)[0]
    assert sent["filter-lang"] == "cql2-json"
    assert sent["filter"] == {"op": "and", "args": [user, {"op": "and", "args": [
        {"op": ">=", "args": [{"property": "eo:cloud_cover"}, 1.0]},
        {"op": "<=", "args": [{"property": "eo:cloud_cover"}, 10.0]}]}]}


@pytest.mark.parametrize("options, words", [
    ({"query": {"gsd": {"between": [0, 1]}}}, "unknown operator"),
    ({"query": ["gsd"]}, "mapping"),
    ({"sortby": [{"field": "datetime", "direction": "up"}]}, "sortby entry"),
    ({"filter": 42}, "CQL2"),
    ({"ids": []}, "ids"),
    ({"page_size": 0}, "page_size"),
])
def test_malformed_option_values_are_input_errors_naming_the_value(options, words):
    rec = planetary_computer()
    with pytest.raises(InputError, match=words):
        source(rec, PC, name="planetary-computer").search_page(SearchQuery.create(platforms=("NAIP",), **options), None)
    assert posts(rec) == []


def test_an_option_no_stac_server_takes_is_refused_by_scenes_naming_it_and_listing_the_stac_options():
    rec = earth_search()
    api = SourceBackedSensorAPI(source(rec, ES))
    with pytest.raises(InputError) as caught:
        api.scenes(platformname="S2", relativeOrbitNumber=65, tileId="17TPJ")
    assert "relativeOrbitNumber, tileId" in str(caught.value)
    for accepted in ("collections", "filter", "ids", "query", "sortby", "limit"):
        assert accepted in caught.value.hint
    assert rec.requests == []


def test_limited_pages_ask_a_post_next_link_and_a_get_next_link_for_no_more_than_is_left():
    rec = planetary_computer()
    src = source(rec, PC, name="planetary-computer")
    api = SourceBackedSensorAPI(src)
    found = list(api.scenes(platformname="NAIP", limit=13))
    assert len(found) == 13
    sent = posts(rec)
    assert [b["limit"] for b in sent] == [13, 3]  # the recorded next link said limit 10
    assert sent[1]["token"].startswith("next:naip:")
    get = PageRequest("GET", f"{PC}/collections/aster-l1t/items?collections=aster-l1t&limit=100&token=next:x")
    capped = src._capped(get, 7)
    assert capped.url.endswith("limit=7") and "token=next%3Ax" in capped.url and "limit=100" not in capped.url
