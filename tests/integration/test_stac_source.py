"""StacSource flows (conformance, paging variants, cloud filters, signing) on recorded responses."""

import json
import logging
from datetime import datetime, timedelta, timezone

import httpx
import pytest

from corpus import load, load_text
from eoharvest.adapters.http.guard import UrlGuard
from eoharvest.adapters.http.jsonapi import JsonApi
from eoharvest.adapters.providers.stac.signing import SasSigner
from eoharvest.adapters.providers.stac.search import PageRequest, StacSource
from eoharvest.domain.errors import InputError, ProviderResponseError
from eoharvest.domain.footprint import Footprint
from eoharvest.domain.query import SearchQuery
from eoharvest.domain.retry import RetryPolicy

from fakes.stac_recorder import ES, PC, Recorder, is_landing, source  # noqa: E402


def test_earth_search_pages_follow_next_tokens_and_keep_the_original_query():
    rec = Recorder([
        (is_landing(ES), "stac_earth_search", "01_landing_v1.json"),
        (lambda r, b: b and "next" in b, "stac_earth_search", "05_search_page2_empty.json"),
        (lambda r, b: r.method == "POST", "stac_earth_search", "04_search_two_collections_point_page1.json"),
    ])
    src = source(rec, ES)
    query = SearchQuery.create(platforms=("Sentinel-2", "Landsat-8"), aoi=Footprint.from_geojson({"type": "Point", "coordinates": [-105.1019, 40.1672]}),
                               start_date="2023-10-08", end_date="2023-10-08")
    first = src.search_page(query, None)
    assert [s.platformname for s in first.scenes] == ["Sentinel-2", "Landsat-8"]
    assert first.total == 2
    assert isinstance(first.next_ref, PageRequest)
    second = src.search_page(query, first.next_ref)
    assert second.scenes == () and second.next_ref is None
    sent = [b for m, u, b in rec.requests if m == "POST"]
    assert sent[0]["collections"] == ["sentinel-2-c1-l2a", "landsat-c2-l2"]
    assert sent[0]["datetime"] == "2023-10-08T00:00:00Z/2023-10-08T23:59:59.999999Z"
    assert sent[1]["next"].endswith("landsat-c2-l2")
    assert sent[1]["intersects"] == sent[0]["intersects"]  # merged, not replaced


def test_merge_false_next_bodies_do_not_lose_the_cloud_filter():
    rec = Recorder([
        (is_landing(ES), "stac_earth_search", "01_landing_v1.json"),
        (lambda r, b: b and "next" in b, "stac_earth_search", "05_search_page2_empty.json"),
        (lambda r, b: r.method == "POST", "stac_earth_search", "02_search_cql2_cloud_cover_page1.json"),
    ])
    src = source(rec, ES)
    query = SearchQuery.create(platforms=("Sentinel-2",), cloud_max=40)
    page = src.search_page(query, None)
    src.search_page(query, page.next_ref)
    first, second = [b for m, u, b in rec.requests if m == "POST"]
    # Earth Search declares the query extension but not CQL2 filter: use query.
    assert first["query"] == {"eo:cloud_cover": {"lte": 40.0}}
    assert "filter" not in first
    assert second["query"] == first["query"] and "next" in second
    assert page.total == 115912757


def test_items_of_other_platforms_in_a_shared_collection_are_dropped():
    rec = Recorder([
        (is_landing(ES), "stac_earth_search", "01_landing_v1.json"),
        (lambda r, b: r.method == "POST", "stac_earth_search", "02_search_cql2_cloud_cover_page1.json"),
    ])
    page = source(rec, ES).search_page(SearchQuery.create(platforms=("Sentinel-2",)), None)
    assert page.scenes and all(s.platformname == "Sentinel-2" for s in page.scenes)


def test_planetary_computer_uses_cql2_filter_and_token_paging():
    rec = Recorder([
        (is_landing(PC), "stac_planetary_computer", "01_landing.json"),
        (lambda r, b: b and b.get("token", "").endswith("se_11_060_20231117_20240103"), "stac_planetary_computer", "03_search_naip_page2_token.json"),
        (lambda r, b: b and b.get("token"), "stac_planetary_computer", "04_search_naip_page3_token.json"),
        (lambda r, b: r.method == "POST", "stac_planetary_computer", "02_search_naip_page1.json"),
    ])
    src = source(rec, PC, name="planetary-computer")
    query = SearchQuery.create(platforms=("NAIP",), cloud_max=10)
    p1 = src.search_page(query, None)
    p2 = src.search_page(query, p1.next_ref)
    p3 = src.search_page(query, p2.next_ref)
    assert len(p1.scenes) == len(p2.scenes) == len(p3.scenes) == 10
    assert p1.total is None
    bodies = [b for m, u, b in rec.requests if m == "POST"]
    assert bodies[0]["filter"] == {"op": "<=", "args": [{"property": "eo:cloud_cover"}, 10.0]}
    assert bodies[0]["filter-lang"] == "cql2-json"
    assert bodies[1]["token"].startswith("next:naip:")
    assert bodies[1]["collections"] == ["naip"]


def test_get_next_links_are_followed_verbatim():
    rec = Recorder([(lambda r, b: r.method == "GET", "stac_planetary_computer", "14_collection_items_get_nextlink.json")])
    src = source(rec, PC, name="planetary-computer")
    ref = PageRequest("GET", f"{PC}/collections/aster-l1t/items?collections=aster-l1t")
    page = src.search_page(SearchQuery.create(collections=["aster-l1t"]), ref)
    assert page.next_ref.method == "GET" and "token=next:aster-l1t:" in page.next_ref.url


