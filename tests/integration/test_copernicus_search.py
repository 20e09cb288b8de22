"""CdseSource search: the OData URL, paging over recorded pages, and time windows past $skip 10000."""

import logging
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from corpus import load_text
from eoharvest.adapters.http.guard import UrlGuard
from eoharvest.adapters.http.jsonapi import JsonApi
from eoharvest.adapters.providers.copernicus.errors import odata_error_hint
from eoharvest.adapters.providers.copernicus.source import CdsePage, CdseSource
from eoharvest.domain.errors import InputError, ProviderResponseError
from eoharvest.domain.footprint import Footprint
from eoharvest.domain.query import SearchQuery
from eoharvest.domain.retry import RetryPolicy
from fakes.copernicus_server import CdseFake

ODATA = "https://catalogue.dataspace.copernicus.eu/odata/v1"


def catalogue(handler=None, base=ODATA, **kw):
    """A source over ``handler`` (an httpx.MockTransport handler), or over the network (loopback fakes)."""
    client = httpx.Client(transport=httpx.MockTransport(handler)) if handler else httpx.Client(trust_env=False)
    api = JsonApi(client, guard=UrlGuard(allow_private=True, resolver=lambda h, p: ["93.184.216.34"]), provider="copernicus",
                  policy=RetryPolicy(max_attempts=2, base_delay=0.001), error_hint=odata_error_hint)
    return CdseSource(api, odata_url=base, **kw)


def first_params(query, **kw):
    seen = []

    def handler(request):
        seen.append(str(request.url))
        return httpx.Response(200, text=load_text("cdse_odata", "08_empty_result.json"))

    catalogue(handler, **kw).search_page(query, None)
    return dict(parse_qsl(urlsplit(seen[0]).query))


def test_the_first_request_carries_collection_type_area_time_cloud_order_expand_top_and_count():
    aoi = Footprint.from_bbox(10.0, 45.0, 11.0, 46.0)
    query = SearchQuery.create(platforms=("Sentinel-2",), aoi=aoi, start_date="2024-05-01", end_date="2024-05-31",
                               cloud_max=30, product_type="S2MSI2A")
    params = first_params(query)
    text = params["$filter"]
    assert text.startswith("Collection/Name eq 'SENTINEL-2' and ")
    assert ("Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' and "
            "att/OData.CSC.StringAttribute/Value eq 'S2MSI2A')") in text
    assert ("Attributes/OData.CSC.DoubleAttribute/any(att:att/Name eq 'cloudCover' and "
            "att/OData.CSC.DoubleAttribute/Value le 30.00)") in text
    assert "OData.CSC.Intersects(area=geography'SRID=4326;POLYGON ((11 45, 11 46, 10 46, 10 45, 11 45))')" in text
    assert "ContentDate/Start ge 2024-05-01T00:00:00.000000Z and ContentDate/Start le 2024-05-31T23:59:59.999999Z" in text
    assert params["$orderby"] == "ContentDate/Start desc"
    assert (params["$expand"], params["$top"], params["$count"]) == ("Attributes", "1000", "true")


def test_a_cloud_filter_on_sentinel1_is_ignored_with_a_warning(caplog):
    query = SearchQuery.create(platforms=("Sentinel-1",), cloud_max=20, product_type="IW_GRDH_1S")
    params = first_params(query)
    assert "cloudCover" not in params["$filter"]
    assert "cloud filter ignored for Sentinel-1" in caplog.text


def test_a_mixed_radar_and_optical_search_filters_cloud_only_for_the_optical_collection():
    text = first_params(SearchQuery.create(platforms=("Sentinel-1", "Sentinel-2"), cloud_max=10))["$filter"]
    assert text.startswith("((Collection/Name eq 'SENTINEL-1') or (Collection/Name eq 'SENTINEL-2' and Attributes/OData.CSC.DoubleAttribute")


def test_a_product_type_narrows_a_multi_platform_search_to_its_platform():
    text = first_params(SearchQuery.create(platforms=("Sentinel-1", "Sentinel-2"), product_type="S2MSI1C"))["$filter"]
    assert "SENTINEL-1" not in text and "'S2MSI1C'" in text


def test_a_product_type_of_another_platform_is_an_input_error():
    with pytest.raises(InputError, match="S2MSI1C"):
        first_params(SearchQuery.create(platforms=("Sentinel-1",), product_type="S2MSI1C"))


def test_an_antimeridian_area_becomes_a_multipolygon():
    aoi = Footprint.from_bbox(179.0, -17.0, 181.0, -16.0)
    text = first_params(SearchQuery.create(platforms=("Sentinel-2",), aoi=aoi))["$filter"]
    assert "SRID=4326;MULTIPOLYGON (((" in text and "-179 -16" in text.replace(",", "")


def test_a_skip_beyond_10000_maps_to_a_provider_error_with_a_hint():
    def handler(request):
        return httpx.Response(422, text=load_text("cdse_odata", "19_doc_error_422_skip_over_10000.json"),
                              headers={"Content-Type": "application/json"})

    with pytest.raises(ProviderResponseError) as err:
        catalogue(handler).search_page(SearchQuery.create(platforms=("Sentinel-3",)), CdsePage(f"{ODATA}/Products?$skip=10001"))
    assert "HTTP 422" in str(err.value) and "refuses $skip above 10000" in str(err.value)


def test_the_five_recorded_sentinel1_pages_are_followed_with_orderby_and_without_count():
    with CdseFake(recorded_pages=True) as fake:
        source = catalogue(base=fake.odata_url, order="asc", page_size=10)
        query = SearchQuery.create(platforms=("Sentinel-1",), start_date="2014-04-05", end_date="2014-04-14")
        pages, ref = [], None
        for _ in range(10):
            page = source.search_page(query, ref)
            pages.append(page)
            ref = page.next_ref
            if ref is None:
                break
        source.api.client.close()
    assert [len(p.scenes) for p in pages] == [10, 10, 10, 10, 7]
    assert [p.total for p in pages] == [47, None, None, None, None]
    ids = [s.raw["Id"] for p in pages for s in p.scenes]
    assert len(set(ids)) == 47
    requests = [dict(parse_qsl(urlsplit(path).query)) for path in fake.catalogue_requests]
    assert all("$orderby" in r for r in requests)
    assert [r.get("$count") for r in requests] == ["true", None, None, None, None]
    assert [r.get("$skip") for r in requests[1:]] == ["10", "20", "30", "40"]


def test_a_search_past_the_skip_limit_continues_in_time_windows_without_loss_or_duplicates(caplog):
    caplog.set_level(logging.INFO)
    with CdseFake(max_skip=40) as fake:
        for i in range(137):
            # groups of 7 products share a sensing instant, so window boundaries cut through ties
            fake.add_product(f"id-{i:04d}", f"S1A_IW_GRDH_1SDV_{i:04d}.SAFE", 10,
                             start=f"2024-06-{1 + i // 7:02d}T10:00:00.000000Z")
        source = catalogue(base=fake.odata_url, page_size=10, max_skip=40)
        query = SearchQuery.create(platforms=("Sentinel-1",))
        ids, totals, ref = [], [], None
        for _ in range(100):
            page = source.search_page(query, ref)
            ids += [s.raw["Id"] for s in page.scenes]
            totals.append(page.total)
            ref = page.next_ref
            if ref is None:
                break
        source.api.client.close()
        statuses = fake.statuses
    assert len(ids) == len(set(ids)) == 137
    assert totals[0] == 137 and set(totals[1:]) == {None}
    assert 422 not in statuses
    assert "$skip limit reached" in caplog.text
