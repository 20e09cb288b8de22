"""Every recorded CMR and Earthdata Login answer in ../shared/corpus/cmr, mapped field by field
(or to its error class); a last test checks that no file of the folder is left out."""

import json
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
import shapely

from corpus import CORPUS, load, load_text
from eoharvest.adapters.http.guard import UrlGuard
from eoharvest.adapters.http.jsonapi import JsonApi
from eoharvest.adapters.providers.cmr.catalogue import CollectionCatalogue, collection_from_atom
from eoharvest.adapters.providers.cmr.earthdata import EarthdataAuth
from eoharvest.adapters.providers.cmr.login import EarthdataLogin
from eoharvest.adapters.providers.cmr.errors import cmr_error_hint, login_error_hint
from eoharvest.adapters.providers.cmr.formats import scene_from_atom_entry, scene_from_cmr_stac_item, scenes_from_atom_feed
from eoharvest.adapters.providers.cmr.items import data_files, scene_from_umm_item
from eoharvest.adapters.providers.cmr.source import CmrPage, CmrSource
from eoharvest.adapters.providers.cmr.stac_item import stac_item as _stac_item_and_files


def stac_item(scene):
    return _stac_item_and_files(scene)[0]
from eoharvest.domain.errors import AuthError, InputError, ProviderResponseError, RetryExhausted
from eoharvest.domain.ports import Credentials
from eoharvest.domain.query import SearchQuery
from eoharvest.domain.retry import RetryPolicy
from fakes import FakeClock

CMR = "https://cmr.earthdata.nasa.gov/search"
URS = "https://urs.earthdata.nasa.gov"
#: Every file of the recorded folder; each is named in a ``covers(...)`` call of the test that maps it.
FILES = frozenset({
    "01_granules_umm_json_page1_MOD02QKM_page_size2.json",
    "01_granules_umm_json_page1_MOD02QKM_page_size2_headers.json",
    "02_granules_umm_json_page2_via_search_after.json",
    "02_granules_umm_json_page2_via_search_after_headers.json",
    "03_granules_json_last_page_empty_after_search_after.json",
    "03_granules_json_last_page_empty_after_search_after_headers.json",
    "04_granules_json_zero_hits.json",
    "04_granules_json_zero_hits_headers.json",
    "05_granules_umm_json_page_size0_bbox_zero_hits.json",
    "05_granules_umm_json_page_size0_bbox_zero_hits_headers.json",
    "06_granules_umm_json_page_size0_hits_only.json",
    "06_granules_umm_json_page_size0_hits_only_headers.json",
    "07_granules_umm_json_page1_relatedurls_podaac.json",
    "07_granules_umm_json_page1_relatedurls_podaac_headers.json",
    "08_granules_stac_hls_point.json",
    "08_granules_stac_hls_point_headers.json",
    "09_collections_json_page1.json",
    "09_collections_json_page1_headers.json",
    "10_urs_api_users_401.json",
    "10_urs_api_users_401_headers.json",
    "11_urs_api_users_200.json",
    "11_urs_api_users_200_headers.json",
    "12_urs_api_users_tokens.json",
    "12_urs_api_users_tokens_headers.json",
    "13_urs_find_or_create_token_scrubbed.txt",
    "13_urs_find_or_create_token_scrubbed_headers.json",
    "14_urs_profile_302.txt",
    "14_urs_profile_302_headers.json",
    "15_granules_json_atom_by_concept_id_MYD021KM.json",
    "16_granules_umm_json_by_concept_id_MYD021KM.json",
    "17_reconstructed_error_400_unrecognized_param.json",
    "18_reconstructed_error_400_page_size.json",
    "19_reconstructed_error_400_polygon_clockwise.json",
    "20_reconstructed_error_400_bad_search_after.json",
    "21_reconstructed_error_401_token_expired.json",
    "22_reconstructed_error_500_internal.json",
})


