"""STAC search pages decoded field by field (page_decoding.py) give the Scenes the whole-page
decoding gave, keep each item's bytes as received, and fall back to whole decoding exactly where
the fast path could differ."""

import json
import pickle

import httpx
import pytest

from corpus import CORPUS, corpus_files, load
from eoharvest.adapters import json_codec
from eoharvest.adapters.json_record import JsonRecord
from eoharvest.adapters.providers.stac.items import page_footprints, scene_from_stac_item
from eoharvest.adapters.providers.stac.page_decoding import DecodedPage, decode_search_page
from eoharvest.adapters.providers.stac.search import PageRequest
from eoharvest.application.sensor_api import SourceBackedSensorAPI
from eoharvest.domain.errors import ProviderResponseError
from eoharvest.domain.query import SearchQuery

from fakes.stac_recorder import ES, source  # noqa: E402

FOLDERS = ["stac_earth_search", "stac_planetary_computer", "cdse_stac"]
FILES = [(folder, path.name) for folder in FOLDERS for path in corpus_files(folder)]
SEARCH = f"{ES}/search"
QUERY = SearchQuery.create(collections=["any"])  # named collections: no platform filtering


def _page_text(folder: str, name: str) -> str | None:
    """The recorded answer as a search page: FeatureCollections as recorded, an item wrapped."""
    text = (CORPUS / folder / name).read_text(encoding="utf-8")
    doc = json.loads(text)
    if isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
        return text
    if isinstance(doc, dict) and doc.get("type") == "Feature":
        return '{"type": "FeatureCollection", "features": [' + text + "]}"
    return None


def _serving(body: str | bytes):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body if isinstance(body, bytes) else body.encode(),
                              headers={"Content-Type": "application/geo+json"})
    return source(handler, ES)


def _reference(doc: dict) -> list:
    """What eoharvest built before page_decoding.py: every item decoded whole, then mapped."""
    items = doc["features"]
    return [scene_from_stac_item(item, provider="earth-search", base_url=SEARCH, footprint=footprint)
            for item, footprint in zip(items, page_footprints(items))]


PAGES = [(folder, name) for folder, name in FILES if _page_text(folder, name) is not None]


@pytest.mark.parametrize("folder, name", PAGES)
def test_every_recorded_page_gives_the_scenes_of_whole_page_decoding(folder, name):
    text = _page_text(folder, name)
    page = _serving(text).search_page(QUERY, PageRequest("POST", SEARCH, "{}"))
    expected = _reference(json.loads(text))
    assert list(page.scenes) == expected
    for scene, reference in zip(page.scenes, expected):
        assert scene.published == reference.published
        assert dict(scene.raw) == reference.raw
        assert json.loads(json.dumps(dict(scene.raw))) == reference.raw


def test_items_are_kept_as_the_bytes_received_and_decoded_only_when_read():
    text = _page_text("stac_earth_search", "02_search_cql2_cloud_cover_page1.json")
    decoded = decode_search_page(text.encode())
    assert isinstance(decoded, DecodedPage)
    originals = json.loads(text)["features"]
    for record, item in zip(decoded.records, originals):
        assert isinstance(record, JsonRecord)
        assert record.data in text.encode()  # the item's own bytes, whitespace and all
        assert record._value is None  # nothing decoded yet
        assert record.get("id") == item["id"] and record["geometry"] == item["geometry"]
        assert record.get("end_datetime") is None and "end_datetime" not in record
        assert record._value is None  # those were decoded with the fields
        assert record["properties"] == item["properties"] and record == item
        assert pickle.loads(pickle.dumps(record)) == item


def test_a_catalog_only_read_of_a_page_decodes_no_item_whole(monkeypatch):
    text = _page_text("stac_earth_search", "02_search_cql2_cloud_cover_page1.json")
    calls = []
    monkeypatch.setattr(JsonRecord, "decoded", lambda self: calls.append(self) or {})
    page = _serving(text).search_page(QUERY, PageRequest("POST", SEARCH, "{}"))
    assert len(page.scenes) == len(json.loads(text)["features"]) > 1
    assert all(scene.raw for scene in page.scenes) and calls == []


