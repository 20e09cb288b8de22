"""The catalog on PostgreSQL + PostGIS: the same tables, migrations and repository as SpatiaLite.

Only what differs between the dialects lives here and in :mod:`postgis_query`:

* connections: psycopg 3 under SQLAlchemy; one engine serves reads and writes (PostgreSQL's
  MVCC needs no ``BEGIN IMMEDIATE``), a lock held past ``lock_timeout`` is CatalogBusy;
* opening: a database with other tables is refused untouched, PostGIS is created if missing,
  and creation/migration run under a transaction-scoped advisory lock (two first runs at once
  migrate once), where SpatiaLite uses a lock file;
* scene upserts count new rows with ``RETURNING (xmax = 0)`` (true for an inserted row);
* queries go through the PostGIS form (:mod:`postgis_query`), never SpatiaLite's R*Tree probe.

Passwords: the URL's password (if any) is registered with the redaction registry before the
first connection, so no error or log line shows it; libpq also reads ``PGPASSWORD`` and the
password file (``PGPASSFILE``, default ``~/.pgpass``), which keep it out of the URL entirely.
"""

from __future__ import annotations

from datetime import datetime
import json
from typing import Any, Iterator, Sequence

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    LargeBinary,
    MetaData,
    Table,
    create_engine,
    event,
    func,
    inspect,
    literal_column,
    select,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.schema import CreateTable
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from eoharvest.adapters.catalog import postgis_query
from eoharvest.adapters.catalog.repository import SpatialiteCatalog
from eoharvest.adapters.catalog.rows import scene_rows
from eoharvest.adapters.catalog.spatialite import Engines
from eoharvest.adapters.catalog.tables import SRID, scenes
from eoharvest.domain.catalog_location import CatalogUrl
from eoharvest.domain.catalog_query import CatalogFilter, CatalogRecord, CatalogStats
from eoharvest.domain.errors import CatalogBusy, CatalogError
from eoharvest.domain.models import Scene
from eoharvest.domain.orders import Order
from eoharvest.domain.redaction import SECRETS, redact

#: Seconds a statement waits for a row or table lock before failing as CatalogBusy (the
#: counterpart of SQLite's busy timeout).
LOCK_TIMEOUT_S = 30
CONNECT_TIMEOUT_S = 10
#: Tables PostGIS itself creates in the schema it is installed in: they do not make a database
#: "foreign".
POSTGIS_TABLES = frozenset({"spatial_ref_sys"})
CATALOG_TABLES = frozenset({"alembic_version", "scenes"})
#: Advisory lock keys: (namespace, purpose). The namespace is arbitrary but fixed ("eoha").
LOCK_NAMESPACE = 0x656F6861
MIGRATION_LOCK = 1
_SETUP_HINT = (
    "create the database and PostGIS once, as a superuser: "
    "createdb -O <user> eoharvest && psql -d eoharvest -c 'CREATE EXTENSION postgis'"
)


def sqlalchemy_url(location: CatalogUrl) -> Any:
    """The SQLAlchemy URL of ``location`` with the psycopg 3 driver (``postgres://`` accepted)."""
    return make_url("postgresql+psycopg://" + location.url.split("://", 1)[1])


