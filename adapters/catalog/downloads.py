"""Files and download jobs in the catalog: the state machine of eoharvest.domain.download_states."""

from __future__ import annotations

import os
import stat
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any, Sequence

from sqlalchemy import Connection, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from eoharvest.adapters.catalog.rows import checksum_columns, to_naive_utc
from eoharvest.adapters.catalog.tables import download_jobs, files, scenes
from eoharvest.domain.catalog_query import AvailableFile, SceneFile, StoredFile
from eoharvest.domain.download_states import (
    AVAILABLE,
    FILE_STATES,
    TRANSITIONS,
    UNLEASED,
    WITH_ERROR,
    can_move,
    next_states,
)
from eoharvest.domain.errors import CatalogError
from eoharvest.domain.models import Checksum

__all__ = ["TRANSITIONS"]


def record_file(
    conn: Connection,
    provider: str,
    scene_id: str,
    name: str,
    href: str | None,
    size: int | None,
    checksum: Any,
    now: datetime,
    asset: str | None = None,
) -> int:
    scene_pk = conn.execute(
        select(scenes.c.id).where(scenes.c.provider == provider, scenes.c.scene_id == scene_id)
    ).scalar()
    if scene_pk is None:
        raise CatalogError(f"scene {provider}:{scene_id} is not in the catalog", hint="upsert it first")
    values = {"href": href, "size": size, **checksum_columns(checksum), "updated_at": to_naive_utc(now)}
    if asset is not None:  # a caller that does not know the asset keeps what was recorded
        values["asset"] = asset
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    stmt = insert(files).values(scene_pk=scene_pk, name=name, state="none", **values)
    stmt = stmt.on_conflict_do_update(index_elements=[files.c.scene_pk, files.c.name], set_=values)
    conn.execute(stmt)
    return conn.execute(
        select(files.c.id).where(files.c.scene_pk == scene_pk, files.c.name == name)
    ).scalar_one()


def set_file_state(
    conn: Connection,
    file_id: int,
    state: str,
    local_path: str | None,
    sha256: str | None,
    now: datetime,
) -> None:
    if state not in FILE_STATES:
        raise CatalogError(f"unknown file state {state!r}", hint=f"states: {', '.join(FILE_STATES)}")
    values: dict[str, Any] = {"state": state, "updated_at": to_naive_utc(now)}
    if state == AVAILABLE:
        if not local_path or not sha256:
            raise CatalogError(f"file {file_id} cannot be available without a local path and SHA-256")
        values.update(local_path=local_path, sha256=sha256.lower(), verified_at=to_naive_utc(now),
                      **file_identity(local_path))
    result = conn.execute(update(files).where(files.c.id == file_id).values(values))
    if result.rowcount == 0:
        raise CatalogError(f"file {file_id} is not in the catalog")


def file_identity(local_path: str) -> dict[str, Any]:
    """What a verified file looks like on disk (size, mtime_ns, inode), recorded beside its
    SHA-256 so that `serve` can tell a file changed since. A folder (an archive kept only
    unpacked) or a path that cannot be read records nothing (NULL: no identity)."""
    try:
        st = os.stat(local_path, follow_symlinks=False)
    except OSError:
        return {"mtime_ns": None, "inode": None}
    if not stat.S_ISREG(st.st_mode):
        return {"mtime_ns": None, "inode": None}
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "inode": st.st_ino}


def available_files(conn: Connection, product_key: str) -> list[str]:
    return [r.path for r in available_file_records(conn, product_key)]


def available_file_records(conn: Connection, product_key: str) -> list[AvailableFile]:
    """Verified files of ``product_key`` from any provider whose local path is set, oldest first,
    with the asset each one is and the size and checksums recorded when it was verified."""
    stmt = (
        select(files.c.local_path, scenes.c.provider, files.c.name, files.c.asset, files.c.size, files.c.sha256,
               files.c.checksum_algorithm, files.c.checksum_value, files.c.checksum_source)
        .join(scenes, scenes.c.id == files.c.scene_pk)
        .where(
            scenes.c.product_key == product_key,
            files.c.state == AVAILABLE,
            files.c.local_path.is_not(None),
            files.c.local_path != "",
        )
        .order_by(files.c.id)
    )
    return [
        AvailableFile(row.local_path, row.provider, row.name, row.asset, row.size, row.sha256,
                      Checksum.usable(row.checksum_algorithm, row.checksum_value, row.checksum_source or "provider"))
        for row in conn.execute(stmt)
    ]  # fmt: skip


