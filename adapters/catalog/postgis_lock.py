"""One daemon per PostgreSQL catalog: a session-level advisory lock held on its own connection.

A SpatiaLite catalog is guarded by a ``flock`` beside the file; a PostgreSQL catalog has no
file, and its daemons may run on other hosts, so the lock lives in the server
(``pg_try_advisory_lock``, keyed per database and schema). The server drops it when the
holding session ends, also when the daemon is killed or its host vanishes (once TCP notices),
so a crashed daemon never leaves a stale lock. The holding connection names itself
(``application_name``) so a refused daemon and ``daemon status`` can say who holds it.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from sqlalchemy import Connection, func, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.pool import NullPool

from eoharvest.adapters.catalog.postgis import DAEMON_LOCK, connection_error, create_postgis_engine, lock_key
from eoharvest.domain.catalog_location import CatalogUrl
from eoharvest.domain.errors import DaemonAlreadyRunning

_PREFIX = "eoharvest-daemon "
_HOLDER = text(
    "SELECT a.application_name FROM pg_locks AS l JOIN pg_stat_activity AS a ON a.pid = l.pid "
    "WHERE l.locktype = 'advisory' AND l.granted AND l.database = "
    "(SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND l.classid = CAST(:classid AS oid) AND l.objid = CAST(:objid AS oid) AND l.objsubid = 2 LIMIT 1"
)


def _oid(value: int) -> int:
    """A lock key half as pg_locks shows it (an unsigned 32-bit oid)."""
    return value & 0xFFFFFFFF


def _holder(conn: Connection, key: tuple[int, int]) -> str | None:
    name = conn.execute(_HOLDER, {"classid": _oid(key[0]), "objid": _oid(key[1])}).scalar()
    conn.commit()
    if name is None:
        return None
    return name[len(_PREFIX):] if name.startswith(_PREFIX) else name or "unknown"


class AdvisoryDaemonLock:
    """``with AdvisoryDaemonLock(url): ...``; DaemonAlreadyRunning (exit 9) if held elsewhere."""

    def __init__(self, location: CatalogUrl, *, attempts: int = 20, pause: float = 0.05) -> None:
        self.location = location
        self._attempts, self._pause = attempts, pause
        self._engine: Any = None
        self._conn: Connection | None = None
        self._key: tuple[int, int] | None = None

    def acquire(self) -> None:
        me = f"{_PREFIX}{os.getpid()}@{socket.gethostname()}"[:63]
        engine = create_postgis_engine(self.location, application=me, poolclass=NullPool)
        try:
            conn = engine.connect()
        except OperationalError as exc:
            engine.dispose()
            raise connection_error(self.location, exc) from None
        try:
            key = lock_key(conn, DAEMON_LOCK)
            for attempt in range(self._attempts):
                if conn.execute(select(func.pg_try_advisory_lock(*key))).scalar():
                    conn.commit()  # the lock is the session's, not the transaction's
                    self._engine, self._conn, self._key = engine, conn, key
                    return
                conn.commit()
                if attempt + 1 < self._attempts:
                    time.sleep(self._pause)
            owner = _holder(conn, key) or "unknown"
        except BaseException:
            conn.close()
            engine.dispose()
            raise
        conn.close()
        engine.dispose()
        raise DaemonAlreadyRunning(
            f"another eoharvest daemon ({owner}) already serves the catalog {self.location} "
            "(it holds the catalog's PostgreSQL advisory lock)",
            hint="stop it first, or point --catalog at another catalog; "
            "`eoharvest daemon status` shows what it is doing",
        )

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(select(func.pg_advisory_unlock(*self._key)))  # type: ignore[misc]
                self._conn.commit()
            except OperationalError:
                pass  # the session is gone, and the lock with it
            finally:
                self._conn.close()
                self._engine.dispose()
                self._conn = self._engine = self._key = None

    def __enter__(self) -> AdvisoryDaemonLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def advisory_holder(location: CatalogUrl) -> str | None:
    """``pid@host`` of the daemon holding the catalog's lock, or None when no daemon runs."""
    engine = create_postgis_engine(location, read_only=True, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            return _holder(conn, lock_key(conn, DAEMON_LOCK))
    except OperationalError as exc:
        raise connection_error(location, exc) from None
    finally:
        engine.dispose()