def covers(*names):
    """Names the recorded files a test maps (the last test checks that every file is named)."""
    assert set(names) <= FILES, set(names) - FILES


def recorded(name):
    """A recorded answer with its recorded status and headers, as an httpx.Response."""
    companion = CORPUS / "cmr" / (name.rsplit(".", 1)[0] + "_headers.json")
    status, headers = 200, {"Content-Type": "application/json"}
    if companion.exists():
        meta = json.loads(companion.read_text())
        status = meta["status"]["code"]
        headers = {k: v[0] for k, v in meta["headers"].items() if k.lower() not in ("content-length", "transfer-encoding")}
    return httpx.Response(status, headers=headers, content=load_text("cmr", name).encode())


def api_for(handler, base=CMR, hint=cmr_error_hint):
    client = httpx.Client(transport=httpx.MockTransport(handler))
    guard = UrlGuard(allow_private=True, resolver=lambda h, p: ["93.184.216.34"])
    return JsonApi(client, guard=guard, provider="cmr", policy=RetryPolicy(max_attempts=3, base_delay=0.0, max_delay=0.0),
                   error_hint=hint, clock=FakeClock())


def source_for(handler):
    api = api_for(handler)
    auth = EarthdataAuth(None, URS, missing="no credentials for cmr")
    return CmrSource(api, CollectionCatalogue(api, CMR), cmr_url=CMR, auth=auth)


def page_from(name, ref=None):
    requests = []

    def handler(request):
        requests.append(request)
        return recorded(name)

    page = source_for(handler).search_page(SearchQuery(), ref or CmrPage(f"{CMR}/granules.umm_json", (("page_size", "2"),)))
    return page, requests


def umm_items(name):
    return load("cmr", name)["items"]


# -- granule pages -------------------------------------------------------------------------------
def test_01_page_one_of_mod02qkm_maps_both_polar_granules_and_hands_on_its_search_after_value():
    covers("01_granules_umm_json_page1_MOD02QKM_page_size2.json", "01_granules_umm_json_page1_MOD02QKM_page_size2_headers.json")
    page, _ = page_from("01_granules_umm_json_page1_MOD02QKM_page_size2.json")
    assert page.total == 1404440 and page.next_ref.search_after == '["laads",951351000000,1462754407]'
    first, second = page.scenes
    assert first.scene_id == "LAADS:2715071895" and first.provider == "cmr" and first.platformname == "Terra"
    assert first.product_key == "MOD02QKM.A2000055.0005.061.2017171194850" and first.scene_key == "MOD02QKM.A2000055.0005"
    assert first.acq_date == datetime(2000, 2, 24, 0, 5, tzinfo=timezone.utc)
    assert first.raw["end_datetime"] == "2000-02-24T00:10:00Z" and first.cloudcover_percentage is None
    assert first.download_links == ("https://data.laadsdaac.earthdatacloud.nasa.gov/prod-lads/MOD02QKM/"
                                    "MOD02QKM.A2000055.0005.061.2017171194850.hdf",)
    assert first.filenames == ("MOD02QKM.A2000055.0005.061.2017171194850.hdf",)
    assert first.size == 27984421  # SizeInBytes, not the rounded 26.688 MB
    assert [(c.algorithm, c.value, c.source) for c in first.checksums] == [("md5", "f354ac721cb0f66e1da78b420e734c6a", "cmr:umm-g")]
    # The swath goes round the north pole: closed over it, one valid polygon over all longitudes.
    assert first.footprint.geom_type == "Polygon" and first.footprint.is_valid
    assert first.footprint.bbox == (-180.0, 66.835767, 180.0, 90.0)
    assert first.footprint.geometry.contains(shapely.Point(0, 89.5))
    # The second crosses the antimeridian without a pole: two parts, touching ±180.
    assert second.footprint.geom_type == "MultiPolygon" and second.footprint.is_valid
    west, east = sorted(second.footprint.geometry.geoms, key=lambda p: p.bounds[0])
    assert west.bounds[0] == -180.0 and east.bounds[2] == 180.0
    assert second.footprint.geometry.contains(shapely.Point(179.9, 60)) and not second.footprint.geometry.contains(shapely.Point(0, 60))


