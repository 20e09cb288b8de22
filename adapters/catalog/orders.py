"""SQL for orders (table ``orders``, revision 0004): every write is a compare-and-set on the
row's ``version``, so two processes can never both move the same order.

A poll is claimed first (revision 0010): one ``UPDATE ... WHERE id = (SELECT ... FOR UPDATE
SKIP LOCKED)`` that takes the order's poll lease only when its due time has come and no live
lease is held, as download jobs are claimed (job_queue.py); SQLite ignores the locking clause
and serialises the claim in its ``BEGIN IMMEDIATE`` writer."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    delete,
    func,
    or_,
    select,
    update,
)

from eoharvest.adapters.catalog.rows import to_aware_utc, to_naive_utc
from eoharvest.adapters.catalog.tables import metadata
from eoharvest.adapters.failpoints import crash_point
from eoharvest.domain.orders import INTENT, POLLABLE_STATES, Order, OrderFilter, OrderKey, counts

orders = Table(
    "orders",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("provider", String(64), nullable=False),
    Column("product_key", String(255), nullable=False),
    Column("selection", Text, nullable=False),
    Column("scene_id", String(255), nullable=False),
    Column("label", String(128), nullable=False),
    Column("state", String(16), nullable=False),
    Column("remote_id", Text),
    Column("size", BigInteger),
    Column("attempts", Integer, nullable=False),
    Column("polls", Integer, nullable=False),
    Column("reorders", Integer, nullable=False),
    Column("last_error", Text),
    Column("owner", String(255)),
    Column("claimed_until", DateTime),
    Column("requested_at", DateTime),
    Column("polled_at", DateTime),
    Column("ready_at", DateTime),
    Column("expires_at", DateTime),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("version", Integer, nullable=False),
    Column("poll_owner", String(255)),
    Column("poll_until", DateTime),
    Column("next_poll_at", DateTime),
    UniqueConstraint("provider", "product_key", "selection", name="uq_orders_key"),
    UniqueConstraint("label", name="uq_orders_label"),
)

_TIMES = ("claimed_until", "requested_at", "polled_at", "ready_at", "expires_at", "created_at", "updated_at",
          "poll_until", "next_poll_at")
_PLAIN = ("scene_id", "label", "state", "remote_id", "size", "attempts", "polls", "reorders", "last_error", "owner",
          "poll_owner")
#: Longest error text kept (a provider's reason, not a log).
MAX_ERROR = 2000


def _values(order: Order) -> dict[str, Any]:
    values: dict[str, Any] = {name: getattr(order, name) for name in _PLAIN}
    values.update({name: to_naive_utc(getattr(order, name)) for name in _TIMES})
    if values["last_error"]:
        values["last_error"] = values["last_error"][:MAX_ERROR]
    return values


def _decode(row: Mapping[str, Any]) -> Order:
    key = OrderKey(row["provider"], row["product_key"], row["selection"])
    times = {name: to_aware_utc(row[name]) for name in _TIMES}
    plain = {name: row[name] for name in _PLAIN}
    return Order(key, **plain, **times, version=row["version"], id=row["id"])


def create(conn: Connection, order: Order) -> Order | None:
    """Insert ``order``; None when its key (or label) already has a row."""
    values = _values(order)
    values.update(provider=order.key.provider, product_key=order.key.product_key,
                  selection=order.key.selection, version=0)  # fmt: skip
    # The write transaction is BEGIN IMMEDIATE: nobody can insert between this check and ours.
    if by_key(conn, order.key) is not None:
        return None
    order_id = conn.execute(orders.insert().values(values)).inserted_primary_key[0]
    return by_id(conn, int(order_id))


def write(conn: Connection, order: Order) -> Order | None:
    """Store ``order`` if the row still has ``order.version``; the stored order, or None."""
    if order.id is None:
        raise ValueError("an order without an id cannot be updated; create it first")
    stored = conn.execute(select(orders.c.state).where(orders.c.id == order.id)).scalar()
    if stored == INTENT and order.state != INTENT:
        # kill -9 trials: the provider accepted the order and the catalog has not recorded it.
        crash_point("order-accepted")
    values = _values(order)
    values["version"] = order.version + 1
    result = conn.execute(
        update(orders).where(orders.c.id == order.id, orders.c.version == order.version).values(values)
    )
    if result.rowcount != 1:
        return None
    return by_id(conn, order.id)


def claim_poll(conn: Connection, order: Order, owner: str, now: datetime, until: datetime) -> Order | None:
    """Take the poll lease of ``order`` for ``owner`` until ``until`` if the row still has its
    version, is due at ``now`` and no live lease holds it; the claimed order (new version) or None."""
    c = orders.c
    at = to_naive_utc(now)
    due = select(c.id).where(
        c.id == order.id, c.version == order.version, c.state.in_(sorted(POLLABLE_STATES)),
        or_(c.next_poll_at.is_(None), c.next_poll_at <= at), or_(c.poll_until.is_(None), c.poll_until <= at),
    ).with_for_update(skip_locked=True).scalar_subquery()  # fmt: skip
    claimed = conn.execute(
        update(orders).where(c.id == due)
        .values(poll_owner=owner, poll_until=to_naive_utc(until), version=c.version + 1).returning(c.id)
    ).first()  # fmt: skip
    return by_id(conn, claimed.id) if claimed is not None else None


def by_id(conn: Connection, order_id: int) -> Order | None:
    row = conn.execute(select(orders).where(orders.c.id == order_id)).mappings().first()
    return _decode(row) if row else None


def by_key(conn: Connection, key: OrderKey) -> Order | None:
    stmt = select(orders).where(
        orders.c.provider == key.provider, orders.c.product_key == key.product_key, orders.c.selection == key.selection
    )
    row = conn.execute(stmt).mappings().first()
    return _decode(row) if row else None


def find(conn: Connection, criteria: OrderFilter) -> list[Order]:
    stmt = select(orders).order_by(orders.c.id)
    if criteria.providers:
        stmt = stmt.where(orders.c.provider.in_(criteria.providers))
    if criteria.states:
        stmt = stmt.where(orders.c.state.in_(criteria.states))
    if criteria.product_keys:
        stmt = stmt.where(orders.c.product_key.in_(criteria.product_keys))
    return [_decode(row) for row in conn.execute(stmt).mappings()]


def remove(conn: Connection, order: Order) -> bool:
    result = conn.execute(delete(orders).where(orders.c.id == order.id, orders.c.version == order.version))
    return bool(result.rowcount == 1)


def state_counts(conn: Connection) -> dict[str, int]:
    rows = conn.execute(select(orders.c.state, func.count()).group_by(orders.c.state)).all()
    result = counts(())
    result.update({state: int(n) for state, n in rows})
    return result