def test_a_cloud_filter_on_radar_is_ignored_with_a_warning(caplog):  # B-20
    rec = Recorder([
        (is_landing(ES), "stac_earth_search", "01_landing_v1.json"),
        (lambda r, b: r.method == "POST", "stac_earth_search", "02_search_cql2_cloud_cover_page1.json"),
    ])
    with caplog.at_level(logging.WARNING, logger="eoharvest"):
        page = source(rec, ES).search_page(SearchQuery.create(platforms=("Sentinel-1",), cloud_max=10), None)
    body = [b for m, u, b in rec.requests if m == "POST"][0]
    assert "query" not in body and "filter" not in body
    assert "cloud filter ignored for Sentinel-1" in caplog.text
    assert page.scenes


def test_an_unknown_product_type_lists_the_choices():
    rec = Recorder([(is_landing(ES), "stac_earth_search", "01_landing_v1.json")])
    with pytest.raises(InputError, match="L2A"):
        source(rec, ES).search_page(SearchQuery.create(platforms=("Sentinel-2",), product_type="L3"), None)


def test_a_404_error_body_becomes_a_provider_response_error():
    rec = Recorder([])
    with pytest.raises(ProviderResponseError, match="HTTP 404"):
        source(rec, ES).search_page(SearchQuery.create(platforms=("Sentinel-2",)), PageRequest("GET", f"{ES}/collections/x/items"))


def test_html_maintenance_pages_are_reported_as_such():  # B-28
    def handler(request):
        return httpx.Response(200, text="<html>maintenance</html>", headers={"Content-Type": "text/html"})

    with pytest.raises(ProviderResponseError, match="expected JSON, got text/html"):
        source(handler, ES).conformance()


def test_planetary_computer_assets_are_signed_and_tokens_cached():
    calls = []

    def handler(request):
        calls.append(str(request.url))
        data = load("stac_planetary_computer", "15_sas_token_sentinel2l2a.json")
        data["msft:expiry"] = (datetime.now(timezone.utc) + timedelta(minutes=45)).isoformat()
        return httpx.Response(200, json=data)

    client = httpx.Client(transport=httpx.MockTransport(handler))
    api = JsonApi(client, guard=UrlGuard(allow_private=True), provider="pc")
    from eoharvest.adapters.clock import SystemClock

    signer = SasSigner(api, "https://planetarycomputer.microsoft.com/api/sas/v1", SystemClock())
    href = "https://sentinel2l2a01.blob.core.windows.net/sentinel2-l2/60/V/UK/x.tif"
    signed = signer(href)
    assert signed.startswith(href + "?st=") and "sig=" in signed
    signer(href.replace("x.tif", "y.tif"))
    assert signer.fetches == 1
    assert calls == ["https://planetarycomputer.microsoft.com/api/sas/v1/token/sentinel2l2a01/sentinel2-l2"]
    assert signer("https://example.com/not-a-blob.tif") == "https://example.com/not-a-blob.tif"


def test_an_expiring_sas_token_is_refreshed():
    expiries = [datetime.now(timezone.utc) + timedelta(minutes=2), datetime.now(timezone.utc) + timedelta(minutes=45)]

    def handler(request):
        return httpx.Response(200, json={"token": "st=1&sig=abc", "msft:expiry": expiries.pop(0).isoformat()})

    from eoharvest.adapters.clock import SystemClock

    api = JsonApi(httpx.Client(transport=httpx.MockTransport(handler)), guard=UrlGuard(allow_private=True), provider="pc")
    signer = SasSigner(api, "https://pc/api/sas/v1", SystemClock())
    href = "https://acct.blob.core.windows.net/cont/a.tif"
    signer(href)
    signer(href)
    assert signer.fetches == 2


def test_a_next_link_body_that_is_not_an_object_is_a_provider_response_error():
    page = load("stac_earth_search", "04_search_two_collections_point_page1.json")
    page["links"][0]["body"] = "token=abc"
    api = JsonApi(httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200, json=page))),
                  guard=UrlGuard(allow_private=True, resolver=lambda h, p: ["93.184.216.34"]), provider="stac")
    src = StacSource(api, ES, name="earth-search")
    src._conformance = frozenset()
    with pytest.raises(ProviderResponseError, match="not a JSON object"):
        src.search_page(SearchQuery.create(platforms=("Sentinel-2",)), PageRequest("POST", f"{ES}/search", "{}"))


def test_a_server_without_the_preferred_collection_gets_its_stand_in():
    def handler(request):
        if request.url.path.endswith("/collections"):
            return httpx.Response(200, json={"collections": [{"id": "sentinel-2-l2a"}, {"id": "naip"}]})
        if request.method == "GET":
            return httpx.Response(200, text=load_text("stac_earth_search", "01_landing_v1.json"))
        sent.append(json.loads(request.content))
        return httpx.Response(200, json={"type": "FeatureCollection", "features": [], "links": []})

    sent = []
    source(handler, ES).search_page(SearchQuery.create(platforms=("Sentinel-2",)), None)
    assert sent[0]["collections"] == ["sentinel-2-l2a"]


def test_the_recorded_earth_search_collection_list_keeps_the_current_collection():
    rec = Recorder([
        (lambda r, b: str(r.url).endswith("/collections"), "stac_earth_search", "09_collections.json"),
        (is_landing(ES), "stac_earth_search", "01_landing_v1.json"),
        (lambda r, b: r.method == "POST", "stac_earth_search", "05_search_page2_empty.json"),
    ])
    source(rec, ES).search_page(SearchQuery.create(platforms=("Sentinel-2",)), None)
    assert [b for m, u, b in rec.requests if m == "POST"][0]["collections"] == ["sentinel-2-c1-l2a"]
