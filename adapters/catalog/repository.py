"""The SpatiaLite catalog repository (the CatalogRepository port), on SQLAlchemy Core."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Sequence

from sqlalchemy import Engine, LargeBinary, bindparam, extract, func, select, tuple_, type_coerce
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import OperationalError

from eoharvest.adapters.failpoints import crash_point
from eoharvest.adapters.catalog import bulk, downloads, fast_query, leases
from eoharvest.adapters.catalog import members as member_rows
from eoharvest.adapters.catalog import orders as order_rows
from eoharvest.adapters.catalog import stats as catalog_stats
from eoharvest.adapters.catalog.rows import RECORD_COLUMNS, decode_records, encode_scenes, scene_rows
from eoharvest.adapters.catalog.encode_ahead import EncodeAhead
from eoharvest.adapters.catalog.spatialite import BULK_CACHE_KIB, LARGE_BULK_CACHE_KIB, Engines
from eoharvest.adapters.catalog.sql_filters import download_state, filter_clauses, order_by
from eoharvest.adapters.catalog.tables import SRID, files, scenes, searches
from eoharvest.domain.catalog_query import (
    AvailableFile,
    CatalogFilter,
    CatalogRecord,
    CatalogStats,
    ExtractedMember,
    SceneFile,
    StoredFile,
    StoredMember,
)
from eoharvest.domain.errors import CatalogBusy
from eoharvest.domain.models import Checksum, Scene
from eoharvest.domain.orders import Order, OrderFilter, OrderKey
from eoharvest.domain.watch import SearchLease, SearchState

#: Scenes encoded and written per statement batch (and per write transaction when the scenes
#: come from an iterator: eoharvest never holds the write lock while a caller's generator runs).
BATCH = 10_000
#: Scenes per write transaction when they are given as a sequence (all in memory already): up to
#: this many batches share one commit. At 1M scenes each batch of random acquisition times and
#: footprints dirties most leaf pages of the time indexes and of the R*Tree, and every commit
#: writes them all to the WAL and then checkpoints them: ten batches per commit instead of one
#: doubled the ingest rate (bench/catalog.py). Such a transaction holds the write lock a few
#: seconds; other writers wait for it in BEGIN IMMEDIATE (busy timeout 30 s).
BULK_TRANSACTION = 100_000
#: Scenes from which a bulk transaction raises its page cache (see ``spatialite.BULK_CACHE_KIB``).
BULK_CACHE_MIN = 1_000
#: From this many scenes a transaction bypasses SpatiaLite's per-row triggers and maintains the
#: R*Tree with one statement (see :mod:`eoharvest.adapters.catalog.bulk`). A harvest's page of
#: 100 scenes already gains (bench/harvest.py: 10% less CPU, 26% less wall time than with the
#: triggers); below a few dozen scenes dropping and re-creating the triggers costs more than it saves.
BULK_MIN = 50
_UPDATABLE = [c.name for c in scenes.columns if c.name not in ("id", "provider", "scene_id", "first_seen")]


def _bulk_cache(scenes: int) -> int | None:
    """The page cache (KiB) of a bulk transaction of ``scenes``: larger only when it needs it
    (released at commit), else the connection's own (None)."""
    if scenes >= BATCH:
        return LARGE_BULK_CACHE_KIB
    return BULK_CACHE_KIB if scenes >= BULK_CACHE_MIN else None


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _upsert_statement(dialect: str) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    values: dict[str, Any] = {c.name: bindparam(c.name) for c in scenes.columns if c.name not in ("id", "footprint")}
    values["footprint"] = func.ST_GeomFromWKB(bindparam("fp_wkb", type_=LargeBinary), SRID)
    stmt = insert(scenes).values(values)
    return stmt.on_conflict_do_update(
        index_elements=[scenes.c.provider, scenes.c.scene_id],
        set_={name: stmt.excluded[name] for name in _UPDATABLE},
    )


_FOOTPRINT_WKB = type_coerce(func.ST_AsBinary(scenes.c.footprint), LargeBinary).label("fp_wkb")


def _record_columns() -> list[Any]:
    """The select list of :data:`~eoharvest.adapters.catalog.rows.RECORD_COLUMNS`, whose rows
    :func:`~eoharvest.adapters.catalog.rows.decode_records` turns into CatalogRecords."""
    special = {"footprint": _FOOTPRINT_WKB, "download_state": download_state()}
    return [special[name] if name in special else scenes.c[name] for name in RECORD_COLUMNS]


