"""USGS M2M: field-level mapping of every recorded body (../shared/corpus/usgs_m2m, Collection 1),
the reconstructed Collection 2 Level-2 bodies of the fake, query building and paging rules."""

from datetime import datetime, timezone

import pytest
from corpus import load
from fakes.usgs_server import c2_download_options, c2_scene

from eoharvest.adapters.providers.usgs import query as q
from eoharvest.adapters.providers.usgs.datasets import asset_name, file_name, platform_of
from eoharvest.adapters.providers.usgs.downloads import request_answer, retrieved, scene_files
from eoharvest.adapters.providers.usgs.errors import ACCESS_HELP, TOKEN_HELP, M2mAuthError, M2mError, envelope_data
from eoharvest.adapters.providers.usgs.items import cloud_cover, m2m_time, published, scene_from_search_result
from eoharvest.adapters.providers.usgs.stac_item import stac_item
from eoharvest.domain.errors import AuthError, InputError, ProviderResponseError
from eoharvest.domain.footprint import Footprint
from eoharvest.domain.query import SearchQuery

C = "usgs_m2m"
C2 = "LC08_L2SP_033032_20231008_20231017_02_T1"


def body(name):
    return load(C, name)


# -- recorded bodies --------------------------------------------------------------------------
def test_the_recorded_scene_search_maps_entity_display_footprint_date_cloud_and_publication():
    data = envelope_data(body("01_scene_search_landsat_8_c1_1hit.json"), "scene-search")
    assert (data["totalHits"], data["recordsReturned"], data["nextRecord"]) == (1, 1, 1)
    scene = scene_from_search_result(data["results"][0])
    assert scene.scene_id == "LC08_L1TP_233083_20160911_20170321_01_T1"
    assert scene.raw["entityId"] == "LC82330832016255LGN01"
    assert scene.product_key == "LC08_L1TP_233083_20160911_01_T1"  # the processing date dropped
    assert scene.platformname == "Landsat-8" and scene.provider == "usgs"
    assert scene.cloudcover_percentage == pytest.approx(44.79)  # sent as the text "44.79"
    assert scene.acq_date == datetime(2016, 9, 11, tzinfo=timezone.utc)
    assert published(scene.raw) == datetime(2016, 9, 11, 14, 20, 23, tzinfo=timezone.utc)
    # the footprint is spatialCoverage (the scene's outline), not the spatialBounds box
    assert scene.footprint.geometry.bounds == pytest.approx((-71.95354, -34.23147, -69.47149, -32.12253))
    assert scene.footprint.geometry.area < Footprint.from_bbox(-71.95354, -34.23147, -69.47149, -32.12253).geometry.area
    assert scene.filenames == ("LC08_L1TP_233083_20160911_20170321_01_T1.tar",)


def test_the_recorded_scene_metadata_has_the_search_result_shape():
    data = envelope_data(body("08_scene_metadata_landsat_8_c1.json"), "scene-metadata")
    scene = scene_from_search_result(data)
    assert scene.scene_id.startswith("LC08_L1TP_") and scene.raw["entityId"] == data["entityId"]
    assert scene.cloudcover_percentage == float(data["cloudCover"])


def test_the_recorded_empty_search_ends_the_paging():
    data = envelope_data(body("16_reconstructed_scene_search_empty.json"), "scene-search")
    assert data["results"] == [] and q.next_start(data, q.UsgsPage(("landsat_ot_c2_l2",))) is None


def test_the_recorded_download_options_give_the_dds_product_and_skip_wms_browse_images():
    options = envelope_data(body("05_download_options_landsat_8_c1.json"), "download-options")
    files = scene_files(options, "LC82260782020217LGN00", "LC08_L1TP_226078_20200804_20200821_01_T1")
    assert files.bundle.product_id == "5e83d0b84df8d8c2" and files.bundle.size == 904370712
    assert files.bundle.filename == "LC08_L1TP_226078_20200804_20200821_01_T1.tar" and files.bundle.available
    assert files.bundle.request == {"entityId": "LC82260782020217LGN00", "productId": "5e83d0b84df8d8c2"}
    assert files.files == ()  # secondaryDownloads is empty in Collection 1
    with pytest.raises(InputError, match="no asset red") as err:
        files.select("LC08_L1TP_226078_20200804_20200821_01_T1", ["red"])
    assert "only the bundle" in err.value.hint


