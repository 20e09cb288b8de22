"""SQL for the sync daemon's per-search state (table ``search_state``, revisions 0002, 0005, 0010)
and the saved searches' ``enabled`` flag."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, Connection, DateTime, ForeignKey, Integer, String, Table, Text, delete, func, select
from sqlalchemy.dialects import postgresql, sqlite

from eoharvest.adapters.catalog.rows import to_aware_utc, to_naive_utc
from eoharvest.adapters.catalog.tables import files, metadata, searches
from eoharvest.domain.watch import SearchState

search_state = Table(
    "search_state",
    metadata,
    Column("search_id", Integer, ForeignKey("searches.id", ondelete="CASCADE"), primary_key=True),
    Column("watermark", DateTime),
    Column("last_run_at", DateTime),
    Column("next_run_at", DateTime),
    Column("failures", Integer, nullable=False),
    Column("last_error", Text),
    Column("paused", Text),
    Column("last_found", Integer, nullable=False),
    Column("last_new", Integer, nullable=False),
    Column("last_downloaded", Integer, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("watermark_kind", String(16)),
    Column("last_queued", Integer, nullable=False, server_default="0"),
)

_TIMES = ("watermark", "last_run_at", "next_run_at")
_COUNTS = ("failures", "last_found", "last_new", "last_downloaded", "last_queued")


def states(conn: Connection) -> dict[str, SearchState]:
    """The state of every saved search that has one, by search name."""
    stmt = select(searches.c.name, search_state).join(search_state, search_state.c.search_id == searches.c.id)
    result = {}
    for row in conn.execute(stmt).mappings():
        values: dict[str, Any] = {name: to_aware_utc(row[name]) for name in _TIMES}
        values.update({name: int(row[name]) for name in _COUNTS})
        result[row["name"]] = SearchState(**values, last_error=row["last_error"], paused=row["paused"],
                                          watermark_kind=row["watermark_kind"])  # fmt: skip
    return result


def put(conn: Connection, name: str, state: SearchState, now: datetime) -> bool:
    """Write the state of search ``name`` (and its ``last_run_at``); False if no such search."""
    search_id = conn.execute(select(searches.c.id).where(searches.c.name == name)).scalar()
    if search_id is None:
        return False
    values: dict[str, Any] = {name: to_naive_utc(getattr(state, name)) for name in _TIMES}
    values.update({name: getattr(state, name) for name in _COUNTS})
    values.update(last_error=state.last_error, paused=state.paused, watermark_kind=state.watermark_kind,
                  updated_at=to_naive_utc(now))  # fmt: skip
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(search_state).values(search_id=search_id, **values)
    conn.execute(stmt.on_conflict_do_update(index_elements=[search_state.c.search_id], set_=values))
    conn.execute(
        searches.update().where(searches.c.id == search_id).values(last_run_at=values["last_run_at"])
    )
    return True


def enabled(conn: Connection) -> dict[str, bool]:
    """Every saved search's ``enabled`` flag, by name."""
    return {name: bool(flag) for name, flag in conn.execute(select(searches.c.name, searches.c.enabled))}


def set_enabled(conn: Connection, name: str, flag: bool) -> bool:
    """Enable or disable search ``name``; False if there is no such search."""
    result = conn.execute(searches.update().where(searches.c.name == name).values(enabled=flag))
    return bool(result.rowcount)


def remove(conn: Connection, name: str) -> bool:
    """Delete a saved search and its state; False if there was none."""
    search_id = conn.execute(select(searches.c.id).where(searches.c.name == name)).scalar()
    if search_id is None:
        return False
    from eoharvest.adapters.catalog import leases

    conn.execute(delete(search_state).where(search_state.c.search_id == search_id))
    leases.remove(conn, search_id)
    conn.execute(delete(searches).where(searches.c.id == search_id))
    return True


def verified_bytes_since(conn: Connection, since: datetime) -> int:
    """Bytes of files that became available (verified) at or after ``since``."""
    stmt = select(func.coalesce(func.sum(files.c.size), 0)).where(
        files.c.state == "available", files.c.verified_at >= to_naive_utc(since)
    )
    return int(conn.execute(stmt).scalar_one())
