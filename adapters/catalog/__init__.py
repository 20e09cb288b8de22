"""Catalog adapters: the SpatiaLite repository (PostGIS later), opened with :func:`open_catalog`."""

from __future__ import annotations

from pathlib import Path

from eoharvest.adapters.catalog.creation import create_catalog
from eoharvest.adapters.catalog.filesystem import ensure_local_filesystem
from eoharvest.adapters.catalog.locking import exclusive_lock
from eoharvest.adapters.catalog.probe import CatalogFile, check_writable, probe
from eoharvest.adapters.catalog.repository import SpatialiteCatalog
from eoharvest.adapters.catalog.spatialite import CLI_BUSY_TIMEOUT_MS, create_engines, sqlite_module
from eoharvest.domain.catalog_location import catalog_location
from eoharvest.domain.errors import CatalogError

__all__ = ["SpatialiteCatalog", "open_catalog"]

_CHOOSE_ANOTHER = "point --catalog (or EOHARVEST_CATALOG) at an eoharvest catalog or at a new file"


def open_catalog(
    path: Path | str,
    *,
    busy_timeout_ms: int = CLI_BUSY_TIMEOUT_MS,
    writer_begin: str = "IMMEDIATE",
    mounts_file: Path | str = "/proc/mounts",
    migrate: bool = True,
    read_only: bool = False,
) -> SpatialiteCatalog:
    """Open the SpatiaLite catalog at ``path``.

    By default it is created (folder included) and migrated if needed. With ``read_only`` nothing
    is created, migrated or locked for writing: the file must already be a catalog at the schema
    revision this code knows, and every connection is read-only (SQLite URI ``mode=ro``).

    A file that is not an eoharvest catalog (another application's database, any other file) is
    never changed: CatalogError. Raises UnsupportedEnvironment when SpatiaLite cannot be loaded
    or the file is on a network filesystem, CatalogError when the catalog was written by a newer
    eoharvest (and, read-only, when it is missing or older than this eoharvest).
    """
    from eoharvest.adapters.catalog import migrate as migrations

    catalog_path = catalog_location(path)
    if catalog_path.is_dir():
        raise CatalogError(f"catalog path {str(catalog_path)!r} is a directory", hint="give a file name")
    if read_only and not catalog_path.parent.is_dir():
        raise CatalogError(
            f"there is no catalog at {str(catalog_path)!r}: the folder {str(catalog_path.parent)!r} does not exist",
            hint="check --catalog (or EOHARVEST_CATALOG); harvest, download and watch add create a catalog",
        )
    ensure_local_filesystem(catalog_path, mounts_file)
    module = sqlite_module()
    found = probe(catalog_path, module)
    _refuse_foreign(found)
    if not read_only:
        check_writable(catalog_path)
    if read_only:
        _require_current(found)
        engines = create_engines(catalog_path, busy_timeout_ms=busy_timeout_ms, module=module, read_only=True)
        return SpatialiteCatalog(engines, catalog_path, read_only=True)
    try:
        catalog_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CatalogError(f"cannot create the catalog folder {str(catalog_path.parent)!r}: {exc}") from None
    if not migrate:
        engines = create_engines(catalog_path, busy_timeout_ms=busy_timeout_ms, writer_begin=writer_begin, module=module)
        return SpatialiteCatalog(engines, catalog_path)
    created = False
    # Creation and migration under one inter-process lock: two processes opening a missing
    # catalog at once (daemon + CLI on first run) must not both create it. A new catalog is
    # built aside and renamed into place (creation.py), so a crash never leaves half of one.
    with exclusive_lock(catalog_path.with_name(catalog_path.name + ".lock")):
        found = probe(catalog_path, module)  # again: another process may have created it meanwhile
        _refuse_foreign(found)
        if found.kind in ("missing", "empty"):
            create_catalog(catalog_path, module=module, busy_timeout_ms=busy_timeout_ms)
            created = True
        engines = create_engines(catalog_path, busy_timeout_ms=busy_timeout_ms, writer_begin=writer_begin, module=module)
        try:
            migrations.upgrade(engines.writer)
        except BaseException:
            engines.dispose()
            raise
    return SpatialiteCatalog(engines, catalog_path, created=created)


def _refuse_foreign(found: CatalogFile) -> None:
    if found.kind == "foreign":
        raise CatalogError(
            f"{str(found.path)!r} is not an eoharvest catalog: {found.reason}; it was left unchanged",
            hint=_CHOOSE_ANOTHER,
        )


def _require_current(found: CatalogFile) -> None:
    """A read-only open needs a catalog at this code's schema revision (checked cheaply: one row)."""
    from eoharvest.adapters.catalog import migrate as migrations

    if found.kind in ("missing", "empty"):
        raise CatalogError(
            f"there is no catalog at {str(found.path)!r} yet",
            hint="check --catalog (or EOHARVEST_CATALOG); harvest, download and watch add create one",
        )
    migrations.check_not_newer(found.revision)
    head = migrations.head_revision()
    if found.revision != head:
        raise CatalogError(
            f"the catalog {str(found.path)!r} has schema revision {found.revision!r}, "
            f"older than this eoharvest's {head!r}",
            hint="run `eoharvest catalog upgrade` (or any command that writes to the catalog) to migrate it",
        )