def test_the_recorded_dataset_download_options_name_the_same_product():
    listed = envelope_data(body("07_dataset_download_options_landsat_8_c1.json"), "dataset-download-options")
    assert {"productId": "5e83d0b84df8d8c2", "productCode": "D217", "productName": "Level-1 GeoTIFF Data Product"} in listed


def test_the_recorded_dataset_filters_are_an_envelope_of_filter_fields():
    fields = envelope_data(body("09_dataset_filters_landsat_8_c1.json"), "dataset-filters")
    assert fields[0]["fieldLabel"] == "Landsat Product Identifier" and fields[0]["id"] == "5e83d0b84d321b85"


def test_the_recorded_download_request_is_preparing_one_download():
    answer = request_answer(envelope_data(body("06_download_request_preparing.json"), "download-request"))
    assert answer.download_ids == ("26107136",) and answer.available == () and answer.duplicates == ()
    assert answer.preparing[0]["url"].startswith("https://dds.cr.usgs.gov/download-staging/")


def test_the_recorded_download_retrieve_gives_the_url_per_entity():
    found = retrieved(envelope_data(body("17_reconstructed_download_retrieve.json"), "download-retrieve"))
    assert found.urls == {"LC82260782020217LGN00": "https://dds.cr.usgs.gov/download-staging/"
                          "eyJpZCI6MjYxMDcxMzYsImNvbnRhY3RJZCI6Njc2NDA0fQ=="}  # fmt: skip


def test_the_recorded_login_and_logout_envelopes():
    assert envelope_data(body("10_reconstructed_login_token_ok.json"), "login-token").startswith("eyJ")
    assert envelope_data(body("18_reconstructed_logout_ok.json"), "logout") is None


@pytest.mark.parametrize(
    "name, endpoint, error, code, hint",
    [
        ("11_reconstructed_error_auth_invalid.json", "login-token", AuthError, "AUTH_INVALID", TOKEN_HELP),
        ("12_transcribed_error_not_found_invalid_endpoint_login.json", "login", AuthError, "NOT_FOUND", TOKEN_HELP),
        ("13_transcribed_error_unauthorized_user.json", "login-token", AuthError, "UNAUTHORIZED_USER", ACCESS_HELP),
        ("14_reconstructed_error_rate_limit_user_dl.json", "download-request", M2mError, "RATE_LIMIT_USER_DL", None),
        ("15_reconstructed_error_auth_key_invalid.json", "scene-search", M2mAuthError, "AUTH_KEY_INVALID", None),
    ],
)
def test_every_recorded_error_envelope_maps_to_its_error_class_and_says_what_to_do(name, endpoint, error, code, hint):
    with pytest.raises(error) as err:
        envelope_data(body(name), endpoint)
    assert err.value.code == code and code in str(err.value)
    if hint:
        assert err.value.hint == hint
    assert err.value.hint


def test_the_retired_password_login_says_so():
    with pytest.raises(AuthError, match="password login was retired"):
        envelope_data(body("12_transcribed_error_not_found_invalid_endpoint_login.json"), "login")


def test_an_answer_that_is_no_envelope_names_the_setting_to_check():
    with pytest.raises(ProviderResponseError, match="not an M2M envelope") as err:
        envelope_data({"results": []}, "scene-search")
    assert "EOHARVEST_USGS_M2M_URL" in err.value.hint


# -- values -----------------------------------------------------------------------------------
@pytest.mark.parametrize("text, value", [("44.79", 44.79), ("0", 0.0), ("-1", None), ("", None), (None, None),
                                         ("n/a", None), (12, 12.0), ("101", None)])  # fmt: skip
def test_cloud_cover_text_is_a_percentage_or_unknown(text, value):
    assert cloud_cover(text) == value


