"""`--product-type` is one vocabulary: L2A finds the same Sentinel-2 L2A products on every provider."""

import json
import os
import uuid

import pytest

from eoharvest.adapters.catalog import open_catalog
from eoharvest.domain.catalog_query import CatalogFilter
from eoharvest.entrypoints.cli import main
from fakes.copernicus_server import CdseFake
from fakes.stac_server import FakeStacServer

AOI = "-60,-61,-37,-3"  # the recorded Earth Search items lie in there (the fakes ignore the area anyway)


def recorded_items(stac, collection):
    """The recorded Earth Search items of ``collection`` that the STAC fake serves."""
    return [item for item in stac.items if item["collection"] == collection]


def product_name(item):
    props = item["properties"]
    return props.get("s2:product_uri") or props["s1:product_identifier"] + ".SAFE"


@pytest.fixture
def fakes(monkeypatch, tmp_path):
    """Earth Search and CDSE fakes holding the same products: CDSE's L2A, L1C and GRD products are
    named after the recorded Earth Search items, with the productType CDSE gives such products."""
    for key in [k for k in os.environ if k.startswith("EOHARVEST_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    with FakeStacServer() as stac, CdseFake() as cdse:
        for collection, product_type in (("sentinel-2-c1-l2a", "S2MSI2A"), ("sentinel-2-l1c", "S2MSI1C"),
                                         ("sentinel-1-grd", "IW_GRDH_1S")):
            for item in recorded_items(stac, collection):
                name = product_name(item)
                cdse.add_product(str(uuid.uuid5(uuid.NAMESPACE_URL, name)), name, 1024, product_type=product_type,
                                 start=item["properties"]["datetime"], geometry=item["geometry"])
        # every STAC provider points at the loopback server: nothing may leave this machine
        for setting in ("STAC_URL", "PLANETARY_COMPUTER_URL", "PLANETARY_COMPUTER_SAS_URL", "CDSE_STAC_URL"):
            monkeypatch.setenv(f"EOHARVEST_{setting}", stac.url)
        monkeypatch.setenv("EOHARVEST_CDSE_ODATA_URL", cdse.odata_url)
        monkeypatch.setenv("EOHARVEST_CDSE_DOWNLOAD_URL", cdse.download_url)
        monkeypatch.setenv("EOHARVEST_CDSE_TOKEN_URL", cdse.token_url)
        monkeypatch.setenv("EOHARVEST_CATALOG", str(tmp_path / "catalog.db"))
        yield stac, cdse, tmp_path / "catalog.db"


def harvest(*args):
    return main(["harvest", "--aoi", AOI, "--no-download", "--json", *args])


def catalogued(path, provider):
    with open_catalog(path) as repo:
        return sorted(r.scene.product_key for r in repo.query(CatalogFilter.create(providers=[provider])))


def test_l2a_finds_the_same_sentinel2_products_on_copernicus_and_earth_search(fakes, capsys):
    stac, cdse, catalog = fakes
    assert harvest("--provider", "earth-search", "--product-type", "L2A") == 0
    assert harvest("--provider", "copernicus", "--product-type", "L2A") == 0
    expected = sorted(product_name(i).removesuffix(".SAFE") for i in recorded_items(stac, "sentinel-2-c1-l2a"))
    assert len(expected) == 6
    assert catalogued(catalog, "earth-search") == expected
    assert catalogued(catalog, "copernicus") == expected
    [search] = [q for q in cdse.catalogue_requests if "productType" in q]
    assert "S2MSI2A" in search.replace("%27", "'") and "'L2A'" not in search.replace("%27", "'")


def test_the_providers_own_names_are_accepted_too(fakes, capsys):
    stac, cdse, catalog = fakes
    assert harvest("--provider", "copernicus", "--product-type", "S2MSI1C") == 0
    assert harvest("--provider", "earth-search", "--product-type", "sentinel-2-l1c") == 0
    expected = sorted(product_name(i).removesuffix(".SAFE") for i in recorded_items(stac, "sentinel-2-l1c"))
    assert catalogued(catalog, "copernicus") == expected == catalogued(catalog, "earth-search")


def test_grd_means_every_sentinel1_grd_type_on_copernicus(fakes, capsys):
    stac, cdse, catalog = fakes
    assert harvest("--provider", "copernicus", "--platform", "S1", "--product-type", "GRD") == 0
    assert harvest("--provider", "earth-search", "--platform", "S1", "--product-type", "grd") == 0
    assert catalogued(catalog, "copernicus") == catalogued(catalog, "earth-search")
    assert len(catalogued(catalog, "copernicus")) == 3


@pytest.mark.parametrize("provider", ["copernicus", "earth-search", "planetary-computer", "cdse-stac"])
def test_an_unknown_product_type_is_an_input_error_listing_the_known_ones(fakes, capsys, provider):
    assert harvest("--provider", provider, "--product-type", "L3A") == 2
    err = capsys.readouterr().err
    assert "no product type 'L3A'" in err and "L2A" in err


def test_a_product_type_of_another_platform_names_that_platform(fakes, capsys):
    assert harvest("--provider", "copernicus", "--product-type", "GRD") == 2
    assert "add --platform Sentinel-1" in capsys.readouterr().err


def test_on_any_stac_server_a_product_type_maps_to_a_collection_it_lists(fakes, capsys):
    stac, cdse, catalog = fakes
    assert harvest("--provider", "stac", "--stac-url", stac.url, "--product-type", "L2A") == 0
    posts = [body for method, path, body in stac.requests if method == "POST"]
    assert posts[-1]["collections"] == ["sentinel-2-c1-l2a"]
    assert harvest("--provider", "stac", "--stac-url", stac.url, "--product-type", "cop-dem-glo-30") == 0
    assert [body for method, path, body in stac.requests if method == "POST"][-1]["collections"] == ["cop-dem-glo-30"]


def test_on_any_stac_server_an_unlisted_product_type_is_refused_with_its_collections(fakes, capsys):
    stac, cdse, catalog = fakes
    assert harvest("--provider", "stac", "--stac-url", stac.url, "--product-type", "SLC", "--platform", "S1") == 2
    err = capsys.readouterr().err
    assert "no product type or collection 'SLC'" in err and "sentinel-1-grd" in err and "naip" in err
    assert not [1 for method, path, body in stac.requests if method == "POST"]


def test_product_types_lists_the_vocabulary_per_provider(fakes, capsys):
    assert main(["product-types", "--provider", "copernicus", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert listing["copernicus"]["Sentinel-2"] == {"L1C": ["S2MSI1C"], "L2A": ["S2MSI2A"]}
    assert main(["product-types"]) == 0
    out = capsys.readouterr().out
    assert "earth-search" in out and "sentinel-2-c1-l2a" in out and "S2MSI2A" in out
