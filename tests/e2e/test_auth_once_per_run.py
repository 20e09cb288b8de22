"""A refused login is asked once per run: the provider's other scenes are not attempted, the run
reports them once and exits 3 (AuthError), whatever the order in which scenes fail."""

import json

import pytest

from eoharvest.entrypoints.cli import main
from fakes.copernicus_server import CdseFake

NAME = "S2B_MSIL2A_20240604T101559_N0510_R065_T32TMS_20240604T1201{:02d}.SAFE"
AOI = "-79.4,43.8,-79.3,43.9"


@pytest.fixture
def env(tmp_path, monkeypatch):
    for key in ("HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME"):
        monkeypatch.setenv(key, str(tmp_path / key.lower()))
    monkeypatch.setenv("EOHARVEST_CATALOG", str(tmp_path / "catalog.db"))
    monkeypatch.setenv("EOHARVEST_DOWNLOAD_DIR", str(tmp_path / "archive"))
    monkeypatch.setenv("EOHARVEST_ALLOW_PRIVATE_TARGETS", "true")


@pytest.mark.parametrize("workers", [1, 4])
def test_a_wrong_password_costs_one_login_and_the_run_exits_3(env, monkeypatch, capsys, workers):
    with CdseFake() as fake:
        for i in range(6):
            fake.add_product(f"0000000{i}-aaaa-bbbb-cccc-dddddddddddd", NAME.format(i), 50_000)
        for key, value in (("TOKEN_URL", fake.token_url), ("ODATA_URL", fake.odata_url),
                           ("DOWNLOAD_URL", fake.download_url)):
            monkeypatch.setenv(f"EOHARVEST_CDSE_{key}", value)
        monkeypatch.setenv("EOHARVEST_COPERNICUS_USERNAME", fake.username)
        monkeypatch.setenv("EOHARVEST_COPERNICUS_PASSWORD", "not-the-password")
        code = main(["harvest", "--provider", "copernicus", "--aoi", AOI, "--start", "2024-06-01",
                     "--end", "2024-06-10", "--workers", str(workers), "--json"])
        assert fake.grant_counts() == {"password": 1}
    report = json.loads(capsys.readouterr().out)
    assert code == 3
    assert report["found"] == 6 and report["failed"] == 6
    refused = [f for f in report["failures"] if not f["error"].startswith("not attempted")]
    assert len(refused) == 1 and "refused the login" in refused[0]["error"]
    assert "not-the-password" not in json.dumps(report)


def test_an_unreachable_token_service_fails_once_for_the_run_not_per_scene(env, monkeypatch, capsys):
    monkeypatch.setenv("EOHARVEST_MAX_RETRIES", "1")
    monkeypatch.setenv("EOHARVEST_RETRY_MAX_SECONDS", "5")
    with CdseFake() as fake:
        for i in range(4):
            fake.add_product(f"0000000{i}-aaaa-bbbb-cccc-dddddddddddd", NAME.format(i), 50_000)
        for key, value in (("ODATA_URL", fake.odata_url), ("DOWNLOAD_URL", fake.download_url)):
            monkeypatch.setenv(f"EOHARVEST_CDSE_{key}", value)
        monkeypatch.setenv("EOHARVEST_CDSE_TOKEN_URL", "http://127.0.0.1:9/token")  # nothing listens
        monkeypatch.setenv("EOHARVEST_COPERNICUS_USERNAME", fake.username)
        monkeypatch.setenv("EOHARVEST_COPERNICUS_PASSWORD", fake.password)
        code = main(["harvest", "--provider", "copernicus", "--aoi", AOI, "--start", "2024-06-01",
                     "--end", "2024-06-10", "--workers", "1", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 3
    causes = [f for f in report["failures"] if not f["error"].startswith("not attempted")]
    assert len(causes) == 1 and "token service did not answer" in causes[0]["error"]
    assert len(report["failures"]) == 4


def test_the_summary_table_names_the_refusal_once(env, monkeypatch, capsys):
    with CdseFake() as fake:
        for i in range(5):
            fake.add_product(f"0000000{i}-aaaa-bbbb-cccc-dddddddddddd", NAME.format(i), 50_000)
        for key, value in (("TOKEN_URL", fake.token_url), ("ODATA_URL", fake.odata_url),
                           ("DOWNLOAD_URL", fake.download_url)):
            monkeypatch.setenv(f"EOHARVEST_CDSE_{key}", value)
        monkeypatch.setenv("EOHARVEST_COPERNICUS_USERNAME", fake.username)
        monkeypatch.setenv("EOHARVEST_COPERNICUS_PASSWORD", "wrong")
        code = main(["harvest", "--provider", "copernicus", "--aoi", AOI, "--start", "2024-06-01",
                     "--end", "2024-06-10", "--workers", "1"])
    out = capsys.readouterr().out
    assert code == 3
    assert out.count("refused the login") == 1
    assert "not attempted 4 more scene(s) of copernicus" in out
