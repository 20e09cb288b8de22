"""CMR rules without a network: search parameters, collection planning, the UMM-G mapper's edge
cases (files, assets, product keys, checksums, footprints), tokens, credentials and settings."""

import base64
import json
import os
from datetime import datetime, timezone

import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eoharvest.adapters.credentials import LayeredCredentials
from eoharvest.adapters.providers.cmr import query as q
from eoharvest.adapters.providers.cmr.login import jwt_expiry
from eoharvest.adapters.providers.cmr.formats import scene_from_atom_entry, scene_from_cmr_stac_item
from eoharvest.adapters.providers.cmr.geometry import rectangle_geometry, ring_geometry
from eoharvest.adapters.providers.cmr.items import data_files, product_name, scene_from_umm_item
from eoharvest.adapters.providers.cmr.stac_item import stac_item as _stac_item_and_files


def stac_item(scene):
    return _stac_item_and_files(scene)[0]
from eoharvest.adapters.providers.table import env_aliases, netrc_hosts
from eoharvest.application.settings import Endpoints
from eoharvest.domain.aoi import parse_aoi
from eoharvest.domain.errors import AuthError, EoharvestError, InputError, ProviderResponseError
from eoharvest.domain.footprint import Footprint
from eoharvest.domain.query import SearchQuery
from eoharvest.entrypoints.config import load_settings

import numpy as np


def spatial(aoi):
    return q.spatial_params(parse_aoi(aoi).footprint)


def ring_of(text):
    numbers = [float(v) for v in text.split(",")]
    return list(zip(numbers[0::2], numbers[1::2]))


def signed_area(ring):
    return sum(x1 * y2 - x2 * y1 for (x1, y1), (x2, y2) in zip(ring, ring[1:])) / 2


# -- search parameters -------------------------------------------------------------------------------
def test_a_rectangle_is_a_bounding_box_west_south_east_north():
    assert spatial((-79.4, 43.8, -79.3, 43.9)) == (("bounding_box", "-79.4,43.8,-79.3,43.9"),)


def test_a_clockwise_polygon_is_sent_counter_clockwise_and_closed():
    ((key, text),) = spatial("POLYGON((10 10, 10 11, 11 11.5, 11 10, 10 10))")  # clockwise
    ring = ring_of(text)
    assert key == "polygon[]" and ring[0] == ring[-1] and signed_area(ring) > 0


def test_a_polygon_across_the_antimeridian_becomes_two_or_ed_counter_clockwise_polygons():
    params = spatial("POLYGON((170 -20, -170 -25, -175 -10, 170 -20))")
    rings = [ring_of(v) for k, v in params if k == "polygon[]"]
    assert len(rings) == 2 and ("options[spatial][or]", "true") in params
    assert all(signed_area(r) > 0 and r[0] == r[-1] for r in rings)
    assert {max(x for x, _ in r) for r in rings} | {min(x for x, _ in r) for r in rings} >= {180.0, -180.0}


def test_a_box_across_the_antimeridian_is_one_bounding_box_with_west_greater_than_east():
    assert spatial("POLYGON((170 -20, -170 -20, -170 -10, 170 -10, 170 -20))") == (("bounding_box", "170,-20,-170,-10"),)


def test_long_aoi_edges_are_densified_because_cmr_reads_polygon_edges_as_great_circles():
    ((_, text),) = spatial("POLYGON((0 40, 20 40, 10 50, 0 40))")
    ring = ring_of(text)
    assert len(ring) > 20 and all(y == 40 for x, y in ring if 0 < x < 20 and y <= 40)  # the edge along 40°N stays on it


def test_holes_are_not_sent_and_the_outer_ring_is():
    ((key, text),) = spatial("POLYGON((0 0, 4 0, 4 4, 0 4, 0 0), (1 1, 1 2, 2 2, 2 1, 1 1))")
    assert key == "polygon[]" and "1,1" not in text


def test_temporal_is_the_cmr_format_with_open_ends():
    query = SearchQuery.create(start_date="2024-06-01", end_date="2024-06-10")
    assert q.temporal(query.start, query.end) == "2024-06-01T00:00:00Z,2024-06-10T23:59:59Z"
    assert q.temporal(query.start, None) == "2024-06-01T00:00:00Z,"
    assert q.temporal(None, query.end) == ",2024-06-10T23:59:59Z" and q.temporal(None, None) is None


