"""Orders: activation of offline products as a persisted state machine.

One order per (provider, product key, asset selection). The selection is canonical: the sorted,
de-duplicated asset names joined by commas, or ``*`` for the whole product. States::

    intent ──> requested ──> pending ──> ready ──> downloaded
      │ │          │            │          │
      │ └─> waiting (provider cannot order it; re-checked until it is online) ──> ready
      └──────────> failed (terminal, the provider's reason)    expired ──> intent (once)

``intent`` is committed *before* the provider is asked, so a process killed between the
provider's acceptance and the catalog write leaves an intent that the next run reconciles with
the provider (by label) instead of ordering again. Every function here is pure; an illegal move
raises :class:`OrderStateError`.
"""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Iterable, Sequence

from eoharvest.domain.errors import CatalogError, InputError
from eoharvest.domain.models import Scene

INTENT = "intent"
REQUESTED = "requested"
PENDING = "pending"
READY = "ready"
DOWNLOADED = "downloaded"
EXPIRED = "expired"
FAILED = "failed"
WAITING = "waiting"

ORDER_STATES: tuple[str, ...] = (INTENT, REQUESTED, PENDING, READY, DOWNLOADED, EXPIRED, FAILED, WAITING)
#: Orders something still has to happen to (placing, polling, downloading, re-ordering).
OPEN_STATES: tuple[str, ...] = (INTENT, REQUESTED, PENDING, READY, WAITING, EXPIRED)
#: Placed at the provider and not finished: polled until ready, failed or expired.
POLLED_STATES: frozenset[str] = frozenset({REQUESTED, PENDING, WAITING})
#: States in which an order may be polled (a ready one: to check its link before a download).
POLLABLE_STATES: frozenset[str] = POLLED_STATES | {READY}
#: What a provider can answer to a placement or a poll (``intent``: not accepted now, try later).
STATUS_STATES: frozenset[str] = frozenset({INTENT, REQUESTED, PENDING, READY, EXPIRED, FAILED, WAITING})

#: The selection of an order for a whole product.
WHOLE_PRODUCT = "*"
#: An expired order is placed again this many times, then it fails.
MAX_REORDERS = 1

#: What a provider must do before a product can be downloaded (``OrderingSource.order_need``).
NO_ORDER = "none"
PLACE = "order"
WAIT = "wait"

#: state -> states an order may move to.
TRANSITIONS: dict[str, frozenset[str]] = {
    INTENT: frozenset({INTENT, REQUESTED, PENDING, READY, WAITING, FAILED, EXPIRED}),
    REQUESTED: frozenset({REQUESTED, PENDING, READY, FAILED, EXPIRED}),
    PENDING: frozenset({PENDING, READY, FAILED, EXPIRED}),
    WAITING: frozenset({WAITING, READY, FAILED}),
    READY: frozenset({READY, DOWNLOADED, EXPIRED, FAILED}),
    EXPIRED: frozenset({INTENT, FAILED}),
    DOWNLOADED: frozenset({INTENT}),
    FAILED: frozenset(),
}


class OrderStateError(CatalogError):
    """An order was asked to make a move its state machine does not allow."""


def can_move(current: str, target: str) -> bool:
    return target in TRANSITIONS.get(current, frozenset())


def _check_move(order: Order, target: str) -> None:
    if not can_move(order.state, target):
        allowed = ", ".join(sorted(TRANSITIONS.get(order.state, frozenset()))) or "none (terminal)"
        raise OrderStateError(
            f"order {order.label} ({order.key.describe()}) cannot go from {order.state} to {target}",
            hint=f"from {order.state} it may go to: {allowed}",
        )


def selection_of(assets: Iterable[str] | None) -> str:
    """The canonical selection: sorted unique asset names joined by commas, or ``*``."""
    if assets is None:
        return WHOLE_PRODUCT
    names = sorted({str(a).strip() for a in assets})
    if not names or any(not n or "," in n or n == WHOLE_PRODUCT for n in names):
        raise InputError(f"asset selection {list(assets)!r} is not a list of asset names",
                         hint="e.g. assets=['visual', 'B04']")  # fmt: skip
    return ",".join(names)


def assets_of(selection: str) -> tuple[str, ...] | None:
    """The asset names of a canonical selection (None for the whole product)."""
    return None if selection == WHOLE_PRODUCT else tuple(selection.split(","))


@dataclass(frozen=True)
class OrderKey:
    """What an order is for. Two runs asking for the same key share one order."""

    provider: str
    product_key: str
    selection: str = WHOLE_PRODUCT

    def describe(self) -> str:
        what = "whole product" if self.selection == WHOLE_PRODUCT else f"assets {self.selection}"
        return f"{self.provider} {self.product_key}, {what}"


