"""`catalog export --format stac` gives back the provider's items, with the local files added,
and every item validates offline against the core Item schema and the extensions the export adds."""

import json
import socket
from datetime import datetime, timezone
from pathlib import Path

import pytest
import shapely
from click.testing import CliRunner
from shapely.geometry import shape

from corpus import load
from eoharvest.adapters.catalog import open_catalog
from eoharvest.adapters.catalog.stac_validation import ALTERNATE_ASSETS, OfflineValidator, validate_item
from eoharvest.adapters.catalog.stac_export import stac_item as export_item
from eoharvest.adapters.providers.copernicus.items import scene_from_odata_product
from eoharvest.adapters.providers.copernicus.stac_item import stac_item as copernicus_item
from eoharvest.adapters.providers.stac.items import scene_from_stac_item
from eoharvest.adapters.providers.stac.stac_item import stac_item as provider_item
from eoharvest.domain.catalog_query import CatalogRecord
from eoharvest.domain.errors import CatalogError
from eoharvest.entrypoints.cli_catalog import catalog as catalog_group
from eoharvest.entrypoints.context import AppContext

RECORDED = {
    "earth-search": [("stac_earth_search", "02_search_cql2_cloud_cover_page1.json"),
                     ("stac_earth_search", "04_search_two_collections_point_page1.json")],
    "planetary-computer": [("stac_planetary_computer", "05_search_sentinel2_l2a_datetime.json"),
                           ("stac_planetary_computer", "02_search_naip_page1.json")],
}  # fmt: skip


def recorded(provider):
    items = [item for folder, name in RECORDED[provider] for item in load(folder, name)["features"]]
    return [scene_from_stac_item(item, provider=provider, base_url="https://example.test/v1") for item in items]