def test_cloud_cover_is_min_comma_max_with_open_sides():
    assert (q.cloud_param(None, 30.0), q.cloud_param(0.5, None), q.cloud_param(10.0, 20.0)) == (",30", "0.5,", "10,20")


@pytest.mark.parametrize("value", [0, 2001, -1, "10", True, 1.5])
def test_page_size_must_be_a_whole_number_from_1_to_2000(value):
    with pytest.raises(InputError) as caught:
        q.page_size({"page_size": value}, 2000)
    assert repr(value) in str(caught.value) and "1 to 2000" in caught.value.hint


def test_day_night_flag_and_revision_date_are_checked_and_formatted():
    assert q.option_params({"day_night_flag": " Night "}) == (("day_night_flag", "night"),)
    with pytest.raises(InputError) as caught:
        q.option_params({"day_night_flag": "dusk"})
    assert "'dusk'" in str(caught.value) and "day, night, both, unspecified" in caught.value.hint
    assert q.option_params({"revision_date": "2024-06-01,2024-06-02"}) == (
        ("revision_date[]", "2024-06-01T00:00:00Z,2024-06-02T23:59:59Z"),)
    with pytest.raises(InputError):
        q.option_params({"revision_date": "2024-06-01"})


def test_unknown_options_are_refused_naming_them_and_listing_the_accepted_ones():
    with pytest.raises(InputError) as caught:
        q.check_options({"orbit": 3, "page_size": 10, "bogus": 1})
    assert "bogus, orbit" in str(caught.value) and "collection_concept_id" in caught.value.hint


# -- which collections a search runs over -------------------------------------------------------------
def names(query):
    return [(n.short_name, n.version, n.explicit) for n in q.wanted_collections(query).names]


def test_a_platform_searches_its_default_collections():
    assert names(SearchQuery(platforms=("HLS",))) == [("HLSL30", "2.0", False), ("HLSS30", "2.0", False)]
    assert names(SearchQuery(platforms=("MODIS",))) == [("MOD09GA", "061", False), ("MYD09GA", "061", False)]
    s1 = names(SearchQuery(platforms=("Sentinel-1",)))
    assert [n for n, _, _ in s1] == ["SENTINEL-1A_SLC", "SENTINEL-1B_SLC", "SENTINEL-1C_SLC", "SENTINEL-1D_SLC"]


def test_product_type_is_a_cmr_short_name_or_a_label_of_the_platform():
    assert names(SearchQuery(platforms=("HLS",), options={"product_type": "hlsl30"})) == [("HLSL30", "2.0", True)]
    grd = names(SearchQuery(platforms=("Sentinel-1",), options={"product_type": "GRD"}))
    assert [n for n, _, _ in grd] == [f"SENTINEL-1{u}_DP_GRD_HIGH" for u in "ABCD"]
    assert names(SearchQuery(platforms=("HLS",), options={"product_type": "OPERA_L3_DSWX-HLS_V1"})) == [
        ("OPERA_L3_DSWX-HLS_V1", None, True)]


def test_concept_ids_and_short_names_can_be_given_directly():
    wanted = q.wanted_collections(SearchQuery(options={
        "collections": ["C2021957657-LPCLOUD", "MOD02QKM"], "short_name": "SWOT_L2_HR_RiverSP_reach_2.0",
        "version": "2.0", "provider_id": "POCLOUD"}))
    assert wanted.concept_ids == ("C2021957657-LPCLOUD",) and wanted.provider_id == "POCLOUD"
    assert [(n.short_name, n.version) for n in wanted.names] == [("MOD02QKM", None), ("SWOT_L2_HR_RiverSP_reach_2.0", "2.0")]


@pytest.mark.parametrize("options,message", [
    ({"collection_concept_id": "G2147556158-LPCLOUD"}, "'G2147556158-LPCLOUD' is not a CMR collection concept id"),
    ({"version": "2.0"}, "version '2.0' needs a short_name or product_type"),
    ({"short_name": ["A", "B"], "version": ["1", "2"]}, "give one version"),
    ({"short_name": 3}, "short_name 3 must be text"),
])
def test_inconsistent_collection_options_are_input_errors(options, message):
    with pytest.raises(InputError) as caught:
        q.wanted_collections(SearchQuery(options=options))
    assert message in str(caught.value)