def create_postgis_engine(
    location: CatalogUrl, *, read_only: bool = False, application: str = "eoharvest", **options: Any
) -> Engine:
    """An engine on ``location``. With ``read_only`` every transaction is READ ONLY; ``options``
    go to ``create_engine`` (e.g. ``poolclass``)."""
    SECRETS.add(location.password)
    engine = create_engine(
        sqlalchemy_url(location),
        # No pool_pre_ping: it costs a round trip per checkout, about what a query costs. A
        # connection the server dropped fails one statement, is invalidated, and the next
        # checkout opens a fresh one.
        connect_args={"connect_timeout": CONNECT_TIMEOUT_S, "application_name": application},
        **options,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        with dbapi_connection.cursor() as cursor:
            cursor.execute(f"SET lock_timeout = '{int(LOCK_TIMEOUT_S)}s'")
            # psycopg prepares a statement run five times; PostgreSQL may then switch it to a
            # generic plan, blind to the AOI and dates, while the best plan for a catalog query
            # depends on them (GiST probe of a small AOI, or a date range first). Plan with them.
            cursor.execute("SET plan_cache_mode = force_custom_plan")
            if read_only:
                cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        dbapi_connection.commit()

    return engine


def connection_error(location: CatalogUrl, exc: BaseException) -> CatalogError:
    """A CatalogError for a failed connection, naming the (redacted) URL and the server's reason."""
    text = str(getattr(exc, "orig", None) or exc).strip()
    reason = redact(text.splitlines()[0] if text else type(exc).__name__)
    hint = "check the host, port, user and database in the URL; is the server running?"
    lowered = reason.lower()
    if "password" in lowered or "authentication" in lowered:
        hint = "give the password in PGPASSWORD or a password file (PGPASSFILE, default ~/.pgpass), not in the URL"
    elif "does not exist" in lowered:
        hint = _SETUP_HINT
    return CatalogError(f"cannot open the PostgreSQL catalog {location}: {reason}", hint=hint)


def lock_key(connection: Connection, purpose: int) -> tuple[int, int]:
    """Advisory lock key of ``purpose`` for the catalog in this connection's schema.

    Advisory locks are per database; the schema name makes two catalogs in two schemas of one
    database independent.
    """
    schema = connection.execute(select(func.current_schema())).scalar_one() or "public"
    objid = connection.execute(select(func.hashtext(f"eoharvest:{purpose}:{schema}"))).scalar_one()
    return LOCK_NAMESPACE, int(objid)


def _table_kind(connection: Connection) -> tuple[str, str | None, str]:
    """("empty" | "catalog" | "foreign", revision, reason) of the connection's schema."""
    tables = set(inspect(connection).get_table_names()) - POSTGIS_TABLES
    if not tables:
        return "empty", None, ""
    if not CATALOG_TABLES <= tables:
        shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
        return "foreign", None, f"a database with other tables ({shown})"
    revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return "catalog", revision, ""


def _refuse_foreign(location: CatalogUrl, kind: str, reason: str) -> None:
    if kind == "foreign":
        raise CatalogError(
            f"{location} is not an eoharvest catalog: {reason}; it was left unchanged",
            hint="point --catalog at an empty database (or schema) or at an eoharvest catalog",
        )


def _ensure_postgis(connection: Connection, location: CatalogUrl) -> None:
    present = connection.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")).scalar()
    if present:
        return
    try:
        with connection.begin_nested():
            connection.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
    except DBAPIError as exc:
        raise CatalogError(
            f"the database of {location} has no PostGIS and this user cannot add it: "
            f"{redact(str(exc.orig).strip().splitlines()[0])}",
            hint=_SETUP_HINT,
        ) from None


def migrate_postgis(engine: Engine, location: CatalogUrl, revision: str = "head") -> bool:
    """Create (PostGIS included) or migrate the catalog; True when it was created.

    Everything runs in one transaction under an advisory lock: PostgreSQL DDL is
    transactional, so a failure leaves the database as it was, and a second process opening
    the catalog at the same moment waits, then finds it at head.
    """
    from alembic import command

    from eoharvest.adapters.catalog import migrate as migrations

    with engine.begin() as connection:
        connection.execute(select(func.pg_advisory_xact_lock(*lock_key(connection, MIGRATION_LOCK))))
        kind, current, reason = _table_kind(connection)
        _refuse_foreign(location, kind, reason)
        migrations.check_not_newer(current)
        _ensure_postgis(connection, location)
        if not (revision == "head" and current == migrations.head_revision()):
            command.upgrade(migrations.alembic_config(connection), revision)
    return kind == "empty"


def _require_current(connection: Connection, location: CatalogUrl) -> None:
    from eoharvest.adapters.catalog import migrate as migrations

    kind, current, reason = _table_kind(connection)
    _refuse_foreign(location, kind, reason)
    if kind == "empty":
        raise CatalogError(
            f"there is no catalog in {location} yet",
            hint="run `eoharvest catalog upgrade` (harvest, download and watch add also create one)",
        )
    migrations.check_not_newer(current)
    head = migrations.head_revision()
    if current != head:
        raise CatalogError(
            f"the catalog {location} has schema revision {current!r}, older than this eoharvest's {head!r}",
            hint="run `eoharvest catalog upgrade` (or any command that writes to the catalog) to migrate it",
        )


def open_postgis_catalog(location: CatalogUrl, *, migrate: bool = True, read_only: bool = False) -> PostgisCatalog:
    """Open the PostGIS catalog at ``location`` (created and migrated unless ``read_only``).

    Read-only: nothing is created or migrated, every transaction is READ ONLY, and the
    database must hold a catalog at this code's schema revision. A database with other
    tables is never changed (CatalogError); so is one written by a newer eoharvest.
    """
    engine = create_postgis_engine(location, read_only=read_only)
    try:
        if read_only:
            with engine.connect() as connection:
                _require_current(connection, location)
            return PostgisCatalog(engine, location, read_only=True)
        created = migrate_postgis(engine, location) if migrate else False
        return PostgisCatalog(engine, location, created=created)
    except OperationalError as exc:
        engine.dispose()
        raise connection_error(location, exc) from None
    except BaseException:
        engine.dispose()
        raise


class PostgisCatalog(SpatialiteCatalog):
    """The catalog repository on PostgreSQL/PostGIS.

    It inherits the portable SQLAlchemy Core code of :class:`SpatialiteCatalog` (files,
    searches, sync state, leases, orders: every statement there is written for both dialects)
    and replaces the SQLite-specific parts: the bulk upsert, the query path and the meaning
    of "busy".
    """

    def __init__(self, engine: Engine, location: CatalogUrl, *, created: bool = False, read_only: bool = False) -> None:
        # Reads run in autocommit: each is one statement (or a few that need no common snapshot),
        # and skipping BEGIN/ROLLBACK saves two round trips to the server per query.
        reader = engine.execution_options(isolation_level="AUTOCOMMIT")
        super().__init__(Engines(reader=reader, writer=engine), path=None, created=created, read_only=read_only)  # type: ignore[arg-type]
        #: where the catalog lives (``str()`` masks the password)
        self.location = location

    def _upsert_batch(self, batch: Sequence[Scene], now: datetime) -> int:
        rows = scene_rows(batch, now)
        with self._write() as conn:
            if len(rows) < self.bulk_min:
                # xmax is 0 on a row version written by an INSERT, set when ON CONFLICT updated it.
                stmt = self._upsert.returning(literal_column("(xmax = 0)"))
                return sum(1 for was_new in conn.execute(stmt, rows).scalars() if was_new)
            return _copy_upsert(conn, rows)

    def query(self, criteria: CatalogFilter) -> list[CatalogRecord]:
        """Scenes matching ``criteria`` through the PostGIS query path (GiST, never an R*Tree)."""
        return postgis_query.query(self.reader, criteria)

    def geojson_features(self, criteria: CatalogFilter) -> Iterator[str]:
        """The matching scenes as GeoJSON Feature texts (those of ``export.geojson_collection``)."""
        from eoharvest.adapters.catalog import export

        for feature in export.geojson_collection(self.query(criteria))["features"]:
            yield json.dumps(feature, ensure_ascii=False)

    def stats(self) -> CatalogStats:
        return self._stats_sqlalchemy()

    def create_order(self, order: Order) -> Order | None:
        # READ COMMITTED: two processes may both miss the key and insert; the unique constraint
        # lets exactly one win, and the loser sees "already there", as on SQLite.
        try:
            return super().create_order(order)
        except IntegrityError:
            return None

    def _write(self) -> Any:
        return _PgWriteTransaction(self.writer)

    def __repr__(self) -> str:
        return f"PostgisCatalog({self.location})"


_COPIED = [c.name for c in scenes.columns if c.name not in ("id", "footprint")]
_STAGE = "eoharvest_scene_batch"
#: The staging table, per session, emptied at every commit; nullable columns of the scenes
#: table's types and nothing that refers to it (a migration may still drop or alter ``scenes``).
_STAGE_TABLE = Table(
    _STAGE,
    MetaData(),
    *[Column(name, scenes.c[name].type) for name in _COPIED],
    Column("fp_wkb", LargeBinary),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DELETE ROWS",
)
_UPDATED = [name for name in _COPIED if name not in ("provider", "scene_id", "first_seen")]
#: One statement moves a staged batch into ``scenes``: the same upsert as the row-by-row
#: statement, returning whether each row was new. Identifiers are the table's own column names.
_MERGE = (
    f"INSERT INTO scenes ({', '.join(_COPIED)}, footprint) "
    f"SELECT {', '.join(_COPIED)}, ST_GeomFromWKB(fp_wkb, {SRID}) FROM {_STAGE} "
    "ON CONFLICT (provider, scene_id) DO UPDATE SET "
    + ", ".join(f"{name} = excluded.{name}" for name in [*_UPDATED, "footprint"])
    + " RETURNING (xmax = 0)"
)


def _copy_upsert(conn: Connection, rows: list[dict[str, Any]]) -> int:
    """Upsert a large batch: COPY it into a temporary table, then one INSERT ... SELECT ... ON
    CONFLICT. Several times faster than bound INSERTs (bench/postgis.py); same result."""
    dbapi = conn.dialect.dbapi
    try:
        return _copy_and_merge(conn, rows)
    except dbapi.Error as exc:  # type: ignore[union-attr]
        # As SQLAlchemy would raise it, so a lock timeout still becomes CatalogBusy.
        raise DBAPIError.instance(None, None, exc, dbapi.Error, dialect=conn.dialect) from exc  # type: ignore[union-attr]


def _copy_and_merge(conn: Connection, rows: list[dict[str, Any]]) -> int:
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(str(CreateTable(_STAGE_TABLE, if_not_exists=True).compile(dialect=conn.dialect)))
        columns = [*_COPIED, "fp_wkb"]
        with cursor.copy(f"COPY {_STAGE} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row[name] for name in columns])
        return sum(1 for (was_new,) in cursor.execute(_MERGE) if was_new)
    finally:
        cursor.close()


class _PgWriteTransaction:
    """``engine.begin()`` that reports lock timeouts, deadlocks and serialization failures as
    CatalogBusy (a retry later succeeds), with any secret masked."""

    _BUSY = ("55P03", "40P01", "40001")  # lock_not_available, deadlock_detected, serialization_failure

    def __init__(self, engine: Engine) -> None:
        self._cm = engine.begin()

    def __enter__(self) -> Any:
        try:
            return self._cm.__enter__()
        except OperationalError as exc:
            raise self._translate(exc) from None

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Any:
        try:
            result = self._cm.__exit__(exc_type, exc, tb)
        except OperationalError as error:
            raise self._translate(error) from None
        if isinstance(exc, OperationalError):  # a statement timed out waiting for a lock
            translated = self._translate(exc)
            if translated is not exc:
                raise translated from None
        return result

    @classmethod
    def _translate(cls, exc: DBAPIError) -> Exception:
        if getattr(exc.orig, "sqlstate", None) in cls._BUSY:
            return CatalogBusy(
                f"the catalog stayed locked by another writer: {redact(str(exc.orig).strip())}",
                hint="retry later; a long-running writer should use shorter transactions",
            )
        return exc
