"""The daemons serving a catalog (the ``DaemonRegistry`` port, table ``daemons``, revision 0009).

Each daemon registers its row at start (``host:pid:start-time``), refreshes ``heartbeat_at``
while it runs and sets ``stopped_at`` when it stops cleanly. A crashed daemon keeps its row with
an old heartbeat: `daemon status` shows it as stale, and its job leases run out. Rows of daemons
stopped more than ``KEEP_STOPPED`` ago are pruned when another daemon registers.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import delete, func, insert, select, update

from eoharvest.adapters.catalog.repository import SpatialiteCatalog
from eoharvest.adapters.catalog.rows import to_aware_utc, to_naive_utc
from eoharvest.adapters.catalog.tables import daemons, download_jobs
from eoharvest.domain.jobs import DaemonRecord

KEEP_STOPPED = timedelta(days=7)
_D = daemons.c
_LEASED = ("fetching", "verifying", "finalizing")


def _now() -> datetime:
    stamp = to_naive_utc(datetime.now(timezone.utc))
    assert stamp is not None
    return stamp


class CatalogDaemonRegistry:
    def __init__(self, catalog: SpatialiteCatalog) -> None:
        self._catalog = catalog

    def _write(self) -> Any:
        return self._catalog._write()  # the catalog's own transaction: busy errors become CatalogBusy

    def register(self, record: DaemonRecord) -> None:
        now = _now()
        with self._write() as conn:
            conn.execute(delete(daemons).where(_D.stopped_at.is_not(None), _D.stopped_at < now - KEEP_STOPPED))
            conn.execute(delete(daemons).where(_D.owner == record.owner))
            conn.execute(insert(daemons).values(
                owner=record.owner, host=record.host, pid=record.pid, started_at=to_naive_utc(record.started_at),
                heartbeat_at=now, version=record.version[:64], heartbeat_seconds=record.heartbeat_seconds,
            ))  # fmt: skip

    def heartbeat(self, owner: str) -> bool:
        with self._write() as conn:
            row = conn.execute(
                update(daemons).where(_D.owner == owner).values(heartbeat_at=_now(), stopped_at=None).returning(_D.owner)
            ).first()
            return row is not None

    def stopped(self, owner: str) -> None:
        with self._write() as conn:
            conn.execute(update(daemons).where(_D.owner == owner).values(stopped_at=_now()))

    def daemons(self) -> list[DaemonRecord]:
        claimed = (
            select(download_jobs.c.lease_owner.label("owner"), func.count().label("n"))
            .where(download_jobs.c.state.in_(_LEASED)).group_by(download_jobs.c.lease_owner).subquery()
        )  # fmt: skip
        stmt = (
            select(_D.owner, _D.host, _D.pid, _D.started_at, _D.heartbeat_at, _D.version, _D.heartbeat_seconds, _D.stopped_at,
                   func.coalesce(claimed.c.n, 0).label("claimed"))
            .outerjoin(claimed, claimed.c.owner == _D.owner).order_by(_D.started_at.desc(), _D.owner)
        )  # fmt: skip
        with self._catalog.reader.connect() as conn:
            rows = conn.execute(stmt).all()
        return [
            DaemonRecord(r.owner, r.host, r.pid, _aware(r.started_at), _aware(r.heartbeat_at), r.version,
                         r.heartbeat_seconds, to_aware_utc(r.stopped_at), int(r.claimed))  # fmt: skip
            for r in rows
        ]

    def previous_incarnations(self, me: str, host: str, alive: Any) -> list[str]:
        """Daemons of ``host`` other than ``me`` that no longer run (``alive(pid)`` is False):
        earlier runs of this daemon (or of another one on this host) whose leases need not run out."""
        with self._catalog.reader.connect() as conn:
            rows = conn.execute(select(_D.owner, _D.pid).where(_D.host == host, _D.owner != me)).all()
        return [r.owner for r in rows if not alive(r.pid)]


def _aware(value: datetime) -> datetime:
    aware = to_aware_utc(value)
    assert aware is not None
    return aware
