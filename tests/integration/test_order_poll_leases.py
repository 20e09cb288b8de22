"""Order polls claimed under a lease with a due time (revision 0010): however many daemons follow
one order, each with its own catalog connection, the provider is polled once per due time, and a
poller that dies holding the lease is replaced when the lease runs out."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from fakes import FakeClock, FakeOrderingSource, InMemoryCatalog, make_scene

from eoharvest.adapters.catalog import open_catalog
from eoharvest.adapters.catalog.postgis import open_postgis_catalog
from eoharvest.application.orders import OrderBook
from eoharvest.domain import orders as o
from eoharvest.domain.catalog_location import CatalogUrl

EVERY = 30.0
LEASE = 60.0


@pytest.fixture(params=["memory", "spatialite", "postgis"])
def catalogs(request, tmp_path):
    """Three catalog connections to one catalog, one per daemon."""
    if request.param == "memory":
        shared = InMemoryCatalog()
        opened = [shared] * 3
    elif request.param == "spatialite":
        opened = [open_catalog(tmp_path / "c.db") for _ in range(3)]
    else:
        url = CatalogUrl(request.getfixturevalue("postgis_url"))
        opened = [open_postgis_catalog(url) for _ in range(3)]
    yield opened
    for catalog in opened:
        catalog.close()


class Daemons:
    def __init__(self, catalogs, alive=lambda owner: True):
        self.clock = FakeClock()
        self.source = FakeOrderingSource(ready_after={"P": 10**6})  # pending for ever
        self.scene = make_scene("P")
        self.books = [OrderBook(lambda c=c: c, self.clock, owner=f"host-{i}:{100 + i}", owner_alive=alive,
                                poll_every=EVERY, poll_lease_seconds=LEASE)  # fmt: skip
                      for i, c in enumerate(catalogs)]
        assert self.books[0].check(self.source, self.scene, None).order_state == o.REQUESTED

    @property
    def polls(self) -> int:
        return self.source.polls["P"]

    def all_check(self, rounds: int = 3) -> None:
        """Every daemon checks the order ``rounds`` times, all at once."""
        start = threading.Barrier(len(self.books))
        errors: list[BaseException] = []

        def run(book):
            try:
                start.wait(timeout=10)
                for _ in range(rounds):
                    # while one polls, the others report what is stored (requested, then pending)
                    assert book.check(self.source, self.scene, None).order_state in (o.REQUESTED, o.PENDING)
            except BaseException as error:  # noqa: BLE001 - reported below
                errors.append(error)

        threads = [threading.Thread(target=run, args=(book,)) for book in self.books]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert not errors and not any(t.is_alive() for t in threads)

    def order(self) -> o.Order:
        return self.books[0].catalog.get_order(o.OrderKey("fake", "P"))


def test_three_daemons_poll_an_order_once_per_due_time(catalogs):
    daemons = Daemons(catalogs)
    daemons.all_check()
    assert daemons.polls == 0  # placed just now: its first poll is due EVERY seconds later
    for due in range(1, 5):
        daemons.clock.advance(EVERY / 2)
        daemons.all_check()
        assert daemons.polls == due - 1  # not due yet: everybody reports what is stored
        daemons.clock.advance(EVERY / 2)
        daemons.all_check()
        assert daemons.polls == due
    order = daemons.order()
    assert order.polls == 4 and order.poll_owner is None and order.poll_until is None
    assert order.next_poll_at == daemons.clock.now() + timedelta(seconds=EVERY)


def test_one_daemon_after_another_does_not_poll_again_before_the_due_time(catalogs):
    # Compare-and-set alone let each daemon that read the order after the last poll ask again.
    daemons = Daemons(catalogs)
    daemons.clock.advance(EVERY)
    for book in daemons.books:
        book.check(daemons.source, daemons.scene, None)
    assert daemons.polls == 1


def test_a_poller_that_died_holding_the_lease_is_replaced_when_the_lease_runs_out(catalogs):
    daemons = Daemons(catalogs)
    daemons.clock.advance(EVERY)
    now = daemons.clock.now()
    # A daemon on another machine took the poll and was killed before it asked the provider.
    held = catalogs[0].claim_order_poll(daemons.order(), "elsewhere:7", now, now + timedelta(seconds=LEASE))
    assert held is not None and held.poll_owner == "elsewhere:7"
    assert catalogs[1].claim_order_poll(daemons.order(), "host-1:101", now, now + timedelta(seconds=LEASE)) is None
    daemons.all_check()
    assert daemons.polls == 0  # its lease is live: nobody else asks
    daemons.clock.advance(LEASE - 1)
    daemons.all_check()
    assert daemons.polls == 0
    daemons.clock.advance(1)
    daemons.all_check()
    assert daemons.polls == 1 and daemons.order().poll_owner is None


def test_the_lease_of_a_dead_poller_of_this_host_is_taken_over_at_once(catalogs):
    daemons = Daemons(catalogs, alive=lambda owner: owner != "host-9:9")
    daemons.clock.advance(EVERY)
    now = daemons.clock.now()
    assert catalogs[0].claim_order_poll(daemons.order(), "host-9:9", now, now + timedelta(seconds=LEASE))
    daemons.all_check()
    assert daemons.polls == 1


def test_a_failed_poll_ends_the_lease_and_keeps_the_due_time(catalogs):
    daemons = Daemons(catalogs)
    daemons.clock.advance(EVERY)
    due = daemons.order().next_poll_at

    def broken(request, ref):
        raise ConnectionError("the provider hung up")

    daemons.source.poll_order, real = broken, daemons.source.poll_order
    with pytest.raises(ConnectionError):
        daemons.books[0].check(daemons.source, daemons.scene, None)
    order = daemons.order()
    assert (order.poll_owner, order.poll_until, order.next_poll_at) == (None, None, due)
    daemons.source.poll_order = real
    daemons.books[1].check(daemons.source, daemons.scene, None)
    assert daemons.polls == 1


@pytest.fixture
def catalog(sql_catalog):
    return sql_catalog


def test_revision_0010_goes_down_and_up_keeping_the_orders_and_search_states(catalog):
    from sqlalchemy import inspect, text

    from eoharvest.adapters.catalog import migrate

    clock = FakeClock()
    book = OrderBook(lambda: catalog, clock, owner="host:1", poll_every=EVERY)
    source = FakeOrderingSource(ready_after={"P": 10**6})
    book.check(source, make_scene("P"), None)
    clock.advance(EVERY)
    now = clock.now()
    leased = catalog.claim_order_poll(catalog.get_order(o.OrderKey("fake", "P")), "host:2", now, now + timedelta(seconds=9))
    assert leased.poll_owner == "host:2" and leased.next_poll_at is not None

    from eoharvest.domain.watch import SearchState

    catalog.save_search("alps", {"platforms": ["Sentinel-2"]})
    assert catalog.put_search_state("alps", SearchState(last_found=4, last_downloaded=1, last_queued=3))

    def columns():
        with catalog.reader.connect() as conn:
            return {c["name"] for c in inspect(conn).get_columns("orders")} | {
                c["name"] for c in inspect(conn).get_columns("search_state")}

    migrate.downgrade(catalog.writer, "0009_scale_out")
    assert not {"poll_owner", "poll_until", "next_poll_at", "last_queued"} & columns()
    with catalog.reader.connect() as conn:
        assert conn.execute(text("SELECT label, state, version FROM orders")).all() == [
            (leased.label, o.REQUESTED, leased.version)]  # fmt: skip
    migrate.upgrade(catalog.writer)
    assert {"poll_owner", "poll_until", "next_poll_at", "last_queued"} <= columns()
    kept = catalog.search_states()["alps"]
    assert (kept.last_found, kept.last_downloaded, kept.last_queued) == (4, 1, 0)
    back = catalog.get_order(leased.key)
    # The rows are kept; a lease and due time lost by going back are simply free and due.
    assert back == o.Order(**{**leased.__dict__, "poll_owner": None, "poll_until": None, "next_poll_at": None})
    assert catalog.claim_order_poll(back, "host:3", now, now + timedelta(seconds=9)).poll_owner == "host:3"