def order_label(key: OrderKey, generation: int = 0) -> str:
    """The label sent with the order (USGS ``download-request`` label); known before the provider
    call, so a run that died before recording the answer can find the order again by it. A
    re-order after expiry is a new generation with a new label."""
    digest = hashlib.sha256(f"{key.provider}\n{key.product_key}\n{key.selection}\n{generation}".encode()).hexdigest()
    return f"eoharvest-{digest[:20]}"


@dataclass(frozen=True)
class OrderRef:
    """How the provider knows an order: its id (if it gives one) and our label."""

    label: str
    remote_id: str | None = None


@dataclass(frozen=True)
class OrderRequest:
    """What an ordering source is asked to order: a scene, its asset selection, our label."""

    scene: Scene
    assets: tuple[str, ...] | None
    label: str


@dataclass(frozen=True)
class OrderStatus:
    """A provider's answer to placing, finding or polling an order.

    ``state`` is one of :data:`STATUS_STATES`; ``intent`` means "not accepted now" (quota full,
    rate limited) and ``retry_after`` says when to try again. ``quota`` marks a refusal because
    too many orders are open at the provider.
    """

    state: str
    remote_id: str | None = None
    reason: str = ""
    retry_after: float | None = None
    expires_at: datetime | None = None
    quota: bool = False

    def __post_init__(self) -> None:
        if self.state not in STATUS_STATES:
            raise ValueError(f"order status {self.state!r} is not one of {sorted(STATUS_STATES)}")


@dataclass(frozen=True)
class Order:
    """One order as the catalog keeps it. ``version`` increases with every write (the catalog
    only applies a write made from the version it holds, so two processes cannot both win)."""

    key: OrderKey
    scene_id: str
    label: str
    state: str = INTENT
    remote_id: str | None = None
    size: int | None = None
    attempts: int = 0
    polls: int = 0
    reorders: int = 0
    last_error: str | None = None
    owner: str | None = None
    claimed_until: datetime | None = None
    requested_at: datetime | None = None
    polled_at: datetime | None = None
    ready_at: datetime | None = None
    expires_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    version: int = 0
    id: int | None = None
    #: the poll lease (revision 0010): who is asking the provider now, and until when
    poll_owner: str | None = None
    poll_until: datetime | None = None
    #: the order's due time: nobody asks the provider about it before then
    next_poll_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.state not in ORDER_STATES:
            raise ValueError(f"order state {self.state!r} is not one of {ORDER_STATES}")

    @property
    def ref(self) -> OrderRef:
        return OrderRef(self.label, self.remote_id)

    @property
    def assets(self) -> tuple[str, ...] | None:
        return assets_of(self.key.selection)

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    def poll_due(self, now: datetime) -> bool:
        """The provider may be asked about this order now: it is polled, its due time has come
        and no other poller's lease is live."""
        return (
            self.state in POLLABLE_STATES
            and (self.next_poll_at is None or self.next_poll_at <= now)
            and (self.poll_until is None or self.poll_until <= now)
        )  # fmt: skip

    def claimed_by_other(self, owner: str, now: datetime) -> bool:
        """Another live process is placing this intent (its claim has not run out)."""
        return (
            self.state == INTENT and self.owner is not None and self.owner != owner
            and self.claimed_until is not None and self.claimed_until > now
        )  # fmt: skip


def new_intent(
    key: OrderKey, scene_id: str, *, now: datetime, owner: str, claimed_until: datetime, size: int | None = None
) -> Order:
    """The row committed before the provider is asked for anything."""
    return Order(key, scene_id, order_label(key), INTENT, size=size, owner=owner, claimed_until=claimed_until,
                 created_at=now, updated_at=now)  # fmt: skip


def claim(order: Order, *, owner: str, claimed_until: datetime, now: datetime) -> Order:
    """Take over an intent nobody is placing (its owner died, or the provider said "later")."""
    _check_move(order, INTENT)
    return dataclasses.replace(order, owner=owner, claimed_until=claimed_until, updated_at=now)


