"""Planet end to end on loopback: `Planet('key').scenes(...)`, `BulkDownloader(...).download_all(
activation_wait=...)`, `eoharvest harvest --provider planet --platform PSScene`, `--dry-run`,
`watch add --provider planet`, the key's sources (argument, PL_API_KEY, ~/.planet.json,
`create_instance(planet_api_key=...)`), and the faults of the activation flow: both 429 kinds,
an asset without download permission, an expired download link. The key goes to the Data API
only, never to the storage host, and never into logs, errors or the catalog."""

import hashlib
import json
import logging
import os
from pathlib import Path

import pytest

from eoharvest import AggregateSensorAPI, BulkDownloader, Planet, download_all
from eoharvest.adapters.catalog import open_catalog
from eoharvest.domain.orders import OrderFilter
from eoharvest.entrypoints.cli import main
from fakes.planet_server import PSSCENE_AOI, SACRAMENTO_AOI, PlanetFake, settings_for

RECORDED = "20220125_075509_67_1061"
ASSET = "ortho_analytic_4b_sr"


@pytest.fixture
def fake():
    with PlanetFake(activation_polls=2) as planet:
        planet.add_psscene(2)
        yield planet


@pytest.fixture
def env(fake, tmp_path, monkeypatch):
    for key in [k for k in os.environ if k.startswith(("EOHARVEST_", "PL_"))]:
        monkeypatch.delenv(key)
    values = {"EOHARVEST_PLANET_URL": fake.url, "EOHARVEST_CATALOG": str(tmp_path / "catalog.db"),
              "EOHARVEST_DOWNLOAD_DIR": str(tmp_path / "archive"), "HOME": str(tmp_path),
              "XDG_CONFIG_HOME": str(tmp_path / "config")}  # fmt: skip
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


def items_in(fake):
    return sorted(i for (t, i) in fake.items if t == "PSScene")


def assert_key_stayed_with_the_api(fake, tmp_path, *texts):
    assert fake.storage_headers, "something was downloaded from the storage host"
    assert all("Authorization" not in h and "authorization" not in h for h in fake.storage_headers)
    assert all(h.get("Authorization", "").startswith("Basic ") for h in fake.api_headers if "Authorization" in h)
    catalog = tmp_path / "catalog.db"
    if catalog.exists():
        stored = catalog.read_bytes().decode("latin-1")
        assert fake.api_key not in stored
        assert not [t for t in fake.download_tokens if t in stored], "download tokens are secrets too"
    for text in texts:
        assert fake.api_key not in text