ITEM = load("stac_earth_search", "03_search_page2_via_next_token.json")["features"][0]


def _with_item_text(item_text: str) -> bytes:
    good = json.dumps(ITEM)
    return ('{"type": "FeatureCollection", "features": [' + good + ", " + item_text + "]}").encode()


@pytest.mark.parametrize(
    "item_text",
    [
        # members of unexpected types: the item is decoded whole and mapped as before
        json.dumps({**ITEM, "id": "odd-properties", "properties": None}),
        json.dumps({**ITEM, "id": "odd-links", "links": ["not an object"]}),
        json.dumps({**ITEM, "id": "odd-assets", "assets": {"a": "not an object", "b": {"href": "https://x/b.tif"}}}),
        # a number msgspec reads differently from the json module in a member a Scene reads
        json.dumps({**ITEM, "id": "huge-cloud"}).replace('"eo:cloud_cover": ', '"eo:cloud_cover": 1e400, "was": '),
    ],
)
def test_items_the_fast_path_cannot_take_exactly_are_decoded_whole(item_text):
    body = _with_item_text(item_text)
    page = _serving(body).search_page(QUERY, PageRequest("POST", SEARCH, "{}"))
    assert list(page.scenes) == _reference(json_codec.loads(body))
    assert not isinstance(page.scenes[1].raw, JsonRecord) and page.scenes[1].raw == json_codec.loads(item_text)


def test_numbers_in_members_a_scene_does_not_read_are_kept_as_received_and_read_as_json_reads_them():
    text = json.dumps({**ITEM, "id": "numbers", "properties": {**ITEM["properties"], "x": 1, "y": 2}})
    text = text.replace('"x": 1', '"x": 1e400').replace('"y": 2', '"y": 123456789012345678901234567890')
    record = decode_search_page(_with_item_text(text)).records[1]
    assert record.data == text.encode()
    assert record["properties"]["x"] == float("inf") and record["properties"]["y"] == 123456789012345678901234567890


def test_a_page_that_is_not_strict_json_is_decoded_whole_as_before():
    body = _with_item_text(json.dumps({**ITEM, "id": "nan-cloud"}).replace('"eo:cloud_cover": ', '"eo:cloud_cover": NaN, "was": '))
    assert not isinstance(decode_search_page(body), DecodedPage)
    page = _serving(body).search_page(QUERY, PageRequest("POST", SEARCH, "{}"))
    assert [s.scene_id for s in page.scenes] == [ITEM["id"], "nan-cloud"]
    assert page.scenes[1].cloudcover_percentage is None  # NaN is no cloud cover, as before


def test_a_page_with_invalid_utf8_in_a_skipped_member_is_refused_as_malformed():
    body = _with_item_text(json.dumps({**ITEM, "id": "bad-bytes"}).replace('"type": "Feature"', '"type": "Feat\\u00e9ure"', 1))
    bad = body.replace("Feat\\u00e9ure".encode(), b"Feat\xe9ure")
    assert decode_search_page(body).records[1] is not None  # the escaped form is fine
    with pytest.raises(ProviderResponseError, match="malformed JSON"):
        _serving(bad).search_page(QUERY, PageRequest("POST", SEARCH, "{}"))


def test_scenes_iterated_by_a_caller_carry_a_plain_dict_while_pages_keep_the_record_as_received():
    text = _page_text("stac_earth_search", "02_search_cql2_cloud_cover_page1.json")
    count = len(json.loads(text)["features"])
    api = SourceBackedSensorAPI(_serving(text))
    scenes = list(api.scenes(collections=["any"], limit=count))
    assert len(scenes) == count and all(type(scene.raw) is dict for scene in scenes)
    json.dumps([scene.raw for scene in scenes])  # what a caller (or pystac's Item.from_dict) expects
    (page,) = list(api.scenes(collections=["any"], limit=count).pages())
    assert all(isinstance(scene.raw, JsonRecord) for scene in page)
    assert [dict(s.raw) for s in page] == [s.raw for s in scenes]
