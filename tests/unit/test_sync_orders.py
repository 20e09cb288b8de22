"""Daemon passes follow their provider's open orders, also those outside the pass's window."""

from datetime import datetime, timedelta, timezone

from fakes import FakeClock, FakeFetcher, FakeOrderingSource, InMemoryCatalog, make_scene

from eoharvest.application.downloading import SourceDownloader
from eoharvest.application.orders import OrderBook
from eoharvest.application.sync import SyncOptions
from eoharvest.application.sync_service import SyncService
from eoharvest.domain.orders import OrderKey
from eoharvest.domain.watch import WatchDefinition

T0 = datetime(2025, 8, 1, 13, tzinfo=timezone.utc)
AOI = {"type": "Polygon", "coordinates": [[[-80, 43], [-79, 43], [-79, 44], [-80, 44], [-80, 43]]]}


class World:
    def __init__(self, tmp_path, timeout=0.0, **source_options):
        self.catalog, self.clock = InMemoryCatalog(), FakeClock(T0 + timedelta(days=30))
        self.source = FakeOrderingSource(**source_options)
        self.book = OrderBook(lambda: self.catalog, self.clock, owner="host:1")
        self.fetcher = FakeFetcher()
        self.window: list = []
        options = SyncOptions(outdir=str(tmp_path), use_threads=False, activation_wait=1, activation_timeout=timeout)
        self.service = SyncService(self.catalog, lambda definition, window: list(self.window), clock=self.clock,
                                   options=options, bind=self.bind)  # fmt: skip
        self.catalog.save_search("s", WatchDefinition("fake", ("Sentinel-2",), AOI, timedelta(hours=1)).to_json())

    def bind(self, scene):
        return scene.bind_downloader(lambda s, **extra: SourceDownloader(self.source, s, self.fetcher, self.book, **extra))

    def scene(self, scene_id, day):
        return self.bind(make_scene(scene_id, acq_date=T0 + timedelta(days=day)))

    def state(self, product):
        return self.catalog.get_order(OrderKey("fake", product)).state


def test_a_waiting_order_outside_the_window_is_downloaded_by_the_pass_after_it_comes_online(tmp_path):
    world = World(tmp_path, need={"old": "wait", "new": "none"})
    world.window = [world.scene("old", 0)]
    first = world.service.run_now("s")
    assert [p.scene_id for p in first.result.report.pending] == ["old"] and world.state("old") == "waiting"
    # The offline product is a waiting order, not a failure: the pass succeeds and the
    # watermark moves past it.
    assert first.status == "ok" and first.result.state.watermark == T0
    assert world.catalog.search_states()["s"].failures == 0
    world.window = [world.scene("new", 10)]  # the window moved on: "old" is no longer searched
    world.source.online.add("old")
    second = world.service.run_now("s")
    assert second.status == "ok"
    assert sorted(r.scene.scene_id for r in second.result.report.results) == ["new", "old"]
    assert second.result.report.downloaded == 2 and world.state("old") == "downloaded"


def test_a_followed_order_that_fails_does_not_hold_back_the_watermark(tmp_path):
    world = World(tmp_path, timeout=60, need={"new": "none"}, ready_after={"old": 10**6})
    world.window = [world.scene("old", 0)]
    world.service.run_now("s")
    assert world.state("old") == "pending"
    world.source.ready_after["old"] = 1
    world.source.expire["old"] = 5  # it expires, is placed again once, and expires again
    world.window = [world.scene("new", 10)]
    second = world.service.run_now("s")
    assert [f.scene_id for f in second.result.report.failures] == ["old"] and world.state("old") == "failed"
    assert second.result.state.watermark == T0 + timedelta(days=10)


def test_a_catalog_only_search_follows_no_orders(tmp_path):
    world = World(tmp_path, need={"old": "wait"})
    world.window = [world.scene("old", 0)]
    world.service.run_now("s")
    definition = WatchDefinition("fake", ("Sentinel-2",), AOI, timedelta(hours=1), download=False)
    world.catalog.save_search("s", definition.to_json())
    world.source.online.add("old")
    world.window = []
    world.service.run_now("s")
    assert world.state("old") == "waiting" and world.source.polls["old"] == 0
