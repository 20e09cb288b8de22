"""`eoharvest harvest` with orders, `eoharvest orders list|show|cancel` and `daemon status`, as
separate processes against the loopback ordering API (fakes/order_server.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fakes.order_server import OrderApiFake

from eoharvest.adapters.catalog import open_catalog

TESTS = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).with_name("eoharvest")
HARVEST = [sys.executable, str(Path(__file__).with_name("orderfake_cli.py"))]
AOI = "-79.4,43.8,-79.3,43.9"


@pytest.fixture
def env(tmp_path):
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("EOHARVEST_")},
        "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "EOHARVEST_CATALOG": str(tmp_path / "catalog.db"), "EOHARVEST_DOWNLOAD_DIR": str(tmp_path / "archive"),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")])),
    }  # fmt: skip


def harvest(env, fake, *args, timeout=120):
    command = [*HARVEST, "harvest", "--provider", "orderfake", "--aoi", AOI, "--json", *args]
    return subprocess.run(command, env={**env, "EOHARVEST_STAC_URL": fake.url}, capture_output=True, text=True,
                          timeout=timeout, cwd=TESTS)  # fmt: skip


def cli(env, *args, timeout=60):
    return subprocess.run([str(BIN), *args], env=env, capture_output=True, text=True, timeout=timeout)


def listed(env, *args):
    result = cli(env, "orders", "list", "--json", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_dry_run_lists_what_would_be_ordered_and_its_size_and_changes_nothing(env, tmp_path):
    with OrderApiFake(products={"p00": 0.1, "p01": 0.1, "p02": 0.1}, size=30_000) as fake:
        result = harvest(env, fake, "--dry-run")
        assert result.returncode == 0, result.stderr
        preview = json.loads(result.stdout)
        assert (preview["would_order"], preview["order_bytes"]) == (3, 90_000)
        assert [p["action"] for p in preview["products"]] == ["order"] * 3
        table = harvest(env, fake, "--dry-run", "--limit", "2")
        assert fake.orders == {}, "a dry run places nothing"
    assert table.returncode == 0 and '"would_order": 2' in table.stdout
    with open_catalog(tmp_path / "catalog.db") as catalog:
        assert catalog.count() == 0 and catalog.order_counts()["intent"] == 0
    assert not (tmp_path / "archive").exists()


def test_orders_still_pending_exit_11_and_the_next_run_downloads_them(env, tmp_path):
    with OrderApiFake(products={"p00": 0.1, "p01": 3.0}) as fake:
        first = harvest(env, fake, "--activation-timeout", "1")
        assert first.returncode == 11, first.stderr
        report = json.loads(first.stdout)
        assert (report["downloaded"], report["failed"], report["pending"]) == (1, 0, 1)
        assert report["pending_orders"][0]["scene_id"] == "p01" and report["pending_orders"][0]["state"] == "requested"
        time.sleep(2.2)
        second = harvest(env, fake)
        assert second.returncode == 0, second.stderr
        assert json.loads(second.stdout)["downloaded"] == 1
        assert (fake.placements("p00"), fake.placements("p01")) == (1, 1)
    assert {o["product_key"]: o["state"] for o in listed(env)} == {"p00": "downloaded", "p01": "downloaded"}


def test_no_order_places_nothing_and_reports_the_products_pending(env):
    with OrderApiFake(products={"p00": 0.1}) as fake:
        result = harvest(env, fake, "--no-order")
        assert fake.orders == {}
    assert result.returncode == 11, result.stderr
    [pending] = json.loads(result.stdout)["pending_orders"]
    assert pending["state"] == "none" and "no order placed" in pending["reason"]


def test_a_second_process_lists_the_live_states_of_a_running_harvest(env):
    products = {f"p{i:02d}": 1.5 + 0.5 * i for i in range(4)}
    with OrderApiFake(products=products) as fake:
        running = subprocess.Popen([*HARVEST, "harvest", "--provider", "orderfake", "--aoi", AOI, "--json"],
                                   env={**env, "EOHARVEST_STAC_URL": fake.url}, cwd=TESTS,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        try:
            seen: set[str] = set()
            deadline = time.monotonic() + 60
            while running.poll() is None and time.monotonic() < deadline:
                if (Path(env["EOHARVEST_CATALOG"])).exists():
                    seen |= {o["state"] for o in listed(env)}
                time.sleep(0.2)
            out, err = running.communicate(timeout=60)
        finally:
            if running.poll() is None:
                running.kill()
    assert running.returncode == 0, err
    assert seen & {"requested", "pending"}, f"the running orders were visible: {seen}"
    assert "downloaded" in seen or {o["state"] for o in listed(env)} == {"downloaded"}
    assert {o["state"] for o in listed(env)} == {"downloaded"}
    table = cli(env, "orders", "list")
    assert table.returncode == 0 and "downloaded 4" in table.stdout


def test_orders_show_and_cancel_remove_the_order_here_and_at_the_provider(env):
    with OrderApiFake(products={"p00": 30.0}) as fake:
        assert harvest(env, fake, "--activation-timeout", "0").returncode == 11
        [order] = listed(env)
        shown = cli(env, "orders", "show", str(order["id"]), "--json")
        assert shown.returncode == 0 and json.loads(shown.stdout)["remote_id"] == "o1"
        by_product = cli(env, "orders", "show", "p00")
        assert by_product.returncode == 0 and "requested" in by_product.stdout
        status = cli(env, "daemon", "status", "--json")
        assert json.loads(status.stdout)["orders"]["requested"] == 1
        cancelled = subprocess.run([*HARVEST, "orders", "cancel", str(order["id"])], env={**env, "EOHARVEST_STAC_URL": fake.url},
                                   capture_output=True, text=True, timeout=60, cwd=TESTS)  # fmt: skip
        assert cancelled.returncode == 0, cancelled.stderr
        assert "removed at orderfake" in cancelled.stdout
        assert fake.orders == {} and listed(env) == []
    missing = cli(env, "orders", "cancel", "99")
    assert missing.returncode == 2 and "there is no order 99" in missing.stderr and "Traceback" not in missing.stderr
    assert "orders: none" in cli(env, "daemon", "status").stdout


def test_an_unknown_state_is_refused_with_the_known_ones(env):
    result = cli(env, "orders", "list", "--state", "done")
    assert result.returncode == 2 and "waiting" in result.stderr
