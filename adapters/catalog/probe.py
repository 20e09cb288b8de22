"""What lies at a catalog path, found without changing a byte of it.

Opening a catalog sets WAL mode (a write to the file header) and may run InitSpatialMetaData and
the migrations, so whatever is at the path is probed first through a read-only connection
(SQLite URI ``mode=ro``, https://www.sqlite.org/uri.html): a missing or empty file may become a
catalog, an eoharvest catalog says its schema revision, and anything else is left alone.
"""

from __future__ import annotations

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
    """The SQLite URI that opens ``path`` read-only (special characters percent-encoded)."""
    return path.absolute().as_uri() + "?mode=ro"


def probe(path: Path, module: ModuleType) -> CatalogFile:
    """Classify the file at ``path`` with the DB-API ``module`` (sqlite3 or pysqlite3)."""
    if not path.exists():
        return CatalogFile(path, "missing")
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
