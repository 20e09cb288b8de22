"""T-09: several daemons share one PostgreSQL catalog and one archive folder, as real processes.

300 queued files, 3 `eoharvest daemon` processes with 4 download workers each, a loopback file
server answering 20 % of requests with a reset or a 503, one daemon SIGKILLed about 2 s in:
every file ends verified, each job completed exactly once (in the catalog and in the server's
log), the killed daemon's in-flight jobs are reclaimed after their lease expired, and no
temporary file is left in the archive. A sibling run with the `links` provider given a budget
of 4 (`EOHARVEST_PROVIDER_BUDGETS`) shows the budget holds across the 3 daemons' 12 workers.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import text

from eoharvest.adapters.catalog import open_catalog
from eoharvest.adapters.catalog.job_queue import CatalogJobQueue
from eoharvest.domain.catalog_location import CatalogUrl
from eoharvest.domain.models import Checksum, Scene
from faultserver.faults import FaultPlan
from faultserver.server import FaultServer

BIN = Path(sys.executable).with_name("eoharvest")
SEED = 909
FILES = 300
SIZE = 512 * 1024
#: a short lease so that the killed daemon's jobs come back within seconds
LEASE = "2"
HEARTBEAT = "0.3"


def queue_files(location: CatalogUrl, server: FaultServer, count: int = FILES, size: int = SIZE) -> list[str]:
    names = [f"t09-{i:03d}.bin" for i in range(count)]
    for name in names:
        server.add_file(name, size)
    with open_catalog(location) as catalog:
        catalog.upsert_scenes([Scene("Test", Path(n).stem, None, None, None, provider="links", product_key=Path(n).stem)
                               for n in names])  # fmt: skip
        queue = CatalogJobQueue(catalog)
        for name in names:
            file_id = catalog.record_file("links", Path(name).stem, name, href=server.url(name), size=size,
                                          checksum=Checksum("sha256", server.expected_sha256(name), "test"))  # fmt: skip
            assert queue.enqueue(file_id) is not None
    return names


def start_daemon(env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "w") as out:
        return subprocess.Popen(
            [str(BIN), "--log-level", "INFO", "daemon", "--workers", "4", "--lease-seconds", LEASE,
             "--heartbeat", HEARTBEAT, "--refresh", "30", "--stop-timeout", "5"],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


def stop_daemons(daemons: list[subprocess.Popen]) -> None:
    """SIGTERM, then each must end cleanly (exit 0) within 30 s."""
    for daemon in daemons:
        daemon.send_signal(signal.SIGTERM)
    for daemon in daemons:
        assert daemon.wait(30) == 0


def kill_leftovers(daemons: list[subprocess.Popen]) -> None:
    """After a failed test: no daemon outlives it."""
    for daemon in daemons:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait(10)


def daemon_env(tmp_path: Path, postgis_url: str, archive: Path, **extra: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("EOHARVEST_")},
        "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "EOHARVEST_CATALOG": postgis_url, "EOHARVEST_DOWNLOAD_DIR": str(archive),
        "EOHARVEST_ALLOW_PRIVATE_TARGETS": "true", "EOHARVEST_MAX_RETRIES": "10",
        "EOHARVEST_HOST_PAUSE_AFTER_FAILURES": "0", **extra,
    }  # fmt: skip


def scalar(location: CatalogUrl, sql: str, **params):
    with open_catalog(location) as catalog, catalog.reader.connect() as conn:
        return conn.execute(text(sql), params).scalar()


def delivered_whole(record, size: int) -> bool:
    """The server sent this file's last byte in a response that ended normally."""
    if record.method != "GET" or record.aborted or record.fault or record.completed is None:
        return False
    if record.status == 200:
        return record.bytes_sent == size
    if record.status == 206:
        last = (record.response_headers.get("Content-Range") or "").split("/")[0].rpartition("-")[2]
        return last == str(size - 1) and record.bytes_sent > 0
    return False