def test_02_page_two_came_with_the_header_of_page_one_and_carries_its_own():
    covers("02_granules_umm_json_page2_via_search_after.json", "02_granules_umm_json_page2_via_search_after_headers.json")
    meta = load("cmr", "02_granules_umm_json_page2_via_search_after_headers.json")
    assert meta["request"]["headers"]["cmr-search-after"] == ['["laads",951351000000,1462754407]']
    cursor = CmrPage(f"{CMR}/granules.umm_json", (("page_size", "2"),), '["laads",951351000000,1462754407]')
    page, requests = page_from("02_granules_umm_json_page2_via_search_after.json", cursor)
    assert requests[0].headers["CMR-Search-After"] == '["laads",951351000000,1462754407]'
    assert "authorization" not in requests[0].headers
    assert page.next_ref.search_after == '["laads",951351600000,1462754405]' and page.next_ref != cursor
    assert [s.scene_id for s in page.scenes] == ["LAADS:2715072178", "LAADS:2715072179"]
    assert [s.size for s in page.scenes] == [47659304, 47655548]
    assert page.scenes[1].footprint.geom_type == "Polygon" and page.scenes[1].footprint.bbox[0] == pytest.approx(147.019195)


def test_03_the_empty_page_after_the_last_has_no_header_and_ends_the_search():
    covers("03_granules_json_last_page_empty_after_search_after.json", "03_granules_json_last_page_empty_after_search_after_headers.json")
    assert scenes_from_atom_feed(load("cmr", "03_granules_json_last_page_empty_after_search_after.json")) == []
    headers = load("cmr", "03_granules_json_last_page_empty_after_search_after_headers.json")["headers"]
    assert "CMR-Search-After" not in headers and headers["CMR-Hits"] == ["163"]

    def handler(request):  # the same answer in the format eoharvest asks for
        return httpx.Response(200, headers={"CMR-Hits": "163"}, json={"hits": 163, "took": 5, "items": []})

    cursor = CmrPage(f"{CMR}/granules.umm_json", (), '["pocloud",1495497600000,2658328520]', seen=163)
    page = source_for(handler).search_page(SearchQuery(), cursor)
    assert page.scenes == () and page.next_ref is None and page.total == 163


def test_04_zero_hits():
    covers("04_granules_json_zero_hits.json", "04_granules_json_zero_hits_headers.json")
    assert scenes_from_atom_feed(load("cmr", "04_granules_json_zero_hits.json")) == []
    assert load("cmr", "04_granules_json_zero_hits_headers.json")["headers"]["CMR-Hits"] == ["0"]


@pytest.mark.parametrize("name,headers,hits", [
    ("05_granules_umm_json_page_size0_bbox_zero_hits.json", "05_granules_umm_json_page_size0_bbox_zero_hits_headers.json", 0),
    ("06_granules_umm_json_page_size0_hits_only.json", "06_granules_umm_json_page_size0_hits_only_headers.json", 218),
])
def test_05_06_hits_only_answers_give_the_total_and_no_next_page(name, headers, hits):
    covers(name, headers)
    page, _ = page_from(name)
    assert page.total == hits and page.scenes == () and page.next_ref is None


