"""`eoharvest harvest` through the real CLI against loopback providers serving recorded pages:
what the search received is catalogued even when a later page fails, and --limit stops there."""

import json
import os
import sqlite3
from contextlib import closing
from urllib.parse import parse_qsl, urlsplit

import pytest

from eoharvest.adapters.catalog import open_catalog
from eoharvest.entrypoints.cli import main
from fakes.copernicus_server import CdseFake
from fakes.stac_server import FakeStacServer

AOI = "-180,-90,180,90"


@pytest.fixture
def env(tmp_path, monkeypatch):
    for key in list(os.environ):
        if key.startswith("EOHARVEST_"):
            monkeypatch.delenv(key)
    for key, value in {
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "EOHARVEST_CATALOG": str(tmp_path / "catalog.db"),
        "EOHARVEST_DOWNLOAD_DIR": str(tmp_path / "archive"),
        "EOHARVEST_MAX_RETRIES": "0",
    }.items():
        monkeypatch.setenv(key, value)
    return tmp_path


@pytest.fixture
def cdse(env, monkeypatch):
    """CDSE's catalogue serving the five recorded Sentinel-1 pages (10 products each but the last)."""
    with CdseFake(recorded_pages=True) as fake:
        monkeypatch.setenv("EOHARVEST_CDSE_ODATA_URL", fake.odata_url)
        yield fake


def catalogued(tmp_path):
    with open_catalog(tmp_path / "catalog.db") as catalog:
        return catalog.count()


def harvest(*args):
    return main(["harvest", "--provider", "copernicus", "--platform", "Sentinel-1", "--aoi", AOI,
                 "--no-download", "--json", *args])


def test_a_failing_third_page_keeps_the_twenty_scenes_of_the_first_two_and_exits_with_its_code(cdse, env, capsys):
    cdse.fail_at_skip[20] = 503
    assert harvest() == 6  # RetryExhausted: HTTP 503 with no retries left
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert report["found"] == 20 and report["new_in_catalog"] == 20
    assert "HTTP 503" in report["search_error"]
    assert "the search stopped after 20 scene(s)" in err and "HTTP 503" in err
    assert "Traceback" not in err
    assert catalogued(env) == 20


def test_limit_stops_at_n_scenes_asking_for_no_more_and_never_requests_the_next_page(cdse, env, capsys):
    cdse.fail_at_skip[10] = 503  # the page a client asking for scene 11 would need
    assert harvest("--limit", "10") == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["found"] == 10
    assert len(cdse.catalogue_requests) == 1
    assert dict(parse_qsl(urlsplit(cdse.catalogue_requests[0]).query))["$top"] == "10"
    assert catalogued(env) == 10


def test_a_limit_beyond_the_first_page_asks_the_last_page_only_for_what_is_left(cdse, env, capsys):
    assert harvest("--limit", "13") == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["found"] == 13
    tops = [dict(parse_qsl(urlsplit(r).query))["$top"] for r in cdse.catalogue_requests]
    assert tops == ["13", "3"]
    assert catalogued(env) == 13


def test_search_options_on_the_command_line_reach_the_catalogue_and_a_wrong_one_exits_2(env, capsys, monkeypatch):
    with CdseFake() as fake:
        monkeypatch.setenv("EOHARVEST_CDSE_ODATA_URL", fake.odata_url)
        for product_id, orbit, tile in (("p-1", 97, "17TPJ"), ("p-2", 65, "17TPJ"), ("p-3", 65, "17TNJ")):
            fake.add_product(product_id, f"S2B_MSIL2A_20240605T160829_N0510_R{orbit:03d}_T{tile}_20240605T201413.SAFE",
                             1000, attributes={"relativeOrbitNumber": orbit, "tileId": tile})
        args = ["harvest", "--provider", "copernicus", "--platform", "S2", "--aoi", AOI, "--no-download", "--json"]
        assert main([*args, "--search-option", "relativeOrbitNumber=65", "--search-option", "tileId=17TPJ"]) == 0
        assert json.loads(capsys.readouterr().out)["found"] == 1
        assert main([*args, "--search-option", "relative_orbit=65"]) == 2
        err = capsys.readouterr().err
        assert "relative_orbit" in err and "relativeOrbitNumber" in err and "Traceback" not in err
    assert catalogued(env) == 1


def test_a_catalog_only_stac_harvest_stores_each_item_as_the_bytes_received(env, capsys):
    """The raw record is the provider's item as it came over the wire (here `json.dumps` with its
    default spacing and ASCII escapes), not a re-encoding of it."""
    with FakeStacServer() as stac:
        code = main(["harvest", "--provider", "stac", "--stac-url", stac.url, "--platform", "Sentinel-2",
                     "--aoi", AOI, "--no-download", "--json"])
        assert code == 0, capsys.readouterr().err
        served = {item["id"]: json.dumps(item) for item in stac.items}
    found = json.loads(capsys.readouterr().out)["found"]
    with closing(sqlite3.connect(env / "catalog.db")) as db:
        stored = dict(db.execute("SELECT scene_id, raw FROM scenes"))
    assert len(stored) == found > 1
    assert all(stored[scene_id] == served[scene_id] for scene_id in stored)
    with open_catalog(env / "catalog.db") as catalog:  # and it reads back as the item
        scene_id = next(iter(stored))
        assert catalog.get_scene("stac", scene_id).raw == json.loads(served[scene_id])
