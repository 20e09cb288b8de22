"""USGS M2M end to end on loopback: `UsgsOt(user, token).scenes(...)` with
`BulkDownloader(...).download_all(activation_wait=...)`, band files by Earth Search asset names,
`eoharvest harvest --provider usgs --platform Landsat-8`, `watch add/run --provider usgs`, an
abandoned order found again by its label, and one catalog product for the same Landsat scene
from Earth Search and from USGS."""

import json
import os

import pytest
from fakes.stac_server import FakeStacServer
from fakes.usgs_server import UsgsFake, settings_for, usgs_cli_env

import eoharvest
from eoharvest import BulkDownloader, UsgsEtm, UsgsOt, UsgsTm, download_all
from eoharvest.adapters.catalog import open_catalog
from eoharvest.domain.orders import OrderFilter, OrderKey, OrderRequest, new_intent, selection_of
from eoharvest.entrypoints.cli import main

AOI = "-104.5,40.0,-104.0,40.5"
FIRST = "LC08_L2SP_033032_20231008_20231017_02_T1"
KEY = "LC08_L2SP_033032_20231008_02_T1"


@pytest.fixture
def usgs():
    with UsgsFake(prepare_polls=2) as fake:
        yield fake


@pytest.fixture
def env(usgs, tmp_path, monkeypatch):
    return usgs_cli_env(usgs, tmp_path, monkeypatch)


def secrets_of(fake):
    return [fake.token, *fake.keys, *fake.expired]


def assert_no_secret_in(fake, *texts):
    for text in texts:
        assert not any(secret in text for secret in secrets_of(fake))


def test_usgsot_scenes_then_bulk_download_with_activation_wait_then_nothing_twice(usgs, tmp_path):
    settings = settings_for(usgs, tmp_path)
    with UsgsOt(usgs.username, usgs.token, settings=settings) as api:
        assert api.supported_platformnames() == ("Landsat-8", "Landsat-9")
        scenes = api.scenes(platformname="Landsat-8", aoi=AOI, start_date="2023-10-01", end_date="2023-10-31", cloud_max=50)
        found = list(scenes)
        assert [(s.scene_id, s.product_key, s.cloudcover_percentage) for s in found] == [(FIRST, KEY, 0.06)]
        summary = BulkDownloader(found, settings=settings).download_all(str(tmp_path / "archive"), activation_wait=0.05)
        assert summary.failures == [] and len(summary.results) == 1
        again = BulkDownloader(found, settings=settings).download_all(str(tmp_path / "archive"), activation_wait=0.05)
    assert again.results[0].skipped
    folder = tmp_path / "archive" / KEY
    assert (folder / f"{FIRST}.tar").exists() and (folder / f"{FIRST}_SR_B4.TIF").exists() and (folder / f"{FIRST}_MTL.json").exists()
    assert usgs.fetched_files() == [f"{FIRST}.tar"] and len(usgs.calls("download-request")) == 1
    # T-10: the M2M key went to the M2M host only, never to the staging or the file host
    assert usgs.downloads_seen() and all("x-auth-token" not in s.headers for s in usgs.downloads_seen())
    with open_catalog(tmp_path / "catalog.db") as catalog:
        stored = catalog.get_scene("usgs", FIRST)
        assert stored.product_key == KEY and stored.raw["entityId"] == "LC80330322023281LGN00"
        assert {o.state for o in catalog.find_orders(OrderFilter(providers=("usgs",)))} == {"downloaded"}
        assert str(folder / f"{FIRST}.tar") in catalog.available_files(KEY)
    assert_no_secret_in(usgs, (tmp_path / "catalog.db").read_bytes().decode("latin-1"))


def test_band_files_by_earth_search_asset_names(usgs, tmp_path):
    settings = settings_for(usgs, tmp_path)
    with UsgsOt(usgs.username, usgs.token, settings=settings) as api:
        found = [s for s in api.scenes(platformname="Landsat-8", aoi=AOI) if s.scene_id == FIRST]
        summary = download_all(found, str(tmp_path / "archive"), settings=settings, assets=["red", "qa_pixel"],
                               activation_wait=0.05)  # fmt: skip
    assert summary.failures == []
    assert sorted(os.path.basename(f) for f in summary.results[0].out_files) == [f"{FIRST}_QA_PIXEL.TIF", f"{FIRST}_SR_B4.TIF"]
    assert usgs.fetched_files() == [f"{FIRST}_QA_PIXEL.TIF", f"{FIRST}_SR_B4.TIF"]


def test_an_unknown_asset_name_lists_the_known_ones(usgs, tmp_path):
    settings = settings_for(usgs, tmp_path)
    with UsgsOt(usgs.username, usgs.token, settings=settings) as api:
        found = [s for s in api.scenes(platformname="Landsat-8", aoi=AOI) if s.scene_id == FIRST]
        summary = download_all(found, str(tmp_path / "archive"), settings=settings, assets=["B04"], skip_error=True,
                               activation_wait=0.05)  # fmt: skip
    error = summary.failures[0].error
    assert "B04" in str(error) and "red" in str(getattr(error, "hint", "") or error.__cause__.hint)
    assert usgs.calls("download-request") == []


