"""Catalog adapters: the SpatiaLite repository (PostGIS later), opened with :func:`open_catalog`."""

from __future__ import annotations

from pathlib import Path

from eoharvest.adapters.catalog.filesystem import ensure_local_filesystem
from eoharvest.adapters.catalog.locking import exclusive_lock
from eoharvest.adapters.catalog.repository import SpatialiteCatalog
from eoharvest.adapters.catalog.spatialite import CLI_BUSY_TIMEOUT_MS, create_engines, sqlite_module
from eoharvest.domain.errors import CatalogError

__all__ = ["SpatialiteCatalog", "open_catalog"]


def open_catalog(
    path: Path | str,
    *,
    busy_timeout_ms: int = CLI_BUSY_TIMEOUT_MS,
    writer_begin: str = "IMMEDIATE",
    mounts_file: Path | str = "/proc/mounts",
    migrate: bool = True,
) -> SpatialiteCatalog:
    """Open (creating and migrating if needed) the SpatiaLite catalog at ``path``.

    Raises UnsupportedEnvironment when SpatiaLite cannot be loaded or the file is on a network
    filesystem, CatalogError when the catalog was written by a newer eoharvest.
    """
    from eoharvest.adapters.catalog import migrate as migrations

    catalog_path = Path(path).expanduser()
    if catalog_path.is_dir():
        raise CatalogError(f"catalog path {str(catalog_path)!r} is a directory", hint="give a file name")
    ensure_local_filesystem(catalog_path, mounts_file)
    module = sqlite_module()
    try:
        catalog_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CatalogError(f"cannot create the catalog folder {str(catalog_path.parent)!r}: {exc}") from None
    engines = create_engines(catalog_path, busy_timeout_ms=busy_timeout_ms, writer_begin=writer_begin, module=module)
    created = False
    if migrate:
        # Creation and migration under one inter-process lock: two processes opening a missing
        # catalog at once (daemon + CLI on first run) must not both run InitSpatialMetaData.
        try:
            with exclusive_lock(catalog_path.with_name(catalog_path.name + ".lock")):
                created = migrations.upgrade(engines.writer)
        except BaseException:
            engines.dispose()
            raise
    return SpatialiteCatalog(engines, catalog_path, created=created)