# -- the UMM-G mapper ---------------------------------------------------------------------------------
def granule(**umm):
    base = {"GranuleUR": "HLS.S30.T10SEG.2024160T184919.v2.0",
            "TemporalExtent": {"RangeDateTime": {"BeginningDateTime": "2024-06-08T18:49:19.024Z",
                                                 "EndingDateTime": "2024-06-08T18:49:30Z"}}}  # fmt: skip
    return {"meta": {"concept-id": "G1-LPCLOUD"}, "umm": {**base, **umm}}


def link(url, kind="GET DATA", **extra):
    return {"URL": url, "Type": kind, **extra}


def test_only_http_get_data_files_are_assets_named_by_their_suffix():
    base = "https://data.lpdaac.earthdatacloud.nasa.gov/lp-prod-protected/HLSS30.020/HLS.S30.T10SEG.2024160T184919.v2.0"
    item = granule(RelatedUrls=[
        link(f"{base}/HLS.S30.T10SEG.2024160T184919.v2.0.B8A.tif"),
        link(f"{base}/HLS.S30.T10SEG.2024160T184919.v2.0.Fmask.tif"),
        link(f"{base}/HLS.S30.T10SEG.2024160T184919.v2.0.Fmask.tif"),  # listed twice
        link("s3://lp-prod-protected/x.tif"),
        link("https://opendap.earthdata.nasa.gov/collections/C1/granules/x", Subtype="OPENDAP DATA"),
        link("https://e4ftl01.cr.usgs.gov/MOLT/", Subtype="DATA TREE"),
        link("https://search.earthdata.nasa.gov/search?q=x", Subtype="EARTHDATA SEARCH"),
        link("https://data.lpdaac.earthdatacloud.nasa.gov/s3credentials"),
        link("https://ladsweb.modaps.eosdis.nasa.gov/opendap/x.hdf.html"),
        link(f"{base}/HLS.S30.T10SEG.2024160T184919.v2.0.jpg", "GET RELATED VISUALIZATION"),
        link(f"{base}/HLS.S30.T10SEG.2024160T184919.v2.0.cmr.xml", "EXTENDED METADATA"),
    ])
    files = data_files(item)
    assert [(f.asset, f.filename) for f in files] == [
        ("B8A", "HLS.S30.T10SEG.2024160T184919.v2.0.B8A.tif"), ("Fmask", "HLS.S30.T10SEG.2024160T184919.v2.0.Fmask.tif")]


def test_sizes_are_exact_bytes_only_and_checksum_algorithms_are_read_as_umm_g_writes_them():
    item = granule(
        RelatedUrls=[link(f"https://h.nasa.gov/{n}") for n in ("a.nc", "b.nc", "c.nc", "d.nc")],
        DataGranule={"ArchiveAndDistributionInformation": [
            {"Name": "a.nc", "SizeInBytes": 10, "Checksum": {"Value": "AB" * 32, "Algorithm": "SHA-256"}},
            {"Name": "b.nc", "Size": 1.5, "SizeUnit": "MB", "Checksum": {"Value": "cd" * 64, "Algorithm": "SHA-512"}},
            {"Name": "c.nc", "SizeInBytes": 12, "Checksum": {"Value": "0f" * 16, "Algorithm": "MD5"}},
            {"Name": "d.nc", "SizeInBytes": 13, "Checksum": {"Value": "1a2b3c4d", "Algorithm": "Adler-32"}},
        ]},
    )
    files = {f.filename: f for f in data_files(item)}
    assert [(f.size, [(c.algorithm, c.value) for c in f.checksums]) for f in files.values()] == [
        (10, [("sha256", "ab" * 32)]), (None, [("sha512", "cd" * 64)]), (12, [("md5", "0f" * 16)]),
        (13, [("adler32", "1a2b3c4d")])]  # kept, though the engine cannot verify Adler-32
    scene = scene_from_umm_item(item)
    assert scene.size is None and scene.checksums == ()  # one size unknown; several files


