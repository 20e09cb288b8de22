"""Mapping a recorded Earth Search item does its per-item work once, not once per asset."""

import pytest

from corpus import load
from eoharvest.adapters.providers.stac import items as stac_items

ITEM_ID = "S2B_T24MXV_20250731T130245_L2A"


@pytest.fixture
def item():
    for name in ("02_search_cql2_cloud_cover_page1.json", "03_search_page2_via_next_token.json"):
        for feature in load("stac_earth_search", name)["features"]:
            if feature["id"] == ITEM_ID:
                return feature
    raise LookupError(ITEM_ID)


def test_the_item_url_is_resolved_once_per_item_whatever_its_number_of_assets(item, monkeypatch):
    calls = []
    real = stac_items._item_url
    monkeypatch.setattr(stac_items, "_item_url", lambda *a: calls.append(a) or real(*a))
    scene = stac_items.scene_from_stac_item(item, provider="earth-search", base_url="https://earth-search.aws.element84.com/v1/search")
    assert len(item["assets"]) > 20 and len(calls) == 1
    assert len(scene.download_links) == len(item["assets"])
    assert scene.filenames[scene.download_links.index(item["assets"]["visual"]["href"])] == "TCI.tif"
