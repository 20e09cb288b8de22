"""Members of extracted archives in the catalog (``archive_members``, revision 0008).

An extraction's members are recorded in the transaction that marks the archive available, each
with the SHA-256 of the bytes written and its on-disk identity (size, ``mtime_ns``, inode, as
:func:`eoharvest.adapters.catalog.downloads.file_identity` records for files), so `serve` can
serve a member as verified and `verify` can re-hash it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Sequence

from sqlalchemy import Connection, delete, insert, select, update

from eoharvest.adapters.catalog.downloads import file_identity
from eoharvest.adapters.catalog.rows import to_naive_utc
from eoharvest.adapters.catalog.tables import archive_members, files, scenes
from eoharvest.domain.catalog_query import ExtractedMember, StoredMember
from eoharvest.domain.download_states import AVAILABLE
from eoharvest.domain.errors import CatalogError

_CHUNK = 500  # rows per INSERT: well below SQLite's bound-parameter limit


def replace_members(conn: Connection, file_id: int, members: Sequence[ExtractedMember], now: datetime) -> None:
    """Record ``members`` as what archive ``file_id``'s extraction holds, replacing an earlier
    extraction's rows. A member that is not a regular file on disk any more is refused."""
    rows = []
    for member in members:
        identity = file_identity(member.local_path)
        if identity["inode"] is None:
            raise CatalogError(f"extracted member '{member.local_path}' is not a regular file on disk",
                               hint="extract the archive again")  # fmt: skip
        rows.append({"file_id": file_id, "path": member.path, "local_path": member.local_path,
                     "sha256": member.sha256.lower(), "verified_at": to_naive_utc(now),
                     "size": identity["size"], "mtime_ns": identity["mtime_ns"], "inode": identity["inode"]})  # fmt: skip
    conn.execute(delete(archive_members).where(archive_members.c.file_id == file_id))
    for start in range(0, len(rows), _CHUNK):
        conn.execute(insert(archive_members), rows[start:start + _CHUNK])


def stored_members(conn: Connection, product_key: str | None) -> list[StoredMember]:
    """Members of available archives (optionally of one product), by archive then archive order."""
    stmt = (
        select(archive_members.c.id, archive_members.c.file_id, scenes.c.product_key, archive_members.c.path,
               archive_members.c.local_path, archive_members.c.sha256)
        .join(files, files.c.id == archive_members.c.file_id)
        .join(scenes, scenes.c.id == files.c.scene_pk)
        .where(files.c.state == AVAILABLE)
        .order_by(archive_members.c.file_id, archive_members.c.id)
    )  # fmt: skip
    if product_key is not None:
        stmt = stmt.where(scenes.c.product_key == product_key)
    return [StoredMember(*row) for row in conn.execute(stmt)]


def refresh_member(conn: Connection, member_id: int, now: datetime) -> None:
    """Record the member's on-disk identity as it is now (its bytes were found to match)."""
    path = conn.execute(select(archive_members.c.local_path).where(archive_members.c.id == member_id)).scalar()
    if path is None:
        raise CatalogError(f"archive member {member_id} is not in the catalog")
    identity = file_identity(path)
    values = {"mtime_ns": identity["mtime_ns"], "inode": identity["inode"], "verified_at": to_naive_utc(now)}
    if "size" in identity:
        values["size"] = identity["size"]
    conn.execute(update(archive_members).where(archive_members.c.id == member_id).values(values))
