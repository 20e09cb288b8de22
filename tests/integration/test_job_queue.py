"""The download queue shared by several daemons (revision 0009): claims, leases, expiry,
take-over and exactly-once completion, on both back ends; races on the test PostgreSQL cluster."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
from fakes.catalog import catalog_scene
from sqlalchemy import insert, select, text, update
from sqlalchemy.exc import IntegrityError

from eoharvest.adapters.catalog import open_catalog
from eoharvest.adapters.catalog.daemon_registry import CatalogDaemonRegistry
from eoharvest.adapters.catalog.job_queue import CatalogJobQueue
from eoharvest.adapters.catalog.tables import download_attempts, download_jobs
from eoharvest.domain.catalog_location import CatalogUrl
from eoharvest.domain.jobs import DaemonRecord
from eoharvest.domain.models import Checksum


@pytest.fixture
def catalog(catalog_location):
    with open_catalog(catalog_location) as opened:
        yield opened


@pytest.fixture
def pg_catalog(postgis_url):
    with open_catalog(CatalogUrl(postgis_url)) as opened:
        yield opened


def add_files(catalog, n, *, prefix="s"):
    catalog.upsert_scenes([catalog_scene(f"{prefix}{i}", provider="links", product_key=f"{prefix}{i}") for i in range(n)])
    return [catalog.record_file("links", f"{prefix}{i}", f"f{i}.bin", href=f"http://127.0.0.1:9/f{i}.bin", size=10,
                                checksum=Checksum("sha256", "ab" * 32, "test")) for i in range(n)]  # fmt: skip


def expire_all(catalog):
    with catalog.writer.begin() as conn:
        conn.execute(update(download_jobs).values(lease_until=datetime(2000, 1, 1)))


def completions(catalog, job_id):
    with catalog.reader.connect() as conn:
        return conn.execute(select(download_attempts.c.id).where(
            download_attempts.c.job_id == job_id, download_attempts.c.outcome == "available")).all()  # fmt: skip


def test_a_file_has_one_live_job_and_gets_a_new_one_after_completion(catalog):
    (file_id,) = add_files(catalog, 1)
    queue = CatalogJobQueue(catalog)
    first = queue.enqueue(file_id)
    assert first is not None and queue.enqueue(file_id) is None
    job = queue.claim("d1", 30)
    assert job.job_id == first and job.name == "f0.bin" and job.checksum.value == "ab" * 32
    assert queue.enqueue(file_id) is None  # still live while it is fetched
    assert queue.complete(job, "/archive/s0/f0.bin", "cd" * 32, 10)
    assert queue.enqueue(file_id) not in (None, first)


def test_claims_hand_each_job_to_one_owner_and_nothing_when_empty(catalog):
    queue = CatalogJobQueue(catalog)
    for file_id in add_files(catalog, 2):
        queue.enqueue(file_id)
    a, b = queue.claim("d1", 30), queue.claim("d2", 30)
    assert {a.job_id, b.job_id} == {1, 2} or a.job_id != b.job_id
    assert queue.claim("d3", 30) is None
    assert queue.counts() == {"fetching": 2}


def test_an_expired_lease_returns_the_job_with_a_backoff_and_the_old_owner_cannot_complete_it(catalog):
    (file_id,) = add_files(catalog, 1)
    queue = CatalogJobQueue(catalog, retry_base=timedelta(seconds=60))
    queue.enqueue(file_id)
    old = queue.claim("dead", 30)
    assert queue.requeue_expired() == []  # not expired yet
    expire_all(catalog)
    assert [j.job_id for j in queue.requeue_expired()] == [old.job_id]
    assert queue.claim("d2", 30) is None  # backing off (attempt counted)
    with catalog.writer.begin() as conn:
        row = conn.execute(select(download_jobs).where(download_jobs.c.id == old.job_id)).one()
        assert row.state == "queued" and row.attempts == 1 and row.error_class == "LeaseExpired"
        conn.execute(update(download_jobs).values(next_attempt_at=None))
    new = queue.claim("d2", 30)
    assert new.job_id == old.job_id and new.attempt == 2
    assert not queue.holds(old) and queue.holds(new)
    assert not queue.complete(old, "/x", "00" * 32, 1)  # fenced out: attempt 1 is over
    assert not queue.fail(old, RuntimeError("late"), retry=True)
    assert queue.complete(new, "/archive/s0/f0.bin", "cd" * 32, 10)
    assert not queue.complete(new, "/archive/s0/f0.bin", "cd" * 32, 10)  # once
    assert len(completions(catalog, new.job_id)) == 1
    with catalog.reader.connect() as conn:
        outcomes = conn.execute(select(download_attempts.c.outcome).order_by(download_attempts.c.id)).scalars().all()
    assert outcomes == ["expired", "available"]


def test_a_second_completion_of_a_job_is_refused_by_a_constraint(catalog):
    (file_id,) = add_files(catalog, 1)
    queue = CatalogJobQueue(catalog)
    queue.enqueue(file_id)
    job = queue.claim("d1", 30)
    assert queue.complete(job, "/a", "cd" * 32, 10)
    with pytest.raises(IntegrityError):
        with catalog.writer.begin() as conn:
            conn.execute(insert(download_attempts).values(job_id=job.job_id, started_at=datetime(2026, 1, 1),
                                                          outcome="available"))  # fmt: skip


def test_renewal_keeps_the_owners_leases_and_failures_retry_or_end(catalog):
    queue = CatalogJobQueue(catalog, retry_base=timedelta(0), max_attempts=2)
    ids = add_files(catalog, 2)
    for file_id in ids:
        queue.enqueue(file_id)
    a, b = queue.claim("d1", 30), queue.claim("d1", 30)
    assert queue.renew("d1", 30, [a.job_id, b.job_id]) == {a.job_id, b.job_id}
    assert queue.renew("d2", 30, [a.job_id]) == set() and queue.renew("d1", 30, []) == set()
    assert queue.fail(a, ConnectionError("reset"), retry=True)
    again = queue.claim("d1", 30)
    assert again.job_id == a.job_id and again.attempt == 2
    assert queue.fail(again, ConnectionError("reset"), retry=True)  # attempt 2 of 2: failed for good
    assert queue.fail(b, PermissionError("refused"), retry=False)
    assert queue.counts() == {"failed": 2}
    assert queue.claim("d1", 30) is None


def test_the_gone_owners_jobs_return_at_once(catalog):
    queue = CatalogJobQueue(catalog, retry_base=timedelta(0))
    for file_id in add_files(catalog, 2):
        queue.enqueue(file_id)
    mine, theirs = queue.claim("host:1:a", 600), queue.claim("host:2:b", 600)
    assert [j.job_id for j in queue.requeue_expired(owners=["host:1:a"])] == [mine.job_id]
    assert queue.holds(theirs)


def test_the_registry_lists_daemons_with_their_claims_and_staleness(catalog):
    registry = CatalogDaemonRegistry(catalog)
    now = datetime.now(timezone.utc)
    registry.register(DaemonRecord("h:1:t1", "h", 1, now, now, "1.0", 0.5))
    registry.register(DaemonRecord("h:2:t2", "h", 2, now, now, "1.0", 60))
    queue = CatalogJobQueue(catalog)
    queue.enqueue(add_files(catalog, 1)[0])
    queue.claim("h:2:t2", 30)
    rows = {d.owner: d for d in registry.daemons()}
    assert rows["h:2:t2"].claimed_jobs == 1 and rows["h:1:t1"].claimed_jobs == 0
    later = now + timedelta(seconds=5)
    assert rows["h:1:t1"].status(later) == "stale" and rows["h:2:t2"].status(later) == "running"
    assert registry.heartbeat("h:1:t1") and not registry.heartbeat("nobody")
    registry.stopped("h:1:t1")
    assert {d.owner: d.status(later) for d in registry.daemons()}["h:1:t1"] == "stopped"
    assert registry.previous_incarnations("h:2:t2", "h", lambda pid: pid != 1) == ["h:1:t1"]


def test_concurrent_claimers_on_postgresql_never_share_a_job(pg_catalog):
    queue = CatalogJobQueue(pg_catalog)
    for file_id in add_files(pg_catalog, 120):
        queue.enqueue(file_id)
    claimed: list[tuple[str, int]] = []
    lock = threading.Lock()

    def claimer(owner):
        while (job := queue.claim(owner, 30)) is not None:
            with lock:
                claimed.append((owner, job.job_id))

    threads = [threading.Thread(target=claimer, args=(f"d{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    ids = [job_id for _, job_id in claimed]
    assert len(ids) == 120 and len(set(ids)) == 120
    assert len({owner for owner, _ in claimed}) > 1  # SKIP LOCKED: claimers ran side by side


def test_a_takeover_race_on_postgresql_completes_each_job_once(pg_catalog):
    """Old owners whose leases expired and new owners complete the same jobs at the same
    time: every job ends with exactly one completion, by a lease that was current."""
    queue = CatalogJobQueue(pg_catalog, retry_base=timedelta(0))
    for file_id in add_files(pg_catalog, 40):
        queue.enqueue(file_id)
    old = [queue.claim("old", 30) for _ in range(40)]
    expire_all(pg_catalog)
    queue.requeue_expired()
    new = [queue.claim("new", 30) for _ in range(40)]
    results: dict[str, list[bool]] = {"old": [], "new": []}
    barrier = threading.Barrier(2)

    def finish(name, jobs):
        barrier.wait()
        results[name] = [queue.complete(j, f"/a/{j.name}", "cd" * 32, 10) for j in jobs]

    threads = [threading.Thread(target=finish, args=("old", old)), threading.Thread(target=finish, args=("new", new))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results["old"] == [False] * 40 and results["new"] == [True] * 40
    with pg_catalog.reader.connect() as conn:
        done = conn.execute(text("SELECT job_id, count(*) FROM download_attempts WHERE outcome = 'available' "
                                 "GROUP BY job_id")).all()  # fmt: skip
    assert len(done) == 40 and all(n == 1 for _, n in done)
