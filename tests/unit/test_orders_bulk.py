"""Orders in bulk downloads: the order book over an in-memory catalog and ordering source, driven
through download_all and the reference Downloader (activate / download)."""

from __future__ import annotations

import pytest
from fakes import FakeClock, FakeFetcher, FakeOrderingSource, InMemoryCatalog, make_scene

from eoharvest import download_all
from eoharvest.application.downloading import SourceDownloader
from eoharvest.application.orders import OrderBook
from eoharvest.domain import orders as o
from eoharvest.domain.errors import DownloadError, InputError, ProviderResponseError

BOTH_MODES = pytest.mark.parametrize("use_threads", [False, True], ids=["sequential", "threaded"])


class World:
    """One catalog and ordering source; ``book(owner)`` is one process's order book."""

    def __init__(self, **source_options):
        self.catalog = InMemoryCatalog()
        self.source = FakeOrderingSource(**source_options)
        self.fetcher = FakeFetcher()
        self.clock = FakeClock()
        self.alive = {"host:1"}

    def book(self, owner="host:1"):
        self.alive.add(owner)
        return OrderBook(lambda: self.catalog, self.clock, owner=owner, owner_alive=lambda who: who in self.alive)

    def scenes(self, *ids, book=None):
        book = book or self.book()

        def factory(scene, **extra):
            return SourceDownloader(self.source, scene, self.fetcher, book, **extra)

        return [make_scene(i).bind_downloader(factory) for i in ids]

    def run(self, *ids, book=None, **options):
        options.setdefault("clock", self.clock)
        options.setdefault("skip_error", True)
        return download_all(self.scenes(*ids, book=book), "out", **options)

    def order(self, product, selection="*"):
        return self.catalog.get_order(o.OrderKey("fake", product, selection))


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


@BOTH_MODES
def test_every_product_is_ordered_before_the_first_download(use_threads):
    world = World(ready_after={"a": 2, "b": 1, "c": 3})
    summary = world.run("a", "b", "c", use_threads=use_threads, activation_wait=5)
    assert sorted(r.scene.scene_id for r in summary.results) == ["a", "b", "c"]
    assert summary.failures == [] and summary.pending == []
    first_download = next(i for i, (kind, _) in enumerate(world.source.events) if kind == "ready")
    assert [kind for kind, _ in world.source.events[:first_download]] == ["placed"] * 3
    assert {world.order(p).state for p in "abc"} == {"downloaded"}
    assert [world.source.placements(p) for p in "abc"] == [1, 1, 1]


@BOTH_MODES
def test_products_are_downloaded_in_the_order_they_become_ready(use_threads):
    world = World(ready_after={"slow": 6, "mid": 3, "fast": 1})
    summary = world.run("slow", "mid", "fast", use_threads=use_threads, activation_wait=2)
    assert [r.scene.scene_id for r in summary.results] == ["fast", "mid", "slow"]
    assert world.fetcher.calls == ["fast", "mid", "slow"]


def test_orders_are_polled_with_growing_intervals():
    world = World(ready_after={"a": 8})
    world.run("a", use_threads=False, activation_wait=2)
    # Placed, then 8 polls: 2 s, then 1.5 times longer each time, capped at 8 x activation_wait.
    assert sum(world.clock.sleeps) == pytest.approx(2 + 3 + 4.5 + 6.75 + 10.125 + 15.1875 + 16 + 16, abs=0.6)


def test_the_providers_retry_after_sets_the_next_poll():
    world = World(ready_after={"a": 2}, retry_after=40)
    world.run("a", use_threads=False, activation_wait=2)
    assert sum(world.clock.sleeps) == pytest.approx(2 + 40, abs=0.5)