def scene_files(conn: Connection, provider: str, scene_id: str) -> list[SceneFile]:
    """Every file of one scene of one provider, with the state of its newest download job."""
    newest = (
        select(download_jobs.c.file_id, func.max(download_jobs.c.id).label("job_id"))
        .group_by(download_jobs.c.file_id)
        .subquery()
    )
    stmt = (
        select(files.c.name, files.c.state, files.c.asset, files.c.local_path, download_jobs.c.state.label("job"))
        .join(scenes, scenes.c.id == files.c.scene_pk)
        .outerjoin(newest, newest.c.file_id == files.c.id)
        .outerjoin(download_jobs, download_jobs.c.id == newest.c.job_id)
        .where(scenes.c.provider == provider, scenes.c.scene_id == scene_id)
        .order_by(files.c.id)
    )
    return [SceneFile(r.name, r.state, r.asset, r.local_path, r.job) for r in conn.execute(stmt)]


def stored_files(conn: Connection, product_key: str | None) -> list[StoredFile]:
    """Every available file with a local path (optionally of one product), oldest first."""
    stmt = (
        select(files.c.id, scenes.c.provider, scenes.c.scene_id, scenes.c.product_key,
               files.c.name, files.c.local_path, files.c.sha256)
        .join(scenes, scenes.c.id == files.c.scene_pk)
        .where(files.c.state == AVAILABLE, files.c.local_path.is_not(None))
        .order_by(files.c.id)
    )  # fmt: skip
    if product_key is not None:
        stmt = stmt.where(scenes.c.product_key == product_key)
    return [StoredFile(*row) for row in conn.execute(stmt)]


def local_paths(conn: Connection, scene_pks: Sequence[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = defaultdict(list)
    for start in range(0, len(scene_pks), 500):
        chunk = scene_pks[start : start + 500]
        stmt = (
            select(files.c.scene_pk, files.c.local_path)
            .where(files.c.scene_pk.in_(chunk), files.c.state == AVAILABLE)
            .order_by(files.c.id)
        )
        for pk, path in conn.execute(stmt):
            found[pk].append(path)
    return found


def enqueue(conn: Connection, file_id: int, now: datetime) -> int:
    stamp = to_naive_utc(now)
    job_id = conn.execute(
        download_jobs.insert()
        .values(file_id=file_id, state="queued", attempts=0, created_at=stamp, updated_at=stamp)
        .returning(download_jobs.c.id)
    ).scalar_one()
    conn.execute(update(files).where(files.c.id == file_id).values(state="queued", updated_at=stamp))
    return job_id


def claim(conn: Connection, owner: str, lease_seconds: float, now: datetime) -> int | None:
    stamp = to_naive_utc(now)
    assert stamp is not None
    job_id = conn.execute(
        select(download_jobs.c.id)
        .where(download_jobs.c.state == "queued")
        .where((download_jobs.c.next_attempt_at.is_(None)) | (download_jobs.c.next_attempt_at <= stamp))
        .order_by(download_jobs.c.id)
        .limit(1)
    ).scalar()
    if job_id is None:
        return None
    conn.execute(
        update(download_jobs)
        .where(download_jobs.c.id == job_id)
        .values(
            state="fetching",
            lease_owner=owner,
            lease_until=stamp + timedelta(seconds=lease_seconds),
            attempts=download_jobs.c.attempts + 1,
            updated_at=stamp,
        )
    )
    _sync_file(conn, job_id, "fetching", stamp)
    return job_id


def transition(
    conn: Connection,
    job_id: int,
    state: str,
    error_class: str | None,
    error_message: str | None,
    now: datetime,
) -> None:
    current = job_state(conn, job_id)
    if current is None:
        raise CatalogError(f"download job {job_id} does not exist")
    if not can_move(current, state):
        raise CatalogError(
            f"download job {job_id} cannot go from {current} to {state}",
            hint=f"from {current} it may go to {', '.join(next_states(current)) or 'nowhere'}",
        )
    stamp = to_naive_utc(now)
    values: dict[str, Any] = {"state": state, "updated_at": stamp}
    if state in UNLEASED:
        values.update(lease_owner=None, lease_until=None)
    if state in WITH_ERROR:
        values.update(error_class=error_class, error_message=error_message)
    conn.execute(update(download_jobs).where(download_jobs.c.id == job_id).values(values))
    if state != AVAILABLE:  # available needs the path and hash: set_file_state does that
        _sync_file(conn, job_id, state, stamp)


def job_state(conn: Connection, job_id: int) -> str | None:
    return conn.execute(select(download_jobs.c.state).where(download_jobs.c.id == job_id)).scalar()


def _sync_file(conn: Connection, job_id: int, state: str, stamp: Any) -> None:
    file_id = select(download_jobs.c.file_id).where(download_jobs.c.id == job_id).scalar_subquery()
    conn.execute(update(files).where(files.c.id == file_id).values(state=state, updated_at=stamp))
