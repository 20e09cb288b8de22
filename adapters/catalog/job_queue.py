"""The catalog's download queue (the ``DownloadQueue`` port) shared by every daemon.

A claim is one statement, ``UPDATE download_jobs ... WHERE id = (SELECT id ... FOR UPDATE SKIP
LOCKED LIMIT 1) RETURNING ...``: on PostgreSQL concurrent claimers skip each other's locked
rows instead of queueing behind them (PostgreSQL, "The Locking Clause"); SQLite has no row
locks, ignores the clause, and serialises claims in its ``BEGIN IMMEDIATE`` writer. Every
later change names the lease it belongs to (owner and attempt number) in its ``WHERE``, so a
worker whose lease expired and was claimed again changes nothing; the partial unique indexes of
revision 0009 make "one live job per file" and "one completion per job" constraints.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Collection, Sequence

from sqlalchemy import Connection, and_, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from eoharvest.adapters.catalog.downloads import set_file_state
from eoharvest.adapters.catalog.members import replace_members
from eoharvest.adapters.catalog.repository import SpatialiteCatalog
from eoharvest.adapters.catalog.rows import to_naive_utc
from eoharvest.adapters.catalog.tables import download_attempts, download_jobs, files, scenes
from eoharvest.domain.catalog_query import ExtractedMember
from eoharvest.domain.download_states import AVAILABLE, FAILED, FETCHING, PAUSED, QUEUED
from eoharvest.domain.jobs import MAX_ATTEMPTS, RETRY_BASE, ClaimedJob, retry_delay
from eoharvest.domain.models import Checksum
from eoharvest.domain.redaction import redact

_J = download_jobs.c
#: States in which a job holds a lease.
_LEASED = (FETCHING, "verifying", "finalizing")


def _now() -> datetime:
    stamp = to_naive_utc(datetime.now(timezone.utc))
    assert stamp is not None
    return stamp


def _yours(job: ClaimedJob) -> Any:
    """The job's row while ``job``'s lease is its current one."""
    return and_(_J.id == job.job_id, _J.lease_owner == job.owner, _J.attempts == job.attempt, _J.state.in_(_LEASED))


class CatalogJobQueue:
    """``DownloadQueue`` over a catalog (SpatiaLite or PostGIS), through its write transactions."""

    def __init__(self, catalog: SpatialiteCatalog, *, retry_base: timedelta = RETRY_BASE,
                 max_attempts: int = MAX_ATTEMPTS) -> None:  # fmt: skip
        self._catalog = catalog
        self.retry_base = retry_base
        self.max_attempts = max_attempts

    def _write(self) -> Any:
        return self._catalog._write()  # the catalog's own transaction: busy errors become CatalogBusy

    # -- queueing -------------------------------------------------------------------------
    def enqueue(self, file_id: int) -> int | None:
        """Queue a job for the file; None when it already has a live (unfinished) job."""
        now = _now()
        try:
            with self._write() as conn:
                live = conn.execute(
                    select(_J.id).where(_J.file_id == file_id, _J.state.not_in((AVAILABLE, FAILED)))
                ).scalar()
                if live is not None:
                    return None
                job_id: int = conn.execute(
                    insert(download_jobs).values(file_id=file_id, state=QUEUED, attempts=0, created_at=now,
                                                 updated_at=now).returning(_J.id)  # fmt: skip
                ).scalar_one()
                conn.execute(update(files).where(files.c.id == file_id).values(state=QUEUED, updated_at=now))
                return job_id
        except IntegrityError:
            return None  # another daemon queued it between our check and our insert

    def claim(self, owner: str, lease_seconds: float) -> ClaimedJob | None:
        now = _now()
        due = select(_J.id).where(
            _J.state == QUEUED, or_(_J.next_attempt_at.is_(None), _J.next_attempt_at <= now)
        ).order_by(_J.id).limit(1).with_for_update(skip_locked=True).scalar_subquery()
        with self._write() as conn:
            row = conn.execute(
                update(download_jobs).where(_J.id == due).values(
                    state=FETCHING, lease_owner=owner, lease_until=now + timedelta(seconds=lease_seconds),
                    attempts=_J.attempts + 1, updated_at=now,
                ).returning(_J.id, _J.file_id, _J.attempts)
            ).first()  # fmt: skip
            if row is None:
                return None
            conn.execute(insert(download_attempts).values(job_id=row.id, started_at=now))
            conn.execute(update(files).where(files.c.id == row.file_id).values(state=FETCHING, updated_at=now))
            return _claimed(conn, row.id, row.file_id, row.attempts, owner)

    def renew(self, owner: str, lease_seconds: float, job_ids: Collection[int]) -> set[int]:
        if not job_ids:
            return set()
        now = _now()
        with self._write() as conn:
            rows = conn.execute(
                update(download_jobs).where(_J.id.in_(list(job_ids)), _J.lease_owner == owner, _J.state.in_(_LEASED))
                .values(lease_until=now + timedelta(seconds=lease_seconds)).returning(_J.id)
            )  # fmt: skip
            return {r.id for r in rows}

    def holds(self, job: ClaimedJob) -> bool:
        with self._catalog.reader.connect() as conn:
            return conn.execute(select(_J.id).where(_yours(job))).first() is not None

    # -- ending an attempt ----------------------------------------------------------------
    def complete(
        self, job: ClaimedJob, local_path: str, sha256: str, bytes_received: int,
        *, members: Sequence[ExtractedMember] = (),
    ) -> bool:  # fmt: skip
        now = _now()
        with self._write() as conn:
            done = conn.execute(
                update(download_jobs).where(_yours(job)).values(
                    state=AVAILABLE, lease_owner=None, lease_until=None, completed_at=now, completed_by=job.owner,
                    error_class=None, error_message=None, updated_at=now,
                ).returning(_J.file_id)
            ).first()  # fmt: skip
            if done is None:
                return False
            set_file_state(conn, done.file_id, AVAILABLE, local_path, sha256, datetime.now(timezone.utc))
            if members:
                replace_members(conn, done.file_id, members, now)
            _close_attempt(conn, job.job_id, now, "available", None, bytes_received)
            return True

    def fail(self, job: ClaimedJob, error: BaseException, *, retry: bool, paused: bool = False) -> bool:
        now = _now()
        again = retry and not paused and job.attempt < self.max_attempts
        state = PAUSED if paused else QUEUED if again else FAILED
        message = redact(str(error))[:2000]
        with self._write() as conn:
            done = conn.execute(
                update(download_jobs).where(_yours(job)).values(
                    state=state, lease_owner=None, lease_until=None, updated_at=now,
                    next_attempt_at=now + retry_delay(job.attempt, self.retry_base) if again else None,
                    error_class=type(error).__name__[:64], error_message=message,
                ).returning(_J.file_id)
            ).first()  # fmt: skip
            if done is None:
                return False
            conn.execute(update(files).where(files.c.id == done.file_id).values(state=state, updated_at=now))
            _close_attempt(conn, job.job_id, now, "retry" if again else state, error, None)
            return True

    def release(self, job: ClaimedJob, *, delay_seconds: float = 0.0) -> bool:
        now = _now()
        due = now + timedelta(seconds=delay_seconds) if delay_seconds > 0 else None
        with self._write() as conn:
            done = conn.execute(
                update(download_jobs).where(_yours(job)).values(
                    state=QUEUED, lease_owner=None, lease_until=None, next_attempt_at=due, updated_at=now,
                ).returning(_J.file_id)
            ).first()  # fmt: skip
            if done is None:
                return False
            conn.execute(update(files).where(files.c.id == done.file_id).values(state=QUEUED, updated_at=now))
            _close_attempt(conn, job.job_id, now, "stopped", None, None)
            return True

    def requeue_expired(self, *, owners: Sequence[str] = ()) -> list[ClaimedJob]:
        """Jobs whose lease ran out (or whose owner is in ``owners``, known gone) go back to the
        queue after a backoff, or fail after ``max_attempts``; each attempt ends ``expired``."""
        now = _now()
        gone = _J.lease_until < now if not owners else or_(_J.lease_until < now, _J.lease_owner.in_(list(owners)))
        with self._write() as conn:
            rows = conn.execute(
                select(_J.id, _J.file_id, _J.attempts, _J.lease_owner).where(_J.state.in_(_LEASED), gone)
                .order_by(_J.id).with_for_update(skip_locked=True)
            ).all()  # fmt: skip
            returned: list[ClaimedJob] = []
            for row in rows:
                job = _claimed(conn, row.id, row.file_id, row.attempts, row.lease_owner or "")
                again = row.attempts < self.max_attempts
                state = QUEUED if again else FAILED
                conn.execute(update(download_jobs).where(_J.id == row.id).values(
                    state=state, lease_owner=None, lease_until=None, updated_at=now,
                    next_attempt_at=now + retry_delay(row.attempts, self.retry_base) if again else None,
                    error_class="LeaseExpired",
                    error_message=f"the lease of {row.lease_owner} ran out: its daemon stopped renewing it",
                ))  # fmt: skip
                conn.execute(update(files).where(files.c.id == row.file_id).values(state=state, updated_at=now))
                _close_attempt(conn, row.id, now, "expired", None, None)
                returned.append(job)
            return returned

    # -- reporting ------------------------------------------------------------------------
    def counts(self) -> dict[str, int]:
        with self._catalog.reader.connect() as conn:
            return {state: n for state, n in conn.execute(select(_J.state, func.count()).group_by(_J.state))}

    def jobs_of(self, owner: str) -> list[ClaimedJob]:
        """The jobs ``owner`` holds a lease on now."""
        with self._catalog.reader.connect() as conn:
            rows = conn.execute(
                select(_J.id, _J.file_id, _J.attempts).where(_J.lease_owner == owner, _J.state.in_(_LEASED))
            ).all()
            return [_claimed(conn, r.id, r.file_id, r.attempts, owner) for r in rows]


def _claimed(conn: Connection, job_id: int, file_id: int, attempt: int, owner: str) -> ClaimedJob:
    f = files.c
    row = conn.execute(
        select(scenes.c.provider, scenes.c.scene_id, scenes.c.product_key, f.name, f.href, f.size,
               f.checksum_algorithm, f.checksum_value, f.checksum_source, f.asset)
        .join(scenes, scenes.c.id == f.scene_pk).where(f.id == file_id)
    ).one()  # fmt: skip
    checksum = (Checksum(row.checksum_algorithm, row.checksum_value, row.checksum_source or "catalog")
                if row.checksum_algorithm and row.checksum_value else None)  # fmt: skip
    return ClaimedJob(job_id, file_id, attempt, owner, row.provider, row.scene_id, row.product_key, row.name,
                      row.href, row.size, checksum, row.asset)  # fmt: skip


def _close_attempt(conn: Connection, job_id: int, now: datetime, outcome: str, error: BaseException | None,
                   received: int | None) -> None:  # fmt: skip
    """End the job's current (newest) attempt."""
    current = select(func.max(download_attempts.c.id)).where(download_attempts.c.job_id == job_id).scalar_subquery()
    values: dict[str, Any] = {"finished_at": now, "outcome": outcome, "bytes_received": received}
    if error is not None:
        values.update(error_class=type(error).__name__[:64], error_message=redact(str(error))[:2000])
    conn.execute(update(download_attempts).where(download_attempts.c.id == current,
                                                 download_attempts.c.finished_at.is_(None)).values(values))  # fmt: skip
