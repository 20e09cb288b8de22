"""The OData product mapper and error recognition on every recorded CDSE file."""

from datetime import datetime, timezone

import pytest

from corpus import corpus_files, load
from eoharvest.adapters.providers.copernicus.errors import describe_error, is_skip_limit_error, odata_error_hint
from eoharvest.adapters.providers.copernicus.items import download_filename, scene_from_odata_product
from eoharvest.domain.errors import UnsafeFilename

CDSE_FILES = [(p.parent.name, p.name) for folder in ("cdse_odata", "cdse_auth") for p in corpus_files(folder)]


def kind_of(doc):
    """What a recorded CDSE file is; every file must be one of these."""
    if isinstance(doc, dict) and "request" in doc and "status" in doc and "headers" in doc:
        return "headers"
    if describe_error(doc):
        return "error"
    if isinstance(doc, dict) and isinstance(doc.get("value"), list):
        return "page"
    if isinstance(doc, dict) and "Id" in doc and "Name" in doc:
        return "entity"
    if isinstance(doc, dict) and "access_token" in doc:
        return "token"
    if isinstance(doc, dict) and "token_endpoint" in doc:
        return "openid-configuration"
    if isinstance(doc, list) and all("ValueType" in a for a in doc):
        return "attribute-list"
    if isinstance(doc, dict) and isinstance(doc.get("result"), list):
        return "nodes"
    return None


@pytest.mark.parametrize(("folder", "name"), CDSE_FILES, ids=[f"{f}/{n}" for f, n in CDSE_FILES])
def test_every_recorded_cdse_file_parses_or_is_recognised(folder, name):
    doc = load(folder, name)
    kind = kind_of(doc)
    assert kind is not None, f"{folder}/{name} is not recognised"
    products = doc["value"] if kind == "page" else [doc] if kind == "entity" else []
    for product in products:
        scene = scene_from_odata_product(product)
        assert scene.raw["Id"] == product["Id"]
        assert scene.scene_id == scene.product_key and not scene.product_key.endswith(".SAFE")
        assert scene.acq_date is not None and scene.acq_date.tzinfo is not None
        assert scene.filenames == (product["Name"] + ".zip",)
        assert scene.download_links[0].endswith(f"/Products({product['Id']})/$value")


def test_a_sentinel2_product_maps_every_field():
    product = load("cdse_odata", "07_s2_l1c_intersects_producttype_expand_attributes_assets.json")["value"][0]
    scene = scene_from_odata_product(product)
    assert scene.platformname == "Sentinel-2"
    assert scene.scene_id == "S2A_MSIL1C_20200808T010311_N0500_R045_T54PXA_20230413T212505"
    assert scene.scene_key == "S2A_MSIL1C_20200808T010311_R045_T54PXA"
    assert scene.acq_date == datetime(2020, 8, 8, 1, 3, 11, 24000, tzinfo=timezone.utc)
    assert scene.size == 224105657 and scene.online
    assert [(c.algorithm, c.source) for c in scene.checksums] == [("md5", "odata"), ("blake3", "odata")]
    assert scene.checksums[0].value == "923ac4992d90b57d41e7ace4d9d90757"
    assert scene.cloudcover_percentage is not None and 0 <= scene.cloudcover_percentage <= 100
    assert scene.footprint is not None and 142 < scene.footprint.geometry.centroid.x < 143
    assert scene.download_links == ("https://download.dataspace.copernicus.eu/odata/v1/Products(05edf2bb-d103-49f1-a677-9e474138d84f)/$value",)


def test_the_wkt_footprint_is_used_when_there_is_no_geojson():
    product = dict(load("cdse_odata", "17_doc_expand_attributes_locations_assets_context_before_2024-09-24.json")["value"][0])
    product.pop("GeoFootprint")
    scene = scene_from_odata_product(product)
    assert scene.footprint.geometry.geom_type == "MultiPolygon"
    assert scene.footprint.geometry.bounds[0] == pytest.approx(-81.230759)


def test_empty_checksum_lists_and_zero_lengths_mean_unknown():
    product = load("cdse_odata", "17_doc_expand_attributes_locations_assets_context_before_2024-09-24.json")["value"][0]
    scene = scene_from_odata_product(product)
    assert scene.checksums == () and scene.size is None
    assert scene.platformname == "Sentinel-1"


def test_junk_checksums_are_dropped():
    product = dict(load("cdse_odata", "14_s1_aux_resorb_top1_2025.json")["value"][0])
    product["Checksum"] = [{"Algorithm": "MD5", "Value": "N/A"}, {"Algorithm": "BLAKE3", "Value": "0" * 64}]
    assert scene_from_odata_product(product).checksums == ()


def test_auxiliary_products_have_no_footprint_and_still_map():
    scene = scene_from_odata_product(load("cdse_odata", "11_s1_aux_poeorb_2023_evictiondate_empty_string.json")["value"][0])
    assert scene.footprint is None and scene.platformname == "Sentinel-1"
    assert scene.filenames == ("S1A_OPER_AUX_POEORB_OPOD_20210315T155112_V20191230T225942_20200101T005942.EOF.zip",)


def test_offline_products_are_marked():
    product = dict(load("cdse_odata", "14_s1_aux_resorb_top1_2025.json")["value"][0], Online=False)
    assert scene_from_odata_product(product).online is False


@pytest.mark.parametrize("name", ["../evil", "a/b.SAFE", "a\\b", "..", "x\x00y"])
def test_product_names_that_could_escape_the_folder_are_refused(name):
    with pytest.raises(UnsafeFilename):
        download_filename(name)


def test_the_skip_limit_error_is_recognised_and_gets_a_hint():
    body = load("cdse_odata", "19_doc_error_422_skip_over_10000.json")
    assert is_skip_limit_error(body)
    assert "$skip" in describe_error(body)
    assert "time windows" in odata_error_hint(422, body)


def test_zipper_and_keycloak_errors_are_summarised():
    assert describe_error(load("cdse_odata", "22_handmade_zipper_429_max_session.json")) == "DAT-ZIP-100: Max session number exceeded"
    assert "4 concurrent" in odata_error_hint(429, load("cdse_odata", "22_handmade_zipper_429_max_session.json"))
    assert describe_error(load("cdse_auth", "06_handmade_token_error_invalid_user_credentials.json")) == "invalid_grant: Invalid user credentials"
