"""Create a new catalog so that a crash at any moment leaves either no catalog or a whole one.

Creating a catalog in place takes several steps that each write the file (the header, WAL mode,
InitSpatialMetaData, the migrations), and a process killed between them left a file that the next
run could not tell from another application's database (a header-only page beside a hot rollback
journal cannot even be read through a read-only connection). So the catalog is built under a
temporary name in the same folder (``.<name>.creating``), checkpointed and closed (SQLite removes
its -wal and -shm files), fsynced and renamed into place, then the folder is fsynced. The caller
holds the catalog's creation lock (``<name>.lock``), so one process creates at a time; leftovers
of a crashed creation are removed before the next one starts.

Only a missing path or an empty one (0 bytes, or an SQLite file without a single table, see
``probe.py``) is ever replaced: a file with any content is refused before this module is called.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType

from eoharvest.adapters.catalog.spatialite import create_engines

#: SQLite's files beside a database: the rollback journal, the write-ahead log and its index.
SIDECARS = ("-journal", "-wal", "-shm")


def building_path(path: Path) -> Path:
    """Where the catalog for ``path`` is built before it is renamed into place."""
    return path.with_name(f".{path.name}.creating")


def remove_database(path: Path) -> None:
    """Remove ``path`` and its SQLite sidecar files, whichever exist."""
    for name in (path.name, *(path.name + suffix for suffix in SIDECARS)):
        try:
            path.with_name(name).unlink()
        except FileNotFoundError:
            pass


def create_catalog(path: Path, *, module: ModuleType, busy_timeout_ms: int, preload_gdal: bool = True) -> None:
    """Build a catalog at the head revision and rename it to ``path`` (missing or empty).

    Call it holding the catalog's creation lock. ``preload_gdal`` as in ``create_engines``: the
    process opening the catalog decides whether pyogrio is loaded before SpatiaLite.
    """
    from eoharvest.adapters.catalog import migrate as migrations

    target = path.resolve() if path.is_symlink() else path
    building = building_path(target)
    remove_database(building)  # a crashed creation's leftovers: never adopted, rebuilt from scratch
    engines = create_engines(building, busy_timeout_ms=busy_timeout_ms, module=module, preload_gdal=preload_gdal)
    try:
        migrations.upgrade(engines.writer)
        raw = engines.reader.raw_connection()  # outside any transaction (autocommit driver)
        try:
            raw.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            raw.close()
    finally:
        engines.dispose()  # the last connection closes: SQLite checkpoints and deletes -wal/-shm
    _fsync(building)
    # Sidecars left at the final name by a crashed writer of the empty file would be replayed
    # onto the new catalog: they go first (a crash after this still leaves the empty file).
    for suffix in SIDECARS:
        try:
            target.with_name(target.name + suffix).unlink()
        except FileNotFoundError:
            pass
    for suffix in SIDECARS:  # nothing of the building file may be left behind
        if building.with_name(building.name + suffix).exists():
            building.with_name(building.name + suffix).unlink()
    os.replace(building, target)
    _fsync(target.parent)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
