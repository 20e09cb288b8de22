"""What lies at a catalog path, found without changing a byte of it.

Opening a catalog sets WAL mode (a write to the file header) and may run InitSpatialMetaData and
the migrations, so whatever is at the path is probed first through a read-only connection
(SQLite URI ``mode=ro``, https://www.sqlite.org/uri.html): a missing or empty file may become a
catalog, an eoharvest catalog says its schema revision, and anything else (a device such as
/dev/zero, a folder, another application's database) is left alone.

A command that writes needs write access to the file and to its folder (SQLite keeps its -wal and
-shm files, and eoharvest its lock file, beside the catalog): :func:`check_writable` says so
before anything is opened, instead of a "disk I/O error" half-way through.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Literal

#: Tables every eoharvest catalog has since revision 0001 (besides Alembic's own).
CATALOG_TABLES = frozenset({"alembic_version", "scenes"})

Kind = Literal["missing", "empty", "catalog", "foreign"]


@dataclass(frozen=True)
class CatalogFile:
    """``kind``: missing (no file), empty (no tables: a new file may be created here),
    catalog (an eoharvest catalog at ``revision``), foreign (anything else, see ``reason``)."""

    path: Path
    kind: Kind
    revision: str | None = None
    reason: str = ""


def read_only_uri(path: Path) -> str:
    """The SQLite URI that opens ``path`` read-only (special characters percent-encoded).

    A WAL catalog needs its -shm file to be read; in a folder this user cannot write, with no
    writer active (no -wal file), SQLite cannot create it and refuses ("attempt to write a
    readonly database"). Then the file is opened ``immutable=1``: read as it is, without locks,
    which is what a catalog copied to read-only media or another user's catalog is.
    """
    uri = path.absolute().as_uri() + "?mode=ro"
    folder = path.absolute().parent
    if not os.access(folder, os.W_OK) and not _sibling(path, "-wal").exists():
        uri += "&immutable=1"
    return uri


def _sibling(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def check_writable(path: Path) -> None:
    """Raise CatalogError unless this user may write the catalog at ``path``: the file (if it
    exists), its lock file, and the folder (or the nearest existing ancestor it would be made in)."""
    from eoharvest.domain.errors import CatalogError

    shown = str(path)
    if path.exists() and not os.access(path, os.W_OK):
        raise CatalogError(
            f"the catalog {shown!r} is read-only for this user, and this command writes to it",
            hint="give it write permission, or point --catalog at another catalog; "
            "read-only commands (catalog query/stats/export, watch list, verify) work on it as it is",
        )
    lock = _sibling(path, ".lock")
    if lock.exists() and not os.access(lock, os.W_OK):
        raise CatalogError(
            f"the catalog's lock file {str(lock)!r} is read-only for this user",
            hint="give it write permission (or remove it while no eoharvest runs)",
        )
    folder = path.absolute().parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not os.access(folder, os.W_OK | os.X_OK):
        raise CatalogError(
            f"cannot write in the folder {str(folder)!r} of the catalog {shown!r} "
            "(SQLite keeps its -wal and -shm files beside the catalog)",
            hint="give that folder write permission, or point --catalog at a folder you can write to",
        )


def probe(path: Path, module: ModuleType) -> CatalogFile:
    """Classify the file at ``path`` with the DB-API ``module`` (sqlite3 or pysqlite3)."""
    if not path.exists():
        return CatalogFile(path, "missing")
    mode = path.stat().st_mode
    if not stat.S_ISREG(mode):
        return CatalogFile(path, "foreign", reason=f"it is not a regular file but {_file_kind(mode)}")
    if path.stat().st_size == 0:
        return CatalogFile(path, "empty")
    try:
        connection = module.connect(read_only_uri(path), uri=True)
    except module.Error as exc:
        return CatalogFile(path, "foreign", reason=f"SQLite cannot open it ({exc})")
    try:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables:
            return CatalogFile(path, "empty")
        if not CATALOG_TABLES <= tables:
            shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
            return CatalogFile(path, "foreign", reason=f"a database with other tables ({shown})")
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        return CatalogFile(path, "catalog", revision=row[0] if row else None)
    except module.DatabaseError as exc:  # "file is not a database", encrypted, corrupt header
        return CatalogFile(path, "foreign", reason=f"not an SQLite database ({exc})")
    finally:
        connection.close()


def _file_kind(mode: int) -> str:
    kinds = (
        (stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
        (stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"),
    )  # fmt: skip
    return next((name for test, name in kinds if test(mode)), "a special file")
