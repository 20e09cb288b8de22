"""Planet's pure rules: the search filter, item and asset mapping of every recorded body, the
default assets, file names, error bodies, the STAC mapping, and the paging stop rules (over
httpx.MockTransport)."""

import json
from datetime import datetime, timezone

import httpx
import pytest

from corpus import load, load_text
from eoharvest.adapters.http.guard import UrlGuard
from eoharvest.adapters.http.jsonapi import JsonApi
from eoharvest.adapters.providers.planet import errors, filters
from eoharvest.adapters.providers.planet.assets import asset_filename, asset_record, asset_records, chosen_assets
from eoharvest.adapters.providers.planet.items import asset_types, parse_time, published, scene_from_feature
from eoharvest.adapters.providers.planet.source import PlanetPage, PlanetSource
from eoharvest.adapters.providers.planet.stac_item import stac_item
from eoharvest.application.budgets import LocalBudgets
from eoharvest.domain.errors import AuthError, InputError, ProviderResponseError
from eoharvest.domain.footprint import Footprint
from eoharvest.domain.query import SearchQuery
from eoharvest.domain.retry import RetryPolicy
from fakes import FakeClock

UTC = timezone.utc


def query(**kw):
    return SearchQuery.create(platforms=kw.pop("platforms", ("PlanetScope",)), **kw)


# -- the search filter ---------------------------------------------------------------------------
def test_the_filter_is_an_and_of_geometry_acquired_cloud_fraction_and_download_permission():
    q = query(aoi=Footprint.from_bbox(46.9, 8.35, 47.0, 8.45), start_date="2022-01-01", end_date="2022-01-31",
              cloud_min=5, cloud_max=7)  # fmt: skip
    body = filters.search_body(q)
    assert body["item_types"] == ["PSScene"]
    kinds = [(f["type"], f.get("field_name")) for f in body["filter"]["config"]]
    assert body["filter"]["type"] == "AndFilter"
    assert kinds == [("GeometryFilter", "geometry"), ("DateRangeFilter", "acquired"), ("RangeFilter", "cloud_cover"),
                     ("PermissionFilter", None)]  # fmt: skip
    geometry, dates, cloud, permission = body["filter"]["config"]
    assert geometry["config"]["type"] == "Polygon" and isinstance(geometry["config"], dict)  # an object, never WKT
    assert dates["config"] == {"gte": "2022-01-01T00:00:00.000000Z", "lte": "2022-01-31T23:59:59.999999Z"}
    assert cloud["config"] == {"gte": 0.05, "lte": 0.07}  # Planet's 0-1 scale, no float noise
    assert permission["config"] == ["assets:download"]
    json.dumps(body)  # serialisable as sent


def test_the_recorded_request_filter_has_the_same_shape_as_ours():
    recorded = load("planet", "req_01_search_filter_and_daterange_permission.json")
    ours = filters.search_filter(query(start_date="2022-01-01", end_date="2022-01-31"))
    assert [f["type"] for f in ours["config"]] == [f["type"] for f in recorded["config"]]
    assert ours["config"][1] == recorded["config"][1]
    assert set(ours["config"][0]["config"]) == set(recorded["config"][0]["config"]) == {"gte", "lte"}


def test_without_a_cloud_range_or_dates_only_the_permission_filter_remains():
    assert filters.search_filter(query()) == {"type": "AndFilter",
                                              "config": [{"type": "PermissionFilter", "config": ["assets:download"]}]}


def test_published_since_becomes_a_date_range_on_published():
    parts = filters.search_filter(query(published_since="2024-03-01T12:00:00Z"))["config"]
    assert parts[0] == {"type": "DateRangeFilter", "field_name": "published", "config": {"gte": "2024-03-01T12:00:00.000000Z"}}


@pytest.mark.parametrize("platforms, product_type, expected", [
    (("PlanetScope",), None, ["PSScene"]),
    (("SkySat",), None, ["SkySatCollect"]),
    (("SkySat",), "SkySatScene", ["SkySatScene"]),
    (("PlanetScope", "SkySat"), "PSScene4Band", ["PSScene4Band"]),
    (("PlanetScope", "RapidEye"), None, ["PSScene", "REOrthoTile"]),
])  # fmt: skip
def test_platforms_and_product_types_map_to_item_types(platforms, product_type, expected):
    options = {"product_type": product_type} if product_type else {}
    assert filters.item_types_for(query(platforms=platforms, **options)) == expected


def test_an_unknown_product_type_names_the_item_types():
    with pytest.raises(InputError, match="no product type 'L2A'") as caught:
        filters.item_types_for(query(product_type="L2A"))
    assert "PSScene" in caught.value.hint