@BOTH_MODES
def test_an_order_not_ready_at_the_timeout_is_pending_not_failed_and_the_next_run_downloads_it(use_threads):
    world = World(ready_after={"a": 50})
    first = world.run("a", use_threads=use_threads, activation_wait=10, activation_timeout=30)
    assert first.results == [] and first.failures == [] and first.ok
    [pending] = first.pending
    assert (pending.scene_id, pending.state) == ("a", "pending") and "next run" in pending.reason
    assert world.order("a").state == "pending"
    world.source.ready_after["a"] = 0
    second = world.run("a", use_threads=use_threads, activation_wait=10)
    assert [r.scene.scene_id for r in second.results] == ["a"] and second.pending == []
    assert world.source.placements("a") == 1 and world.order("a").state == "downloaded"


def test_without_skip_error_a_pending_order_does_not_raise():
    world = World(ready_after={"a": 50})
    summary = world.run("a", use_threads=False, skip_error=False, activation_timeout=0)
    assert [p.scene_id for p in summary.pending] == ["a"] and world.source.placements("a") == 1


@BOTH_MODES
def test_a_product_the_provider_cannot_order_is_waiting_and_pending_at_once_without_polls(use_threads):
    world = World(need={"off": "wait", "on": "none"})
    summary = world.run("off", "on", use_threads=use_threads, activation_timeout=3600)
    assert [p.state for p in summary.pending] == ["waiting"] and world.clock.slept == 0
    assert world.source.polls["off"] == 0
    assert world.order("off").state == "waiting" and "offline" in world.order("off").last_error
    world.source.online.add("off")
    again = world.run("off", use_threads=use_threads)
    assert [r.scene.scene_id for r in again.results] == ["off"] and world.order("off").state == "downloaded"


@BOTH_MODES
def test_a_refused_order_fails_with_the_providers_reason_and_is_not_placed_again(use_threads):
    world = World(refuse={"bad": "not in your subscription"})
    summary = world.run("bad", "good", use_threads=use_threads)
    [failure] = summary.failures
    assert failure.scene_id == "bad" and isinstance(failure.error, ProviderResponseError)
    assert "not in your subscription" in str(failure.error)
    assert [r.scene.scene_id for r in summary.results] == ["good"]
    assert world.order("bad").state == "failed"
    world.run("bad", use_threads=use_threads)
    assert world.source.place_calls.count("bad") == 1


def test_a_refused_order_raises_download_error_without_skip_error():
    world = World(refuse={"bad": "not in your subscription"})
    with pytest.raises(DownloadError, match="not in your subscription"):
        world.run("bad", use_threads=False, skip_error=False)


def test_an_expired_order_is_placed_again_once():
    world = World(expire={"a": 1})
    summary = world.run("a", use_threads=False)
    assert [r.scene.scene_id for r in summary.results] == ["a"]
    assert world.source.placements("a") == 2
    order = world.order("a")
    assert (order.state, order.reorders, order.attempts) == ("downloaded", 1, 2)


def test_an_order_that_expires_twice_fails_without_a_third_placement():
    world = World(expire={"a": 5})
    summary = world.run("a", use_threads=False)
    [failure] = summary.failures
    assert "expired again after 1 re-order" in str(failure.error)
    assert world.source.placements("a") == 2 and world.order("a").state == "failed"


def test_an_intent_left_by_a_dead_process_is_found_at_the_provider_not_placed_again():
    world = World()
    dead = world.book("host:99")
    scene = world.scenes("a", book=dead)[0]
    # The dead process committed its intent and the provider accepted the order; then it died.
    intent = o.new_intent(o.OrderKey("fake", "a"), "a", now=world.clock.now(), owner="host:99",
                          claimed_until=world.clock.now().replace(year=2100))  # fmt: skip
    world.catalog.create_order(intent)
    world.source.place_order(o.OrderRequest(scene, None, intent.label))
    world.alive.discard("host:99")
    summary = world.run("a", use_threads=False)
    assert [r.scene.scene_id for r in summary.results] == ["a"]
    assert world.source.placements("a") == 1 and world.source.finds == [intent.label]


