"""Provider budgets shared by every process on a PostgreSQL catalog, kept in its server.

Several daemons (on several machines) on one catalog must together stay within what a provider
grants one account: CDSE's 4 concurrent downloads, USGS M2M's one request in flight, Planet's 5
activations a second. PostgreSQL is the coordinator, through session-level advisory locks, so
no table is written and nothing needs cleaning up after a crash:

* **Slots** (``slot(key, N)``): slot ``i`` of a budget is held while this process's session
  holds the advisory lock ``(NAMESPACE, hash(schema, key, i))``. One statement tries the free
  slots in order (``CASE WHEN pg_try_advisory_lock(..) THEN i ...``: ``CASE`` stops at the first
  lock it gets, so at most one is taken). Advisory locks are re-entrant within a session, so the
  process remembers which slots its threads hold and never asks for those again. A waiter
  looks again when a slot of this process is given back, and every ``poll`` seconds for the
  other processes' slots. A limit of 1 is a mutex (USGS: one request in flight).
* **Rates** (``pace(key, R)``): one advisory lock per budget, taken with ``pg_advisory_lock``
  (the server queues the waiters and hands the lock over the moment it is released; a short
  ``lock_timeout`` lets a waiter look at ``stopped()``) and held for ``1/R`` seconds after the
  call is let through, on a connection of its own, then released by a timer. Calls are thus
  let through at least ``1/R`` apart, measured between the moments they are let through
  (durations only: the machines' clocks need not agree).
* **Crashes**: the server drops a session's locks when the session ends. A killed process's
  socket is closed by its kernel, so its slots come back at once; a machine that vanishes is
  noticed by TCP keepalives, set short on these sessions (about a minute). A holder killed
  during a rate hold releases it early: at most one call comes early after a crash.
* **Lost connection**: the server has then dropped our locks. The transfers holding them run
  on; new slots are taken on a new connection, skipping the slots this process still holds, so
  the budget may be exceeded by this process's running transfers only until they end.

The sessions name themselves (``application_name`` ``eoharvest-budgets pid@host``), so
``pg_locks`` joined with ``pg_stat_activity`` shows who holds what. Keys are derived from the
budget (provider, account digest, kind), never from a credential.
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import socket
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

import psycopg
from sqlalchemy.pool import NullPool

from eoharvest.adapters.catalog.postgis import connection_error, create_postgis_engine
from eoharvest.domain.budgets import BudgetKey
from eoharvest.domain.catalog_location import CatalogUrl
from eoharvest.domain.errors import CatalogError, DownloadCancelled

log = logging.getLogger("eoharvest.budgets")

#: Advisory lock namespace of budgets ("eobb"); the catalog's own locks use "eoha".
NAMESPACE = 0x656F6262
#: How long one wait for a rate lock lasts in the server before ``stopped()`` is looked at.
LOCK_WAIT_MS = 250
#: Seconds between two looks for a slot another process gave back.
POLL = 0.1
#: Added to each rate hold: the hold starts when the lock is taken, the call leaves a moment
#: later; without it two calls could leave a little closer than ``1/rate`` (measured: 0.8 ms).
HOLD_MARGIN = 0.005
#: Longest wait in :meth:`PostgresBudgets.close` for a rate hold to end.
MAX_HOLD = 5.0
#: Per session: the server notices a vanished client after idle + interval * count seconds; a
#: statement (a try-lock, an unlock) that hangs on a sick server fails instead of holding up the
#: process's other slots.
SESSION_SETTINGS = (
    "SET tcp_keepalives_idle = 30",
    "SET tcp_keepalives_interval = 10",
    "SET tcp_keepalives_count = 3",
    "SET statement_timeout = '10s'",
)


@dataclass
class _Lane:
    """A rate budget in this process: who of our threads holds it, and its connection."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    conn: Any = None
    timer: threading.Timer | None = None