def test_asf_granule_urs_lose_their_product_type_suffix_in_the_product_key():
    name = "S1A_IW_SLC__1SDV_20220703T154846_20220703T154912_043938_053EBC_D45D"
    assert product_name(f"{name}-SLC") == name and product_name(f"{name}-GRD_HD") == name
    assert product_name("LAADS:2715071895", "MOD02QKM.A2000055.0005.061.2017171194850.hdf") == (
        "MOD02QKM.A2000055.0005.061.2017171194850")
    assert product_name("HLS.L30.T13SDV.2021035T173836.v2.0") == "HLS.L30.T13SDV.2021035T173836.v2.0"


def test_an_item_without_a_granule_ur_is_a_provider_response_error_naming_its_concept_id():
    with pytest.raises(ProviderResponseError) as caught:
        scene_from_umm_item({"meta": {"concept-id": "G9-X"}, "umm": {}})
    assert "G9-X" in str(caught.value)


def test_a_rectangle_with_west_greater_than_east_is_two_boxes_at_the_antimeridian():
    geometry = rectangle_geometry({"WestBoundingCoordinate": 170, "SouthBoundingCoordinate": -10,
                                   "EastBoundingCoordinate": -170, "NorthBoundingCoordinate": 10})  # fmt: skip
    assert geometry.geom_type == "MultiPolygon" and sorted(p.bounds for p in geometry.geoms) == [
        (-180.0, -10.0, -170.0, 10.0), (170.0, -10.0, 180.0, 10.0)]
    assert rectangle_geometry({"WestBoundingCoordinate": "x"}) is None


def test_a_ring_round_the_south_pole_is_closed_over_it():
    ring = np.array([(0, -70), (-90, -72), (180, -71), (90, -70), (0, -70)], dtype=float)  # westward: south pole
    geometry = ring_geometry(ring)
    assert geometry.is_valid and geometry.contains(shapely.Point(45, -89)) and not geometry.contains(shapely.Point(0, 0))


def test_a_cartesian_ring_is_not_densified_and_a_geodetic_one_follows_the_great_circle():
    ring = np.array([(0, 60), (60, 60), (60, 70), (0, 70), (0, 60)], dtype=float)
    flat, round_ = ring_geometry(ring, geodetic=False), ring_geometry(ring)
    assert len(flat.exterior.coords) == 5 and len(round_.exterior.coords) > 50
    # The great circles from 0° to 60° bulge poleward (to ~63.4°N on the 60°N edge at 30°E).
    assert flat.contains(shapely.Point(30, 61.5)) and not round_.contains(shapely.Point(30, 61.5))
    assert round_.contains(shapely.Point(30, 71.5)) and not flat.contains(shapely.Point(30, 71.5))


def test_the_stac_item_of_a_scene_without_umm_has_no_assets_but_keeps_its_identity():
    scene = scene_from_umm_item(granule())
    item = stac_item(scene)
    assert item["id"] == "HLS.S30.T10SEG.2024160T184919.v2.0" and item["assets"] == {}
    assert item["properties"]["end_datetime"] == "2024-06-08T18:49:30Z" and "collection" not in item


umm_keys = st.sampled_from(["GranuleUR", "TemporalExtent", "SpatialExtent", "RelatedUrls", "DataGranule", "CloudCover",
                            "CollectionReference", "Platforms"])  # fmt: skip
values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
                      lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=20), inner, max_size=4),
                      max_leaves=25)  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(umm_keys, values, max_size=8), st.text(min_size=1, max_size=12))
def test_t18_the_umm_g_mapper_accepts_or_rejects_with_a_documented_error(umm, ur):
    for item in ({"meta": {}, "umm": umm}, {"meta": {}, "umm": {**umm, "GranuleUR": ur}}):
        try:
            scene = scene_from_umm_item(item)
        except EoharvestError:
            continue
        data_files(scene.raw)
        json.dumps(stac_item(scene))


atom_keys = st.sampled_from(["title", "polygons", "boxes", "links", "time_start", "time_end", "cloud_cover",
                             "producer_granule_id", "coordinate_system", "dataset_id"])  # fmt: skip