def test_an_intent_abandoned_before_the_provider_heard_of_it_is_placed_after_the_lookup():
    world = World()
    intent = o.new_intent(o.OrderKey("fake", "a"), "a", now=world.clock.now(), owner="host:99",
                          claimed_until=world.clock.now())  # fmt: skip
    world.catalog.create_order(intent)
    world.alive.add("host:99")  # alive, but its claim ran out
    summary = world.run("a", use_threads=False)
    assert len(summary.results) == 1 and world.source.finds == [intent.label]
    assert world.source.placements("a") == 1


def test_an_intent_being_placed_by_a_live_process_is_left_alone():
    world = World()
    intent = o.new_intent(o.OrderKey("fake", "a"), "a", now=world.clock.now(), owner="host:2",
                          claimed_until=world.clock.now().replace(year=2100))  # fmt: skip
    world.catalog.create_order(intent)
    world.alive.add("host:2")
    summary = world.run("a", use_threads=False, activation_timeout=5, activation_wait=1)
    assert [p.state for p in summary.pending] == ["intent"] and "being placed by host:2" in summary.pending[0].reason
    assert world.source.place_calls == [] and world.source.finds == []


@BOTH_MODES
def test_a_full_quota_defers_placements_until_a_download_frees_room(use_threads):
    world = World(quota=2, ready_after={p: 2 for p in "abcde"})
    summary = world.run(*"abcde", use_threads=use_threads, activation_wait=1)
    assert sorted(r.scene.scene_id for r in summary.results) == list("abcde")
    assert [world.source.placements(p) for p in "abcde"] == [1] * 5
    # One refusal blocks placing at the provider until a download finished (or a minute passed).
    assert world.source.quota_refusals <= 4


def test_with_ordering_off_nothing_is_placed_and_the_products_are_pending():
    world = World()
    summary = world.run("a", "b", use_threads=False, order=False)
    assert [(p.scene_id, p.state) for p in summary.pending] == [("a", "none"), ("b", "none")]
    assert world.source.place_calls == [] and world.catalog.orders == {}
    assert "no order placed" in summary.pending[0].reason


def test_with_ordering_off_placed_orders_are_still_followed():
    world = World(ready_after={"a": 100})
    world.run("a", use_threads=False, activation_timeout=0)
    world.source.ready_after["a"] = 0
    summary = world.run("a", use_threads=False, order=False)
    assert [r.scene.scene_id for r in summary.results] == ["a"]


def test_calls_to_the_order_api_are_spaced_to_the_declared_rate():
    world = World(rate=2.0, ready_after={p: 1 for p in "abc"})
    world.run("a", "b", "c", use_threads=False, activation_wait=0.1)
    # 3 placements + 3 polls + 3 descriptor look-ups at 2 per second: at least 4 s of spacing.
    assert world.clock.slept >= 4.0 - 1e-6


def test_activate_places_the_order_and_reports_readiness_and_download_fetches_it():
    world = World(ready_after={"a": 2})
    [scene] = world.scenes("a")
    downloader = scene.downloader()
    assert downloader.activate() is False and world.order("a").state == "requested"
    assert downloader.activate() is False and world.order("a").state == "pending"
    assert downloader.activate() is True and world.order("a").state == "ready"
    result = downloader.download("out")
    assert [p.rsplit("/", 1)[-1] for p in result.out_files] == ["a.zip"]
    assert world.order("a").state == "downloaded" and world.source.placements("a") == 1


def test_download_before_the_order_is_placed_or_ready_is_refused_with_what_to_do():
    world = World(ready_after={"a": 5})
    [scene] = world.scenes("a")
    with pytest.raises(InputError, match="must be ordered at fake"):
        scene.downloader().download("out")
    scene.downloader().activate()
    with pytest.raises(ProviderResponseError, match="is requested, not ready"):
        scene.downloader().download("out")


def test_asset_selections_are_separate_orders():
    world = World()
    world.source.capabilities = world.source.capabilities.__class__(ordering=True, asset_selection=True)
    [scene] = world.scenes("a")
    assert scene.downloader(assets=["B4", "B3"]).activate() is False
    assert scene.downloader(assets=["B3", "B4"]).activate() is True
    assert scene.downloader().activate() is False
    assert {x.key.selection for x in world.catalog.orders.values()} == {"B3,B4", "*"}