def test_07_only_the_https_get_data_link_is_a_file_never_md5_s3_credentials_or_opendap():
    covers("07_granules_umm_json_page1_relatedurls_podaac.json", "07_granules_umm_json_page1_relatedurls_podaac_headers.json")
    page, _ = page_from("07_granules_umm_json_page1_relatedurls_podaac.json")
    (scene,) = page.scenes
    assert page.total == 218 and page.next_ref.search_after == '["pocloud",1577923200000,2546526969]'
    assert scene.scene_id == scene.product_key == "ssh_grids_v2205_2020010212"
    assert scene.download_links == ("https://archive.podaac.earthdata.nasa.gov/podaac-ops-cumulus-protected/"
                                    "SEA_SURFACE_HEIGHT_ALT_GRIDS_L4_2SATS_5DAY_6THDEG_V_JPL2205/ssh_grids_v2205_2020010212.nc",)
    (file,) = data_files(scene.raw)
    assert (file.asset, file.size, file.checksums[0].value) == ("data", 9695609, "9002febf17632e5921eba5b8f62237e6")
    assert scene.acq_date == datetime(2020, 1, 2, tzinfo=timezone.utc)
    # Two BoundingRectangles, east and west of 0°, each reaching the antimeridian.
    assert scene.footprint.geom_type == "MultiPolygon" and len(scene.footprint.geometry.geoms) == 2
    assert scene.footprint.bbox == (-180.0, -79.917, 180.0, 79.917)
    assert not scene.footprint.geometry.contains(shapely.Point(0, 0))
    assert scene.platformname == "SEA_SURFACE_HEIGHT_ALT_GRIDS_L4_2SATS_5DAY_6THDEG_V_JPL2205"  # no Platforms given
    item = stac_item(scene)
    assert item["assets"]["data"]["file:checksum"] == "d50110" + "9002febf17632e5921eba5b8f62237e6"
    assert item["properties"]["cmr:collection"] == "SEA_SURFACE_HEIGHT_ALT_GRIDS_L4_2SATS_5DAY_6THDEG_V_JPL2205.v2205"
    assert item["properties"]["cmr:concept_id"] == "G2546526969-POCLOUD"


def test_08_the_cmr_stac_answer_maps_to_the_same_hls_product_with_band_assets():
    covers("08_granules_stac_hls_point.json", "08_granules_stac_hls_point_headers.json")
    body = load("cmr", "08_granules_stac_hls_point.json")
    assert body["numberMatched"] == 2
    first, second = (scene_from_cmr_stac_item(f) for f in body["features"])
    assert first.scene_id == first.product_key == "HLS.L30.T13SDV.2021035T173836.v2.0"
    assert first.scene_key == "HLS.L30.T13SDV.2021035T173836" and first.platformname == "HLS"
    assert first.cloudcover_percentage == 14.0 and second.cloudcover_percentage == 2.0
    assert first.acq_date == datetime(2021, 2, 4, 17, 38, 36, 830000, tzinfo=timezone.utc)
    assert first.raw["source"]["record"]["id"] == "G2147556158-LPCLOUD" and first.raw["source"]["format"] == "stac"
    assets = {f.asset for f in data_files({"umm": {"GranuleUR": first.scene_id, "RelatedUrls": [
        {"URL": u, "Type": "GET DATA"} for u in first.download_links]}})}
    assert assets == {"B01", "B02", "B03", "B04", "B05", "B06", "B07", "B09", "B10", "B11", "Fmask", "SAA", "SZA", "VAA", "VZA"}
    assert not any(link.endswith((".jpg", ".xml")) for link in first.download_links)
    assert first.footprint.bbox == pytest.approx((-106.1119251, 35.1499121, -104.8915104, 36.1448493))


def test_09_a_collection_entry_gives_concept_id_short_name_version_provider_and_coordinate_system():
    covers("09_collections_json_page1.json", "09_collections_json_page1_headers.json")
    (entry,) = load("cmr", "09_collections_json_page1.json")["feed"]["entry"]
    info = collection_from_atom(entry)
    assert (info.concept_id, info.short_name, info.version, info.provider_id) == (
        "C2799438303-POCLOUD", "SWOT_L2_HR_RiverSP_reach_2.0", "2.0", "POCLOUD")
    assert info.cloud_hosted and not info.geodetic  # CARTESIAN
    assert info.title.startswith("SWOT Level 2 River Single-Pass Vector Reach")

    def handler(request):
        return recorded("09_collections_json_page1.json")

    hits, found = CollectionCatalogue(api_for(handler), CMR).search("SWOT reach", limit=5)
    assert hits == 1 and found == [info]