def test_m2m_times_without_a_zone_are_utc():
    assert m2m_time("2020-05-15 16:34:02") == datetime(2020, 5, 15, 16, 34, 2, tzinfo=timezone.utc)
    assert m2m_time("2020-05-15") == datetime(2020, 5, 15, tzinfo=timezone.utc)
    assert m2m_time("2020-05-15T10:00:00-02:00") == datetime(2020, 5, 15, 12, tzinfo=timezone.utc)
    assert m2m_time("yesterday") is None and m2m_time(None) is None


def test_platforms_come_from_the_product_id():
    assert [platform_of(p) for p in ("LT04_", "LT05_", "LE07_", "LC08_", "LC09_", "LM01_")] == [
        "Landsat-4", "Landsat-5", "Landsat-7", "Landsat-8", "Landsat-9", None]  # fmt: skip


def test_a_result_without_ids_or_of_another_mission_is_refused():
    with pytest.raises(ProviderResponseError, match="entityId"):
        scene_from_search_result({"displayId": C2})
    with pytest.raises(ProviderResponseError, match="not a Landsat 4-9"):
        scene_from_search_result({"entityId": "x", "displayId": "LM01_L1GS_033032_19720801_20200909_02_T2"})


def test_band_files_are_named_like_earth_search_assets_per_sensor():
    oli, tm = C2, "LT05_L2SP_033032_20111018_20200820_02_T1"
    assert asset_name(oli, f"{oli}_SR_B4.TIF") == "red" and asset_name(oli, f"{oli}_SR_B5.TIF") == "nir08"
    assert asset_name(tm, f"{tm}_SR_B3.TIF") == "red" and asset_name(tm, f"{tm}_SR_B4.TIF") == "nir08"
    assert asset_name(oli, f"{oli}_ST_B10.TIF") == "lwir11" and asset_name(tm, f"{tm}_ST_B6.TIF") == "lwir"
    assert asset_name(oli, f"{oli}_QA_PIXEL.TIF") == "qa_pixel" and asset_name(oli, f"{oli}_MTL.json") == "mtl.json"
    assert asset_name(oli, f"{tm}_SR_B4.TIF") is None  # a file of another product
    assert file_name(f"{oli}_SR_B4_TIF") == f"{oli}_SR_B4.TIF"


# -- reconstructed Collection 2 bodies (tests/fakes/usgs_server.py) ------------------------------
def test_reconstructed_c2_download_options_select_the_bundle_or_band_files_by_asset_name():
    scene = c2_scene(C2, "LC80330322023281LGN00", acquired="2023-10-08")
    files = scene_files(c2_download_options(scene), "LC80330322023281LGN00", C2)
    assert files.bundle.filename == f"{C2}.tar" and files.bundle.product_id == "5e83d14f2fc39685"
    chosen = files.select(C2, ["red", "qa_pixel", "red"])
    assert [f.filename for f in chosen] == [f"{C2}_QA_PIXEL.TIF", f"{C2}_SR_B4.TIF"]
    # download-request wants each band file's own entity id, not the scene's
    assert chosen[1].request == {"entityId": f"L2SR_{C2}_SR_B4_TIF", "productId": chosen[1].product_id}
    with pytest.raises(InputError, match="no asset B04") as err:
        files.select(C2, ["B04"])
    assert "red" in err.value.hint


def test_duplicate_products_come_as_a_list_or_a_map():
    listed = request_answer({"duplicateProducts": ["5e83d14f2fc39685"], "availableDownloads": []})
    mapped = request_answer({"duplicateProducts": {"5e83d14f2fc39685": "earlier-label"}})
    assert listed.duplicates == ("5e83d14f2fc39685",)
    assert mapped.duplicates == ("5e83d14f2fc39685", "earlier-label")
    assert request_answer({"duplicateProducts": None}).duplicates == ()


# -- queries and paging -----------------------------------------------------------------------
def test_the_scene_filter_carries_area_days_whole_percents_and_ingest_days():
    query = SearchQuery.create(aoi=Footprint.from_bbox(-104.5, 40.0, -104.0, 40.5), start_date="2023-10-01",
                               end_date="2023-10-31", cloud_min=2.5, cloud_max=30.2, published_since="2023-10-10")  # fmt: skip
    f = q.scene_filter(query)
    assert f["spatialFilter"]["filterType"] == "geoJson" and f["spatialFilter"]["geoJson"]["type"] == "Polygon"
    assert f["acquisitionFilter"] == {"start": "2023-10-01", "end": "2023-10-31"}
    assert f["cloudCoverFilter"] == {"min": 2, "max": 31, "includeUnknown": False}
    assert f["ingestFilter"] == {"start": "2023-10-10", "end": q.LATEST}