def test_the_three_classes_search_their_own_dataset_and_create_instance_takes_the_token_alias(usgs, tmp_path):
    settings = settings_for(usgs, tmp_path)
    for cls, dataset, platforms in ((UsgsTm, "landsat_tm_c2_l2", ("Landsat-4", "Landsat-5")),
                                    (UsgsEtm, "landsat_etm_c2_l2", ("Landsat-7",))):  # fmt: skip
        with cls(usgs.username, usgs.token, settings=settings) as api:
            assert api.supported_platformnames() == platforms
            found = list(api.scenes())
        assert [s.platformname for s in found] == [platforms[-1]]
        assert usgs.calls("scene-search")[-1].body["datasetName"] == dataset
    assert {"usgs_username", "usgs_password", "usgs_token"} <= UsgsOt.instance_keywords()
    assert UsgsOt.create_instance(usgs_username="someone") is None  # no token: not part of an aggregate
    assert eoharvest.SENSOR_REGISTRY.get("UsgsOt") is UsgsOt
    assert "application token" in UsgsOt.__doc__


def test_create_instance_with_the_usgs_token_alias(usgs, env):
    api = UsgsOt.create_instance(usgs_username=usgs.username, usgs_token=usgs.token)
    with api:
        assert [s.scene_id for s in api.scenes(platformname="Landsat-8", aoi=AOI, cloud_max=10)] == [FIRST]
    assert usgs.calls("login-token")[0].body == {"username": usgs.username, "token": usgs.token}


def test_the_cli_harvest_with_provider_usgs_catalogs_and_downloads_verified_files(usgs, env, tmp_path, capsys):
    code = main(["harvest", "--provider", "usgs", "--platform", "Landsat-8", "--aoi", AOI, "--start", "2023-10-01",
                 "--end", "2023-10-31", "--cloud-max", "50", "--outdir", str(tmp_path / "a"), "--json"])  # fmt: skip
    out = capsys.readouterr()
    assert code == 0, out.err
    report = json.loads(out.out)
    assert report["found"] == 1 and report["downloaded"] == 1 and report["failed"] == 0
    assert usgs.fetched_files() == [f"{FIRST}.tar"]
    with open_catalog(tmp_path / "catalog.db") as catalog:
        assert catalog.get_scene("usgs", FIRST).product_key == KEY
        assert catalog.available_files(KEY) == [str(tmp_path / "a" / KEY / f"{FIRST}.tar")]
    assert (tmp_path / "a" / KEY / f"{FIRST}_SR_B4.TIF").exists()  # extracted from the verified bundle
    assert_no_secret_in(usgs, out.out, out.err)


