"""Orders in the catalog: one contract for the in-memory fake and SpatiaLite, the 0004 migration
up, down and up again, and compare-and-set writes across two processes' connections."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from fakes import InMemoryCatalog
from sqlalchemy import inspect, text

from eoharvest.adapters.catalog import migrate, open_catalog
from eoharvest.adapters.catalog.postgis import open_postgis_catalog
from eoharvest.domain.catalog_location import CatalogUrl
from eoharvest.adapters.catalog.orders import orders as orders_table
from eoharvest.domain import orders as o

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(params=["memory", "spatialite", "postgis"])
def catalog(request, tmp_path):
    if request.param == "memory":
        repo = InMemoryCatalog()
    elif request.param == "spatialite":
        repo = open_catalog(tmp_path / "c.db")
    else:
        repo = open_postgis_catalog(CatalogUrl(request.getfixturevalue("postgis_url")))
    yield repo
    repo.close()


def intent(product="P1", selection="*", provider="usgs"):
    key = o.OrderKey(provider, product, selection)
    return o.new_intent(key, f"scene-{product}", now=NOW, owner="host:1", claimed_until=NOW + timedelta(minutes=5),
                        size=1234)  # fmt: skip


def test_an_order_round_trips_with_every_field(catalog):
    stored = catalog.create_order(intent())
    assert stored.id is not None and stored.version == 0
    placed = o.apply_status(stored, o.OrderStatus(o.REQUESTED, remote_id="26107136",
                                                  expires_at=NOW + timedelta(days=2)), NOW)  # fmt: skip
    written = catalog.update_order(placed)
    assert written == o.Order(**{**placed.__dict__, "version": 1})
    assert catalog.get_order(placed.key) == written
    assert catalog.order_by_id(written.id) == written


def test_a_second_order_for_the_same_key_is_refused_but_another_selection_is_a_new_order(catalog):
    assert catalog.create_order(intent()) is not None
    assert catalog.create_order(intent()) is None
    assert catalog.create_order(intent(selection="B4,B5")) is not None
    assert catalog.create_order(intent(provider="planet")) is not None
    assert len(catalog.find_orders(o.OrderFilter())) == 3


def test_a_write_from_a_stale_version_loses_and_changes_nothing(catalog):
    stored = catalog.create_order(intent())
    first = catalog.update_order(o.apply_status(stored, o.OrderStatus(o.REQUESTED, remote_id="A"), NOW))
    assert first is not None
    assert catalog.update_order(o.apply_status(stored, o.OrderStatus(o.FAILED, reason="late"), NOW)) is None
    assert catalog.get_order(stored.key).state == "requested"
    assert catalog.delete_order(stored) is False
    assert catalog.delete_order(first) is True and catalog.get_order(stored.key) is None


def test_orders_are_found_by_provider_state_and_product_and_counted_per_state(catalog):
    a = catalog.create_order(intent("A"))
    catalog.create_order(intent("B", provider="planet"))
    catalog.update_order(o.apply_status(a, o.OrderStatus(o.WAITING, reason="offline"), NOW))
    assert [x.key.product_key for x in catalog.find_orders(o.OrderFilter.create(states=["waiting"]))] == ["A"]
    assert [x.key.product_key for x in catalog.find_orders(o.OrderFilter.create(providers=["planet"]))] == ["B"]
    assert [x.key.product_key for x in catalog.find_orders(o.OrderFilter.create(product_keys=["A", "Z"]))] == ["A"]
    assert catalog.order_counts() == {**{s: 0 for s in o.ORDER_STATES}, "waiting": 1, "intent": 1}


def test_a_long_provider_reason_is_kept_clipped(catalog):
    stored = catalog.create_order(intent())
    failed = catalog.update_order(o.apply_status(stored, o.OrderStatus(o.FAILED, reason="x" * 5000), NOW))
    assert len(failed.last_error) == 2000


def test_two_connections_racing_for_one_order_have_exactly_one_winner(tmp_path):
    with open_catalog(tmp_path / "c.db") as one, open_catalog(tmp_path / "c.db") as two:
        stored = one.create_order(intent())
        seen_by_two = two.get_order(stored.key)
        assert one.update_order(o.apply_status(stored, o.OrderStatus(o.REQUESTED, remote_id="1"), NOW))
        assert two.update_order(o.apply_status(seen_by_two, o.OrderStatus(o.REQUESTED, remote_id="2"), NOW)) is None
        assert two.get_order(stored.key).remote_id == "1"


def _columns(conn):
    return {c["name"]: (str(c["type"]), c["nullable"]) for c in inspect(conn).get_columns("orders")}


def test_t15_the_orders_migration_goes_up_down_and_up_again_keeping_the_rest(tmp_path):
    with open_catalog(tmp_path / "c.db") as repo:
        stored = repo.create_order(intent())
        assert stored is not None
        with repo.reader.connect() as conn:
            created = _columns(conn)
        # The table the repository queries is the table the migration creates.
        assert set(created) == {c.name for c in orders_table.columns}
        assert all(created[c.name][1] == c.nullable for c in orders_table.columns)
        migrate.downgrade(repo.writer, "0002")
        with repo.reader.connect() as conn:
            assert not inspect(conn).has_table("orders")
            assert inspect(conn).has_table("search_state") and inspect(conn).has_table("scenes")
        migrate.upgrade(repo.writer)
        with repo.reader.connect() as conn:
            assert _columns(conn) == created
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == migrate.head_revision()
            assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
        assert repo.find_orders(o.OrderFilter()) == []
        assert repo.create_order(intent()) is not None
