"""CDSE OData search options: attribute keywords become ``Attributes/...any(...)`` clauses of
``$filter`` with the attribute's OData type, OpenSearch names map to their OData attributes, and
a keyword a collection does not have is refused before any request."""

from datetime import datetime, timezone
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from corpus import load_text
from eoharvest.adapters.http.guard import UrlGuard
from eoharvest.adapters.http.jsonapi import JsonApi
from eoharvest.adapters.providers.copernicus.source import CdseSource
from eoharvest.application.sensor_api import SourceBackedSensorAPI
from eoharvest.domain.errors import InputError
from eoharvest.domain.query import SearchQuery
from eoharvest.domain.retry import RetryPolicy

ODATA = "https://catalogue.dataspace.copernicus.eu/odata/v1"


def recording_source():
    seen = []

    def handler(request):
        seen.append(str(request.url))
        return httpx.Response(200, text=load_text("cdse_odata", "08_empty_result.json"))

    client = httpx.Client(transport=httpx.MockTransport(handler))
    api = JsonApi(client, guard=UrlGuard(allow_private=True, resolver=lambda h, p: ["93.184.216.34"]),
                  provider="copernicus", policy=RetryPolicy(max_attempts=1))
    return CdseSource(api, odata_url=ODATA), seen


def filter_of(platforms, **options):
    source, seen = recording_source()
    source.search_page(SearchQuery.create(platforms=platforms, **options), None)
    return dict(parse_qsl(urlsplit(seen[0]).query))["$filter"]


def test_relative_orbit_and_tile_become_integer_and_string_attribute_clauses():
    text = filter_of(("Sentinel-2",), relativeOrbitNumber=65, tileId="17TPJ")
    assert ("Attributes/OData.CSC.IntegerAttribute/any(att:att/Name eq 'relativeOrbitNumber' and "
            "att/OData.CSC.IntegerAttribute/Value eq 65)") in text
    assert ("Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'tileId' and "
            "att/OData.CSC.StringAttribute/Value eq '17TPJ')") in text


def test_opensearch_names_map_to_the_odata_attributes_and_lists_mean_any_of():
    text = filter_of(("Sentinel-1",), sensorMode="IW", polarisation=["VV&VH", "VV"], orbitDirection="DESCENDING",
                     productType="IW_GRDH_1S")
    assert "att/Name eq 'operationalMode' and att/OData.CSC.StringAttribute/Value eq 'IW')" in text
    assert ("att/Name eq 'polarisationChannels' and (att/OData.CSC.StringAttribute/Value eq 'VV&VH' or "
            "att/OData.CSC.StringAttribute/Value eq 'VV'))") in text
    assert "att/Name eq 'orbitDirection' and att/OData.CSC.StringAttribute/Value eq 'DESCENDING')" in text
    assert "att/Name eq 'productType' and att/OData.CSC.StringAttribute/Value eq 'IW_GRDH_1S')" in text


def test_numbers_and_times_take_operator_ranges():
    text = filter_of(("Sentinel-1",), relativeOrbitNumber={"ge": 10, "le": 20},
                     processingDate={"ge": datetime(2024, 1, 1, tzinfo=timezone.utc)})
    assert ("att/OData.CSC.IntegerAttribute/Value ge 10 and att/OData.CSC.IntegerAttribute/Value le 20)") in text
    assert "att/OData.CSC.DateTimeOffsetAttribute/Value ge 2024-01-01T00:00:00.000000Z)" in text


def test_quotes_in_text_values_are_escaped_not_injected():
    text = filter_of(("Sentinel-2",), tileId="17TPJ') or (1 eq 1")
    assert "Value eq '17TPJ'') or (1 eq 1')" in text


@pytest.mark.parametrize("platforms, options, words", [
    (("Sentinel-1",), {"tileId": "17TPJ"}, "tileId is not an attribute of Sentinel-1"),
    (("Sentinel-1", "Sentinel-2"), {"orbitDirection": "ASCENDING"}, "orbitDirection is not an attribute of Sentinel-2"),
    (("Sentinel-2",), {"relativeOrbitNumber": "65"}, "must be a whole number"),
    (("Sentinel-2",), {"relativeOrbitNumber": True}, "must be a whole number"),
    (("Sentinel-2",), {"tileId": {"ge": "17"}}, "numbers and times only"),
    (("Sentinel-1",), {"relativeOrbitNumber": {"between": 3}}, "unknown operator"),
    (("Sentinel-2",), {"cloudCover": 10}, "cloud_min / cloud_max"),
    (("Sentinel-2",), {"page_size": "many"}, "page_size"),
])
def test_wrong_keywords_and_values_are_input_errors_before_any_request(platforms, options, words):
    source, seen = recording_source()
    with pytest.raises(InputError) as caught:
        source.search_page(SearchQuery.create(platforms=platforms, **options), None)
    assert words in str(caught.value)
    assert seen == []


def test_scenes_refuses_a_misspelt_attribute_listing_the_attributes_it_takes():
    source, seen = recording_source()
    with pytest.raises(InputError) as caught:
        SourceBackedSensorAPI(source).scenes(platformname="S2", relativeOrbit=65)
    assert "relativeOrbit" in str(caught.value) and "relativeOrbitNumber" in caught.value.hint
    assert "tileId" in caught.value.hint and "sensorMode" in caught.value.hint
    assert seen == []
