"""SQL for the saved-search leases (table ``search_lease``, revision 0003).

Taking a lease is one ``INSERT ... ON CONFLICT DO UPDATE ... WHERE`` statement: it inserts a
free lease, or updates one that has expired, is the caller's own, or belongs to the holder the
caller names as gone; otherwise it changes no row. That is atomic on SQLite (inside the
writer's ``BEGIN IMMEDIATE``) and on PostgreSQL alike (PostgreSQL ``INSERT``, "ON CONFLICT
Clause"; SQLite "UPSERT"), so several daemons can share the table later.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Column, Connection, DateTime, ForeignKey, Integer, String, Table, case, delete, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from eoharvest.adapters.catalog.rows import to_aware_utc, to_naive_utc
from eoharvest.adapters.catalog.tables import metadata, searches
from eoharvest.domain.watch import SearchLease

search_lease = Table(
    "search_lease",
    metadata,
    Column("search_id", Integer, ForeignKey("searches.id", ondelete="CASCADE"), primary_key=True),
    Column("owner", String(255), nullable=False),
    Column("acquired_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=False),
)


def _search_id(conn: Connection, name: str) -> int | None:
    return conn.execute(select(searches.c.id).where(searches.c.name == name)).scalar()


def take(conn: Connection, name: str, owner: str, seconds: float, replacing: str | None, now: datetime) -> bool:
    """Take or renew the lease of search ``name`` for ``owner``; False if another holds it."""
    search_id = _search_id(conn, name)
    if search_id is None:
        return False
    stamp = to_naive_utc(now)
    assert stamp is not None
    expires = stamp + timedelta(seconds=seconds)
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(search_lease).values(search_id=search_id, owner=owner, acquired_at=stamp, expires_at=expires)
    current = search_lease.c
    takeable = [current.expires_at <= stamp, current.owner == owner]
    if replacing is not None:
        takeable.append(current.owner == replacing)
    stmt = stmt.on_conflict_do_update(
        index_elements=[current.search_id],
        set_={
            "owner": owner,
            "expires_at": expires,
            # a renewal keeps the time the holder took the lease
            "acquired_at": case((current.owner == owner, current.acquired_at), else_=stmt.excluded.acquired_at),
        },
        where=or_(*takeable),
    )
    if conn.dialect.name == "postgresql":
        # psycopg 3 under SQLAlchemy reports no rowcount for an INSERT: ask for the row instead.
        return conn.execute(stmt.returning(current.search_id)).first() is not None
    return conn.execute(stmt).rowcount == 1


def get(conn: Connection, name: str) -> SearchLease | None:
    stmt = (
        select(search_lease.c.owner, search_lease.c.acquired_at, search_lease.c.expires_at)
        .join(searches, searches.c.id == search_lease.c.search_id)
        .where(searches.c.name == name)
    )
    row = conn.execute(stmt).first()
    if row is None:
        return None
    acquired, expires = to_aware_utc(row.acquired_at), to_aware_utc(row.expires_at)
    assert acquired is not None and expires is not None
    return SearchLease(row.owner, acquired, expires)


def release(conn: Connection, name: str, owner: str) -> None:
    search_id = _search_id(conn, name)
    if search_id is not None:
        conn.execute(delete(search_lease).where(search_lease.c.search_id == search_id, search_lease.c.owner == owner))


def remove(conn: Connection, search_id: int) -> None:
    conn.execute(delete(search_lease).where(search_lease.c.search_id == search_id))
