"""The order state machine (domain/orders.py): pure transitions, illegal moves refused."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from eoharvest.domain import orders as o
from eoharvest.domain.errors import CatalogError, InputError

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)
KEY = o.OrderKey("usgs", "LC08_L2SP_X", o.WHOLE_PRODUCT)


def intent(**kw):
    return o.new_intent(KEY, "LC08_X", now=NOW, owner="host:1", claimed_until=NOW + timedelta(minutes=5), **kw)


def test_the_selection_is_sorted_unique_asset_names_or_the_whole_product():
    assert o.selection_of(None) == "*"
    assert o.selection_of(["B04", "visual", "B04"]) == "B04,visual"
    assert o.selection_of(("visual", "B04")) == o.selection_of(["B04", "visual"])
    assert o.assets_of("B04,visual") == ("B04", "visual") and o.assets_of("*") is None


@pytest.mark.parametrize("bad", [[], [""], ["a,b"], ["*"]])
def test_an_unusable_asset_selection_is_an_input_error_naming_it(bad):
    with pytest.raises(InputError, match="asset selection"):
        o.selection_of(bad)


def test_labels_are_stable_per_key_and_generation_and_differ_otherwise():
    assert o.order_label(KEY) == o.order_label(o.OrderKey("usgs", "LC08_L2SP_X"))
    assert o.order_label(KEY) != o.order_label(KEY, 1)
    assert o.order_label(KEY) != o.order_label(o.OrderKey("usgs", "LC08_L2SP_X", "B4"))
    assert len(o.order_label(KEY)) <= 128


def test_an_accepted_placement_records_the_provider_id_and_releases_the_claim():
    placed = o.apply_status(intent(), o.OrderStatus(o.REQUESTED, remote_id="26107136"), NOW)
    assert (placed.state, placed.remote_id, placed.attempts, placed.requested_at) == ("requested", "26107136", 1, NOW)
    assert placed.owner is None and placed.claimed_until is None and placed.polls == 0


def test_a_placement_not_accepted_now_stays_an_intent_with_the_reason_and_no_attempt_counted():
    later = o.apply_status(intent(), o.OrderStatus(o.INTENT, reason="order quota of 8 reached", quota=True), NOW)
    assert (later.state, later.attempts, later.last_error, later.owner) == ("intent", 0, "order quota of 8 reached", None)


def test_polls_move_the_order_on_and_count_and_a_ready_order_remembers_when():
    placed = o.apply_status(intent(), o.OrderStatus(o.REQUESTED), NOW)
    pending = o.apply_status(placed, o.OrderStatus(o.PENDING), NOW + timedelta(seconds=5))
    ready = o.apply_status(pending, o.OrderStatus(o.READY, expires_at=NOW + timedelta(days=1)), NOW + timedelta(seconds=9))
    assert (ready.state, ready.polls, ready.polled_at, ready.ready_at) == ("ready", 2, NOW + timedelta(seconds=9), NOW + timedelta(seconds=9))
    assert ready.expires_at == NOW + timedelta(days=1)
    assert o.downloaded(ready, NOW).state == "downloaded"


@pytest.mark.parametrize("start, target", [
    ("failed", "requested"), ("failed", "intent"), ("downloaded", "ready"), ("ready", "pending"),
    ("pending", "requested"), ("waiting", "pending"), ("expired", "ready"),
])  # fmt: skip
def test_illegal_moves_are_refused_with_the_states_named(start, target):
    order = o.Order(KEY, "LC08_X", "label", start)
    with pytest.raises(o.OrderStateError) as caught:
        o.apply_status(order, o.OrderStatus(target), NOW) if target != "intent" else o.reorder(
            order, owner="x", claimed_until=NOW, now=NOW)
    assert isinstance(caught.value, CatalogError) and caught.value.exit_code == 9
    assert start in str(caught.value) and target in str(caught.value)


def test_downloading_an_order_that_is_not_ready_is_refused():
    with pytest.raises(o.OrderStateError, match="pending to downloaded"):
        o.downloaded(o.Order(KEY, "x", "l", o.PENDING), NOW)


def test_an_expired_order_is_ordered_again_once_with_a_new_label_then_fails():
    placed = o.apply_status(intent(), o.OrderStatus(o.REQUESTED, remote_id="1"), NOW)
    expired = o.apply_status(placed, o.OrderStatus(o.EXPIRED, reason="download window passed"), NOW)
    again = o.reorder(expired, owner="host:2", claimed_until=NOW, now=NOW)
    assert (again.state, again.reorders, again.remote_id, again.owner) == ("intent", 1, None, "host:2")
    assert again.label != placed.label
    placed2 = o.apply_status(again, o.OrderStatus(o.REQUESTED, remote_id="2"), NOW)
    expired2 = o.apply_status(placed2, o.OrderStatus(o.EXPIRED), NOW)
    final = o.reorder(expired2, owner="host:2", claimed_until=NOW, now=NOW)
    assert final.state == "failed" and "expired again after 1 re-order" in final.last_error
    assert placed2.label not in (placed.label,) and placed2.attempts == 2


def test_a_ready_order_past_its_expiry_is_expired_without_asking_the_provider():
    ready = o.Order(KEY, "x", "l", o.READY, expires_at=NOW - timedelta(seconds=1))
    assert o.check_expiry(ready, NOW).state == "expired"
    fresh = o.Order(KEY, "x", "l", o.READY, expires_at=NOW + timedelta(seconds=1))
    assert o.check_expiry(fresh, NOW) is fresh


def test_a_waiting_order_becomes_ready_when_the_product_comes_online():
    waiting = o.apply_status(intent(), o.OrderStatus(o.WAITING, reason="offline"), NOW)
    assert (waiting.state, waiting.last_error) == ("waiting", "offline")
    assert o.apply_status(waiting, o.OrderStatus(o.READY), NOW).state == "ready"


def test_an_intent_is_claimed_by_another_process_only_while_its_claim_runs():
    order = intent()
    assert order.claimed_by_other("host:2", NOW) and not order.claimed_by_other("host:1", NOW)
    assert not order.claimed_by_other("host:2", NOW + timedelta(minutes=6))


def test_counts_list_every_state_and_unknown_states_are_refused():
    assert o.counts([intent(), intent()]) == {**{s: 0 for s in o.ORDER_STATES}, "intent": 2}
    with pytest.raises(InputError, match="unknown order state"):
        o.OrderFilter.create(states=["done"])
    with pytest.raises(ValueError):
        o.OrderStatus("activating")
