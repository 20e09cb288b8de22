"""Scene upserts on the driver connection, with a fast path for large batches.

Every statement here is fixed text; all values are bound parameters.

The caller holds a ``BEGIN IMMEDIATE`` transaction, so no other writer can insert or update
scenes during a write: new identities are inserted with the next free ids (SQLite's own
``max(id) + 1``, contiguous), existing ones updated in place by id (``first_seen`` kept).

A batch is inserted first, as the encoder made its rows (no per-row tuple rebuilt here), with
``ON CONFLICT (provider, scene_id) DO NOTHING``: the unique index the insert probes anyway tells
new rows from existing ones, so an ingest of new scenes (the bulk case) does no identity look-up.
Only when some rows were skipped are the batch's identities looked up; those with an id from
before the batch are the existing scenes, then updated.

SpatiaLite maintains the footprint's R*Tree, geometry constraint and layer timestamps with
per-row triggers; inserting into a large R*Tree one row at a time in random spatial order is
most of the cost of an ingest. For a large batch (``bypass_triggers``) those triggers are
dropped inside the transaction and their work is done once per batch instead:

* the R*Tree entries of the batch's rows are replaced with one ``INSERT ... SELECT`` reading
  the stored footprints (so the index always matches what was stored, updates included);
* the type/SRID constraint holds by construction: every footprint is bound as 2-D MultiPolygon
  WKB and decoded with ``GeomFromWKB(?, 4326)``;
* ``geometry_columns_time`` gets one timestamp update.

The triggers are re-created from their own stored SQL before commit. Schema changes in SQLite
are transactional, so a failure or crash rolls back to the original triggers and no other
connection ever sees the catalog without them.

Several batches may share one transaction (:class:`BulkWrite`): the triggers are then dropped
and restored once for all of them. The R*Tree entries of a batch's new rows are filled when
the caller asks (:meth:`BulkWrite.index`, after each batch: that statement holds no GIL, so the
next batch is encoded meanwhile, see ``encode_ahead.py``) or when the writes end. With the
large bulk page cache, ten R*Tree statements over 10k rows each took as long as one over 100k
(100k scenes added to 900k, median of 3 runs each: 4.56 s both).
"""

from __future__ import annotations

import json
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Iterator

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from eoharvest.adapters.catalog.rows import ENCODED_COLUMNS, EncodedScenes
from eoharvest.adapters.catalog.spatialite import WRITER_CACHE_KIB
from eoharvest.adapters.catalog.tables import SRID

#: SpatiaLite's per-row triggers on scenes.footprint that a bulk write takes over. The delete
#: trigger is never bypassed (bulk writes do not delete).
BYPASSED_TRIGGERS = (
    "ggi_scenes_footprint",  # geometry type / SRID check on insert
    "ggu_scenes_footprint",  # ... on update
    "tmi_scenes_footprint",  # geometry_columns_time.last_insert
    "tmu_scenes_footprint",  # geometry_columns_time.last_update
    "gii_scenes_footprint",  # R*Tree entry on insert
    "giu_scenes_footprint",  # R*Tree entry on update
)
RTREE = "idx_scenes_footprint"

_GEOM = f"GeomFromWKB(?, {SRID})"
# The raw record comes as UTF-8 bytes (rows.encode_scenes): stored as the TEXT it encodes.
_PLACEHOLDER = {"footprint": _GEOM, "raw": "CAST(? AS TEXT)"}
# Numbered parameters: a new scene's first_seen is its last_seen (?N bound once, used twice).
_LAST_SEEN = ENCODED_COLUMNS.index("last_seen") + 1
_INSERT = "INSERT INTO scenes ({}, first_seen) VALUES ({}, ?{}) ON CONFLICT (provider, scene_id) DO NOTHING".format(
    ", ".join(ENCODED_COLUMNS),
    ", ".join(_PLACEHOLDER.get(c, "?").replace("?", f"?{n}") for n, c in enumerate(ENCODED_COLUMNS, 1)),
    _LAST_SEEN,
)
_UPDATED_COLUMNS = ENCODED_COLUMNS[2:]  # not the identity
_UPDATE = "UPDATE scenes SET {} WHERE id = ?".format(
    ", ".join(f"{c} = {_PLACEHOLDER.get(c, '?')}" for c in _UPDATED_COLUMNS)
)
# CROSS JOIN keeps json_each as the outer loop: one unique-index probe per key.
_LOOKUP = (
    "SELECT j.key, s.id FROM json_each(?) AS j CROSS JOIN scenes AS s "
    "ON s.provider = json_extract(j.value, '$[0]') AND s.scene_id = json_extract(j.value, '$[1]')"
)
_MBR = "id, MbrMinX(footprint), MbrMaxX(footprint), MbrMinY(footprint), MbrMaxY(footprint)"
_RTREE_RANGE = (
    f"INSERT OR REPLACE INTO {RTREE} (pkid, xmin, xmax, ymin, ymax) "
    f"SELECT {_MBR} FROM scenes WHERE id BETWEEN ? AND ? AND footprint IS NOT NULL"
)
_RTREE_ONE = (
    f"INSERT OR REPLACE INTO {RTREE} (pkid, xmin, xmax, ymin, ymax) "
    f"SELECT {_MBR} FROM scenes WHERE id = ? AND footprint IS NOT NULL"
)
_RTREE_DELETE = f"DELETE FROM {RTREE} WHERE pkid = ?"
_TOUCH = (
    "UPDATE geometry_columns_time SET {} = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') "
    "WHERE lower(f_table_name) = 'scenes' AND lower(f_geometry_column) = 'footprint'"
)


