"""Every recorded STAC response parses; items become Scenes with cross-provider product keys."""

import json

import pytest

from corpus import corpus_files, load
from eoharvest.adapters.providers.stac.items import asset_descriptor, item_self_url, scene_from_stac_item, select_assets

FOLDERS = ["stac_earth_search", "stac_planetary_computer", "cdse_stac"]
FILES = [(folder, path.name) for folder in FOLDERS for path in corpus_files(folder)]


def _items(doc):
    if isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
        return doc["features"]
    if isinstance(doc, dict) and doc.get("type") == "Feature":
        return [doc]
    return []


@pytest.mark.parametrize("folder, name", FILES)
def test_every_recorded_stac_response_maps_without_errors(folder, name):
    doc = load(folder, name)
    for item in _items(doc):
        scene = scene_from_stac_item(item, provider=folder, base_url="https://example.test/v1")
        assert scene.scene_id == item["id"]
        assert scene.product_key and ".SAFE" not in scene.product_key
        if item.get("geometry"):
            assert scene.footprint is not None
        if scene.acq_date is not None:
            assert scene.acq_date.tzinfo is not None
        if scene.cloudcover_percentage is not None:
            assert 0 <= scene.cloudcover_percentage <= 100
        json.dumps(dict(scene.raw))  # raw stays serialisable for the catalog
        url = item_self_url(item, "https://example.test/v1")
        for key, asset in select_assets(item, None).items():
            descriptor = asset_descriptor(key, asset, item_url=url)
            if descriptor is not None:
                assert descriptor.url.startswith("https://")
                assert "/" not in descriptor.filename


def test_earth_search_s2_keys_come_from_the_product_uri_not_the_item_id():
    item = load("stac_earth_search", "03_search_page2_via_next_token.json")["features"][0]
    scene = scene_from_stac_item(item, provider="earth-search", base_url="https://x/v1")
    assert scene.scene_id == "S2B_24MVV_20250731_0_L2A"
    assert scene.product_key == "S2B_MSIL2A_20250731T130249_N0511_R095_T24MVV_20250731T132745"
    assert scene.scene_key == "S2B_MSIL2A_20250731T130249_R095_T24MVV"
    assert scene.platformname == "Sentinel-2"


def test_earth_search_s1_keeps_the_unique_product_id():
    item = load("stac_earth_search", "02_search_cql2_cloud_cover_page1.json")["features"][0]
    scene = scene_from_stac_item(item, provider="earth-search", base_url="https://x/v1")
    assert scene.product_key == "S1A_IW_GRDH_1SSH_20250731T135702_20250731T135722_060328_077F7E_0C44"
    assert scene.platformname == "Sentinel-1" and scene.cloudcover_percentage is None


def test_planetary_computer_and_cdse_map_the_same_naming_rules():
    pc = load("stac_planetary_computer", "05_search_sentinel2_l2a_datetime.json")["features"][0]
    scene = scene_from_stac_item(pc, provider="pc", base_url="https://x")
    assert scene.product_key == "S2A_MSIL2A_20190101T000001_N0212_R116_T60VUK_20201007T214652"
    assert scene.platformname == "Sentinel-2"
    cdse = load("cdse_stac", "05_gen_item_sentinel-2-l2a.json")
    assert scene_from_stac_item(cdse, provider="cdse", base_url="https://x").product_key == cdse["id"]


def test_landsat_items_map_to_their_platform():
    item = load("stac_earth_search", "04_search_two_collections_point_page1.json")["features"][1]
    scene = scene_from_stac_item(item, provider="earth-search", base_url="https://x")
    assert scene.platformname == "Landsat-8"
    assert scene.product_key == "LC08_L2SP_033032_20231008_02_T1"


def test_cdse_multihash_checksums_become_md5_checksums():
    item = load("cdse_stac", "05_gen_item_sentinel-2-l2a.json")
    asset = item["assets"]["safe_manifest"]
    descriptor = asset_descriptor("safe_manifest", asset, item_url="https://x")
    assert descriptor is not None and descriptor.url.startswith("https://")
    assert descriptor.checksums[0].algorithm == "md5"
    assert descriptor.size == asset["file:size"]


def test_s3_only_assets_are_skipped():
    item = load("stac_earth_search", "13_eodag_search_s2.json")["features"][0]
    key, asset = next((k, a) for k, a in item["assets"].items() if a["href"].startswith("s3://"))
    assert asset_descriptor(key, asset, item_url="https://x") is None


def test_items_without_an_id_are_rejected_clearly():
    from eoharvest.domain.errors import ProviderResponseError

    with pytest.raises(ProviderResponseError, match="without an id"):
        scene_from_stac_item({"type": "Feature"}, provider="p", base_url="https://x")
