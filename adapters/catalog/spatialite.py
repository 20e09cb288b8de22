"""SQLite + SpatiaLite connections: extension loading, per-connection PRAGMAs, real transactions.

Two engine views share one connection pool: the reader begins with a plain ``BEGIN`` and the
writer with ``BEGIN IMMEDIATE``. A deferred transaction that reads first and writes later cannot
be upgraded once another connection has written, and SQLite then fails at once without calling
the busy handler; ``BEGIN IMMEDIATE`` takes the write lock up front and waits in the busy handler
instead (SQLite "Transaction" documentation; tests/integration/test_catalog_concurrency.py shows it).
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Sequence

from eoharvest.adapters.catalog.probe import read_only_uri
from eoharvest.domain.errors import UnsupportedEnvironment

if TYPE_CHECKING:
    from sqlalchemy import Engine

SPATIALITE_FIX = (
    "use a venv on Debian's /usr/bin/python3, or pip install pysqlite3-binary; "
    "apt-get install libsqlite3-mod-spatialite"
)
CLI_BUSY_TIMEOUT_MS = 30_000
#: Page cache per connection, KiB (SQLite's default is 2 MiB). Connections start small: a
#: harvest commits pages of ~100 scenes and reads few pages per query, and every cached page
#: counts in the process's memory (a harvest stays under 150 MiB). A bulk write (thousands of
#: scenes in one transaction, see ``bulk.py``) raises its connection's cache for the length of
#: its transaction to BULK_CACHE_KIB, or LARGE_BULK_CACHE_KIB from ``repository.BATCH`` scenes
#: on: it updates four indexes and the R*Tree at random places, and at 1M scenes their pages
#: no longer fit a small cache (256 MiB: 13% less CPU than 64 MiB for 100k scenes at 1M,
#: bench/catalog.py; released at commit, so a harvest's small pages never hold it). By default no memory map is used (SQLite could read
#: through one instead of read() calls): mapped pages count in RSS too, and made the peak memory
#: of `catalog query` grow with the catalog (675 MiB at 1M). A long-running reader (`eoharvest
#: serve`) opens its connections with ``memory_map``: its queries then read pages through a map
#: of up to MEMORY_MAP_BYTES (p95 at 1M scenes 9 -> 4.4 ms, bench/catalog.py), and the pages it
#: touches stay resident, shared with the OS page cache.
WRITER_CACHE_KIB = 4 * 1024
READER_CACHE_KIB = 8 * 1024
BULK_CACHE_KIB = 64 * 1024
LARGE_BULK_CACHE_KIB = 256 * 1024
MEMORY_MAP_BYTES = 2 * 1024**3  # SQLite caps it at its SQLITE_MAX_MMAP_SIZE (~2 GiB on Debian)
#: Pages of a new catalog file. Raw provider records are ~2-20 KB per scene; with 4 KiB pages most
#: of them spill into overflow chains of several pages.
PAGE_SIZE = 8192
#: WAL pages before a commit checkpoints them into the database (SQLite's default is 1000, 4 MB
#: with 4 KiB pages): fewer, larger checkpoints write each hot index page once per checkpoint
#: instead of once per few pages of ingest.
WAL_AUTOCHECKPOINT = 8000
BEGIN_MODE_OPTION = "eoharvest_begin"


def preload_geo_libraries() -> None:
    """Import shapely, pyproj and pyogrio before SQLite loads mod_spatialite.

    SQLite dlopens extensions with RTLD_GLOBAL, so mod_spatialite's system GEOS and PROJ would
    interpose on the copies bundled in the shapely/pyproj/pyogrio wheels if those were loaded
    afterwards: measured as "WKB output dimension must be 2 or 3", free(): invalid pointer and
    segfaults. Loaded first, the wheels bind their own copies.
    """
    import pyproj  # noqa: F401
    import shapely  # noqa: F401

    try:
        import pyogrio  # noqa: F401
    except ImportError:  # optional: only the GeoPackage export needs it
        pass


def sqlite_module() -> ModuleType:
    """The DB-API module to use: stdlib sqlite3 if it can load extensions, else pysqlite3."""
    import sqlite3

    if hasattr(sqlite3.Connection, "enable_load_extension"):
        return sqlite3
    try:
        from pysqlite3 import dbapi2  # type: ignore[import-not-found]
    except ImportError:
        raise UnsupportedEnvironment(
            "this Python's sqlite3 cannot load extensions, so SpatiaLite is unavailable",
            hint=SPATIALITE_FIX,
        ) from None
    return dbapi2


#: The wheels with their own copies of SpatiaLite's libraries (GEOS; PROJ; GDAL, GEOS and PROJ).
GEO_LIBRARIES = ("shapely", "pyproj", "pyogrio")


class _RefuseLateGeoImports:
    """An import hook installed when SpatiaLite was loaded before some of :data:`GEO_LIBRARIES`
    were imported: importing one afterwards would crash the process (see
    :func:`preload_geo_libraries`), so it fails with an ImportError that says why instead."""

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
        top = name.partition(".")[0]
        if top in GEO_LIBRARIES and top not in sys.modules:
            raise ImportError(
                f"{name} cannot be imported after SpatiaLite was loaded without it "
                "(eoharvest.adapters.catalog.spatialite.load_spatialite(preload=...)): its "
                "libraries would bind to SpatiaLite's copies and crash"
            )
        return None


def load_spatialite(dbapi_connection: Any, *, preload: Sequence[str] = GEO_LIBRARIES) -> None:
    """Load mod_spatialite into one DB-API connection, or raise UnsupportedEnvironment.

    The ``preload`` libraries (by default all of :data:`GEO_LIBRARIES`) are imported first. A
    process that will not need some skips them: pyogrio (GDAL) costs ~0.1-0.2 s and ~65 MiB, the
    largest part of a short command's time and of a harvest's memory, pyproj ~0.1 s, shapely
    (with numpy) ~0.05 s, a third of a GeoJSON query's time. Importing a skipped one later
    raises ImportError instead of crashing.
    """
    for name in preload:
        if name not in GEO_LIBRARIES:
            raise ValueError(f"not a geo library: {name!r}")
        if name == "pyogrio":
            preload_geo_libraries()  # tolerates a missing pyogrio
        else:
            importlib.import_module(name)
    if not all(name in sys.modules for name in GEO_LIBRARIES):
        if not any(isinstance(hook, _RefuseLateGeoImports) for hook in sys.meta_path):
            sys.meta_path.insert(0, _RefuseLateGeoImports())
    library = os.environ.get("SPATIALITE_LIBRARY_PATH", "mod_spatialite")
    try:
        dbapi_connection.enable_load_extension(True)
        dbapi_connection.load_extension(library)
        dbapi_connection.enable_load_extension(False)
    except AttributeError:
        raise UnsupportedEnvironment(
            "this Python's sqlite3 cannot load extensions, so SpatiaLite is unavailable",
            hint=SPATIALITE_FIX,
        ) from None
    except Exception as exc:  # the driver's OperationalError: library not found
        raise UnsupportedEnvironment(
            f"cannot load SpatiaLite ({library!r}): {exc}", hint=SPATIALITE_FIX
        ) from None


@dataclass(frozen=True)
class Engines:
    """The reader and writer views of one catalog database."""

    reader: Engine
    writer: Engine

    def dispose(self) -> None:
        self.reader.dispose()


def create_engines(
    path: Path | str,
    *,
    busy_timeout_ms: int = CLI_BUSY_TIMEOUT_MS,
    writer_begin: str = "IMMEDIATE",
    module: ModuleType | None = None,
    read_only: bool = False,
    preload_gdal: bool = True,
    memory_map: bool = False,
) -> Engines:
    """Engines for the catalog file at ``path`` with SpatiaLite loaded on every connection.

    Without ``preload_gdal`` neither pyogrio nor pyproj is imported first (see
    :func:`load_spatialite`): a process that reads no vector file and reprojects no AOI once the
    catalog is open saves their memory (~65 and ~11 MiB).
    ``writer_begin`` is "IMMEDIATE" in production; tests pass "DEFERRED" to show why. With
    ``read_only`` every connection is opened with SQLite's ``mode=ro``: the file's journal mode
    is left as it is and any write fails. With ``memory_map`` (long-running readers) SQLite
    reads the file through a memory map of up to :data:`MEMORY_MAP_BYTES`.
    """
    from sqlalchemy import create_engine, event
    from sqlalchemy.pool import QueuePool

    dbapi = module or sqlite_module()
    if read_only:
        uri = read_only_uri(Path(path))
        engine = create_engine(
            "sqlite://", module=dbapi, poolclass=QueuePool,
            creator=lambda: dbapi.connect(uri, uri=True, check_same_thread=False),
        )  # fmt: skip
        writer_begin = "DEFERRED"  # never takes the write lock (there is nothing to write)
    else:
        engine = create_engine(f"sqlite:///{Path(path)}", module=dbapi)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the driver's legacy mode; we emit BEGIN ourselves.
        dbapi_connection.isolation_level = None
        load_spatialite(dbapi_connection, preload=GEO_LIBRARIES if preload_gdal else ("shapely",))
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            cursor.execute("PRAGMA foreign_keys = ON")
            if not read_only:
                cursor.execute(f"PRAGMA page_size = {PAGE_SIZE}")  # takes effect only on a new, empty file
                if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                    cursor.execute("PRAGMA journal_mode = WAL")
                cursor.execute(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT}")
            cursor.execute("PRAGMA synchronous = NORMAL")
            cache = READER_CACHE_KIB if read_only else WRITER_CACHE_KIB
            cursor.execute(f"PRAGMA cache_size = {-cache}")
            if memory_map:
                cursor.execute(f"PRAGMA mmap_size = {MEMORY_MAP_BYTES}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = connection.get_execution_options().get(BEGIN_MODE_OPTION, "")
        connection.exec_driver_sql(f"BEGIN {mode}".strip())

    writer_mode = writer_begin.upper()
    if writer_mode not in ("IMMEDIATE", "DEFERRED", "EXCLUSIVE"):
        raise ValueError(f"unknown BEGIN mode {writer_begin!r}")
    writer = engine.execution_options(**{BEGIN_MODE_OPTION: writer_mode})
    return Engines(reader=engine, writer=writer)
