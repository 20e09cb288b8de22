"""A mistyped `--assets` name fails with exit 2 before any download, naming it and listing the
names the scenes offer; a provider that delivers whole products refuses `--assets` before it is
searched. (It used to fail once per scene after the search, exit 4.)"""

from __future__ import annotations

import json
import os

import pytest

from eoharvest.entrypoints.cli import main
from fakes.stac_server import FakeStacServer

WORLD = "-180,-90,180,90"


@pytest.fixture
def stac(tmp_path, monkeypatch):
    for key in list(os.environ):
        if key.startswith("EOHARVEST_"):
            monkeypatch.delenv(key)
    for key, value in {
        "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_DATA_HOME": str(tmp_path / "data"),
        "EOHARVEST_CATALOG": str(tmp_path / "catalog.db"), "EOHARVEST_DOWNLOAD_DIR": str(tmp_path / "archive"),
        "EOHARVEST_ALLOW_PRIVATE_TARGETS": "true", "EOHARVEST_MAX_RETRIES": "0",
    }.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    with FakeStacServer() as fake:
        monkeypatch.setenv("EOHARVEST_STAC_URL", fake.url)
        yield fake


def test_harvest_with_a_mistyped_asset_fails_before_any_download_and_lists_the_names(stac, capsys):
    code = main(["harvest", "--aoi", WORLD, "--limit", "3", "--assets", "visual,vizual,B99"])
    err = capsys.readouterr().err
    assert code == 2
    assert stac.asset_hits == []
    line = next(line for line in err.splitlines() if line.startswith("eoharvest: error:"))
    assert "'vizual', 'B99'" in line and "'visual'" not in line.split("(")[0]
    assert "visual" in line and "red" in line and "scl" in line  # what the scenes do offer
    assert "Traceback" not in err


def test_asset_names_are_matched_without_case_like_downloads_do(stac, capsys):
    assert main(["harvest", "--aoi", WORLD, "--limit", "1", "--assets", "VISUAL", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["downloaded"] == 1
    assert len(stac.asset_hits) == 1


def test_download_checks_the_catalogued_scenes_before_fetching(stac, capsys):
    assert main(["harvest", "--aoi", WORLD, "--limit", "3", "--no-download"]) == 0
    capsys.readouterr()
    assert main(["download", "--assets", "visul"]) == 2
    err = capsys.readouterr().err
    assert "no asset named 'visul'" in err and "visual" in err
    assert stac.asset_hits == []


def test_assets_on_a_whole_product_provider_are_refused_before_the_search(stac, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EOHARVEST_CDSE_ODATA_URL", "http://127.0.0.1:9/odata/v1")  # never asked
    code = main(["harvest", "--provider", "copernicus", "--aoi", "0,0,1,1", "--assets", "B04"])
    err = capsys.readouterr().err
    assert code == 2
    assert "copernicus delivers whole products" in err and "--assets" in err
    assert "searching" not in err


def test_an_empty_assets_list_is_an_input_error(stac, capsys):
    assert main(["harvest", "--aoi", WORLD, "--assets", " , "]) == 2
    assert "names no asset" in capsys.readouterr().err
    assert stac.requests == []
