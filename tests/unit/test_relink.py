"""Relinker: a queued file's link asked of its provider again (a ready order's files, or the
source's descriptors), matched by the file name the job records."""

from __future__ import annotations

from fakes import FakeClock, FakeOrderingSource, FakeSceneSource, InMemoryCatalog, make_scene

from eoharvest.application.orders import OrderBook
from eoharvest.application.relink import Relinker, needs_relink
from eoharvest.domain.jobs import ClaimedJob
from eoharvest.domain.orders import READY, OrderKey


def job(name, provider="fake", scene_id="S1"):
    return ClaimedJob(1, 1, 2, "host:2:t", provider, scene_id, scene_id, name, "https://x.invalid/f?***", None, None)


def test_only_a_missing_or_masked_link_is_asked_again():
    assert needs_relink(None) and needs_relink("") and needs_relink("https://h/f.tif?***")
    assert not needs_relink("https://h/f.tif?x=1")


def test_a_plain_source_gives_the_file_of_that_name_or_nothing():
    catalog, source = InMemoryCatalog(), FakeSceneSource()
    catalog.upsert_scenes([make_scene("S1")])
    relink = Relinker(lambda: catalog, lambda provider: source)
    assert relink(job("S1.zip")).url == "https://fake.invalid/S1.zip"
    assert relink(job("other.zip")) is None
    assert relink(job("S1.zip", scene_id="gone")) is None


def test_an_ordered_product_is_linked_through_its_ready_order():
    catalog, clock = InMemoryCatalog(), FakeClock()
    source = FakeOrderingSource(ready_after={"S1": 1})
    book = OrderBook(lambda: catalog, clock, owner="host:1")
    scene = make_scene("S1")
    book.check(source, scene, None)  # placed
    book.check(source, scene, None)  # polled: ready
    order = catalog.get_order(OrderKey("fake", "S1"))
    assert order.state == READY
    descriptor = Relinker(lambda: catalog, lambda provider: source, book)(job("S1.zip"))
    assert descriptor.url == f"https://fake.invalid/{order.label}/S1.zip"
