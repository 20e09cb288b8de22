"""Catalog adapters: the SpatiaLite repository (PostGIS later), opened with :func:`open_catalog`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from eoharvest.adapters.catalog import revisions
from eoharvest.adapters.catalog.creation import create_catalog
from eoharvest.adapters.catalog.filesystem import ensure_local_filesystem
from eoharvest.adapters.catalog.locking import exclusive_lock
from eoharvest.adapters.catalog.probe import CatalogFile, check_writable, probe, read_only_uri
from eoharvest.adapters.catalog.spatialite import CLI_BUSY_TIMEOUT_MS, create_engines, sqlite_module
from eoharvest.domain.catalog_location import CatalogUrl, catalog_location
from eoharvest.domain.errors import CatalogError

if TYPE_CHECKING:
    from eoharvest.adapters.catalog.reader import CatalogReader
    from eoharvest.adapters.catalog.repository import SpatialiteCatalog

__all__ = ["SpatialiteCatalog", "open_catalog", "open_reader"]


def __getattr__(name: str) -> Any:
    # The repository (SQLAlchemy, GeoAlchemy2, shapely) loads only when a catalog is opened.
    if name == "SpatialiteCatalog":
        from eoharvest.adapters.catalog.repository import SpatialiteCatalog

        return SpatialiteCatalog
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

_CHOOSE_ANOTHER = "point --catalog (or EOHARVEST_CATALOG) at an eoharvest catalog or at a new file"


def open_catalog(
    path: Path | str | CatalogUrl,
    *,
    busy_timeout_ms: int = CLI_BUSY_TIMEOUT_MS,
    writer_begin: str = "IMMEDIATE",
    mounts_file: Path | str = "/proc/mounts",
    migrate: bool = True,
    read_only: bool = False,
    preload_gdal: bool = True,
    memory_map: bool = False,
) -> SpatialiteCatalog:
    """Open the SpatiaLite catalog at ``path`` (a ``postgresql://`` URL opens the PostGIS one).

    By default it is created (folder included) and migrated if needed. With ``read_only`` nothing
    is created, migrated or locked for writing: the file must already be a catalog at the schema
    revision this code knows, and every connection is read-only (SQLite URI ``mode=ro``).

    A file that is not an eoharvest catalog (another application's database, any other file) is
    never changed: CatalogError. Raises UnsupportedEnvironment when SpatiaLite cannot be loaded
    or the file is on a network filesystem, CatalogError when the catalog was written by a newer
    eoharvest (and, read-only, when it is missing or older than this eoharvest).
    ``preload_gdal=False``: neither pyogrio nor pyproj is imported before SpatiaLite (see
    ``spatialite.create_engines``).
    ``memory_map``: SQLite reads the file through a memory map (faster queries, for a
    long-running process such as ``eoharvest serve``; its touched pages count in the process's
    RSS, so short commands leave it off; ignored on PostGIS).
    """
    from eoharvest.adapters.catalog.repository import SpatialiteCatalog

    catalog_path = catalog_location(path)
    if isinstance(catalog_path, CatalogUrl):  # postgresql://...: the same catalog on PostGIS
        from eoharvest.adapters.catalog.postgis import open_postgis_catalog

        return open_postgis_catalog(catalog_path, migrate=migrate, read_only=read_only)
    found = _probe_local(catalog_path, mounts_file, read_only=read_only)
    if not read_only:
        check_writable(catalog_path)
    module = sqlite_module()
    if read_only:
        engines = create_engines(
            catalog_path, busy_timeout_ms=busy_timeout_ms, module=module, read_only=True, preload_gdal=preload_gdal,
            memory_map=memory_map,
        )  # fmt: skip
        return SpatialiteCatalog(engines, catalog_path, read_only=True)
    try:
        catalog_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CatalogError(f"cannot create the catalog folder {str(catalog_path.parent)!r}: {exc}") from None
    if not migrate or (found.kind == "catalog" and found.revision == revisions.head_revision()):
        engines = create_engines(
            catalog_path, busy_timeout_ms=busy_timeout_ms, writer_begin=writer_begin, module=module,
            preload_gdal=preload_gdal, memory_map=memory_map,
        )  # fmt: skip
        return SpatialiteCatalog(engines, catalog_path)
    from eoharvest.adapters.catalog import migrate as migrations  # Alembic: only to create or migrate

    created = False
    # Creation and migration under one inter-process lock: two processes opening a missing
    # catalog at once (daemon + CLI on first run) must not both create it. A new catalog is
    # built aside and renamed into place (creation.py), so a crash never leaves half of one.
    with exclusive_lock(catalog_path.with_name(catalog_path.name + ".lock")):
        found = probe(catalog_path, module)  # again: another process may have created it meanwhile
        _refuse_foreign(found)
        if found.kind in ("missing", "empty"):
            create_catalog(catalog_path, module=module, busy_timeout_ms=busy_timeout_ms, preload_gdal=preload_gdal)
            created = True
        engines = create_engines(
            catalog_path, busy_timeout_ms=busy_timeout_ms, writer_begin=writer_begin, module=module,
            preload_gdal=preload_gdal, memory_map=memory_map,
        )  # fmt: skip
        try:
            migrations.upgrade(engines.writer)
        except BaseException:
            engines.dispose()
            raise
    return SpatialiteCatalog(engines, catalog_path, created=created)


def open_reader(
    path: Path | str | CatalogUrl,
    *,
    spatial: bool = True,
    preload: bool = True,
    busy_timeout_ms: int = CLI_BUSY_TIMEOUT_MS,
    mounts_file: Path | str = "/proc/mounts",
) -> CatalogReader:
    """A lean read-only view of the catalog at ``path`` (:class:`~.reader.CatalogReader`:
    GeoJSON Features and stats) on one plain sqlite3 connection, after the checks of
    ``open_catalog(path, read_only=True)``. Without ``spatial`` SpatiaLite is not loaded (stats
    need no spatial function). Without ``preload`` none of shapely, pyproj and pyogrio is imported
    before SpatiaLite, and importing one later raises ImportError (see ``load_spatialite``)."""
    from eoharvest.adapters.catalog.reader import connect_reader

    catalog_path = catalog_location(path)
    if isinstance(catalog_path, CatalogUrl):  # PostGIS: its repository streams and counts itself
        from eoharvest.adapters.catalog.postgis import open_postgis_catalog

        return open_postgis_catalog(catalog_path, read_only=True)  # type: ignore[return-value]
    _probe_local(catalog_path, mounts_file, read_only=True)
    uri = read_only_uri(catalog_path)
    return connect_reader(uri, sqlite_module(), busy_timeout_ms, spatial=spatial, preload=preload)


def _probe_local(catalog_path: Path, mounts_file: Path | str, *, read_only: bool) -> CatalogFile:
    """What is at ``catalog_path``, after the checks every open makes; a read-only open needs a
    catalog at this code's revision there."""
    if catalog_path.is_dir():
        raise CatalogError(f"catalog path {str(catalog_path)!r} is a directory", hint="give a file name")
    if read_only and not catalog_path.parent.is_dir():
        raise CatalogError(
            f"there is no catalog at {str(catalog_path)!r}: the folder {str(catalog_path.parent)!r} does not exist",
            hint="check --catalog (or EOHARVEST_CATALOG); harvest, download and watch add create a catalog",
        )
    ensure_local_filesystem(catalog_path, mounts_file)
    found = probe(catalog_path, sqlite_module())
    _refuse_foreign(found)
    if read_only:
        _require_current(found)
    return found


def _refuse_foreign(found: CatalogFile) -> None:
    if found.kind == "foreign":
        raise CatalogError(
            f"{str(found.path)!r} is not an eoharvest catalog: {found.reason}; it was left unchanged",
            hint=_CHOOSE_ANOTHER,
        )


def _require_current(found: CatalogFile) -> None:
    """A read-only open needs a catalog at this code's schema revision (checked cheaply: one row)."""
    if found.kind in ("missing", "empty"):
        raise CatalogError(
            f"there is no catalog at {str(found.path)!r} yet",
            hint="check --catalog (or EOHARVEST_CATALOG); harvest, download and watch add create one",
        )
    revisions.check_not_newer(found.revision)
    head = revisions.head_revision()
    if found.revision != head:
        raise CatalogError(
            f"the catalog {str(found.path)!r} has schema revision {found.revision!r}, "
            f"older than this eoharvest's {head!r}",
            hint="run `eoharvest catalog upgrade` (or any command that writes to the catalog) to migrate it",
        )