class PostgresBudgets:
    """The ``ProviderBudgets`` port on the catalog at ``location`` (see the module docstring).
    Connections are opened on first use; :meth:`close` ends them (and so frees every slot)."""

    def __init__(self, location: CatalogUrl, *, poll: float = POLL) -> None:
        self.location = location
        self._poll = poll
        self._engine: Any = None
        self._schema: str | None = None
        self._slots: Any = None  # the psycopg connection holding this process's slots
        self._generation = 0
        self._held: dict[BudgetKey, dict[int, int]] = {}  # slot -> generation it was taken in
        self._changed = threading.Condition()
        self._lanes: dict[BudgetKey, _Lane] = {}
        self._closed = False

    # -- slots -------------------------------------------------------------------------------
    @contextmanager
    def slot(self, key: BudgetKey, limit: int, stopped: Callable[[], bool] | None = None) -> Iterator[None]:
        index = self._take(key, max(1, limit), stopped)
        try:
            yield
        finally:
            self._give_back(key, index)

    def _take(self, key: BudgetKey, limit: int, stopped: Callable[[], bool] | None) -> int:
        with self._changed:
            while True:
                held = self._held.setdefault(key, {})
                free = [i for i in range(limit) if i not in held]
                if free:
                    got = self._try_slots(key, free)
                    if got >= 0:
                        held[got] = self._generation
                        return got
                if stopped is not None and stopped():
                    raise DownloadCancelled(f"cancelled while waiting for a {key.kind} slot of {key.provider}")
                # woken at once by a slot of ours given back; others' are looked for every poll
                self._changed.wait(self._poll * random.uniform(0.5, 1.0))

    def _try_slots(self, key: BudgetKey, indices: Sequence[int]) -> int:
        """The first of ``indices`` whose lock this session got, or -1 (one round trip). A
        session the server ended (its locks went with it) is replaced once; a server that
        cannot be reached is a CatalogError."""
        cases = " ".join(f"WHEN pg_try_advisory_lock(%s, %s) THEN {i}" for i in indices)
        for attempt in (1, 2):
            conn = self._slot_connection()
            params: list[int] = []
            for i in indices:
                params += [NAMESPACE, self._objid(key, str(i))]
            try:
                row = conn.execute(f"SELECT CASE {cases} ELSE -1 END", params).fetchone()
                return int(row[0])
            except psycopg.OperationalError as exc:
                self._drop_slot_connection()
                if attempt == 2 or not conn.broken:
                    raise connection_error(self.location, exc) from None
                log.info("budgets: the budget session ended (%s); opening a new one", str(exc).strip())
        return -1

    def _give_back(self, key: BudgetKey, index: int) -> None:
        with self._changed:
            generation = self._held.get(key, {}).pop(index, None)
            if generation == self._generation and self._slots is not None:
                try:
                    self._slots.execute("SELECT pg_advisory_unlock(%s, %s)", (NAMESPACE, self._objid(key, str(index))))
                except psycopg.Error as exc:  # the session is gone, and its locks with it
                    log.debug("budgets: giving back %s slot %d failed: %s", key, index, exc)
                    self._drop_slot_connection()
            self._changed.notify_all()

    def _slot_connection(self) -> Any:
        if self._slots is None:
            self._slots = self._connect()
        return self._slots

    def _drop_slot_connection(self) -> None:
        conn, self._slots = self._slots, None
        self._generation += 1  # slots of the old session are not given back on the new one
        if conn is not None:
            _close_quietly(conn)

    # -- rates -------------------------------------------------------------------------------
    def pace(self, key: BudgetKey, rate: float, stopped: Callable[[], bool] | None = None) -> None:
        if not rate or rate <= 0:
            return
        with self._changed:
            lane = self._lanes.setdefault(key, _Lane())
        while not lane.lock.acquire(timeout=self._poll):  # our previous call's hold
            _check(stopped, key)
        try:
            self._lock_lane(lane, key, stopped)
        except BaseException:
            lane.lock.release()
            raise
        timer = threading.Timer(1.0 / rate + HOLD_MARGIN, self._end_hold, (lane, key))
        timer.daemon = True
        with self._changed:
            lane.timer = timer
        timer.start()

    def _lock_lane(self, lane: _Lane, key: BudgetKey, stopped: Callable[[], bool] | None) -> None:
        """Wait in the server for the rate's lock; a session the server ended is replaced once."""
        replaced = False
        while True:
            if lane.conn is None:
                lane.conn = self._connect()
                lane.conn.execute(f"SET lock_timeout = '{LOCK_WAIT_MS}ms'")
            conn = lane.conn
            try:
                conn.execute("SELECT pg_advisory_lock(%s, %s)", (NAMESPACE, self._objid(key, "rate")))
                return
            except psycopg.errors.LockNotAvailable:
                _check(stopped, key)
            except psycopg.OperationalError as exc:
                lane.conn = None
                _close_quietly(conn)
                if replaced or not conn.broken:
                    raise connection_error(self.location, exc) from None
                replaced = True

    def _end_hold(self, lane: _Lane, key: BudgetKey) -> None:
        try:
            if lane.conn is not None:
                lane.conn.execute("SELECT pg_advisory_unlock(%s, %s)", (NAMESPACE, self._objid(key, "rate")))
        except psycopg.Error as exc:  # the session is gone, and the lock with it
            log.debug("budgets: ending the hold of %s failed: %s", key, exc)
            conn, lane.conn = lane.conn, None
            if conn is not None:
                _close_quietly(conn)
        finally:
            self._release(lane)

    def _release(self, lane: _Lane) -> None:
        """End our thread's hold of ``lane`` once (the timer, or :meth:`close`, whichever first)."""
        with self._changed:
            if lane.timer is None:
                return
            lane.timer = None
        lane.lock.release()

    # -- connections and keys --------------------------------------------------------------------
    def _connect(self) -> Any:
        if self._closed:
            raise CatalogError("the provider budgets are closed")
        if self._engine is None:
            me = f"eoharvest-budgets {os.getpid()}@{socket.gethostname()}"[:63]
            self._engine = create_postgis_engine(self.location, application=me, poolclass=NullPool)
        try:
            raw = self._engine.raw_connection()
        except Exception as exc:  # noqa: BLE001 - SQLAlchemy wraps the driver's error
            raise connection_error(self.location, exc) from None
        conn = _Session(raw)
        for statement in SESSION_SETTINGS:
            conn.execute(statement)
        if self._schema is None:
            row = conn.execute("SELECT current_schema()").fetchone()
            self._schema = (row[0] if row else None) or "public"
        return conn

    def _objid(self, key: BudgetKey, part: str) -> int:
        """A signed 32-bit lock key for ``key``'s slot or rate in this catalog's schema (two
        catalogs in two schemas of one database have separate budgets)."""
        name = "\0".join((self._schema or "public", key.provider, key.account, key.kind, part))
        return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:4], "big", signed=True)

    def close(self) -> None:
        """End the sessions: the server frees every slot of this process. A rate still held
        for a call just let through is held to its end first (at most ``1/rate`` seconds):
        ending it early would let another process's next call come too soon."""
        for lane in list(self._lanes.values()):
            timer = lane.timer
            if timer is not None:
                timer.join(MAX_HOLD)
        with self._changed:
            self._closed = True
            lanes = list(self._lanes.values())
            conns = [self._slots] + [lane.conn for lane in lanes]
            self._slots = None
            self._generation += 1
        for lane in lanes:
            timer = lane.timer
            if timer is not None:  # still running after MAX_HOLD: its session ends now
                timer.cancel()
                self._release(lane)
            lane.conn = None
        for conn in conns:
            if conn is not None:
                _close_quietly(conn)
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


class _Session:
    """A pooled (NullPool) connection used through its psycopg connection in autocommit mode:
    a session-level lock must outlive every statement, and nothing here needs a transaction."""

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        self._conn = raw.driver_connection
        self._conn.autocommit = True

    def execute(self, statement: str, params: Sequence[Any] | None = None) -> Any:
        return self._conn.execute(statement, params)  # psycopg serialises threads on a connection

    @property
    def broken(self) -> bool:
        """The session is gone (ended by the server, or the network), not just one statement."""
        return bool(self._conn.broken or self._conn.closed)

    def close(self) -> None:
        # Invalidate rather than check in: the session ends (its locks with it) without the
        # pool's reset, a rollback that fails on a connection the server already ended.
        self._raw.invalidate()


def _check(stopped: Callable[[], bool] | None, key: BudgetKey) -> None:
    if stopped is not None and stopped():
        raise DownloadCancelled(f"cancelled while waiting for the {key.kind} budget of {key.provider}")


def _close_quietly(conn: Any) -> None:
    try:
        conn.close()
    except Exception as exc:  # noqa: BLE001 - closing a broken connection may fail; nothing to keep
        log.debug("budgets: closing a connection failed: %s", exc)


__all__ = ["PostgresBudgets"]