class SpatialiteCatalog:
    """Scenes seen, files fetched, saved searches and download jobs, in one SpatiaLite file.

    Reads use plain ``BEGIN``; every write transaction is ``BEGIN IMMEDIATE`` and short (at
    most ``BULK_TRANSACTION`` scenes of a sequence, ``BATCH`` of an iterator), so concurrent
    writers queue instead of failing.
    """

    def __init__(self, engines: Engines, path: Path, *, created: bool = False, read_only: bool = False) -> None:
        self._engines = engines
        self.path = path
        self.created = created
        #: opened read-only (``open_catalog(read_only=True)``): every write fails
        self.read_only = read_only
        self._dialect = engines.reader.dialect.name
        self._upsert = _upsert_statement(self._dialect)
        self.bulk_min = BULK_MIN

    # -- scenes -------------------------------------------------------------------------
    def upsert_scenes(self, scenes: Iterable[Scene], *, seen_at: datetime | None = None) -> int:
        """Insert or update scenes by (provider, scene_id); returns how many were new."""
        # ``scenes`` (the port's parameter name) shadows the table here; this method needs only the argument.
        now = seen_at or _utcnow()
        new = 0
        if self._dialect == "sqlite" and isinstance(scenes, Sequence):
            return self._upsert_sequence(scenes, now)
        batch: list[Scene] = []
        for scene in scenes:
            batch.append(scene)
            if len(batch) >= BATCH:
                new += self._upsert_batch(batch, now)
                batch = []
        if batch:
            new += self._upsert_batch(batch, now)
        return new

    def _upsert_sequence(self, scenes: Sequence[Scene], now: datetime) -> int:
        """SQLite: up to BULK_TRANSACTION scenes per transaction, BATCH per statement batch, the
        next batch encoded while SQLite fills this one's R*Tree entries."""
        transactions = [(start, min(start + BULK_TRANSACTION, len(scenes))) for start in range(0, len(scenes), BULK_TRANSACTION)]
        bounds = [(at, min(at + BATCH, end)) for start, end in transactions for at in range(start, end, BATCH)]
        new = 0
        with EncodeAhead(scenes, bounds, now) as encoded:  # a failed write stops the worker
            for start, end in transactions:
                bypass = end - start >= self.bulk_min
                cache = _bulk_cache(end - start)
                with self._write() as conn, bulk.BulkWrite(conn, bypass_triggers=bypass, cache_kib=cache) as write:
                    for _ in range(start, end, BATCH):
                        new += write(encoded.take())
                        encoded.prefetch()
                        write.index()
        return new

    def _upsert_batch(self, batch: Sequence[Scene], now: datetime) -> int:
        if self._dialect == "sqlite":
            encoded = encode_scenes(batch, now)
            with self._write() as conn:
                size = len(encoded.values)
                return bulk.upsert(conn, encoded, bypass_triggers=size >= self.bulk_min,
                                   cache_kib=_bulk_cache(size))  # fmt: skip
        rows = scene_rows(batch, now)
        keys = [(r["provider"], r["scene_id"]) for r in rows]
        with self._write() as conn:
            existing = conn.execute(
                select(func.count()).where(tuple_(scenes.c.provider, scenes.c.scene_id).in_(keys))
            ).scalar_one()
            conn.execute(self._upsert, rows)
        return len(rows) - existing

    def get_scene(self, provider: str, scene_id: str) -> Scene | None:
        """The scene stored under (provider, scene_id), or None."""
        stmt = select(*_record_columns()).where(scenes.c.provider == provider, scenes.c.scene_id == scene_id)
        with self._engines.reader.connect() as conn:
            row = conn.execute(stmt).first()
        return decode_records([row], {})[0].scene if row else None

    def count(self) -> int:
        with self._engines.reader.connect() as conn:
            return conn.execute(select(func.count()).select_from(scenes)).scalar_one()

    def query(self, criteria: CatalogFilter) -> list[CatalogRecord]:
        """Scenes matching ``criteria``, sorted and limited, with state and verified files."""
        if self._dialect == "sqlite":
            return fast_query.query(self._engines.reader, criteria)
        return self.query_sqlalchemy(criteria)

    def geojson_features(self, criteria: CatalogFilter) -> Iterator[str]:
        """The matching scenes as GeoJSON Feature texts, read and written a chunk at a time (the
        Features of ``export.geojson_collection(self.query(criteria))``)."""
        from eoharvest.adapters.catalog.geojson_stream import FEATURE_COLUMNS, feature_texts

        return feature_texts(fast_query.stream_rows(self._engines.reader, criteria, FEATURE_COLUMNS))

    def query_sqlalchemy(self, criteria: CatalogFilter) -> list[CatalogRecord]:
        """:meth:`query` on SQLAlchemy Core: the portable path (PostGIS), and the reference the
        SQLite fast path (:mod:`eoharvest.adapters.catalog.fast_query`) is tested against."""
        conds = filter_clauses(criteria, self._dialect)
        columns = _record_columns()
        if criteria.distinct_products:
            ranked = (
                select(
                    scenes.c.id,
                    func.row_number()
                    .over(partition_by=scenes.c.product_key, order_by=scenes.c.id)
                    .label("rank"),
                )
                .where(*conds)
                .subquery()
            )
            stmt = select(*columns).join(ranked, ranked.c.id == scenes.c.id).where(ranked.c.rank == 1)
        else:
            stmt = select(*columns).where(*conds)
        stmt = stmt.order_by(*order_by(criteria))
        if criteria.limit:
            stmt = stmt.limit(criteria.limit)
        with self._engines.reader.connect() as conn:
            rows = conn.execute(stmt).all()
            paths = downloads.local_paths(conn, [r.id for r in rows])
        return decode_records(rows, paths)

    def stats(self) -> CatalogStats:
        """Counts per platform, year and download state, and the bytes of verified files."""
        if self._dialect == "sqlite":
            with self._engines.reader.connect() as conn:
                cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
                try:
                    return catalog_stats.read_stats(cursor)
                finally:
                    cursor.close()
        return self._stats_sqlalchemy()

    def _stats_sqlalchemy(self) -> CatalogStats:
        year = extract("year", scenes.c.acq_start)
        state = download_state()
        with self._engines.reader.connect() as conn:
            total, products = conn.execute(
                select(func.count(), func.count(scenes.c.product_key.distinct()))
            ).one()
            per_platform = conn.execute(select(scenes.c.platform, func.count()).group_by(scenes.c.platform)).all()
            per_year = conn.execute(select(year, func.count()).select_from(scenes).group_by(year)).all()
            per_state = conn.execute(select(state, func.count()).select_from(scenes).group_by(state)).all()
            size, available = conn.execute(
                select(func.coalesce(func.sum(files.c.size), 0), func.count()).where(files.c.state == "available")
            ).one()
        return CatalogStats(
            scenes=total,
            products=products,
            per_platform=dict(sorted((p, n) for p, n in per_platform)),
            per_year={int(y): n for y, n in sorted(per_year, key=lambda t: (t[0] is None, t[0])) if y is not None},
            per_state=dict(sorted((s, n) for s, n in per_state)),
            archive_bytes=int(size),
            files_available=available,
        )

    # -- files and downloads ------------------------------------------------------------
    def record_file(
        self,
        provider: str,
        scene_id: str,
        name: str,
        *,
        href: str | None = None,
        size: int | None = None,
        checksum: Checksum | None = None,
        asset: str | None = None,
    ) -> int:
        """Register (or update) a file of a catalogued scene; returns the file id. ``asset``
        names what the file is (a STAC asset key, a band, ``product``); None keeps what was
        recorded."""
        with self._write() as conn:
            return downloads.record_file(conn, provider, scene_id, name, href, size, checksum, _utcnow(), asset)

    def set_file_state(
        self, file_id: int, state: str, *, local_path: str | None = None, sha256: str | None = None
    ) -> None:
        """Move a file to ``state``; "available" needs the local path and its SHA-256."""
        with self._write() as conn:
            downloads.set_file_state(conn, file_id, state, local_path, sha256, _utcnow())
        if state == "available":
            crash_point("after-commit")  # kill -9 trials: the file is verified and recorded

    def record_extraction(
        self, file_id: int, *, local_path: str, sha256: str, members: Sequence[ExtractedMember]
    ) -> None:
        """Mark archive ``file_id`` available and record its extracted members, in one transaction."""
        now = _utcnow()
        with self._write() as conn:
            downloads.set_file_state(conn, file_id, "available", local_path, sha256, now)
            member_rows.replace_members(conn, file_id, members, now)
        crash_point("after-commit")  # kill -9 trials: the archive and its members are recorded

    def stored_members(self, product_key: str | None = None) -> list[StoredMember]:
        """Recorded members of every available archive (optionally of one product)."""
        with self._engines.reader.connect() as conn:
            return member_rows.stored_members(conn, product_key)

    def refresh_member(self, member_id: int) -> None:
        """Record a member's on-disk identity as it is now (its bytes still match)."""
        with self._write() as conn:
            member_rows.refresh_member(conn, member_id, _utcnow())

    def available_files(self, product_key: str) -> list[str]:
        """Local paths of verified files of this product from any provider (dedup)."""
        with self._engines.reader.connect() as conn:
            return downloads.available_files(conn, product_key)

    def available_file_records(self, product_key: str) -> list[AvailableFile]:
        """Verified ("available") files of this product from any provider whose local path is set."""
        with self._engines.reader.connect() as conn:
            return downloads.available_file_records(conn, product_key)

    def scene_files(self, provider: str, scene_id: str) -> list[SceneFile]:
        """Every file of the scene at ``provider``, any state, with its newest job's state."""
        with self._engines.reader.connect() as conn:
            return downloads.scene_files(conn, provider, scene_id)

    def stored_files(self, product_key: str | None = None) -> list[StoredFile]:
        """Every verified file with a local path and its SHA-256 (optionally of one product)."""
        with self._engines.reader.connect() as conn:
            return downloads.stored_files(conn, product_key)

    def enqueue_download(self, file_id: int) -> int:
        """Queue a download job for a file; returns the job id."""
        with self._write() as conn:
            return downloads.enqueue(conn, file_id, _utcnow())

    def claim_job(self, owner: str, lease_seconds: float) -> int | None:
        """Lease the oldest due queued job to ``owner`` (state -> fetching); None if none is due."""
        with self._write() as conn:
            return downloads.claim(conn, owner, lease_seconds, _utcnow())

    def transition_job(
        self, job_id: int, state: str, *, error_class: str | None = None, error_message: str | None = None
    ) -> None:
        """Move a job along the download state machine; illegal moves raise CatalogError."""
        with self._write() as conn:
            downloads.transition(conn, job_id, state, error_class, error_message, _utcnow())

    def job_state(self, job_id: int) -> str | None:
        with self._engines.reader.connect() as conn:
            return downloads.job_state(conn, job_id)

    # -- saved searches -----------------------------------------------------------------
    def save_search(self, name: str, query: Mapping[str, object], *, enabled: bool = True) -> None:
        """Store (or replace) a named search for the sync daemon."""
        values = {"name": name, "query": json.dumps(dict(query), default=str), "enabled": enabled}
        insert = postgresql.insert if self._dialect == "postgresql" else sqlite.insert
        stmt = insert(searches).values(**values, created_at=_utcnow().replace(tzinfo=None))
        stmt = stmt.on_conflict_do_update(
            index_elements=[searches.c.name], set_={"query": stmt.excluded.query, "enabled": enabled}
        )
        with self._write() as conn:
            conn.execute(stmt)

    def saved_searches(self) -> dict[str, Mapping[str, object]]:
        with self._engines.reader.connect() as conn:
            rows = conn.execute(select(searches.c.name, searches.c.query).order_by(searches.c.name)).all()
        return {name: json.loads(query) for name, query in rows}

    # -- plumbing -----------------------------------------------------------------------
    @property
    def writer(self) -> Engine:
        return self._engines.writer

    @property
    def reader(self) -> Engine:
        return self._engines.reader

    def _write(self) -> Any:
        return _WriteTransaction(self._engines.writer)

    def close(self) -> None:
        """Release every pooled connection."""
        self._engines.dispose()

    def __enter__(self) -> SpatialiteCatalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- sync daemon state (revision 0002) ------------------------------------------------
    def search_states(self) -> dict[str, SearchState]:
        """SearchState of every saved search that has run, by name."""
        from eoharvest.adapters.catalog import sync_state

        with self._engines.reader.connect() as conn:
            return sync_state.states(conn)

    def put_search_state(self, name: str, state: SearchState) -> bool:
        """Commit a search's SearchState in one short write; False if the search is gone."""
        from eoharvest.adapters.catalog import sync_state

        with self._write() as conn:
            return sync_state.put(conn, name, state, _utcnow())

    def search_enabled(self) -> dict[str, bool]:
        """Every saved search's ``enabled`` flag, by name (`watch disable` clears it)."""
        from eoharvest.adapters.catalog import sync_state

        with self._engines.reader.connect() as conn:
            return sync_state.enabled(conn)

    def set_search_enabled(self, name: str, enabled: bool) -> bool:
        """Enable or disable a saved search; False if there is none."""
        from eoharvest.adapters.catalog import sync_state

        with self._write() as conn:
            return sync_state.set_enabled(conn, name, enabled)

    def remove_search(self, name: str) -> bool:
        """Delete a saved search and its state; False if there was none."""
        from eoharvest.adapters.catalog import sync_state

        with self._write() as conn:
            return sync_state.remove(conn, name)

    def verified_bytes_since(self, since: datetime) -> int:
        """Bytes of files verified (made available) at or after ``since``."""
        from eoharvest.adapters.catalog import sync_state

        with self._engines.reader.connect() as conn:
            return sync_state.verified_bytes_since(conn, since)

    # -- saved-search leases (revision 0003) ----------------------------------------------
    def take_search_lease(self, name: str, owner: str, seconds: float, *, replacing: str | None = None) -> bool:
        """Take or renew the lease of search ``name``; False while another holder's is live."""
        with self._write() as conn:
            return leases.take(conn, name, owner, seconds, replacing, _utcnow())

    def search_lease(self, name: str) -> SearchLease | None:
        with self._engines.reader.connect() as conn:
            return leases.get(conn, name)

    def release_search_lease(self, name: str, owner: str) -> None:
        with self._write() as conn:
            leases.release(conn, name, owner)

    # -- orders (revision 0004) -------------------------------------------------------------
    def create_order(self, order: Order) -> Order | None:
        """Insert a new order; None when its key already has one (another process won)."""
        with self._write() as conn:
            return order_rows.create(conn, order)

    def update_order(self, order: Order) -> Order | None:
        """Write ``order`` if the stored row still has its version; the stored order or None."""
        with self._write() as conn:
            return order_rows.write(conn, order)

    def get_order(self, key: OrderKey) -> Order | None:
        with self._engines.reader.connect() as conn:
            return order_rows.by_key(conn, key)

    def claim_order_poll(self, order: Order, owner: str, now: datetime, until: datetime) -> Order | None:
        """Take ``order``'s poll lease if it is unchanged, due and free; the claimed order or None."""
        if order.id is None:
            raise ValueError("an order without an id cannot be polled; create it first")
        with self._write() as conn:
            return order_rows.claim_poll(conn, order, owner, now, until)

    def order_by_id(self, order_id: int) -> Order | None:
        with self._engines.reader.connect() as conn:
            return order_rows.by_id(conn, order_id)

    def find_orders(self, criteria: OrderFilter) -> list[Order]:
        """Orders matching ``criteria``, oldest first."""
        with self._engines.reader.connect() as conn:
            return order_rows.find(conn, criteria)

    def delete_order(self, order: Order) -> bool:
        """Remove the order if it still has ``order.version``."""
        with self._write() as conn:
            return order_rows.remove(conn, order)

    def order_counts(self) -> dict[str, int]:
        with self._engines.reader.connect() as conn:
            return order_rows.state_counts(conn)


class _WriteTransaction:
    """``engine.begin()`` that reports a lock held past the busy timeout as CatalogBusy."""

    def __init__(self, engine: Engine) -> None:
        self._cm = engine.begin()

    def __enter__(self) -> Any:
        try:
            return self._cm.__enter__()
        except OperationalError as exc:
            raise _busy(exc) from None

    def __exit__(self, *exc: Any) -> Any:
        try:
            return self._cm.__exit__(*exc)
        except OperationalError as error:
            raise _busy(error) from None


def _busy(exc: OperationalError) -> Exception:
    if "locked" in str(exc.orig) or "busy" in str(exc.orig):
        return CatalogBusy(
            f"the catalog stayed locked by another writer: {exc.orig}",
            hint="retry later; a long-running writer should use shorter transactions",
        )
    return exc
