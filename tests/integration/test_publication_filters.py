"""The provider-neutral ``published_since`` search option becomes each provider's own filter
(STAC ``updated`` through the Query or Filter extension, CDSE ``PublicationDate``, CMR
``updated_since``) and each mapper sets the scene's publication time the filter compares."""

from datetime import datetime, timezone

import pytest

from corpus import load
from eoharvest.adapters.providers.cmr.items import scene_from_umm_item
from eoharvest.adapters.providers.cmr.query import check_options, option_params
from eoharvest.adapters.providers.copernicus.items import scene_from_odata_product
from eoharvest.adapters.providers.copernicus.query import publication_clause
from eoharvest.adapters.providers.stac.items import scene_from_stac_item
from eoharvest.adapters.providers.table import spec_for
from eoharvest.domain.errors import InputError
from eoharvest.domain.providers import PUBLISHED_SINCE
from eoharvest.domain.query import SearchQuery
from fakes.stac_recorder import ES, PC, Recorder, is_landing, source

SINCE = datetime(2024, 6, 2, 15, tzinfo=timezone.utc)


def recorder(url, folder, landing, page):
    return Recorder([(is_landing(url), folder, landing), (lambda r, b: r.method == "POST", folder, page)])


def sent(rec):
    return [body for method, _, body in rec.requests if method == "POST"][0]


def test_earth_search_filters_updated_with_the_query_extension_beside_the_cloud_range():
    rec = recorder(ES, "stac_earth_search", "01_landing_v1.json", "02_search_cql2_cloud_cover_page1.json")
    source(rec, ES).search_page(SearchQuery.create(platforms=("Sentinel-2",), cloud_max=40, published_since=SINCE), None)
    body = sent(rec)
    assert body["query"] == {"updated": {"gte": "2024-06-02T15:00:00Z"}, "eo:cloud_cover": {"lte": 40.0}}
    assert "datetime" not in body


def test_a_cql2_server_gets_one_filter_with_the_publication_time_and_the_cloud_range():
    rec = recorder(PC, "stac_planetary_computer", "01_landing.json", "02_search_naip_page1.json")
    query = SearchQuery.create(platforms=("Sentinel-2",), cloud_max=40, published_since=SINCE)
    source(rec, PC).search_page(query, None)
    body = sent(rec)
    assert body["filter-lang"] == "cql2-json"
    assert body["filter"] == {"op": "and", "args": [
        {"op": ">=", "args": [{"property": "updated"}, {"timestamp": "2024-06-02T15:00:00Z"}]},
        {"op": "<=", "args": [{"property": "eo:cloud_cover"}, 40.0]}]}  # fmt: skip


def test_cdse_filters_publication_date_and_cmr_sends_updated_since():
    assert publication_clause(SINCE) == "PublicationDate ge 2024-06-02T15:00:00.000000Z"
    with pytest.raises(InputError):
        publication_clause("yesterday")
    check_options({PUBLISHED_SINCE: SINCE})
    assert option_params({PUBLISHED_SINCE: SINCE}) == (("updated_since", "2024-06-02T15:00:00Z"),)


def test_each_mapper_sets_the_publication_time_its_filter_compares():
    item = load("stac_earth_search", "13_eodag_search_s2.json")["features"][0]
    scene = scene_from_stac_item(item, provider="earth-search", base_url="https://earth-search.aws.element84.com/v1")
    assert scene.published == datetime(2024, 2, 6, 15, 2, 12, 605000, tzinfo=timezone.utc)
    product = {"Id": "a", "Name": "S2B_MSIL2A_20240604T101559_N0510_R065_T32TMS_20240604T120101.SAFE",
               "PublicationDate": "2024-06-04T13:54:12.123000Z"}  # fmt: skip
    assert scene_from_odata_product(product).published == datetime(2024, 6, 4, 13, 54, 12, 123000, tzinfo=timezone.utc)
    granule = {"meta": {"concept-id": "G1-LPCLOUD", "revision-date": "2024-06-05T01:02:03.000Z"},
               "umm": {"GranuleUR": "HLS.L30.T17TPJ.2024155T160000.v2.0"}}  # fmt: skip
    assert scene_from_umm_item(granule).published == datetime(2024, 6, 5, 1, 2, 3, tzinfo=timezone.utc)


def test_the_provider_table_declares_which_providers_search_by_publication_time():
    declared = {name: spec_for(name).capabilities.publication_time_filter
                for name in ("earth-search", "planetary-computer", "cdse-stac", "stac", "copernicus", "cmr")}
    assert declared == {"earth-search": True, "planetary-computer": False, "cdse-stac": False, "stac": False,
                        "copernicus": True, "cmr": True}  # fmt: skip