stac_keys = st.sampled_from(["id", "properties", "assets", "geometry", "collection"])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(atom_keys, values, max_size=8), st.dictionaries(stac_keys, values, max_size=5))
def test_t18_the_atom_and_cmr_stac_mappers_accept_or_reject_with_a_documented_error(entry, feature):
    for mapper, record in ((scene_from_atom_entry, entry), (scene_from_cmr_stac_item, feature)):
        try:
            mapper(record)
        except EoharvestError:
            pass


# -- tokens, credentials, settings ------------------------------------------------------------------------
def test_the_expiry_of_an_earthdata_token_is_its_jwt_exp_claim():
    payload = base64.urlsafe_b64encode(json.dumps({"exp": 1732000000}).encode()).decode().rstrip("=")
    assert jwt_expiry(f"eyJhbGciOiJSUzI1NiJ9.{payload}.sig") == datetime.fromtimestamp(1732000000, timezone.utc)
    assert jwt_expiry("REDACTED") is None and jwt_expiry("a.!!!.c") is None


def store(tmp_path, environ, **kw):
    return LayeredCredentials(environ=environ, hosts=netrc_hosts(Endpoints()), home=tmp_path, keyring_module=False,
                              env_aliases=env_aliases(), **kw)  # fmt: skip


def test_earthdata_variables_are_read_after_the_eoharvest_ones():
    both = {"EOHARVEST_CMR_USERNAME": "a", "EOHARVEST_CMR_PASSWORD": "pa55word-a", "EARTHDATA_USERNAME": "b",
            "EARTHDATA_PASSWORD": "pa55word-b", "EARTHDATA_TOKEN": "tok3n-c"}  # fmt: skip
    found = store(None, both).get("cmr")
    assert (found.username, found.source) == ("a", "environment (EOHARVEST_CMR_PASSWORD)")
    earthaccess = {k: v for k, v in both.items() if k.startswith("EARTHDATA_")}
    found = store(None, earthaccess).get("cmr")
    assert (found.username, found.secret) == ("b", "pa55word-b")
    found = store(None, {"EARTHDATA_TOKEN": "tok3n-c", "EARTHDATA_USERNAME": "b"}).get("cmr")
    assert (found.username, found.secret, found.source) == (None, "tok3n-c", "environment (EARTHDATA_TOKEN)")
    places = "; ".join(store(None, {}).searched("cmr"))
    assert ("EOHARVEST_CMR_USERNAME, EOHARVEST_CMR_PASSWORD, EOHARVEST_CMR_TOKEN, EARTHDATA_USERNAME, "
            "EARTHDATA_PASSWORD, EARTHDATA_TOKEN") in places and "machine urs.earthdata.nasa.gov" in places


def test_the_netrc_machine_is_the_login_host_and_must_be_private(tmp_path):
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine urs.earthdata.nasa.gov login edl password s3cret-netrc\n")
    os.chmod(netrc, 0o600)
    found = store(tmp_path, {}).get("cmr")
    assert (found.username, found.secret) == ("edl", "s3cret-netrc")
    os.chmod(netrc, 0o644)
    with pytest.raises(AuthError) as caught:
        store(tmp_path, {}).get("cmr")
    assert "chmod 600" in str(caught.value)


def test_the_cmr_page_size_is_a_setting():
    assert load_settings(environ={"EOHARVEST_CMR_PAGE_SIZE": "500"}).search.cmr_page_size == 500
    assert load_settings(environ={}).search.cmr_page_size == 2000


def test_an_out_of_range_page_size_setting_is_refused_when_cmr_is_connected(tmp_path):
    from eoharvest.entrypoints.bootstrap import build

    services = build(load_settings({"cmr_page_size": 5000, "catalog_path": tmp_path / "c.db"}, environ={}))
    with pytest.raises(InputError) as caught:
        services.connect("cmr")
    assert "5000" in str(caught.value) and "cmr_page_size" in caught.value.hint


def test_an_aoi_footprint_of_a_point_searches_its_bounding_box():
    assert q.spatial_params(Footprint(shapely.Point(1, 2))) == (("bounding_box", "1,2,1,2"),)