def apply_status(order: Order, status: OrderStatus, now: datetime) -> Order:
    """The order after the provider answered ``status`` to a placement, lookup or poll."""
    _check_move(order, status.state)
    placing = order.state == INTENT
    changes: dict[str, object] = {"state": status.state, "updated_at": now}
    if status.remote_id:
        changes["remote_id"] = status.remote_id
    if status.expires_at is not None:
        changes["expires_at"] = status.expires_at
    if placing:
        changes.update(owner=None, claimed_until=None)
        if status.state != INTENT:
            changes.update(attempts=order.attempts + 1, requested_at=now)
    else:
        changes.update(polls=order.polls + 1, polled_at=now)
    if status.state == READY and order.state != READY:
        changes["ready_at"] = now
    if status.state in (INTENT, FAILED, EXPIRED, WAITING):
        changes["last_error"] = status.reason or order.last_error
    elif status.state in (READY, REQUESTED, PENDING):
        changes["last_error"] = None
    return dataclasses.replace(order, **changes)  # type: ignore[arg-type]


def poll_done(order: Order, *, due: datetime) -> Order:
    """``order`` with its poll lease ended and the next poll due at ``due``."""
    return dataclasses.replace(order, poll_owner=None, poll_until=None, next_poll_at=due)


def polled_unchanged(order: Order, now: datetime) -> Order:
    """The order after a poll that found nothing new (the poll time and count still move)."""
    return dataclasses.replace(order, polls=order.polls + 1, polled_at=now, updated_at=now)


def check_expiry(order: Order, now: datetime) -> Order:
    """A placed order whose ``expires_at`` has passed is expired, whatever the last poll said."""
    if order.state in (REQUESTED, PENDING, READY) and order.expires_at is not None and order.expires_at <= now:
        return dataclasses.replace(order, state=EXPIRED, last_error=f"expired at {order.expires_at.isoformat()}",
                                   updated_at=now)  # fmt: skip
    return order


def reorder(order: Order, *, owner: str, claimed_until: datetime, now: datetime) -> Order:
    """An expired order becomes a new intent once (new label); the second expiry fails it.

    A downloaded order is ordered again (a fresh generation) when its files are needed again.
    """
    if order.state == EXPIRED and order.reorders >= MAX_REORDERS:
        _check_move(order, FAILED)
        reason = f"expired again after {order.reorders} re-order(s); last: {order.last_error or 'no reason given'}"
        return dataclasses.replace(order, state=FAILED, last_error=reason, updated_at=now)
    _check_move(order, INTENT)
    reorders = order.reorders + 1 if order.state == EXPIRED else 0
    # ``attempts`` counts accepted placements: each placement gets a label never used before.
    return dataclasses.replace(
        order, state=INTENT, label=order_label(order.key, order.attempts), remote_id=None, reorders=reorders,
        owner=owner, claimed_until=claimed_until, ready_at=None, expires_at=None, updated_at=now,
        poll_owner=None, poll_until=None, next_poll_at=None,
    )  # fmt: skip


def downloaded(order: Order, now: datetime) -> Order:
    """The order's files are verified in the archive."""
    _check_move(order, DOWNLOADED)
    return dataclasses.replace(order, state=DOWNLOADED, last_error=None, updated_at=now)


def counts(orders: Iterable[Order]) -> dict[str, int]:
    """How many orders are in each state (every state present, in state-machine order)."""
    result = {state: 0 for state in ORDER_STATES}
    for order in orders:
        result[order.state] += 1
    return result


@dataclass(frozen=True)
class PendingOrder:
    """A scene a bulk download left pending: its order (or the product) is not ready yet.

    Not a failure: the order stays in the catalog, and the next run or the daemon picks it up.
    ``state`` is the order's state (``waiting`` when the provider cannot order it for us,
    ``intent`` when it could not be placed yet) or ``none`` when nothing was ordered (placing
    orders was turned off).
    """

    scene: Scene
    state: str
    reason: str

    @property
    def scene_id(self) -> str:
        return self.scene.scene_id


@dataclass(frozen=True)
class OrderFilter:
    """Which orders to list: by provider, state and product key (all when empty)."""

    providers: tuple[str, ...] = ()
    states: tuple[str, ...] = ()
    product_keys: tuple[str, ...] = ()

    @classmethod
    def create(cls, *, providers: Sequence[str] = (), states: Sequence[str] = (),
               product_keys: Sequence[str] = ()) -> OrderFilter:  # fmt: skip
        unknown = [s for s in states if s not in ORDER_STATES]
        if unknown:
            raise InputError(f"unknown order state(s): {', '.join(unknown)}", hint=f"states: {', '.join(ORDER_STATES)}")
        return cls(tuple(providers), tuple(states), tuple(product_keys))

    def matches(self, order: Order) -> bool:
        return (
            (not self.providers or order.key.provider in self.providers)
            and (not self.states or order.state in self.states)
            and (not self.product_keys or order.key.product_key in self.product_keys)
        )
