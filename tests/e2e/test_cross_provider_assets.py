"""The same Landsat bands from Earth Search (the STAC fake) and from USGS M2M (the M2M fake) are
fetched once, whichever provider comes first: the catalog records which asset every file is,
so band files already in the archive stop a USGS `download-request` for them, a USGS band file
stops the STAC download of that asset, and a partial overlap orders only the missing bands."""

import json

import pytest
from fakes.stac_server import FakeStacServer
from fakes.usgs_server import UsgsFake, usgs_cli_env

from eoharvest.adapters.catalog import open_catalog
from eoharvest.domain.orders import OrderFilter
from eoharvest.entrypoints.cli import main

AOI = "-104.5,40.0,-104.0,40.5"
STAC_AOI = "-104.3,40.3,-104.2,40.4"
FIRST = "LC08_L2SP_033032_20231008_20231017_02_T1"
KEY = "LC08_L2SP_033032_20231008_02_T1"
#: the M2M entity ids of the band files (reconstructed in the fake: L2SR_<display id>_<band>_TIF)
RED, NIR = f"L2SR_{FIRST}_SR_B4_TIF", f"L2SR_{FIRST}_SR_B5_TIF"


@pytest.fixture
def usgs():
    with UsgsFake(prepare_polls=0) as fake:
        yield fake


@pytest.fixture
def stac():
    with FakeStacServer(landsat_https=True) as fake:
        yield fake


@pytest.fixture
def env(usgs, tmp_path, monkeypatch):
    return usgs_cli_env(usgs, tmp_path, monkeypatch)


def run(*args, capsys):
    code = main([*args, "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out)


def stac_harvest(stac, assets, capsys):
    return run("harvest", "--provider", "stac", "--stac-url", stac.url, "--platform", "Landsat-8", "--aoi", STAC_AOI,
               "--assets", assets, capsys=capsys)  # fmt: skip


def usgs_catalogued(capsys):
    run("harvest", "--provider", "usgs", "--platform", "Landsat-8", "--aoi", AOI, "--cloud-max", "10", "--no-download",
        capsys=capsys)  # fmt: skip


def requested_entities(usgs):
    return [d["entityId"] for call in usgs.calls("download-request") for d in call.body["downloads"]]


def landsat_hits(stac):
    return [p for p in stac.asset_hits if "usgs-landsat" in p]


def test_bands_from_earth_search_stop_a_usgs_download_request_for_them(usgs, stac, env, tmp_path, capsys):
    first = stac_harvest(stac, "red,nir08", capsys)
    assert first["downloaded"] == 1 and len(landsat_hits(stac)) == 2
    usgs_catalogued(capsys)
    report = run("download", "--provider", "usgs", "--id", FIRST, "--assets", "red,nir08", capsys=capsys)
    assert report["failed"] == 0 and report["pending"] == 0
    assert usgs.calls("download-request") == [] and usgs.fetched_files() == []
    folder = tmp_path / "archive" / KEY
    assert sorted(p.name for p in folder.iterdir()) == ["nir08.TIF", "red.TIF"]  # reused, nothing added
    with open_catalog(tmp_path / "catalog.db") as catalog:
        assert catalog.stats().products == 1  # two providers' scenes, one product
        assert sorted((f.provider, f.asset) for f in catalog.available_file_records(KEY)) == [("stac", "nir08"), ("stac", "red")]
        assert list(catalog.find_orders(OrderFilter(providers=("usgs",)))) == []


def test_usgs_band_files_stop_the_stac_download_of_the_same_assets(usgs, stac, env, tmp_path, capsys):
    run("harvest", "--provider", "usgs", "--platform", "Landsat-8", "--aoi", AOI, "--cloud-max", "10",
        "--assets", "red,nir08", capsys=capsys)  # fmt: skip
    assert usgs.fetched_files() == [f"{FIRST}_SR_B4.TIF", f"{FIRST}_SR_B5.TIF"]
    report = stac_harvest(stac, "red,nir08", capsys)
    assert report["failed"] == 0 and landsat_hits(stac) == []  # no transfer from the STAC host
    folder = tmp_path / "archive" / KEY
    assert sorted(p.name for p in folder.iterdir()) == [f"{FIRST}_SR_B4.TIF", f"{FIRST}_SR_B5.TIF"]
    with open_catalog(tmp_path / "catalog.db") as catalog:
        files = catalog.available_file_records(KEY)
        assert sorted((f.provider, f.asset) for f in files) == [("usgs", "nir08"), ("usgs", "red")]
        assert catalog.stats().products == 1


def test_a_partial_overlap_requests_only_the_missing_band_and_reuses_the_other(usgs, stac, env, tmp_path, capsys):
    stac_harvest(stac, "red", capsys)
    usgs_catalogued(capsys)
    report = run("download", "--provider", "usgs", "--id", FIRST, "--assets", "red,nir08", capsys=capsys)
    assert report["failed"] == 0 and report["downloaded"] == 1
    assert requested_entities(usgs) == [NIR] and usgs.fetched_files() == [f"{FIRST}_SR_B5.TIF"]
    folder = tmp_path / "archive" / KEY
    assert sorted(p.name for p in folder.iterdir()) == [f"{FIRST}_SR_B5.TIF", "red.TIF"]
    with open_catalog(tmp_path / "catalog.db") as catalog:
        (order,) = catalog.find_orders(OrderFilter(providers=("usgs",)))
        assert (order.key.selection, order.state) == ("nir08", "downloaded")
    # Everything is there now: asking again requests nothing.
    again = run("download", "--provider", "usgs", "--id", FIRST, "--assets", "red,nir08", capsys=capsys)
    assert again["failed"] == 0 and len(usgs.calls("download-request")) == 1 and len(usgs.fetched_files()) == 1


def test_overwrite_still_requests_every_band_from_usgs(usgs, stac, env, tmp_path, capsys):
    stac_harvest(stac, "red,nir08", capsys)
    usgs_catalogued(capsys)
    report = run("download", "--provider", "usgs", "--id", FIRST, "--assets", "red,nir08", "--overwrite", capsys=capsys)
    assert report["failed"] == 0
    assert sorted(requested_entities(usgs)) == [RED, NIR]
    assert usgs.fetched_files() == [f"{FIRST}_SR_B4.TIF", f"{FIRST}_SR_B5.TIF"]


def test_a_band_file_changed_on_disk_since_it_was_verified_does_not_stop_the_request(usgs, stac, env, tmp_path, capsys):
    stac_harvest(stac, "red,nir08", capsys)
    usgs_catalogued(capsys)
    with open(tmp_path / "archive" / KEY / "red.TIF", "ab") as f:
        f.write(b"appended later")  # no longer the verified file: its size differs from the record
    report = run("download", "--provider", "usgs", "--id", FIRST, "--assets", "red,nir08", capsys=capsys)
    assert report["failed"] == 0
    assert requested_entities(usgs) == [RED] and usgs.fetched_files() == [f"{FIRST}_SR_B4.TIF"]