def login_for(handler, credentials=Credentials("edl-user", "CANARY-PW-1"), now=datetime(2024, 6, 1, tzinfo=timezone.utc)):
    api = api_for(handler, base=URS, hint=login_error_hint)
    return EarthdataLogin(api, URS, credentials, clock=FakeClock(now))


def test_10_a_401_from_the_token_api_is_an_auth_error_after_one_request_and_is_remembered():
    covers("10_urs_api_users_401.json", "10_urs_api_users_401_headers.json")
    calls = []

    def handler(request):
        calls.append(request)
        return recorded("10_urs_api_users_401.json")

    login = login_for(handler)
    for _ in range(3):
        with pytest.raises(AuthError) as caught:
            login.token()
    assert len(calls) == 1 and calls[0].headers["Authorization"].startswith("Basic ")
    assert "refused the credentials of 'edl-user'" in str(caught.value)
    assert "invalid_credentials: Invalid user credentials" in caught.value.hint and "CANARY-PW-1" not in str(caught.value)


def test_11_the_token_answer_gives_the_bearer_and_its_mm_dd_yyyy_expiry():
    covers("11_urs_api_users_200.json", "11_urs_api_users_200_headers.json")
    calls = []

    def handler(request):
        calls.append(str(request.url))
        return recorded("11_urs_api_users_200.json")

    login = login_for(handler)
    assert login.token() == "REDACTED" and login.token() == "REDACTED"
    assert calls == [f"{URS}/api/users/find_or_create_token"]
    assert login._token.expires == datetime(2024, 11, 19, tzinfo=timezone.utc)


def test_12_without_find_or_create_the_token_list_is_read_and_a_token_created_when_all_expired():
    covers("12_urs_api_users_tokens.json", "12_urs_api_users_tokens_headers.json")
    calls = []

    def handler(request):
        calls.append((request.method, request.url.path))
        if request.url.path == "/api/users/find_or_create_token":
            return httpx.Response(404, json={"error": "not_found"})
        if request.url.path == "/api/users/tokens":
            return recorded("12_urs_api_users_tokens.json")
        return recorded("11_urs_api_users_200.json")

    assert login_for(handler).token() == "REDACTED"  # 06/25/2024 is still ahead on 2024-06-01
    assert calls[-1] == ("GET", "/api/users/tokens")
    calls.clear()
    login_for(handler, now=datetime(2024, 7, 1, tzinfo=timezone.utc)).token()
    assert calls[-1] == ("POST", "/api/users/token")


def test_13_a_scrubbed_non_json_token_answer_is_a_provider_response_error():
    covers("13_urs_find_or_create_token_scrubbed.txt", "13_urs_find_or_create_token_scrubbed_headers.json")

    def handler(request):
        return recorded("13_urs_find_or_create_token_scrubbed.txt")

    with pytest.raises(ProviderResponseError) as caught:
        login_for(handler).token()
    assert "malformed JSON" in str(caught.value) and "ACCESS_TOKEN" in str(caught.value)


def test_14_the_login_session_cookie_stays_in_the_providers_jar_and_an_expired_one_is_dropped():
    covers("14_urs_profile_302.txt", "14_urs_profile_302_headers.json")
    sent = []

    def handler(request):
        sent.append(request)
        response = recorded("14_urs_profile_302.txt")
        if request.url.path == "/fresh":
            cookie = response.headers["Set-Cookie"].replace("Tue, 30 Apr 2024", "Tue, 30 Apr 2999")
            response = httpx.Response(302, headers={"Location": f"{URS}/home", "Set-Cookie": cookie})
        return response

    auth = EarthdataAuth(None, URS, missing="none")
    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        client.get(f"{URS}/profile", auth=auth)  # the recorded cookie expired in 2024
        assert list(auth.cookies.jar) == []
        client.get(f"{URS}/fresh", auth=auth)
        client.get(f"{URS}/profile", auth=auth)
        client.get("https://data.lpdaac.earthdatacloud.nasa.gov/x", auth=auth)
    assert sent[0].headers.get("Cookie") is None
    assert sent[2].headers["Cookie"] == "_urs-gui_session=REDACTED" and "Cookie" not in sent[3].headers
    assert recorded("14_urs_profile_302.txt").headers["Location"] == "https://urs.earthdata.nasa.gov/home"


