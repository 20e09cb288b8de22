"""`Copernicus(user, password).scenes(...)` and `download_all(...)` end to end against a loopback
CDSE (identity server + OData catalogue + zipper) serving real zip products."""

import io
import zipfile

import pytest

import fakes.copernicus_server as cdse_server
from eoharvest import AggregateSensorAPI, Copernicus, download_all
from eoharvest.adapters.catalog import open_catalog
from eoharvest.entrypoints.config import load_settings
from fakes.copernicus_server import CdseFake

NAME = "S2A_MSIL2A_20240604T155911_N0510_R097_T17TPJ_20240604T215029.SAFE"


def safe_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{NAME}/MTD_MSIL2A.xml", "<metadata/>")
        zf.writestr(f"{NAME}/GRANULE/L2A/IMG_DATA/R10m/T17TPJ_B04_10m.jp2", bytes(range(256)) * 400)
    return buf.getvalue()


@pytest.fixture
def cdse(monkeypatch):
    data = safe_zip()
    real = cdse_server.product_bytes
    monkeypatch.setattr(cdse_server, "product_bytes", lambda pid, size: data if pid == "p-1" else real(pid, size))
    with CdseFake() as fake:
        fake.add_product("p-1", NAME, len(data))
        yield fake


def settings_for(fake, tmp_path):
    return load_settings(
        {
            "cdse_token_url": fake.token_url,
            "cdse_odata_url": fake.odata_url,
            "cdse_download_url": fake.download_url,
            "catalog_path": tmp_path / "catalog.db",
        },
        environ={},
    )


def test_copernicus_search_and_download_all_end_to_end(cdse, tmp_path):
    with Copernicus(cdse.username, cdse.password, settings=settings_for(cdse, tmp_path)) as api:
        scenes = api.scenes(platformname="S2", aoi=(-79.4, 43.8, -79.3, 43.9),
                            start_date="2024-06-01", end_date="2024-06-10", cloud_max=50)
        found = list(scenes)
        assert [s.product_key for s in found] == [NAME[: -len(".SAFE")]]
        results, failures = download_all(found, str(tmp_path / "archive"))
        assert failures == []
    product_dir = tmp_path / "archive" / NAME[: -len(".SAFE")]
    assert (product_dir / NAME / "MTD_MSIL2A.xml").read_text() == "<metadata/>"
    assert results[0].archives == (str(product_dir / f"{NAME}.zip"),)
    assert cdse.grant_counts()["password"] == 1
    with open_catalog(tmp_path / "catalog.db") as catalog:
        assert catalog.available_files(NAME[:-5]) == [str(product_dir / f"{NAME}.zip")]


def test_wrong_credentials_fail_the_download_with_an_auth_error_once(cdse, tmp_path):
    with Copernicus(cdse.username, "CANARY-PW-wrong", settings=settings_for(cdse, tmp_path)) as api:
        found = list(api.scenes(platformname="Sentinel-2", start_date="2024-06-01", end_date="2024-06-10"))
        results, failures = download_all(found, str(tmp_path / "archive"), skip_error=True)
    assert results == [] and len(failures) == 1
    error = failures[0].error
    assert error.exit_code == 3 and "CANARY-PW-wrong" not in str(error)
    assert cdse.grant_counts()["password"] == 1


def test_the_registry_builds_copernicus_from_the_reference_keywords(cdse, tmp_path, monkeypatch):
    monkeypatch.setenv("EOHARVEST_CDSE_TOKEN_URL", cdse.token_url)
    monkeypatch.setenv("EOHARVEST_CDSE_ODATA_URL", cdse.odata_url)
    monkeypatch.setenv("EOHARVEST_CDSE_DOWNLOAD_URL", cdse.download_url)
    monkeypatch.setenv("EOHARVEST_CATALOG", str(tmp_path / "catalog.db"))
    with AggregateSensorAPI(copernicus_username=cdse.username, copernicus_password=cdse.password) as aggregate:
        scenes = list(aggregate.scenes(platformname="Sentinel-2", start_date="2024-06-01", end_date="2024-06-10"))
    assert [s.provider for s in scenes] == ["copernicus"]


def test_the_cli_harvests_from_copernicus_with_credentials_from_the_environment(cdse, tmp_path, monkeypatch, capsys):
    import json

    from eoharvest.entrypoints.cli import main

    for key, value in {
        "EOHARVEST_CDSE_TOKEN_URL": cdse.token_url, "EOHARVEST_CDSE_ODATA_URL": cdse.odata_url,
        "EOHARVEST_CDSE_DOWNLOAD_URL": cdse.download_url, "EOHARVEST_CATALOG": str(tmp_path / "c.db"),
        "EOHARVEST_COPERNICUS_USERNAME": cdse.username, "EOHARVEST_COPERNICUS_PASSWORD": cdse.password,
        "HOME": str(tmp_path),
    }.items():
        monkeypatch.setenv(key, value)
    code = main(["harvest", "--provider", "copernicus", "--aoi", "-79.4,43.8,-79.3,43.9", "--start", "2024-06-01",
                 "--end", "2024-06-10", "--outdir", str(tmp_path / "a"), "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    report = json.loads(out.out)
    assert report["found"] == 1 and report["downloaded"] == 1
    assert cdse.password not in out.err + out.out