def test_t09_three_daemons_one_killed_complete_every_job_exactly_once(postgis_url, tmp_path):
    plan = FaultPlan(SEED, rates={"reset": 0.1, "r503": 0.1}, params={"r503": {"retry_after": 0}},
                     max_consecutive=3)  # fmt: skip
    archive = tmp_path / "archive"
    location = CatalogUrl(postgis_url)
    with FaultServer(plan=plan, pace=0.02) as server:
        names = queue_files(location, server)
        env = daemon_env(tmp_path, postgis_url, archive)
        logs = [tmp_path / f"daemon-{i}.log" for i in range(3)]
        started = time.monotonic()
        daemons = [start_daemon(env, log) for log in logs]
        try:
            victim = daemons[1]
            deadline = time.monotonic() + 60
            # ~2 s after the victim started fetching (its start-up under load varies)
            while time.monotonic() < deadline and not scalar(
                location, "SELECT count(*) FROM download_jobs WHERE lease_owner LIKE :me",
                me=f"%:{victim.pid}:%",
            ):  # fmt: skip
                time.sleep(0.05)
            time.sleep(2.0)
            victim.send_signal(signal.SIGKILL)
            victim.wait(10)
            killed_in_flight = scalar(location, "SELECT count(*) FROM download_jobs WHERE lease_owner LIKE :me "
                                                "AND state = 'fetching'", me=f"%:{victim.pid}:%")  # fmt: skip
            assert killed_in_flight > 0, "the victim had nothing in flight: the kill came too late"
            deadline = time.monotonic() + 150
            while time.monotonic() < deadline:
                available = scalar(location, "SELECT count(*) FROM download_jobs WHERE state = 'available'")
                print(f"{time.monotonic() - started:6.1f}s: {available} available", flush=True)
                if available == FILES:
                    break
                time.sleep(0.5)
            stop_daemons([daemons[0], daemons[2]])
        finally:
            kill_leftovers(daemons)
        server_log = server.log.snapshot()

    output = "\n".join(log.read_text() for log in logs)
    assert "Traceback" not in output
    # 300/300 verified files, each at its place with the server's bytes
    for name in names:
        final = archive / Path(name).stem / name
        assert hashlib.sha256(final.read_bytes()).hexdigest() == server.expected_sha256(name), name
    with open_catalog(location) as catalog, catalog.reader.connect() as conn:
        states = dict(conn.execute(text("SELECT state, count(*) FROM download_jobs GROUP BY state")).all())
        assert states == {"available": FILES}
        done = conn.execute(text("SELECT job_id, count(*) FROM download_attempts WHERE outcome = 'available' "
                                 "GROUP BY job_id")).all()  # fmt: skip
        assert len(done) == FILES and {n for _, n in done} == {1}
        files_ok = conn.execute(text("SELECT count(*) FROM files WHERE state = 'available' AND sha256 IS NOT NULL "
                                     "AND local_path IS NOT NULL")).scalar()  # fmt: skip
        assert files_ok == FILES
        reclaimed = conn.execute(text("SELECT count(*) FROM download_attempts WHERE outcome = 'expired'")).scalar()
        completed_by = Counter(r[0].split(":")[-2] for r in conn.execute(text("SELECT completed_by FROM download_jobs")))
    print(f"killed in flight {killed_in_flight}, reclaimed {reclaimed}, completed by pid {dict(completed_by)}")
    assert reclaimed >= killed_in_flight
    assert len(completed_by) >= 2 and completed_by.get(str(victim.pid), 0) < FILES
    # the server delivered each file's last byte once (resumed partials are not fetched again)
    whole = Counter(r.path for r in server_log if delivered_whole(r, SIZE))
    print(f"files whose last byte was sent twice or more: {sum(1 for n in whole.values() if n > 1)}")
    assert set(whole) == {server.path(n) for n in names}
    assert sum(n - 1 for n in whole.values()) <= killed_in_flight
    # no partial, sidecar, temporary sidecar or staging folder is left anywhere
    strays = [str(p) for p in archive.rglob("*") if ".part" in p.name or p.name.endswith(".tmp")
              or p.name.startswith(".staging")]  # fmt: skip
    assert strays == []


def peak_concurrent_gets(server_log) -> int:
    """The most file requests the server was answering at once (as a provider counting an
    account's concurrent downloads would)."""
    events = []
    for record in server_log:
        if record.method == "GET" and record.completed is not None:
            events += [(record.received, 1), (record.completed, -1)]
    peak = current = 0
    for _, step in sorted(events, key=lambda e: (e[0], e[1])):  # an end before a start at one instant
        current += step
        peak = max(peak, current)
    return peak


BUDGET_FILES = 60
BUDGET_SIZE = 256 * 1024


@pytest.mark.parametrize("budget", ["links=4", None], ids=["budget-of-4", "control-without-budget"])
def test_t09_a_provider_budget_of_4_holds_across_3_daemons_of_4_workers(postgis_url, tmp_path, budget):
    """12 workers of 3 daemons fetch 60 paced files (~0.2 s each) of a provider whose budget is
    4: the server never answers more than 4 at once. The control, without the budget, shows the
    workers do overlap past 4 (so the first run could fail)."""
    archive = tmp_path / "archive"
    location = CatalogUrl(postgis_url)
    extra = {"EOHARVEST_PROVIDER_BUDGETS": budget} if budget else {}
    with FaultServer(pace=0.05) as server:
        names = queue_files(location, server, BUDGET_FILES, BUDGET_SIZE)
        env = daemon_env(tmp_path, postgis_url, archive, **extra)
        logs = [tmp_path / f"daemon-{i}.log" for i in range(3)]
        daemons = [start_daemon(env, log) for log in logs]
        try:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                if scalar(location, "SELECT count(*) FROM download_jobs WHERE state = 'available'") == BUDGET_FILES:
                    break
                time.sleep(0.3)
            stop_daemons(daemons)
        finally:
            kill_leftovers(daemons)
        server_log = server.log.snapshot()

    assert "Traceback" not in "\n".join(log.read_text() for log in logs)
    for name in names:
        final = archive / Path(name).stem / name
        assert hashlib.sha256(final.read_bytes()).hexdigest() == server.expected_sha256(name), name
    completed_by = Counter(r[0].split(":")[-2] for r in _completions(location))
    peak = peak_concurrent_gets(server_log)
    print(f"budget {budget}: peak {peak} concurrent requests, completed by pid {dict(completed_by)}")
    assert len(completed_by) >= 2  # several daemons did share the work
    if budget:
        assert peak <= 4
    else:
        assert peak > 4


def _completions(location: CatalogUrl):
    with open_catalog(location) as catalog, catalog.reader.connect() as conn:
        return conn.execute(text("SELECT completed_by FROM download_jobs")).all()
