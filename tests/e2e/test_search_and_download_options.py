"""Every keyword of the public API is honoured or refused with an InputError naming it: search
options of Copernicus and STAC against loopback servers, download parameters, and the
credential keywords of AggregateSensorAPI."""

import warnings

import pytest

from eoharvest import AggregateSensorAPI, Copernicus, InputError, StacAPI, download_all
from eoharvest.entrypoints.config import load_settings
from fakes.copernicus_server import CdseFake
from fakes.stac_growing import GrowingStacServer

S2_R065_T17TPJ = "S2B_MSIL2A_20240605T160829_N0510_R065_T17TPJ_20240605T201413.SAFE"
S2_R097_T17TPJ = "S2A_MSIL2A_20240604T155911_N0510_R097_T17TPJ_20240604T215029.SAFE"
S2_R065_T17TNJ = "S2B_MSIL2A_20240605T160829_N0510_R065_T17TNJ_20240605T201413.SAFE"


@pytest.fixture
def cdse():
    with CdseFake() as fake:
        for product_id, name, orbit, tile in (("p-1", S2_R097_T17TPJ, 97, "17TPJ"), ("p-2", S2_R065_T17TPJ, 65, "17TPJ"),
                                              ("p-3", S2_R065_T17TNJ, 65, "17TNJ")):
            fake.add_product(product_id, name, 1000, attributes={
                "productType": "S2MSI2A", "relativeOrbitNumber": orbit, "tileId": tile, "platformShortName": "SENTINEL-2"})
        yield fake


def settings(tmp_path, **endpoints):
    return load_settings({**endpoints, "catalog_path": tmp_path / "catalog.db"}, environ={})


def cdse_settings(fake, tmp_path):
    return settings(tmp_path, cdse_token_url=fake.token_url, cdse_odata_url=fake.odata_url,
                    cdse_download_url=fake.download_url)


def test_copernicus_scenes_keep_only_the_relative_orbit_and_tile_asked_for(cdse, tmp_path):
    with Copernicus(settings=cdse_settings(cdse, tmp_path), catalog=False) as api:
        everything = [s.scene_id for s in api.scenes(platformname="S2")]
        chosen = [s.product_key for s in api.scenes(platformname="S2", relativeOrbitNumber=65, tileId="17TPJ")]
    assert len(everything) == 3
    assert chosen == [S2_R065_T17TPJ[: -len(".SAFE")]]


def test_copernicus_refuses_a_keyword_it_does_not_take_naming_it_before_any_request(cdse, tmp_path):
    with Copernicus(settings=cdse_settings(cdse, tmp_path), catalog=False) as api:
        with pytest.raises(InputError) as caught:
            api.scenes(platformname="S2", tile_id="17TPJ")
    assert "tile_id" in str(caught.value) and "tileId" in caught.value.hint
    assert cdse.catalogue_requests == []


@pytest.fixture
def stac():
    with GrowingStacServer() as server:
        for day in (1, 2, 3):
            server.publish(day, cloud=10.0 * day)
        yield server


def test_stac_honours_query_and_ids_and_refuses_odata_attributes(stac, tmp_path):
    with StacAPI(stac.url, settings=settings(tmp_path), catalog=False) as api:
        cloudy = [s.scene_id for s in api.scenes(platformname="S2", query={"eo:cloud_cover": {"gte": 15}})]
        one = [s.scene_id for s in api.scenes(platformname="S2", ids="S2B_T24MXV_20250802T130245_L2A")]
        with pytest.raises(InputError) as caught:
            api.scenes(platformname="S2", relativeOrbitNumber=65)
    assert sorted(cloudy) == ["S2B_T24MXV_20250802T130245_L2A", "S2B_T24MXV_20250803T130245_L2A"]
    assert one == ["S2B_T24MXV_20250802T130245_L2A"]
    assert "relativeOrbitNumber" in str(caught.value) and "query" in caught.value.hint


def test_a_misspelt_download_parameter_is_refused_before_anything_is_fetched(stac, tmp_path):
    with StacAPI(stac.url, settings=settings(tmp_path), catalog=False) as api:
        scene = next(iter(api.scenes(platformname="S2")))
        with pytest.raises(InputError, match="asset"):
            scene.downloader(asset=["visual"])
        with pytest.raises(InputError, match="unknown download parameter.*asset"):
            scene.downloader().download(str(tmp_path / "out"), asset=["visual"])
        with pytest.raises(InputError, match="unknown download parameter.*asset"):
            download_all([scene], str(tmp_path / "out"), asset=["visual"])
    assert stac.asset_hits == []
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.tif"))


def test_aggregate_warns_about_keywords_no_registered_provider_takes(cdse, tmp_path, monkeypatch):
    for key in ("EOHARVEST_COPERNICUS_USERNAME", "EOHARVEST_COPERNICUS_PASSWORD"):
        monkeypatch.delenv(key, raising=False)
    with pytest.warns(UserWarning) as caught:
        AggregateSensorAPI(copernicus_user="me", copernicus_pasword="secret", cmr_token="x")
    text = " ".join(str(w.message) for w in caught)
    assert "copernicus_pasword" in text and "copernicus_user" in text and "cmr_token" in text
    assert "copernicus_password" in text and "secret" not in text
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        AggregateSensorAPI(stac_url=None, skip_failed_providers=True)  # known keywords: no warning


def test_aggregate_warns_when_a_providers_keywords_were_given_but_it_was_not_created(monkeypatch):
    for key in ("EOHARVEST_COPERNICUS_USERNAME", "EOHARVEST_COPERNICUS_PASSWORD"):
        monkeypatch.delenv(key, raising=False)
    with pytest.warns(UserWarning, match="copernicus_username given, but provider copernicus was not created"):
        api = AggregateSensorAPI(copernicus_username="me")
    assert api.instances == []