def test_the_cli_reports_a_refused_token_with_exit_code_3_and_how_to_fix_it(usgs, env, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("EOHARVEST_USGS_TOKEN", "CANARY-WRONG-TOKEN-0123456789")
    code = main(["harvest", "--provider", "usgs", "--platform", "Landsat-8", "--aoi", AOI, "--outdir", str(tmp_path / "a")])
    err = capsys.readouterr().err
    assert code == 3 and "AUTH_INVALID" in err and "Application Tokens" in err
    assert "Traceback" not in err and "CANARY-WRONG-TOKEN" not in err


def test_watch_add_and_run_with_provider_usgs(usgs, env, tmp_path, capsys):
    usgs.prepare_polls = 0
    assert main(["watch", "add", "l8", "--provider", "usgs", "--platform", "Landsat-8", "--aoi", AOI, "--cloud-max", "50",
                 "--assets", "red,qa_pixel", "--since", "2023-10-01", "--every", "6h"]) == 0  # fmt: skip
    assert main(["watch", "show", "l8", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["definition"]["provider"] == "usgs" and shown["definition"]["assets"] == ["red", "qa_pixel"]
    assert main(["watch", "run", "l8", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["found"] == 1 and report["downloaded"] == 1
    assert usgs.fetched_files() == [f"{FIRST}_QA_PIXEL.TIF", f"{FIRST}_SR_B4.TIF"]


def test_an_intent_left_by_a_dead_run_is_found_by_its_label_and_not_requested_again(usgs, tmp_path):
    """The crash window of T-06: M2M accepted the download-request, the run died before recording it."""
    settings = settings_for(usgs, tmp_path)
    with UsgsOt(usgs.username, usgs.token, settings=settings) as api:
        scene = next(s for s in api.scenes(platformname="Landsat-8", aoi=AOI) if s.scene_id == FIRST)
        key = OrderKey("usgs", KEY, selection_of(None))
        with open_catalog(tmp_path / "catalog.db") as catalog:
            catalog.upsert_scenes([scene])
            now = api._services.clock.now()
            intent = catalog.create_order(new_intent(key, FIRST, now=now, owner="gone-host:1:dead", claimed_until=now))
        # what the dead run had sent before it died
        api.source.place_order(OrderRequest(scene, None, intent.label))
        summary = download_all([scene], str(tmp_path / "archive"), settings=settings, activation_wait=0.05)
    assert summary.failures == [] and len(summary.results) == 1
    assert len(usgs.calls("download-request")) == 1 and len(usgs.downloads) == 1
    assert usgs.calls("download-retrieve")[0].body == {"label": intent.label}


def test_the_same_landsat_product_from_earth_search_and_from_usgs_is_one_catalog_product(usgs, env, tmp_path, capsys):
    with FakeStacServer() as stac:
        assert main(["harvest", "--provider", "usgs", "--platform", "Landsat-8", "--aoi", AOI, "--cloud-max", "10",
                     "--outdir", str(tmp_path / "a")]) == 0  # fmt: skip
        assert main(["harvest", "--provider", "stac", "--stac-url", stac.url, "--platform", "Landsat-8",
                     "--aoi", "-104.3,40.3,-104.2,40.4", "--no-download"]) == 0  # fmt: skip
    capsys.readouterr()
    with open_catalog(tmp_path / "catalog.db") as catalog:
        from_stac, from_usgs = catalog.get_scene("stac", KEY), catalog.get_scene("usgs", FIRST)
        # Earth Search drops the processing date from the id, M2M's display id has it: one key
        assert from_stac.product_key == from_usgs.product_key == KEY
        # what the download plan of the Earth Search scene consults: the verified USGS bundle
        assert [f.provider for f in catalog.available_file_records(KEY)] == ["usgs"]


def test_a_product_still_being_prepared_is_pending_then_cancelled_at_usgs(usgs, env, tmp_path, capsys):
    usgs.prepare_polls = 10**6
    code = main(["harvest", "--provider", "usgs", "--platform", "Landsat-8", "--aoi", AOI, "--cloud-max", "10",
                 "--activation-timeout", "0.5", "--outdir", str(tmp_path / "a"), "--json"])  # fmt: skip
    report = json.loads(capsys.readouterr().out)
    assert code == 11 and report["pending"] == 1 and report["downloaded"] == 0
    assert main(["orders", "list", "--json"]) == 0
    (order,) = json.loads(capsys.readouterr().out)
    assert order["provider"] == "usgs" and order["state"] == "pending" and order["product_key"] == KEY
    assert main(["orders", "cancel", str(order["id"])]) == 0
    assert "removed at usgs" in capsys.readouterr().out
    assert usgs.calls("download-order-remove")[0].body == {"label": order["label"]} and usgs.downloads == {}


def test_a_dry_run_lists_what_would_be_requested_and_requests_nothing(usgs, env, tmp_path, capsys):
    code = main(["harvest", "--provider", "usgs", "--platform", "Landsat-8", "--aoi", AOI, "--dry-run",
                 "--outdir", str(tmp_path / "a")])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0 and "would order 2 product(s)" in out and KEY in out, out
    assert usgs.calls("download-request") == [] and usgs.fetched_files() == []


def test_the_stac_export_of_usgs_scenes_is_valid_and_points_at_the_extracted_files(usgs, env, tmp_path, capsys):
    assert main(["harvest", "--provider", "usgs", "--platform", "Landsat-8", "--aoi", AOI, "--cloud-max", "10",
                 "--outdir", str(tmp_path / "a")]) == 0  # fmt: skip
    assert main(["catalog", "export", "--format", "stac", "-o", str(tmp_path / "items.json")]) == 0
    (item,) = json.loads((tmp_path / "items.json").read_text())["features"]
    assert item["id"] == FIRST and item["properties"]["platform"] == "landsat-8"
    assert item["properties"]["usgs:entity_id"] == "LC80330322023281LGN00"
    assert item["bbox"] == pytest.approx([-105.61, 39.23, -102.91, 41.74])  # the spatialCoverage footprint
    assert item["assets"]["red"]["href"].endswith(f"{FIRST}_SR_B4.TIF")
    assert_no_secret_in(usgs, (tmp_path / "items.json").read_text())


def test_download_again_by_product_id_after_the_files_were_lost_follows_the_earlier_request(usgs, env, tmp_path, capsys):
    usgs.prepare_polls = 0
    args = ["--outdir", str(tmp_path / "a")]
    assert main(["harvest", "--provider", "usgs", "--platform", "Landsat-8", "--aoi", AOI, "--cloud-max", "10", *args]) == 0
    for path in (tmp_path / "a" / KEY).iterdir():
        path.unlink()
    code = main(["download", "--provider", "usgs", "--id", FIRST, *args])
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "a" / KEY / f"{FIRST}_SR_B4.TIF").exists()
    assert len(usgs.downloads) == 1  # M2M answered duplicateProducts: the earlier request was followed
    assert usgs.fetched_files() == [f"{FIRST}.tar", f"{FIRST}.tar"]
