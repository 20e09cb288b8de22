"""`eoharvest serve` as users reach it: pystac-client (and plain HTTP) against the real command
on a free loopback port, over a SpatiaLite catalog. Results agree with `catalog query`, every
response validates offline against the core STAC schemas, and the safe defaults hold."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import warnings
from pathlib import Path

import httpx
import pystac
import pytest
from pystac import STACObjectType
from pystac_client import Client
from fakes.served_catalog import BIN, Server, build_catalog, clean_env

from eoharvest.adapters.catalog.stac_validation import LOCAL_EXTENSIONS, OfflineValidator

BBOX = [10.2, 45.2, 12.5, 45.8]
INTERVAL = "2024-01-01T00:00:00Z/2024-02-15T00:00:00Z"
TOKEN = "s3cr3t-t0ken-for-serve-tests"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve")
    catalog = root / "catalog.db"
    local = build_catalog(catalog, root / "archive")
    server = Server(catalog, clean_env(root))
    try:
        yield server, catalog, local, root
    finally:
        server.stop()


def catalog_query(root, catalog, *args):
    result = subprocess.run([str(BIN), "--catalog", str(catalog), "catalog", "query", "--format", "csv",
                             "--limit", "100000", *args], env=clean_env(root), capture_output=True, text=True,
                            timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    return [row["product_key"] for row in csv.DictReader(io.StringIO(result.stdout))]


def open_client(url, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a missing conformance class or link would warn
        return Client.open(url, **kwargs)


def test_search_by_bbox_and_datetime_pages_and_matches_catalog_query(served):
    server, catalog, _, root = served
    search = open_client(server.url).search(bbox=BBOX, datetime=INTERVAL, limit=4)
    pages = list(search.pages_as_dicts())
    keys = [f["properties"]["eoharvest:product_key"] for page in pages for f in page["features"]]
    expected = catalog_query(root, catalog, "--aoi", ",".join(map(str, BBOX)),
                             "--start", "2024-01-01T00:00:00Z", "--end", "2024-02-15T00:00:00Z")  # fmt: skip
    assert len(pages) >= 3
    assert len(keys) == len(set(keys)) == len(expected) > 12
    assert set(keys) == set(expected)
    dates = [f["properties"]["datetime"] for page in pages for f in page["features"]]
    assert dates == sorted(dates, reverse=True)  # newest first, across pages


def test_paging_over_equal_datetimes_neither_repeats_nor_skips(served):
    server, *_ = served
    search = open_client(server.url).search(datetime="2024-01-01T00:00:00Z", limit=3, method="GET")
    pages = list(search.pages_as_dicts())
    ids = [f["id"] for page in pages for f in page["features"]]
    assert len(pages) >= 3
    assert sorted(ids) == sorted({f"S{i:03d}" for i in range(10)} - {"S007"} | {"S007-copy"})


def test_cql2_text_and_json_filters_select_what_catalog_query_selects(served):
    server, catalog, _, root = served
    client = open_client(server.url)
    text = client.search(filter="\"eo:cloud_cover\" < 10 AND \"eoharvest:platform\" = 'Landsat-8'",
                         filter_lang="cql2-text", limit=100, method="GET")  # fmt: skip
    as_json = client.search(filter={"op": "and", "args": [
        {"op": "<", "args": [{"property": "eo:cloud_cover"}, 10]},
        {"op": "=", "args": [{"property": "eoharvest:platform"}, "Landsat-8"]}]}, limit=100)
    expected = catalog_query(root, catalog, "--where", "cloud < 10 AND platform = 'Landsat-8'")
    for search in (text, as_json):
        keys = [item.properties["eoharvest:product_key"] for item in search.items()]
        assert sorted(keys) == sorted(expected) and keys


def test_sortby_query_and_ids(served):
    server, *_ = served
    client = open_client(server.url)
    clouds = [i.properties["eo:cloud_cover"] for i in client.search(
        sortby="+eo:cloud_cover", query={"eo:cloud_cover": {"lt": 5}}, collections=["landsat-8"], limit=100).items()]
    assert clouds == sorted(clouds) and clouds and all(c < 5 for c in clouds)
    assert [i.id for i in client.search(ids=["S012", "S013"], limit=10).items()] in (["S013", "S012"],)


def test_collections_carry_extents_and_items_per_collection(served):
    server, *_ = served
    client = open_client(server.url)
    collections = {c.id: c for c in client.get_collections()}
    assert {"sentinel-2", "landsat-8"} <= set(collections)
    assert set(collections) - {"sentinel-2", "landsat-8"}, "the recorded items keep their own collection"
    landsat = collections["landsat-8"]
    assert landsat.extent.spatial.bboxes[0] == [10.0, 45.0, 15.0, 46.0]
    assert landsat.extent.temporal.intervals[0][0].isoformat().startswith("2024-01-01")
    items = list(landsat.get_items())
    assert len(items) == 15 and {i.collection_id for i in items} == {"landsat-8"}


def test_the_copy_on_disk_represents_a_product_and_its_asset_is_local(served):
    server, _, local, _ = served
    item = next(open_client(server.url).search(ids=["S007-copy"]).items_as_dicts())
    assert item["properties"]["eoharvest:provider"] == "earth-search"
    assert item["properties"]["eoharvest:state"] == "available"
    asset = next(a for a in item["assets"].values() if a["eoharvest:local"])
    assert asset["href"] == f"{server.url}files/PROD_007/S007.zip"  # the file route (docs/serve.md)
    assert httpx.get(asset["href"]).content == Path(local["S007-copy"]).read_bytes()


def test_provider_items_are_served_losslessly_with_the_download_local(served):
    server, _, local, _ = served
    scene_id = next(k for k in local if k not in ("S007-copy", "asset_key"))
    items = list(open_client(server.url).search(ids=[scene_id]).items_as_dicts())
    assert len(items) == 1
    asset = items[0]["assets"][local["asset_key"]]
    assert asset["eoharvest:local"] is True and asset["href"].startswith(f"{server.url}files/")
    assert httpx.get(asset["href"]).content == Path(local[scene_id]).read_bytes()
    assert asset["alternate"], "the remote href is kept as an alternate"
    others = [a for k, a in items[0]["assets"].items() if k != local["asset_key"]]
    assert others and all(a["eoharvest:local"] is False and a["href"].startswith("http") for a in others)


def _validate(validator, data, kind):
    version = data["stac_version"]
    validator.validate_core(data, kind, version)
    for uri in data.get("stac_extensions", []):
        if uri in LOCAL_EXTENSIONS:
            validator.validate_extension(data, kind, version, uri)


def test_responses_validate_offline_against_the_core_schemas(served, monkeypatch):
    server, *_ = served
    validator = OfflineValidator()
    with httpx.Client(base_url=server.url, timeout=30) as http:
        landing = http.get("/").json()
        _validate(validator, landing, STACObjectType.CATALOG)
        collections = http.get("/collections").json()["collections"]
        for collection in collections:
            _validate(validator, collection, STACObjectType.COLLECTION)
        features = http.post("/search", json={"limit": 1000}).json()["features"]
    assert len(features) > 60
    for item in features:
        _validate(validator, item, STACObjectType.ITEM)
    with pytest.raises(pystac.STACValidationError):
        _validate(validator, {**features[0], "geometry": "nowhere"}, STACObjectType.ITEM)


def test_bad_requests_are_400_with_the_reason(served):
    server, *_ = served
    with httpx.Client(base_url=server.url, timeout=30) as http:
        bad_filter = http.get("/search", params={"filter": "nosuchfield > 3"})
        bad_token = http.get("/search", params={"token": "garbage"})
        bad_sort = http.get("/search", params={"sortby": "-eoharvest:state"})
        missing = http.get("/collections/nope")
        bad_geometry = http.get("/search", params={"intersects": "{not json"})
        bad_interval = http.get("/search", params={"datetime": "2024-02-01T00:00:00Z/2024-01-01T00:00:00Z"})
        huge = http.post("/search", content=b"{" + b" " * (2 * 1024 * 1024) + b"}",
                         headers={"content-type": "application/json"})  # fmt: skip
        cors = http.get("/", headers={"Origin": "https://evil.example"})
    assert bad_filter.status_code == 400 and "nosuchfield" in bad_filter.json()["description"]
    assert bad_token.status_code == 400 and "token" in bad_token.json()["description"]
    assert bad_sort.status_code == 400 and "eoharvest:state" in bad_sort.json()["description"]
    assert missing.status_code == 404
    assert bad_geometry.status_code == 400 and "intersects" in bad_geometry.json()["description"]
    assert bad_interval.status_code == 400
    assert huge.status_code == 413
    assert "access-control-allow-origin" not in cors.headers


def test_conformance_names_what_the_tests_cover(served):
    server, *_ = served
    classes = set(httpx.get(server.url + "conformance", timeout=30).json()["conformsTo"])
    assert {"https://api.stacspec.org/v1.0.0/item-search", "http://www.opengis.net/spec/cql2/1.0/conf/cql2-text",
            "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json",
            "https://api.stacspec.org/v1.1.0/item-search#sort"} <= classes  # fmt: skip
    assert not any(word in c for c in classes for word in ("transaction", "collection-search", "advanced-comparison",
                                                             "spatial-functions", "ogcapi-features-3", "sortables"))


def test_requests_are_logged_through_the_standard_logging(served):
    server, *_ = served
    httpx.get(server.url + "collections", timeout=30)
    deadline = 50
    while deadline and "GET /collections" not in server.output():
        deadline -= 1
        import time

        time.sleep(0.1)
    assert "INFO uvicorn.access" in server.output()


@pytest.mark.parametrize("args", [["--host", "0.0.0.0"], ["--host", "0.0.0.0", "--allow-remote"]])
def test_a_remote_bind_without_a_token_is_refused(tmp_path, args):
    catalog = tmp_path / "c.db"
    build_catalog(catalog, tmp_path / "archive")
    result = subprocess.run([str(BIN), "--catalog", str(catalog), "serve", "--port", "0", *args],
                            env=clean_env(tmp_path), capture_output=True, text=True, timeout=60)  # fmt: skip
    assert result.returncode == 2
    assert "0.0.0.0" in result.stderr and "EOHARVEST_SERVE_TOKEN" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_token_is_required_when_set_and_never_printed(tmp_path):
    catalog = tmp_path / "c.db"
    build_catalog(catalog, tmp_path / "archive")
    server = Server(catalog, clean_env(tmp_path, EOHARVEST_SERVE_TOKEN=TOKEN))
    try:
        assert httpx.get(server.url + "search", timeout=30).status_code == 401
        assert httpx.get(server.url + "search", headers={"Authorization": "Bearer wrong-token-000000"},
                         timeout=30).status_code == 401  # fmt: skip
        client = open_client(server.url, headers={"Authorization": f"Bearer {TOKEN}"})
        assert len(list(client.search(limit=5, max_items=5).items_as_dicts())) == 5
        # the file routes are behind the same token
        assert httpx.get(server.url + "files/PROD_007/S007.zip", timeout=30).status_code == 401
        assert httpx.get(server.url + "files/PROD_007/S007.zip", headers={"Authorization": f"Bearer {TOKEN}"},
                         timeout=30).content == b"x"  # fmt: skip
    finally:
        server.stop()
    assert TOKEN not in server.output()
    assert TOKEN not in " ".join(server.process.args)


def test_intersects_and_s_intersects_select_what_catalog_query_aoi_selects(served):
    server, catalog, _, root = served
    polygon = {"type": "Polygon", "coordinates": [[[12.2, 45.1], [14.5, 45.1], [14.5, 45.4], [12.2, 45.1]]]}
    client = open_client(server.url)
    expected = catalog_query(root, catalog, "--aoi", json.dumps(polygon))
    by_intersects = [i["properties"]["eoharvest:product_key"]
                     for i in client.search(intersects=polygon, limit=7).items_as_dicts()]  # fmt: skip
    by_filter = [i["properties"]["eoharvest:product_key"] for i in client.search(
        filter={"op": "s_intersects", "args": [{"property": "geometry"}, polygon]}, limit=7).items_as_dicts()]
    assert sorted(by_intersects) == sorted(by_filter) == sorted(expected)
    assert 0 < len(expected) < 61