def test_15_16_the_same_granule_as_atom_and_as_umm_g_maps_to_the_same_scene():
    covers("15_granules_json_atom_by_concept_id_MYD021KM.json", "16_granules_umm_json_by_concept_id_MYD021KM.json")
    (umm,) = [scene_from_umm_item(i) for i in umm_items("16_granules_umm_json_by_concept_id_MYD021KM.json")]
    atom = scene_from_atom_entry(load("cmr", "15_granules_json_atom_by_concept_id_MYD021KM.json")["feed"]["entry"][0])
    assert umm.scene_id == atom.scene_id == "LAADS:4389864073"
    assert umm.product_key == atom.product_key == "MYD021KM.A2019051.0430.006.2019051235515"
    assert umm.platformname == atom.platformname == "Aqua"
    assert umm.acq_date == atom.acq_date == datetime(2019, 2, 20, 4, 30, tzinfo=timezone.utc)
    assert umm.raw["end_datetime"] == atom.raw["end_datetime"] == "2019-02-20T04:35:00Z"
    assert atom.raw["source"]["record"]["time_end"] == "2019-02-20T04:35:00.000Z"
    assert umm.download_links == atom.download_links == (
        "https://ladsweb.modaps.eosdis.nasa.gov/archive/allData/6/MYD021KM/2019/051/MYD021KM.A2019051.0430.006.2019051235515.hdf",)
    assert umm.footprint == atom.footprint and umm.footprint.geom_type == "Polygon"
    assert umm.size == 69035465 and atom.size is None  # ATOM has only the rounded granule_size in MB
    assert umm.checksums == ()  # no Checksum in this record: size-only verification


@pytest.mark.parametrize("name,status,error,text", [
    ("17_reconstructed_error_400_unrecognized_param.json", 400, InputError, "Parameter [foo] was not recognized."),
    ("18_reconstructed_error_400_page_size.json", 400, InputError, "page_size must be a number between 0 and 2000"),
    ("19_reconstructed_error_400_polygon_clockwise.json", 400, InputError, "Points must be provided in counter-clockwise order."),
    ("20_reconstructed_error_400_bad_search_after.json", 400, ProviderResponseError, "must be in the form of a JSON array"),
    ("21_reconstructed_error_401_token_expired.json", 401, AuthError, "has expired. Note the token value has been partially redacted."),
    ("22_reconstructed_error_500_internal.json", 500, RetryExhausted, "last: HTTP 500"),
])
def test_17_to_22_recorded_error_bodies_map_to_their_error_class(name, status, error, text):
    covers(name)
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(status, headers={"Content-Type": "application/json"}, content=load_text("cmr", name).encode())

    with pytest.raises(error) as caught:
        source_for(handler).search_page(SearchQuery(), CmrPage(f"{CMR}/granules.umm_json", (("page_size", "10"),)))
    assert text in str(caught.value)
    assert len(calls) == (3 if status == 500 else 1)
    if status == 401:
        assert "searches CMR without a token" in caught.value.hint


def test_every_file_of_the_recorded_folder_is_mapped_by_a_test_above():
    files = {p.name for p in (CORPUS / "cmr").iterdir() if p.name != "PROVENANCE.tsv"}
    assert files == FILES, sorted(files ^ FILES)
    tests = Path(__file__).read_text().split("def covers", 1)[1]
    assert [f for f in sorted(FILES) if f not in tests] == []