def test_planet_scenes_and_bulk_download_activate_once_verify_md5_and_never_twice(fake, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    with Planet(fake.api_key, settings=settings_for(fake, tmp_path)) as api:
        assert api.supported_platformnames() == ("PlanetScope", "SkySat", "RapidEye")
        scenes = api.scenes(platformname="PSScene", aoi=PSSCENE_AOI, start_date="2022-01-01", end_date="2022-02-28",
                            cloud_max=10, page_size=2)  # fmt: skip
        found = list(scenes)
        assert scenes.total is None
        assert sorted(s.scene_id for s in found) == items_in(fake)
        summary = BulkDownloader(found).download_all(str(tmp_path / "archive"), activation_wait=0.05, max_workers=2)
        assert summary.failures == [] and summary.pending == [] and len(summary.results) == 3
        again = BulkDownloader(found).download_all(str(tmp_path / "archive"), activation_wait=0.05)
    assert all(r.skipped for r in again.results) and len(again.results) == 3
    # paging: page_size 2 over 3 items is 2 pages, then the empty page that ends the search
    assert len(fake.page_requests) == 2 and fake.search_bodies[0]["item_types"] == ["PSScene"]
    assert {"type": "RangeFilter", "field_name": "cloud_cover", "config": {"lte": 0.1}} in fake.search_bodies[0]["filter"]["config"]
    assert dict(fake.activations) == {(i, ASSET): 1 for i in items_in(fake)}
    assert sum(fake.activation_requests.values()) == 3, "the second run activated nothing"
    for item in items_in(fake):
        path = tmp_path / "archive" / f"PSScene_{item}" / f"{item}_{ASSET}.tif"
        assert hashlib.md5(path.read_bytes()).hexdigest() == hashlib.md5(fake.asset(item, ASSET).data).hexdigest()
    with open_catalog(tmp_path / "catalog.db") as catalog:
        assert {o.state for o in catalog.find_orders(OrderFilter(providers=("planet",)))} == {"downloaded"}
        stored = catalog.get_scene("planet", RECORDED)
        assert stored.product_key == f"PSScene_{RECORDED}" and stored.raw["properties"]["published"]
        assert len(catalog.available_files(f"PSScene_{RECORDED}")) == 1
    assert_key_stayed_with_the_api(fake, tmp_path, caplog.text)


def test_create_instance_takes_planet_api_key_and_the_aggregate_uses_it(fake, env):
    assert Planet.create_instance() is None
    aggregate = AggregateSensorAPI(planet_api_key=fake.api_key)
    try:
        assert [type(i).__name__ for i in aggregate.instances] == ["Planet"]
        found = list(aggregate.scenes(platformname="PlanetScope", aoi=SACRAMENTO_AOI, product_type="PSScene4Band"))
    finally:
        aggregate.close()
    assert len(found) == 17 and {s.product_key.split("_")[0] for s in found} == {"PSScene4Band"}


def test_the_cli_harvest_with_pl_api_key_catalogues_activates_and_downloads(fake, env, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PL_API_KEY", fake.api_key)
    code = main(["harvest", "--provider", "planet", "--platform", "PSScene", "--aoi", PSSCENE_AOI, "--json",
                 "--outdir", str(tmp_path / "a")])
    out = capsys.readouterr()
    assert code == 0, out.err
    report = json.loads(out.out)
    assert (report["found"], report["downloaded"], report["failed"], report["pending"]) == (3, 3, 0, 0)
    assert len(fake.activations) == 3
    assert_key_stayed_with_the_api(fake, tmp_path, out.out, out.err)
    assert main(["orders", "list", "--json", "--provider", "planet"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {o["state"] for o in listed} == {"downloaded"} and len(listed) == 3


def test_harvest_dry_run_shows_what_would_be_activated_and_activates_nothing(fake, env, tmp_path, capsys):
    (tmp_path / ".planet.json").write_text(json.dumps({"key": fake.api_key}))  # the Planet CLI's file
    code = main(["harvest", "--provider", "planet", "--platform", "PSScene", "--aoi", PSSCENE_AOI, "--dry-run", "--json"])
    out = capsys.readouterr()
    assert code == 0, out.err
    preview = json.loads(out.out)
    assert preview["would_order"] == 3 and [p["action"] for p in preview["products"]] == ["order"] * 3
    assert preview["order_area_km2"] > 0
    assert fake.activation_requests == {} and fake.search_bodies
    assert not (tmp_path / "archive").exists()


def test_watch_add_with_provider_planet_keeps_the_definition(fake, env, capsys):
    assert main(["watch", "add", "ps", "--provider", "planet", "--platform", "PSScene", "--aoi", PSSCENE_AOI,
                 "--cloud-max", "20", "--assets", "ortho_visual", "--every", "6h"]) == 0
    assert main(["watch", "show", "ps", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["definition"]["provider"] == "planet" and shown["definition"]["assets"] == ["ortho_visual"]


def test_a_wrong_key_exits_3_with_planets_message_and_no_key_or_traceback(fake, env, monkeypatch, capsys):
    monkeypatch.setenv("PL_API_KEY", "PLAK-CANARY-WRONG-KEY-123")
    code = main(["harvest", "--provider", "planet", "--platform", "PSScene", "--aoi", PSSCENE_AOI])
    err = capsys.readouterr().err
    assert code == 3 and "Please enter your API key." in err and "PL_API_KEY" in err
    assert "PLAK-CANARY-WRONG-KEY-123" not in err and "Traceback" not in err


def test_no_key_anywhere_names_every_place_looked_in(fake, env, capsys):
    code = main(["harvest", "--provider", "planet", "--platform", "PSScene", "--aoi", PSSCENE_AOI])
    err = capsys.readouterr().err
    assert code == 3 and "PL_API_KEY" in err and ".planet.json" in err and fake.search_bodies == []


@pytest.mark.parametrize("refusal", ["listing", "activation"])
def test_an_asset_without_download_permission_is_reported_once_and_never_retried(tmp_path, refusal):
    kind = "no_permission" if refusal == "listing" else "forbidden_activations"
    with PlanetFake(**{kind: ((RECORDED, ASSET),)}) as fake:
        with Planet(fake.api_key, settings=settings_for(fake, tmp_path)) as api:
            found = list(api.scenes(platformname="PlanetScope", aoi=PSSCENE_AOI))
            first = download_all(found, str(tmp_path / "archive"), skip_error=True, activation_wait=0.05)
            second = download_all(found, str(tmp_path / "archive"), skip_error=True, activation_wait=0.05)
    assert [f.scene_id for f in first.failures] == [RECORDED] and first.results == []
    assert "may not download asset ortho_analytic_4b_sr" in str(first.failures[0].error)
    assert [f.scene_id for f in second.failures] == [RECORDED]
    # _permissions: [] in the listing: never asked to activate; a 403 activation: asked once
    expected = [] if refusal == "listing" else [(RECORDED, ASSET, 403)]
    assert fake.refused_activations == expected, "refused once, never asked again"
    assert sum(fake.activation_requests.values()) == len(expected)
    with open_catalog(tmp_path / "catalog.db") as catalog:
        (order,) = catalog.find_orders(OrderFilter(providers=("planet",)))
    assert order.state == "failed" and "no download permission" in order.last_error


def test_rate_limited_activations_back_off_and_succeed(tmp_path):
    with PlanetFake(rate_limited_activations=2, activation_polls=1) as fake:
        fake.add_psscene(2)
        with Planet(fake.api_key, settings=settings_for(fake, tmp_path)) as api:
            found = list(api.scenes(platformname="PlanetScope", aoi=PSSCENE_AOI))
            summary = download_all(found, str(tmp_path / "archive"), activation_wait=0.05, max_workers=3)
    assert summary.failures == [] and len(summary.results) == 3
    assert [r[2] for r in fake.refused_activations] == [429, 429]
    assert dict(fake.activations) == {(i, ASSET): 1 for i in items_in(fake)}


def test_activations_stay_within_five_per_second(tmp_path):
    with PlanetFake(activation_polls=1) as fake:
        fake.add_psscene(9)
        with Planet(fake.api_key, settings=settings_for(fake, tmp_path)) as api:
            found = list(api.scenes(platformname="PlanetScope", aoi=PSSCENE_AOI))
            summary = download_all(found, str(tmp_path / "archive"), activation_wait=0.05, max_workers=4)
    assert summary.failures == [] and len(summary.results) == 10
    assert fake.refused_activations == [], "the fake refuses a 6th activation within a second"


def test_a_used_up_download_quota_ends_the_keys_downloads_for_the_run_without_retrying(tmp_path):
    with PlanetFake(quota_exhausted=True) as fake:
        fake.add_psscene(3)
        with Planet(fake.api_key, settings=settings_for(fake, tmp_path)) as api:
            found = list(api.scenes(platformname="PlanetScope", aoi=PSSCENE_AOI))
            summary = download_all(found, str(tmp_path / "archive"), skip_error=True, activation_wait=0.05,
                                   max_workers=1)  # fmt: skip
    assert len(summary.failures) == 4 and summary.results == []
    assert sum(fake.activation_requests.values()) == 1, "the quota 429 is not retried, nor asked again"
    errors = [f.error for f in summary.failures]
    assert all(e.exit_code == 3 for e in errors)
    assert "download quota is used up" in str(errors[0]) and "Download quota has been exceeded." in str(errors[0])


@pytest.mark.parametrize("status", [403, 410])
def test_an_expired_download_link_is_refreshed_by_reading_the_asset_again(tmp_path, status):
    with PlanetFake(activation_polls=1, expired_status=status, recorded=False) as fake:
        fake.add_psscene(1)
        fake.expire_next_downloads = 1  # the first link handed out has expired by the time it is used
        with Planet(fake.api_key, settings=settings_for(fake, tmp_path)) as api:
            found = list(api.scenes(platformname="PlanetScope", aoi=PSSCENE_AOI))
            summary = download_all(found, str(tmp_path / "archive"), activation_wait=0.05)
    assert summary.failures == [] and len(summary.results) == 1
    (path,) = summary.results[0].out_files
    (item,) = items_in(fake)
    assert hashlib.md5(Path(path).read_bytes()).hexdigest() == hashlib.md5(fake.asset(item, ASSET).data).hexdigest()
    tokens = [q for role, m, p, q in fake.download_requests]
    assert len(tokens) == 2 and tokens[0] != tokens[1], "the expired link, then a fresh one from the asset"
    assert dict(fake.activations) == {(item, ASSET): 1}


def test_without_the_catalog_activate_and_download_work_on_the_default_asset(tmp_path):
    with PlanetFake(activation_polls=3, recorded=False) as fake:
        fake.add_psscene(1)
        with Planet(fake.api_key, settings=settings_for(fake, tmp_path), catalog=False) as api:
            (scene,) = list(api.scenes(platformname="PlanetScope", aoi=PSSCENE_AOI))
            downloader = scene.downloader()
            checks = 0
            while not downloader.activate() and checks < 10:
                checks += 1
            result = downloader.download(str(tmp_path / "archive"))
    assert checks >= 1 and len(result.out_files) == 1
    assert sum(fake.activation_requests.values()) == 1, "checking again never activates again"
    assert not (tmp_path / "catalog.db").exists()


def test_watch_run_with_provider_planet_activates_and_downloads(fake, env, monkeypatch, capsys):
    monkeypatch.setenv("PL_API_KEY", fake.api_key)
    assert main(["watch", "add", "ps", "--provider", "planet", "--platform", "PSScene", "--aoi", PSSCENE_AOI,
                 "--since", "2022-01-01", "--every", "6h"]) == 0
    assert main(["watch", "run", "ps", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["found"] == 3 and report["downloaded"] == 3
    assert dict(fake.activations) == {(i, ASSET): 1 for i in items_in(fake)}


def test_catalog_export_as_stac_uses_the_planet_mapping(fake, env, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PL_API_KEY", fake.api_key)
    assert main(["harvest", "--provider", "planet", "--platform", "PSScene", "--aoi", PSSCENE_AOI, "--no-download",
                 "--json"]) == 0
    capsys.readouterr()
    out = tmp_path / "items.json"
    assert main(["catalog", "export", "--format", "stac", "--provider", "planet", "-o", str(out)]) == 0
    items = {i["id"]: i for i in json.loads(out.read_text())["features"]}
    item = items[RECORDED]
    assert item["properties"]["planet:item_type"] == "PSScene" and item["properties"]["eo:cloud_cover"] == 0
    assert item["properties"]["datetime"] == "2022-01-25T07:55:09.676173Z"
    assert item["assets"][ASSET]["title"] == f"{RECORDED}_{ASSET}.tif" and len(items) == 3
    assert fake.activation_requests == {}, "cataloguing activates nothing"