def test_cancel_removes_the_local_order_and_the_remote_one_where_the_provider_can():
    world = World(cancel=True, ready_after={"a": 9})
    world.catalog.upsert_scenes([make_scene("a")])
    world.run("a", use_threads=False, activation_timeout=0)
    outcome = world.book().cancel(world.order("a"), world.source)
    assert outcome.remote == "removed at fake" and world.order("a") is None
    assert len(world.source.cancelled) == 1


def test_cancel_says_so_when_the_provider_cannot_cancel():
    world = World(ready_after={"a": 9})
    world.run("a", use_threads=False, activation_timeout=0)
    outcome = world.book().cancel(world.order("a"), world.source)
    assert "fake cannot cancel orders" in outcome.remote and world.order("a") is None
    assert world.source.cancelled == []


def test_a_ready_order_from_an_earlier_run_is_asked_again_before_its_files_are_fetched():
    world = World(ready_after={"a": 1})
    [scene] = world.scenes("a")
    downloader = scene.downloader()
    downloader.activate()
    assert downloader.activate() is True and world.source.polls["a"] == 1
    assert downloader.activate() is True and world.source.polls["a"] == 1  # seen ready just now
    world.clock.advance(3600)
    world.source.expire["a"] = 1
    world.source.placed[world.order("a").label].polls = 0  # the provider's link ran out meanwhile
    assert downloader.activate() is False
    assert world.source.polls["a"] == 2 and world.source.placements("a") == 2 and world.order("a").reorders == 1


def test_cancelling_an_intent_left_by_a_dead_run_cancels_what_the_provider_has_under_its_label():
    world = World(cancel=True)
    [scene] = world.scenes("a")
    world.catalog.upsert_scenes([make_scene("a")])
    intent = o.new_intent(o.OrderKey("fake", "a"), "a", now=world.clock.now(), owner="host:99",
                          claimed_until=world.clock.now())  # fmt: skip
    world.catalog.create_order(intent)
    world.source.place_order(o.OrderRequest(scene, None, intent.label))  # accepted; then the run died
    outcome = world.book().cancel(world.order("a"), world.source)
    assert outcome.remote == "removed at fake" and world.source.cancelled == [intent.label]
    assert world.order("a") is None and world.source.placed == {}


def test_the_preview_says_what_a_run_would_do_without_asking_the_provider():
    world = World(need={"online": "none", "offline": "wait"}, refuse={"bad": "no"}, ready_after={"slow": 9})
    world.run("bad", "slow", use_threads=False, activation_timeout=0)
    calls = (list(world.source.place_calls), dict(world.source.polls))
    book = world.book()
    actions = {i: book.preview(world.source, make_scene(i), None).action for i in ("online", "offline", "new", "bad", "slow")}
    assert actions == {"online": "download", "offline": "wait", "new": "order", "bad": "failed", "slow": "follow"}
    assert book.preview(world.source, make_scene("new"), None, place=False).action == "not ordered"
    assert (list(world.source.place_calls), dict(world.source.polls)) == calls



def test_two_processes_polling_one_order_at_once_ask_the_provider_once():
    """Daemons sharing a catalog read an order at the same moment: the poll is claimed with a
    compare-and-set on its version, so one asks the provider and the other reports its answer."""
    world = World(ready_after={"S2A_1": 5})
    first, second = world.book("host:1"), world.book("host:2")
    scene = world.scenes("S2A_1", book=first)[0]
    assert not first.check(world.source, scene, None).ready  # placed
    polls = world.source.polls["S2A_1"]
    read_by_both = world.order("S2A_1")
    assert not first.check(world.source, scene, None).ready  # the first process polls
    assert world.source.polls["S2A_1"] == polls + 1
    # The second process goes on with the order as it read it before the first one's poll.
    outcome = second._poll(world.source, scene, read_by_both)
    assert world.source.polls["S2A_1"] == polls + 1
    assert not outcome.ready and outcome.order_state == world.order("S2A_1").state