def test_a_platform_planet_does_not_have_is_refused():
    with pytest.raises(InputError, match="planet cannot search Sentinel-2"):
        filters.item_types_for(query(platforms=("Sentinel-2",)))


def test_page_size_is_capped_at_250_and_by_the_limit():
    assert filters.page_size(query()) == 250
    assert filters.page_size(query().at_most(7)) == 7
    with pytest.raises(InputError, match="at most 250"):
        filters.page_size(query(page_size=251))


# -- items ----------------------------------------------------------------------------------------
def test_the_recorded_psscene_item_maps_field_by_field():
    feature = load("planet", "07_item_PSScene_20220125_075509_67_1061.json")
    scene = scene_from_feature(feature)
    assert (scene.scene_id, scene.product_key, scene.platformname) == (
        "20220125_075509_67_1061", "PSScene_20220125_075509_67_1061", "PlanetScope")
    assert scene.acq_date == datetime(2022, 1, 25, 7, 55, 9, 676173, tzinfo=UTC)
    assert scene.cloudcover_percentage == 0.0 and scene.provider == "planet"
    assert scene.footprint.geom_type == "Polygon" and scene.footprint.bbox[0] == pytest.approx(46.819927742749805)
    assert published(feature) == scene.published == datetime(2022, 4, 4, 18, 57, 56, tzinfo=UTC)
    assert len(asset_types(feature)) == 41 and "ortho_analytic_4b_sr" in asset_types(feature)
    assert scene.raw["properties"]["item_type"] == "PSScene"


def test_the_recorded_skysat_collect_item_maps_to_skysat():
    scene = scene_from_feature(load("planet", "08_item_SkySatCollect_20200130_093253_ssc6_u0001.json"))
    assert (scene.platformname, scene.product_key) == ("SkySat", "SkySatCollect_20200130_093253_ssc6_u0001")
    assert scene.acq_date == datetime(2020, 1, 30, 9, 32, 53, 187000, tzinfo=UTC)
    assert chosen_assets(scene, None) == ("ortho_analytic_sr",)


def test_every_feature_of_the_recorded_search_page_maps_with_its_cloud_as_a_percentage():
    page = load("planet", "01_quick_search_page1_PSScene4Band_2016.json")
    scenes = [scene_from_feature(f) for f in page["features"]]
    assert len(scenes) == 17 and {s.platformname for s in scenes} == {"PlanetScope"}
    assert [s.cloudcover_percentage for s in scenes].count(1.0) == 2  # 0.01 -> 1 %
    first = scenes[0]
    assert first.scene_id == "20160831_143848_0c79" and first.product_key == "PSScene4Band_20160831_143848_0c79"
    # old items have no "assets" list: their assets come from _permissions
    assert "analytic" in asset_types(page["features"][0]) and chosen_assets(first, None) == ("analytic",)
    assert page["_links"]["_next"] and len(page["features"]) < 250  # _next even though everything fitted


def test_the_recorded_empty_last_page_has_no_next_and_no_features():
    page = load("planet", "04_reconstructed_quick_search_page2_empty_no_next.json")
    assert page["features"] == [] and "_next" not in page["_links"]


def test_a_feature_without_geometry_or_item_type_is_refused_by_name():
    feature = load("planet", "07_item_PSScene_20220125_075509_67_1061.json")
    with pytest.raises(ProviderResponseError, match="no geometry"):
        scene_from_feature({**feature, "geometry": None})
    with pytest.raises(ProviderResponseError, match="no properties.item_type"):
        scene_from_feature({**feature, "properties": {}})
    with pytest.raises(ProviderResponseError, match="outside 0-1"):
        scene_from_feature({**feature, "properties": {**feature["properties"], "cloud_cover": 3}})


# -- assets ----------------------------------------------------------------------------------------
def test_the_recorded_inactive_listing_has_every_asset_inactive_without_md5():
    records = asset_records(load("planet", "05_item_assets_PSScene3Band_all_inactive.json"))
    assert len(records) == 14 and {r.status for r in records.values()} == {"inactive"}
    analytic = records["analytic"]
    assert analytic.permitted and analytic.md5 is None and analytic.location is None
    assert analytic.activate_url.endswith("/activate") and analytic.self_url.startswith("https://api.planet.com/")


def test_the_recorded_active_asset_has_location_md5_and_a_zone_less_expiry_read_as_utc():
    record = asset_record("visual", load("planet", "06_asset_active_with_location_PSOrthoTile_visual.json"))
    assert record.status == "active" and record.location.startswith("https://api.planet.com/data/v1/download?token=")
    assert record.md5.value == "29c7f4f3085d2c620e8a32e961934670" and record.md5.algorithm == "md5"
    assert record.expires_at == datetime(2022, 12, 6, 16, 34, 2, 874778, tzinfo=UTC)