def test_a_multipart_area_is_searched_by_its_box():
    aoi = Footprint.from_geojson({"type": "MultiPolygon", "coordinates": [
        [[[1, 1], [2, 1], [2, 2], [1, 1]]], [[[5, 5], [6, 5], [6, 6], [5, 5]]]]})  # fmt: skip
    f = q.scene_filter(SearchQuery(aoi=aoi))
    assert f["spatialFilter"] == {"filterType": "mbr", "lowerLeft": {"latitude": 1, "longitude": 1},
                                  "upperRight": {"latitude": 6, "longitude": 6}}  # fmt: skip


def test_an_open_date_range_gets_both_ends_and_no_filter_means_none():
    assert q.scene_filter(SearchQuery.create(start_date="2020-01-01"))["acquisitionFilter"]["end"] == q.LATEST
    assert q.scene_filter(SearchQuery()) == {}
    with pytest.raises(InputError, match="published_since"):
        q.scene_filter(SearchQuery.create(published_since="2024-01-02", published_until="2024-01-01"))


@pytest.mark.parametrize(
    "start, returned, total, announced, following",
    [
        (1, 100, 250, 101, 101),
        (101, 100, 250, 201, 201),
        (201, 50, 250, 250, None),  # last page: nextRecord repeats totalHits
        (1, 1, 1, 1, None),  # the recorded one-hit answer
        (1, 100, 200, 101, 101),
        (101, 100, 200, 200, None),
        (1, 0, 0, 0, None),
        (1, 10, 50, 1, 11),  # a nextRecord that does not move forward is not followed
    ],
)
def test_paging_stops_where_the_records_run_out(start, returned, total, announced, following):
    data = {"recordsReturned": returned, "totalHits": total, "nextRecord": announced, "results": [{}] * returned}
    assert q.next_start(data, q.UsgsPage(("landsat_ot_c2_l2",), start)) == following


# -- STAC export ------------------------------------------------------------------------------
def test_the_stac_item_uses_earth_search_asset_names_and_stable_usgs_file_links():
    raw = c2_scene(C2, "LC80330322023281LGN00", acquired="2023-10-08", cloud="0.06", published="2023-10-17 16:40:11")
    item, files = stac_item(scene_from_search_result(raw))
    props = item["properties"]
    assert (item["id"], props["platform"], props["instruments"], props["eo:cloud_cover"]) == (C2, "landsat-8", ["oli", "tirs"], 0.06)
    assert props["datetime"] == "2023-10-08T00:00:00Z" and props["published"] == "2023-10-17T16:40:11Z"
    assert props["usgs:entity_id"] == "LC80330322023281LGN00" and props["usgs:dataset"] == "landsat_ot_c2_l2"
    assert (props["usgs:wrs_path"], props["usgs:wrs_row"]) == ("033", "032")
    assert item["assets"]["red"]["href"] == ("https://landsatlook.usgs.gov/data/collection02/level-2/standard/oli-tirs/"
                                            f"2023/033/032/{C2}/{C2}_SR_B4.TIF")  # fmt: skip
    assert files["red"] == f"{C2}_SR_B4.TIF" and files["mtl.json"] == f"{C2}_MTL.json"
    assert item["assets"]["thumbnail"]["href"].startswith("https://ims.cr.usgs.gov/thumbnail/landsat_ot_c2_l2/")
    tm = stac_item(scene_from_search_result(c2_scene("LT05_L2SP_033032_20111018_20200820_02_T1", "LT50330322011291EDC00",
                                                     acquired="2011-10-18")))[0]  # fmt: skip
    assert "/standard/tm/2011/033/032/" in tm["assets"]["red"]["href"] and tm["assets"]["red"]["href"].endswith("_SR_B3.TIF")
