"""Orders end to end against a loopback ordering API (fakes/order_server.py) through a provider
package plugged into the provider table (fakes/order_provider/): staggered readiness, an order
quota, 429s when polled too fast, expiries and a refusal."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest
from fakes import order_provider
from fakes.order_server import OrderApiFake, content

from eoharvest.adapters.catalog import open_catalog
from eoharvest.application.downloading import download_all
from eoharvest.application.budgets import LocalBudgets
from eoharvest.domain.orders import OrderFilter
from eoharvest.entrypoints.bootstrap import build
from eoharvest.entrypoints.config import load_settings

AOI = (-79.4, 43.8, -79.3, 43.9)


def products(n, *, first=0.4, step=0.15, seed=16):
    """``n`` products whose readiness delays are a shuffled staircase (readiness order differs
    from search order)."""
    ranks = list(range(n))
    random.Random(seed).shuffle(ranks)
    return {f"p{i:02d}": round(first + step * rank, 3) for i, rank in enumerate(ranks)}


def run(fake, tmp_path, **options):
    settings = load_settings({"stac_url": fake.url, "catalog_path": tmp_path / "catalog.db",
                              "download_dir": tmp_path / "archive"}, environ={})  # fmt: skip
    with build(settings) as services:
        source = services.connect(order_provider.NAME)
        scenes = list(services.sensor_api(source).scenes(platformname=["Sentinel-2"], aoi=AOI))
        options.setdefault("activation_wait", 0.1)
        options.setdefault("activation_timeout", 60)
        return download_all(scenes, str(tmp_path / "archive"), skip_error=True, clock=services.clock,
                            **services.download_limits().as_params(), **options)  # fmt: skip


def record_pace_releases(monkeypatch):
    """The moments the order pace (the process's provider budgets) lets calls through
    (recorded under its lock, in order)."""
    released: list[float] = []

    class Recording(dict):
        def __setitem__(self, provider, when):
            released.append(when)
            super().__setitem__(provider, when)

    init = LocalBudgets.__init__

    def recording_init(self, clock):
        init(self, clock)
        self._last = Recording()

    monkeypatch.setattr(LocalBudgets, "__init__", recording_init)
    return released


def orders(tmp_path):
    with open_catalog(tmp_path / "catalog.db") as catalog:
        return {o.key.product_key: o for o in catalog.find_orders(OrderFilter())}


def assert_verified(summary, fake, tmp_path):
    for result in summary.results:
        [path] = result.out_files
        assert hashlib.sha256(Path(path).read_bytes()).digest() == hashlib.sha256(
            content(result.scene.product_key, fake.size)).digest()


def test_twenty_products_are_downloaded_in_readiness_order_within_the_quota_and_the_rate(monkeypatch, tmp_path):
    # The declared budget (20 calls/s) leaves headroom under the provider's limit (50/s):
    # requests reserved 50 ms apart may still arrive closer together.
    order_provider.install(monkeypatch, rate=20.0)
    released = record_pace_releases(monkeypatch)
    with OrderApiFake(products=products(20), quota=8, min_interval=0.02) as fake:
        summary = run(fake, tmp_path)
    assert summary.failures == [] and summary.pending == []
    assert sorted(r.scene.product_key for r in summary.results) == sorted(fake.products)
    assert_verified(summary, fake, tmp_path)
    assert {p: fake.placements(p) for p in fake.products} == {p: 1 for p in fake.products}
    # The declared rate spaces the order API calls: measured where this process lets each call
    # through, under the pace's lock. (The fake's own arrival times also carry the scheduling
    # delays of both processes on a loaded machine, which no client-side spacing can remove; a
    # 429 it sends then is honoured, and nothing above is placed twice.)
    gaps = [b - a for a, b in zip(released, released[1:])]
    assert len(released) >= 2 * len(fake.products) and min(gaps) >= 1 / 20.0 - 1e-6
    ready, started = fake.times("ready"), fake.times("download")
    assert set(ready) == set(started) == set(fake.products)
    for product, when in started.items():
        assert 0 <= when - ready[product] < 2.0, f"{product} waited {when - ready[product]:.2f} s after it was ready"
    late = [(a, b) for a in ready for b in ready if ready[a] + 0.3 < ready[b] and started[a] > started[b]]
    assert late == [], "a product ready earlier was downloaded after one ready later"
    assert min(started.values()) < max(ready.values()), "downloads start while other orders are still pending"
    assert {o.state for o in orders(tmp_path).values()} == {"downloaded"}
    assert fake.quota_refusals >= 1  # the quota was reached, and waited for, not retried in a loop
    assert fake.quota_refusals <= 20


def test_polling_faster_than_the_provider_allows_gets_429s_that_are_honoured(monkeypatch, tmp_path):
    order_provider.install(monkeypatch, rate=None)
    with OrderApiFake(products=products(5, first=0.2, step=0.1), min_interval=0.05) as fake:
        summary = run(fake, tmp_path, activation_wait=0.05)
    assert fake.too_fast >= 1
    assert summary.failures == [] and len(summary.results) == 5
    assert {p: fake.placements(p) for p in fake.products} == {p: 1 for p in fake.products}


def test_an_expired_order_is_placed_again_once_and_one_expiring_twice_fails(monkeypatch, tmp_path):
    order_provider.install(monkeypatch)
    with OrderApiFake(products=products(4, first=0.2, step=0.1), expire_first={"p01": 1, "p02": 2}) as fake:
        summary = run(fake, tmp_path)
    assert sorted(r.scene.product_key for r in summary.results) == ["p00", "p01", "p03"]
    assert (fake.placements("p01"), fake.placements("p02"), fake.placements("p00")) == (2, 2, 1)
    [failure] = summary.failures
    assert failure.scene_id == "p02" and "expired again after 1 re-order" in str(failure.error)
    states = {k: (o.state, o.reorders) for k, o in orders(tmp_path).items()}
    assert states["p01"] == ("downloaded", 1) and states["p02"][0] == "failed"


def test_a_refused_order_fails_with_the_providers_reason_and_the_others_complete(monkeypatch, tmp_path):
    order_provider.install(monkeypatch)
    with OrderApiFake(products=products(3, first=0.2), refuse={"p01": "outside your subscription area"}) as fake:
        summary = run(fake, tmp_path)
        again = run(fake, tmp_path)
    [failure] = summary.failures
    assert failure.scene_id == "p01" and "outside your subscription area" in str(failure.error)
    assert failure.error.exit_code == 4
    assert len(summary.results) == 2 and orders(tmp_path)["p01"].state == "failed"
    assert [f.scene_id for f in again.failures] == ["p01"]
    # Refused once; the second run remembers the refusal instead of asking again.
    assert sum(1 for _, kind, p in fake.events if kind == "refused" and p == "p01") == 1


def test_orders_pending_at_the_timeout_are_reported_and_the_next_run_downloads_them(monkeypatch, tmp_path):
    order_provider.install(monkeypatch)
    with OrderApiFake(products={"p00": 0.1, "p01": 2.5}) as fake:
        first = run(fake, tmp_path, activation_timeout=1.0)
        assert [r.scene.product_key for r in first.results] == ["p00"] and first.failures == []
        assert [(p.scene.product_key, p.state) for p in first.pending] == [("p01", "requested")]
        assert orders(tmp_path)["p01"].state == "requested"
        second = run(fake, tmp_path, activation_timeout=10.0)
    assert [r.scene.product_key for r in second.results if not r.skipped] == ["p01"]
    assert fake.placements("p01") == 1 and fake.placements("p00") == 1
    assert orders(tmp_path)["p01"].state == "downloaded"