def test_the_recorded_activating_asset_and_the_asset_without_permission():
    activating = asset_record("visual", load("planet", "15_reconstructed_asset_activating.json"))
    assert activating.status == "activating" and activating.location is None and activating.permitted
    (refused,) = asset_records(load("planet", "09_asset_inactive_no_download_permission_transcribed.json")).values()
    assert refused.asset_type == "analytic" and not refused.permitted and refused.status == "inactive"


def test_times_with_z_offsets_or_no_zone_are_utc_and_junk_is_refused():
    assert parse_time("2022-12-06T16:34:02.874778", what="x") == datetime(2022, 12, 6, 16, 34, 2, 874778, tzinfo=UTC)
    assert parse_time("2022-12-06T18:34:02+02:00", what="x") == datetime(2022, 12, 6, 16, 34, 2, tzinfo=UTC)
    assert parse_time(None, what="x") is None
    with pytest.raises(ProviderResponseError, match="not an RFC 3339 time"):
        parse_time("yesterday", what="x")


def test_the_default_asset_is_one_per_item_and_named_assets_must_exist():
    scene = scene_from_feature(load("planet", "07_item_PSScene_20220125_075509_67_1061.json"))
    assert chosen_assets(scene, None) == ("ortho_analytic_4b_sr",)
    assert chosen_assets(scene, ["ortho_visual", "ortho_udm2", "ortho_visual"]) == ("ortho_visual", "ortho_udm2")
    with pytest.raises(InputError, match="no downloadable asset visual") as caught:
        chosen_assets(scene, ["visual"])
    assert "ortho_analytic_4b" in caught.value.hint


def test_asset_file_names_carry_the_item_id_asset_type_and_the_types_extension():
    assert asset_filename("i1", "ortho_analytic_4b_sr") == "i1_ortho_analytic_4b_sr.tif"
    assert asset_filename("i1", "ortho_analytic_4b_xml") == "i1_ortho_analytic_4b_xml.xml"
    assert asset_filename("i1", "basic_analytic_4b_rpc") == "i1_basic_analytic_4b_rpc.txt"
    assert asset_filename("i1", "ps4b_basic_analytic_nitf") == "i1_ps4b_basic_analytic_nitf.ntf"
    assert asset_filename("i1", "basic_l1a_all_frames") == "i1_basic_l1a_all_frames.zip"


# -- error bodies ----------------------------------------------------------------------------------
@pytest.mark.parametrize("name, expected", [
    ("10_error_400_stats_filter_type_required.json", ["filter.type: 'type' is a required property"]),
    ("11_error_400_quick_search_geometry_not_object.json", ["filter.config: 'POINT(40 -90)' is not of type 'object'"]),
    ("12_error_400_stats_two_fields.json", ["filter.config: u'POINT(-90 40)' is not of type 'object'",
                                             "interval: 'interval' is a required property"]),
    ("13_error_401_no_api_key.json", ["Please enter your API key."]),
    ("14_error_429_download_quota_exceeded.json", ["Download quota has been exceeded."]),
    ("16_reconstructed_error_404_search_id.json",
     ["The requested search id does not exist: 0123456789abcdef0123456789abcdef"]),
    ("17_reconstructed_error_429_rate_limited.json", ["Too many requests"]),
])  # fmt: skip
def test_every_recorded_error_body_gives_its_messages(name, expected):
    assert errors.messages(load("planet", name)) == expected


def test_only_the_quota_429_is_a_quota_and_its_error_stops_the_provider():
    assert errors.is_quota(load("planet", "14_error_429_download_quota_exceeded.json"))
    assert not errors.is_quota(load("planet", "17_reconstructed_error_429_rate_limited.json"))
    error = errors.quota_error(load("planet", "14_error_429_download_quota_exceeded.json"))
    assert isinstance(error, AuthError) and "download quota is used up" in error.message


def test_the_401_hint_says_where_the_key_comes_from():
    hint = errors.planet_error_hint(401, json.loads(load_text("planet", "13_error_401_no_api_key.json")))
    assert "Please enter your API key." in hint and "PL_API_KEY" in hint and "~/.planet.json" in hint