def upsert(
    conn: Connection, batch: EncodedScenes, *, bypass_triggers: bool, cache_kib: int | None = None
) -> int:
    """Insert or update ``batch`` in the caller's write transaction; returns how many were new."""
    with BulkWrite(conn, bypass_triggers=bypass_triggers, cache_kib=cache_kib) as write:
        return write(batch)


class BulkWrite:
    """Scene upserts in the caller's write transaction, batch by batch (``write(batch)``
    returns how many were new); with ``bypass_triggers`` the per-row triggers' work is done once
    for every batch when the ``with`` block ends without an error. After an error the caller
    rolls the transaction back (the triggers come back with it). While it lasts, a bypassing
    write gives its connection a page cache of ``cache_kib`` (see ``spatialite.BULK_CACHE_KIB``;
    None keeps the connection's own)."""

    def __init__(self, conn: Connection, *, bypass_triggers: bool, cache_kib: int | None = None) -> None:
        self._conn = conn
        self._bypass = bypass_triggers
        self._cache_kib = cache_kib
        self._cursor: Any = None
        self._suspended: list[tuple[str, str]] = []
        self._inserted = False
        self._unindexed: list[int] = []  # first and last id inserted and not yet in the R*Tree
        self._updated: dict[int, None] = {}  # ids updated, in order, once each

    def __enter__(self) -> BulkWrite:
        self._cursor = self._conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        if self._bypass:
            with self._translated():
                if self._cache_kib is not None:
                    self._cursor.execute(f"PRAGMA cache_size = {-self._cache_kib}")
                self._suspended = _suspend_triggers(self._cursor)
        return self

    def __call__(self, batch: EncodedScenes) -> int:
        if not batch.values:
            return 0
        with self._translated():
            return self._write(batch)

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: Any) -> None:
        try:
            if kind is None:
                with self._translated():
                    self._restore()
        finally:
            try:
                if self._bypass and self._cache_kib is not None:  # pages beyond it freed as the commit cleans them
                    self._cursor.execute(f"PRAGMA cache_size = {-WRITER_CACHE_KIB}")
            finally:
                self._cursor.close()

    def _translated(self) -> AbstractContextManager[None]:
        return _as_sqlalchemy_errors(self._conn)

    def _write(self, batch: EncodedScenes) -> int:
        cursor = self._cursor
        (top,) = cursor.execute("SELECT coalesce(max(id), 0) FROM scenes").fetchone()
        cursor.executemany(_INSERT, batch.values)
        inserted: int = cursor.rowcount  # skipped (existing) rows change nothing
        if inserted:
            # New rows took ids top + 1 ... top + inserted, in batch order.
            self._inserted = True
            self._unindexed = [self._unindexed[0] if self._unindexed else top + 1, top + inserted]
        if inserted < len(batch.values):
            self._update_existing(batch, top)
        return inserted

    def _update_existing(self, batch: EncodedScenes, top: int) -> None:
        """Update the rows of ``batch`` whose identity was stored before it (id <= ``top``)."""
        cursor = self._cursor
        found = cursor.execute(_LOOKUP, (json.dumps(batch.keys),)).fetchall()
        existing = [(index, pk) for index, pk in found if pk <= top]
        cursor.executemany(_UPDATE, [(*batch.values[index][2:], pk) for index, pk in existing])
        for _, pk in existing:
            self._updated[pk] = None

    def index(self) -> None:
        """Fill the R*Tree entries of the rows inserted since the last call, if the insert
        trigger that would have is suspended (else a no-op). One statement: no GIL held."""
        if self._unindexed and any(name == "gii_scenes_footprint" for name, _ in self._suspended):
            with self._translated():
                self._cursor.execute(_RTREE_RANGE, tuple(self._unindexed))
            self._unindexed = []

    def _restore(self) -> None:
        """The suspended triggers' work for every batch written, then the triggers themselves."""
        if not self._suspended:
            return
        self.index()
        cursor, names = self._cursor, {name for name, _ in self._suspended}
        updated = [(pk,) for pk in self._updated]
        if updated and "giu_scenes_footprint" in names:
            cursor.executemany(_RTREE_DELETE, updated)
            cursor.executemany(_RTREE_ONE, updated)
        if self._inserted and "tmi_scenes_footprint" in names:
            cursor.execute(_TOUCH.format("last_insert"))
        if updated and "tmu_scenes_footprint" in names:
            cursor.execute(_TOUCH.format("last_update"))
        for _, sql in self._suspended:
            cursor.execute(sql)


@contextmanager
def _as_sqlalchemy_errors(conn: Connection) -> Iterator[None]:
    """Driver errors re-raised as SQLAlchemy would raise them, so "database is locked" still
    becomes CatalogBusy."""
    dbapi: Any = conn.dialect.dbapi
    try:
        yield
    except dbapi.Error as exc:
        raise DBAPIError.instance(None, None, exc, dbapi.Error, dialect=conn.dialect) from exc


def _suspend_triggers(cursor: Any) -> list[tuple[str, str]]:
    """Drop the bypassed triggers that exist; returns their (name, SQL) to re-create them."""
    marks = ", ".join("?" for _ in BYPASSED_TRIGGERS)
    found = cursor.execute(
        f"SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'scenes' "
        f"AND name IN ({marks}) ORDER BY name",
        BYPASSED_TRIGGERS,
    ).fetchall()
    for name, _ in found:
        assert name in BYPASSED_TRIGGERS  # identifiers come from our own list, never from data
        cursor.execute(f'DROP TRIGGER "{name}"')
    return found
