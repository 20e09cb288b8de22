"""An order whose files a daemon pass queued (the download queue of a shared catalog) becomes
downloaded only when a queue worker verifies its last file, whichever daemon's worker that is;
a queued file that fails leaves the order ready, and the next pass fetches it through the order
(polled first: an order whose link ran out is placed again). Loopback ordering API
(tests/fakes/order_server.py) through the test-only provider package "orderfake"."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from fakes import order_provider
from fakes.order_server import OrderApiFake, content

from eoharvest.application.downloading import download_all
from eoharvest.domain import orders as o
from eoharvest.domain.errors import ProviderResponseError
from eoharvest.entrypoints.bootstrap import build
from eoharvest.entrypoints.config import load_settings
from eoharvest.entrypoints.daemon_queue import QueueSettings, SharedDaemon
from eoharvest.entrypoints.sync_wiring import ProviderSearches

AOI = (-79.4, 43.8, -79.3, 43.9)
PRODUCT = "p00"


@pytest.fixture
def fake(monkeypatch):
    order_provider.install(monkeypatch)
    with OrderApiFake(products={PRODUCT: 0.0}) as server:
        yield server


class Daemon:
    """One daemon over the catalog: its services, queue and workers (not started: the test
    claims and runs jobs itself)."""

    def __init__(self, fake, location, archive):
        self.archive = archive
        settings = load_settings({"stac_url": fake.url, "catalog_path": location, "download_dir": archive},
                                 environ={})  # fmt: skip
        self.services = build(settings)
        self.shared = SharedDaemon(self.services, QueueSettings(workers=1, lease_seconds=30), queued_downloads=True)

    def run_pass(self):
        """What a pass does with the search's scenes: orders them and queues their files."""
        api = ProviderSearches(self.services, self.shared.fetcher).api(order_provider.NAME)
        scenes = list(api.scenes(platformname=["Sentinel-2"], aoi=AOI))
        return download_all(scenes, str(self.archive), skip_error=True, clock=self.services.clock,
                            activation_wait=0.05, activation_timeout=30)  # fmt: skip

    def work(self) -> int:
        """Run every due job in this daemon's worker; how many it ran."""
        ran = 0
        while (job := self.shared.queue.claim(self.shared.identity.owner, 30)) is not None:
            self.shared.workers.run(job)
            ran += 1
        return ran

    def order(self):
        (order,) = self.services.catalog().find_orders(o.OrderFilter())
        return order

    def close(self):
        self.services.close()


@pytest.fixture
def daemons(fake, catalog_location, tmp_path):
    made = [Daemon(fake, catalog_location, tmp_path / "archive") for _ in range(2)]
    yield made
    for daemon in made:
        daemon.close()


def verified(daemon) -> bool:
    path = Path(daemon.archive) / PRODUCT / f"{PRODUCT}.tif"
    return path.is_file() and hashlib.sha256(path.read_bytes()).digest() == hashlib.sha256(
        content(PRODUCT, 20_000)).digest()


def test_the_order_stays_ready_while_queued_and_another_daemons_worker_completes_it(fake, daemons):
    a, b = daemons
    summary = a.run_pass()
    assert [r.queued for r in summary.results] == [1] and not summary.failures
    assert a.order().state == o.READY  # queued, not downloaded: nothing is in the archive yet
    assert a.shared.queue.counts() == {"queued": 1}
    assert b.work() == 1  # daemon B's worker fetches it (B never saw the order's selection)
    assert verified(a)
    assert a.order().state == o.DOWNLOADED
    again = a.run_pass()  # the next pass: nothing ordered, queued or fetched again
    assert [r.skipped for r in again.results] == [True]
    assert fake.placements(PRODUCT) == 1 and a.shared.queue.counts() == {"available": 1}


def test_a_failed_job_leaves_the_order_ready_and_the_next_pass_fetches_it_through_the_order(fake, daemons):
    a, b = daemons
    a.run_pass()
    job = b.shared.queue.claim(b.shared.identity.owner, 30)
    assert b.shared.queue.fail(job, ProviderResponseError("502 from the file host"), retry=False)
    assert a.order().state == o.READY and b.work() == 0
    summary = a.run_pass()  # the order is followed again: its file is queued again
    assert [r.queued for r in summary.results] == [1] and a.order().state == o.READY
    assert b.work() == 1 and verified(a)
    assert a.order().state == o.DOWNLOADED
    assert fake.placements(PRODUCT) == 1  # the provider still had it ready: not ordered again


def test_a_job_that_failed_because_the_order_expired_gets_the_product_ordered_again(fake, daemons):
    a, b = daemons
    a.run_pass()
    (placed,) = fake.orders.values()
    placed.state = "expired"  # the provider's download window passed: the file host answers 410
    b.shared.queue.max_attempts = 1  # its last attempt
    assert b.work() == 1
    assert b.shared.queue.counts() == {"failed": 1} and a.order().state == o.READY
    a.run_pass()  # polls the ready order first (a queued file of it failed): expired, placed again
    assert fake.placements(PRODUCT) == 2
    assert b.work() == 1 and verified(a)
    order = a.order()
    assert order.state == o.DOWNLOADED and order.reorders == 1


def test_a_pass_closes_a_ready_order_whose_files_are_all_in_the_archive(fake, daemons):
    a, b = daemons
    a.run_pass()
    b.shared.workers.on_completed = None  # the worker's daemon died right after completing it
    assert b.work() == 1 and a.order().state == o.READY
    fake.orders.clear()  # the provider forgot it: asking about it or its files would fail
    summary = a.run_pass()
    assert [r.skipped for r in summary.results] == [True] and not summary.failures
    assert a.order().state == o.DOWNLOADED and fake.placements(PRODUCT) == 0


def test_an_in_process_download_marks_the_order_downloaded_as_before(fake, tmp_path):
    settings = load_settings({"stac_url": fake.url, "catalog_path": tmp_path / "c.db",
                              "download_dir": tmp_path / "archive"}, environ={})  # fmt: skip
    with build(settings) as services:
        source = services.connect(order_provider.NAME)
        scenes = list(services.sensor_api(source).scenes(platformname=["Sentinel-2"], aoi=AOI))
        summary = download_all(scenes, str(tmp_path / "archive"), skip_error=True, clock=services.clock,
                               activation_wait=0.05, activation_timeout=30)  # fmt: skip
        assert [r.queued for r in summary.results] == [0] and not summary.failures
        (order,) = services.catalog().find_orders(o.OrderFilter())
        assert order.state == o.DOWNLOADED