# -- STAC -------------------------------------------------------------------------------------------
def test_the_stac_item_carries_times_cloud_item_type_and_the_downloadable_assets():
    scene = scene_from_feature(load("planet", "07_item_PSScene_20220125_075509_67_1061.json"))
    item, files = stac_item(scene)
    props = item["properties"]
    assert item["id"] == scene.scene_id and props["datetime"] == "2022-01-25T07:55:09.676173Z"
    assert props["planet:published"] == "2022-04-04T18:57:56Z" and props["planet:item_type"] == "PSScene"
    assert props["eo:cloud_cover"] == 0.0 and props["gsd"] == 3.6 and props["instruments"] == ["ps2.sd"]
    assert files["ortho_analytic_4b_sr"] == "20220125_075509_67_1061_ortho_analytic_4b_sr.tif"
    assert item["assets"]["ortho_analytic_4b_xml"]["roles"] == ["metadata"] and len(item["assets"]) == 41


# -- paging stop rules ---------------------------------------------------------------------------------
def paged_source(pages):
    """A source whose quick-search answers ``pages[0]`` and each GET the next of ``pages``."""
    answers = iter(pages)
    seen = []

    def handler(request):
        seen.append((request.method, str(request.url)))
        return httpx.Response(200, json=next(answers))

    client = httpx.Client(transport=httpx.MockTransport(handler))
    api = JsonApi(client, guard=UrlGuard(allow_private=True), provider="planet", policy=RetryPolicy(max_attempts=1))
    clock = FakeClock()
    source = PlanetSource(api, base_url="https://api.planet.test/data/v1", clock=clock, has_key=True,
                          budgets=LocalBudgets(clock))
    return source, seen


def page_of(features, *, self_url, next_url=None):
    links = {"_self": self_url, "_first": self_url}
    if next_url:
        links["_next"] = next_url
    return {"_links": links, "features": features, "type": "FeatureCollection"}


FEATURE = load("planet", "07_item_PSScene_20220125_075509_67_1061.json")


def test_a_next_link_on_the_last_non_empty_page_leads_to_an_empty_page_that_ends_the_search():
    source, seen = paged_source([page_of([FEATURE], self_url="u0", next_url="https://api.planet.test/p1"),
                                 page_of([], self_url="https://api.planet.test/p1")])  # fmt: skip
    first = source.search_page(query(), None)
    assert len(first.scenes) == 1 and first.next_ref == PlanetPage("https://api.planet.test/p1")
    assert first.total is None and first.cloud_filtered
    last = source.search_page(query(), first.next_ref)
    assert last.scenes == () and last.next_ref is None
    assert [m for m, _ in seen] == ["POST", "GET"] and "_page_size=250" in seen[0][1]


def test_an_empty_page_ends_the_search_even_if_it_links_another():
    source, _ = paged_source([page_of([], self_url="u0", next_url="https://api.planet.test/p1")])
    assert source.search_page(query(), None).next_ref is None


def test_a_page_without_next_ends_the_search():
    source, _ = paged_source([page_of([FEATURE], self_url="u0")])
    assert source.search_page(query(), None).next_ref is None


def test_a_next_link_repeating_the_page_just_read_is_a_page_cycle():
    source, _ = paged_source([page_of([FEATURE], self_url="https://api.planet.test/p1",
                                      next_url="https://api.planet.test/p1")])  # fmt: skip
    page = source.search_page(query(), PlanetPage("https://api.planet.test/p1"))
    assert len(page.scenes) == 1, "the scenes of the page are delivered first"
    with pytest.raises(ProviderResponseError, match="repeats the page just read"):
        source.search_page(query(), page.next_ref)


def test_a_search_without_a_key_is_an_auth_error_naming_where_it_looked():
    source, seen = paged_source([])
    source.has_key = False
    source.missing_credentials = "no credentials for planet: looked in arguments; environment variables PL_API_KEY"
    with pytest.raises(AuthError, match="looked in arguments") as caught:
        source.search_page(query(), None)
    assert "~/.planet.json" in caught.value.hint and seen == []


def test_the_recorded_api_root_and_stats_bodies_which_eoharvest_does_not_need():
    # Field-level checks of the two recorded bodies the provider never asks for: the Data API
    # root (item and asset types are eoharvest's own table) and /stats (no count is needed).
    root = load("planet", "02_data_v1_root_links.json")
    assert sorted(root["_links"]) == ["_self", "asset-types", "item-types", "spec"]
    assert root["_links"]["_self"] == "https://api.planet.com/data/v1/"
    stats = load("planet", "03_stats_year_buckets.json")
    assert (stats["interval"], stats["utc_offset"]) == ("year", "+0h")
    assert sum(b["count"] for b in stats["buckets"]) == 1113 and stats["buckets"][0]["start_time"].endswith("Z")
