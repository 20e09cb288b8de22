"""T-06 for orders: SIGKILL a process after the provider accepted an order but before the catalog
recorded it (and at random moments); the rerun finds the orders by label and places nothing twice."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from fakes.order_server import OrderApiFake, content

from eoharvest.adapters.catalog import open_catalog
from eoharvest.domain.orders import OrderFilter

WORKER = Path(__file__).with_name("order_worker.py")
TESTS = Path(__file__).resolve().parents[1]
PRODUCTS = {"p00": 0.6, "p01": 1.0, "p02": 0.3, "p03": 1.4, "p04": 0.8, "p05": 0.5}


def run_worker(spec, *, crash_at=None, kill_after=None, timeout=120):
    env = {k: v for k, v in os.environ.items() if not k.startswith("EOHARVEST_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), env.get("PYTHONPATH")]))
    if crash_at:
        env["EOHARVEST_CRASH_AT"] = crash_at
    proc = subprocess.Popen([sys.executable, str(WORKER), str(spec)], env=env, cwd=TESTS,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    if kill_after is not None:
        try:
            proc.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def spec_for(fake, tmp_path):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"url": fake.url, "catalog": str(tmp_path / "catalog.db"),
                                "outdir": str(tmp_path / "archive")}))  # fmt: skip
    return spec


def assert_complete(fake, tmp_path, out):
    assert json.loads(out.strip().splitlines()[-1]) == {"downloaded": sorted(PRODUCTS), "failed": [], "pending": []}
    assert {p: fake.placements(p) for p in PRODUCTS} == {p: 1 for p in PRODUCTS}, "an order was placed twice"
    for product in PRODUCTS:
        path = tmp_path / "archive" / product / f"{product}.tif"
        assert hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(content(product, fake.size)).digest()
    assert [p for p in (tmp_path / "archive").rglob("*") if ".part" in p.name] == []
    with open_catalog(tmp_path / "catalog.db") as catalog:
        assert {o.state for o in catalog.find_orders(OrderFilter())} == {"downloaded"}


def test_t06_kill_after_the_provider_accepted_an_order_then_the_rerun_finds_it_and_places_nothing_twice(tmp_path):
    with OrderApiFake(products=dict(PRODUCTS)) as fake:
        spec = spec_for(fake, tmp_path)
        code, _, err = run_worker(spec, crash_at="order-accepted")
        assert code == -signal.SIGKILL, err
        accepted = {o.product for o in fake.orders.values()}
        assert accepted, "the provider accepted at least one order before the kill"
        with open_catalog(tmp_path / "catalog.db") as catalog:
            stored = {o.key.product_key: o for o in catalog.find_orders(OrderFilter())}
        # The catalog holds the intents, none recorded as placed: exactly the crash window.
        assert accepted <= set(stored) and {o.state for o in stored.values()} == {"intent"}
        assert all(o.remote_id is None and o.owner for o in stored.values())
        code, out, err = run_worker(spec)
        assert code == 0, err
        assert {stored[p].label for p in accepted} <= set(fake.lookups), "abandoned intents were looked up by label"
        assert_complete(fake, tmp_path, out)


@pytest.mark.parametrize("trial", range(2))
def test_t06_kill_at_a_random_moment_then_rerun_places_each_order_once(tmp_path, trial):
    with OrderApiFake(products=dict(PRODUCTS)) as fake:
        spec = spec_for(fake, tmp_path)
        kill_after = random.Random(1606 + trial).uniform(1.3, 2.6)  # interpreter start-up is ~1 s
        code, _, err = run_worker(spec, kill_after=kill_after)
        assert code in (0, -signal.SIGKILL), err
        code, out, err = run_worker(spec)
        assert code == 0, err
        assert_complete(fake, tmp_path, out)


def test_two_processes_ordering_the_same_products_at_once_place_each_order_once(tmp_path):
    with OrderApiFake(products=dict(PRODUCTS), min_interval=0.0) as fake:
        spec = spec_for(fake, tmp_path)
        data = json.loads(spec.read_text())
        spec.write_text(json.dumps({**data, "activation_timeout": 0}))
        env = {k: v for k, v in os.environ.items() if not k.startswith("EOHARVEST_")}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), env.get("PYTHONPATH")]))
        procs = [subprocess.Popen([sys.executable, str(WORKER), str(spec)], env=env, cwd=TESTS,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]  # fmt: skip
        outcomes = [p.communicate(timeout=120) for p in procs]
    for proc, (out, err) in zip(procs, outcomes):
        assert proc.returncode == 0, err
        assert json.loads(out.strip().splitlines()[-1])["failed"] == []
    assert {p: fake.placements(p) for p in PRODUCTS} == {p: 1 for p in PRODUCTS}, "an order was placed twice"