@pytest.fixture
def no_network(monkeypatch):
    """Any connection attempt fails the test: validation must be offline."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"network access during the export: {args[1:] if len(args) > 1 else args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def download(repo, scene, key, root: Path, mapper=provider_item) -> str:
    """Record asset ``key`` of ``scene`` as downloaded, under the name a download gives it."""
    name = mapper(scene)[1][key]
    path = root / scene.product_key / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    file_id = repo.record_file(scene.provider, scene.scene_id, name, size=1)
    repo.set_file_state(file_id, "available", local_path=str(path), sha256="ab" * 32)
    return str(path)


def export(path, out, *args):
    obj = AppContext(overrides={"catalog_path": path})
    try:
        result = CliRunner().invoke(catalog_group, ["export", "--format", "stac", "-o", str(out), "--all-providers", *args], obj=obj)
    finally:
        obj.close()
    assert result.exit_code == 0, result.output
    return {f["id"]: f for f in json.loads(out.read_text())["features"]}


@pytest.mark.parametrize("provider", list(RECORDED))
def test_the_export_round_trips_recorded_items_with_local_files_as_assets(tmp_path, provider, no_network):
    scenes = recorded(provider)
    path = tmp_path / "c.db"
    downloaded = {}
    with open_catalog(path) as repo:
        repo.upsert_scenes(scenes)
        for scene in scenes:
            files = provider_item(scene)[1]  # assets downloadable over HTTP (not the S3-only ones)
            key = next((k for k, a in scene.raw["assets"].items() if "data" in a.get("roles", []) and k in files), None)
            if key and len(downloaded) < 3:
                downloaded[scene.scene_id] = (key, download(repo, scene, key, tmp_path / "archive"))
        assert len(downloaded) == 3
    exported = export(path, tmp_path / "items.json")
    assert sorted(exported) == sorted(s.scene_id for s in scenes)
    validator = OfflineValidator()
    for scene in scenes:
        original, item = scene.raw, exported[scene.scene_id]
        assert list(item["assets"]) == list(original["assets"])  # keys and their order
        assert {k: a.get("roles") for k, a in item["assets"].items()} == {k: a.get("roles") for k, a in original["assets"].items()}
        assert item["collection"] == original["collection"]
        assert item["links"] == original["links"]
        assert item["properties"] == original["properties"]  # platform, proj:*, s2:product_uri, ... as sent
        assert set(original["stac_extensions"]) <= set(item["stac_extensions"])
        assert shape(item["geometry"]).equals(shape(original["geometry"]))
        assert all(shapely.get_exterior_ring(p).is_ccw for p in shapely.get_parts(shape(item["geometry"])))
        assert item["bbox"] == original["bbox"]
        key, local = downloaded.get(scene.scene_id, (None, None))
        for name, asset in item["assets"].items():
            if name == key:
                assert asset["href"] == local
                assert asset["alternate"] == {"https": {"href": original["assets"][name]["href"]}}
                assert {k: v for k, v in asset.items() if k not in ("href", "alternate")} == \
                       {k: v for k, v in original["assets"][name].items() if k != "href"}
            else:
                assert asset == original["assets"][name]
        assert (ALTERNATE_ASSETS in item["stac_extensions"]) == (key is not None)
        validate_item(item, [ALTERNATE_ASSETS] if key else [], validator)


def test_a_copernicus_product_becomes_a_well_formed_stac_item(tmp_path, no_network):
    product = load("cdse_odata", "07_s2_l1c_intersects_producttype_expand_attributes_assets.json")["value"][0]
    scene = scene_from_odata_product(product)
    path = tmp_path / "c.db"
    with open_catalog(path) as repo:
        repo.upsert_scenes([scene])
        local = download(repo, scene, "product", tmp_path / "archive", mapper=copernicus_item)
    [item] = export(path, tmp_path / "items.json").values()
    assert item["id"] == scene.scene_id and item["stac_version"] == "1.1.0"
    assert item["properties"]["constellation"] == "sentinel-2" and item["properties"]["platform"] == "sentinel-2a"
    assert item["properties"]["eo:cloud_cover"] == scene.cloudcover_percentage
    assert item["properties"]["datetime"] == product["ContentDate"]["Start"]
    assert item["assets"]["product"]["href"] == local
    assert item["assets"]["product"]["alternate"] == {"https": {"href": scene.download_links[0]}}
    assert shape(item["geometry"]).equals(scene.footprint.geometry)
    assert set(item["stac_extensions"]) == {ALTERNATE_ASSETS, "https://stac-extensions.github.io/eo/v1.1.0/schema.json"}


def test_an_antimeridian_item_is_exported_cut_with_an_rfc7946_bbox(tmp_path, no_network):
    item = load("stac_earth_search", "04_search_two_collections_point_page1.json")["features"][0]
    item = {**item, "geometry": {"type": "Polygon", "coordinates": [[[170, 44], [-170, 44], [-170, 46], [170, 46], [170, 44]]]},
            "bbox": [-170, 44, 170, 46]}
    scene = scene_from_stac_item(item, provider="earth-search", base_url="https://example.test/v1")
    with open_catalog(tmp_path / "c.db") as repo:
        repo.upsert_scenes([scene])
    [exported] = export(tmp_path / "c.db", tmp_path / "items.json").values()
    assert exported["geometry"]["type"] == "MultiPolygon"
    assert exported["bbox"] == [170.0, 44.0, -170.0, 46.0]


@pytest.mark.parametrize("field, value, message", [
    ("href", None, "the field 'href' is missing"),
    ("roles", "thumbnail", "assets/thumbnail/roles: 'thumbnail' is not of type 'array'"),
])
def test_a_provider_item_that_is_not_valid_stac_is_refused_naming_the_item_and_the_field(no_network, field, value, message):
    scene = recorded("earth-search")[0]
    if value is None:
        del scene.raw["assets"]["thumbnail"][field]
    else:
        scene.raw["assets"]["thumbnail"][field] = value
    record = CatalogRecord(scene, "none", datetime.now(timezone.utc), datetime.now(timezone.utc))
    with pytest.raises(CatalogError) as err:
        export_item(record)
    assert scene.scene_id in str(err.value) and message in str(err.value)


def test_an_item_naming_its_collection_without_linking_it_gets_the_link_from_its_self_link(no_network):
    scene = recorded("earth-search")[0]
    scene.raw["links"] = [link for link in scene.raw["links"] if link["rel"] != "collection"]
    item = export_item(CatalogRecord(scene, "none", datetime.now(timezone.utc), datetime.now(timezone.utc)))
    assert {"rel": "collection", "href": "https://earth-search.aws.element84.com/v1/collections/sentinel-1-grd",
            "type": "application/json"} in item["links"]
