"""A lean read-only view of a SpatiaLite catalog: GeoJSON Features and stats on one plain
DB-API connection, without SQLAlchemy and GeoAlchemy2.

`catalog query --format geojson` and `catalog stats` are short processes in which loading the
repository's libraries took most of the time (about 0.5 s of CPU for a query SQLite answers in
milliseconds). The SQL is the repository's own (:mod:`fast_query`, :mod:`stats`), so the
answers are the same (tests/integration/test_catalog_read_paths.py).
"""

from __future__ import annotations

from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any, Iterator, Sequence

from eoharvest.adapters.catalog.spatialite import GEO_LIBRARIES, READER_CACHE_KIB, load_spatialite
from eoharvest.domain.errors import CatalogBusy, CatalogError

if TYPE_CHECKING:
    from eoharvest.domain.catalog_query import CatalogFilter, CatalogStats


class CatalogReader:
    """Opened by :func:`eoharvest.adapters.catalog.open_reader`; close it (or use ``with``)."""

    def __init__(self, connection: Any, module: ModuleType, *, spatial: bool) -> None:
        self._connection = connection
        self._module = module
        self._spatial = spatial

    def geojson_features(self, criteria: CatalogFilter) -> Iterator[str]:
        """The matching scenes as GeoJSON Feature texts, a chunk of rows at a time."""
        if not self._spatial:
            raise RuntimeError("this reader was opened without SpatiaLite (open_reader(spatial=True))")
        from eoharvest.adapters.catalog.fast_query import sqlite_rows
        from eoharvest.adapters.catalog.geojson_stream import FEATURE_COLUMNS, feature_texts

        rows = sqlite_rows(self._connection, self._module.Error, criteria, FEATURE_COLUMNS, _catalog_error)
        return feature_texts(rows)

    def stats(self) -> CatalogStats:
        """Counts per platform, year and download state (one read transaction)."""
        from eoharvest.adapters.catalog import stats

        cursor = self._connection.cursor()
        try:
            cursor.execute("BEGIN")
            try:
                return stats.read_stats(cursor)
            finally:
                cursor.execute("ROLLBACK")
        except self._module.Error as exc:
            raise _catalog_error(exc, "stats", ()) from exc
        finally:
            cursor.close()

    def close(self) -> None:
        self._connection.close()

    def __enter__(self) -> CatalogReader:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def connect_reader(uri: str, module: ModuleType, busy_timeout_ms: int, *, spatial: bool, preload: bool) -> CatalogReader:
    """A :class:`CatalogReader` on the read-only SQLite ``uri``; without ``preload`` SpatiaLite
    is loaded before shapely, pyproj and pyogrio, unless they were imported already (see
    ``load_spatialite``): the lean reader reads footprints without them."""
    connection = module.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
    try:
        if spatial:
            load_spatialite(connection, preload=GEO_LIBRARIES if preload else ())
        connection.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        connection.execute(f"PRAGMA cache_size = {-READER_CACHE_KIB}")
    except BaseException:
        connection.close()
        raise
    return CatalogReader(connection, module, spatial=spatial)


def _catalog_error(exc: Exception, sql: str, params: Sequence[Any]) -> Exception:
    if "locked" in str(exc) or "busy" in str(exc):
        return CatalogBusy(
            f"the catalog stayed locked by another writer: {exc}",
            hint="retry later; a long-running writer should use shorter transactions",
        )
    return CatalogError(f"cannot read the catalog: {exc}")
