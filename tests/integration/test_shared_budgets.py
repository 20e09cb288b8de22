"""Provider budgets shared by several processes on one PostgreSQL catalog (issue 25): real
processes (``budget_worker.py``), loopback servers that count what a provider would count, and
the test cluster of tests/pgcluster.py. Every wait is bounded."""

from __future__ import annotations

import io
import json
import os
import random
import selectors
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from fakes import copernicus_server as cdse_server
from fakes.budget_server import BudgetServer
from fakes.copernicus_server import CdseFake
from fakes.usgs_server import UsgsFake

from eoharvest.adapters.catalog.postgis import open_postgis_catalog
from eoharvest.adapters.catalog.postgis_budget import PostgresBudgets
from eoharvest.domain.budgets import DOWNLOADS, BudgetKey, account_digest
from eoharvest.domain.catalog_location import CatalogUrl
from eoharvest.domain.errors import CatalogError, DownloadCancelled

WORKER = Path(__file__).with_name("budget_worker.py")
TESTS = Path(__file__).resolve().parents[1]
KEY = ["copernicus", account_digest("user@example.com"), DOWNLOADS]
TIMEOUT = 240.0  # hang guard of a worker's whole run


class Worker:
    def __init__(self, spec: dict, path: Path) -> None:
        path.write_text(json.dumps(spec))
        env = {k: v for k, v in os.environ.items() if not k.startswith("EOHARVEST_")}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), env.get("PYTHONPATH")]))
        self.proc = subprocess.Popen([sys.executable, str(WORKER), str(path)], env=env, cwd=TESTS,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip

    def expect(self, line: str, timeout: float = 120.0) -> None:
        """Read stdout until ``line`` (bounded)."""
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as selector:
            selector.register(self.proc.stdout, selectors.EVENT_READ)
            while time.monotonic() < deadline:
                if selector.select(timeout=0.5):
                    got = self.proc.stdout.readline()
                    if got.strip() == line:
                        return
                    if not got:
                        break
        self.proc.kill()
        raise AssertionError(f"worker never printed {line!r}: {self.proc.communicate(timeout=30)[1][-3000:]}")

    def outcome(self) -> dict:
        try:
            out, err = self.proc.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            out, err = self.proc.communicate(timeout=30)
        assert self.proc.returncode == 0, err[-3000:]
        return json.loads(out.strip().splitlines()[-1])


def run_together(specs: list[dict], tmp_path: Path) -> list[dict]:
    """Start every worker, wait until each is connected, then let them all go at once."""
    go = tmp_path / "go"
    workers = [Worker({**spec, "go": str(go)}, tmp_path / f"worker{i}.json") for i, spec in enumerate(specs)]
    try:
        for worker in workers:
            worker.expect("ready")
        go.touch()
        return [worker.outcome() for worker in workers]
    finally:
        for worker in workers:
            if worker.proc.poll() is None:
                worker.proc.kill()
                worker.proc.communicate(timeout=30)


def until(seconds: float):
    deadline = time.monotonic() + seconds
    return lambda: time.monotonic() > deadline


def test_three_processes_sharing_a_budget_of_4_never_hold_more_than_4_slots(postgis_url, tmp_path):
    with BudgetServer(hold=0.05) as server:
        spec = {"mode": "slots", "catalog": postgis_url, "server": server.url, "key": KEY, "limit": 4,
                "threads": 4, "rounds": 6}
        outcomes = run_together([spec] * 3, tmp_path)
    assert [o["errors"] for o in outcomes] == [[], [], []]
    assert sum(o["done"] for o in outcomes) == server.holds == 3 * 4 * 6
    assert server.peak <= 4, f"{server.peak} requests in flight on a budget of 4"


def test_budgets_kept_in_each_process_would_exceed_it(tmp_path):
    """The control: the same three processes with in-process budgets hold more than 4 at once,
    so the server above does see what a shared budget prevents."""
    with BudgetServer(hold=0.1) as server:
        spec = {"mode": "slots", "catalog": "", "local": True, "server": server.url, "key": KEY, "limit": 4,
                "threads": 4, "rounds": 6}
        run_together([spec] * 3, tmp_path)
    assert server.peak > 4


def test_a_sigkilled_holders_slots_are_freed(postgis_url, tmp_path):
    key = BudgetKey(*KEY)
    holder = Worker({"mode": "hold", "catalog": postgis_url, "key": KEY, "limit": 4}, tmp_path / "holder.json")
    budgets = PostgresBudgets(CatalogUrl(postgis_url))
    try:
        holder.expect("held")
        with pytest.raises(DownloadCancelled):
            with budgets.slot(key, 4, stopped=until(0.5)):
                pass
        holder.proc.send_signal(signal.SIGKILL)
        holder.proc.communicate(timeout=30)
        with budgets.slot(key, 4, stopped=until(30)):  # the server dropped the dead session's locks
            pass
    finally:
        budgets.close()
        if holder.proc.poll() is None:
            holder.proc.kill()
            holder.proc.communicate(timeout=30)


def test_two_accounts_have_two_budgets_and_a_mutex_is_a_budget_of_one(postgis_url):
    first, second = PostgresBudgets(CatalogUrl(postgis_url)), PostgresBudgets(CatalogUrl(postgis_url))
    mine, theirs = BudgetKey("usgs", account_digest("me"), "requests"), BudgetKey("usgs", account_digest("you"), "requests")
    try:
        with first.slot(mine, 1):
            with second.slot(theirs, 1, stopped=until(30)):  # another account: not held up
                pass
            with pytest.raises(DownloadCancelled):
                with second.slot(mine, 1, stopped=until(0.3)):
                    pass
        with second.slot(mine, 1, stopped=until(30)):
            pass
    finally:
        first.close()
        second.close()


def test_the_rate_holds_across_processes(postgis_url, tmp_path):
    rate = 4.0
    with BudgetServer() as server:
        spec = {"mode": "pace", "catalog": postgis_url, "server": server.url, "rate": rate, "calls": 4,
                "key": ["planet", account_digest("PLAK-key"), "activations"]}
        outcomes = run_together([spec] * 3, tmp_path)
        ticks = sorted(server.ticks)
    released = sorted(t for o in outcomes for t in o["released"])
    assert len(ticks) == len(released) == 12
    # Let through at least 1/rate apart (a little less allowed: a process may be descheduled
    # between taking the lock and reading the clock); per-process pacing gives gaps near 0.
    assert min(b - a for a, b in zip(released, released[1:])) >= 0.5 / rate
    # As the provider sees them: never more than rate (+1 for arrival jitter) in one second.
    busiest = max(sum(1 for t in ticks if start <= t < start + 1.0) for start in ticks)
    assert busiest <= rate + 1, ticks


def product_zip(product_id: str, size: int) -> bytes:
    """A stored (uncompressed) zip of about ``size`` bytes: products pass archive verification."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(f"{product_id}/MTD_MSIL2A.xml", "<metadata/>")
        zf.writestr(f"{product_id}/IMG_DATA/B04.jp2", random.Random(product_id).randbytes(size))
    return buf.getvalue()


def test_cdse_downloads_of_three_processes_stay_within_the_accounts_4(postgis_url, tmp_path, monkeypatch):
    """Through the composition root: each process downloads its own products with 4 workers
    (12 at once without a shared budget); CDSE sees at most 4 of the account's downloads."""
    open_postgis_catalog(CatalogUrl(postgis_url)).close()  # created once, before the racers
    zips = {}
    monkeypatch.setattr(cdse_server, "product_bytes", lambda pid, size: zips.setdefault(pid, product_zip(pid, 200_000)))
    with CdseFake(max_sessions=100, chunk_delay=0.01) as fake:
        for day in (1, 2, 3):
            for i in range(5):
                product_id = f"{day:08d}-aaaa-bbbb-cccc-{i:012d}"
                name = f"S2B_MSIL2A_202406{day:02d}T1015{i:02d}_N0510_R065_T32TMS_202406{day:02d}T1201{i:02d}.SAFE"
                fake.add_product(product_id, name, len(cdse_server.product_bytes(product_id, 0)),
                                 start=f"2024-06-{day:02d}T10:15:{i:02d}.000000Z")  # fmt: skip
        specs = [{"mode": "cdse", "catalog": postgis_url, "token_url": fake.token_url, "odata_url": fake.odata_url,
                  "download_url": fake.download_url, "username": fake.username, "password": fake.password,
                  "start": f"2024-06-{day:02d}", "end": f"2024-06-{day:02d}", "workers": 4,
                  "outdir": str(tmp_path / f"archive{day}")} for day in (1, 2, 3)]  # fmt: skip
        outcomes = run_together(specs, tmp_path)
    assert [o["failed"] for o in outcomes] == [[], [], []]
    assert [len(o["downloaded"]) for o in outcomes] == [5, 5, 5]
    assert 429 not in fake.statuses
    assert fake.peak_sessions <= 4, f"{fake.peak_sessions} downloads of one account at once"


def test_usgs_two_processes_on_one_account_never_get_rate_limit_user(postgis_url, tmp_path):
    open_postgis_catalog(CatalogUrl(postgis_url)).close()
    with UsgsFake(latency=0.03) as fake:
        spec = {"mode": "usgs", "catalog": postgis_url, "url": fake.m2m_url, "username": fake.username,
                "token": fake.token, "home": str(tmp_path), "searches": 6}
        outcomes = run_together([spec, spec], tmp_path)
        calls = len(fake.calls())
    assert all(o["found"] > 0 for o in outcomes)
    assert calls >= 2 * 6
    assert fake.rate_limited == 0, f"{fake.rate_limited} RATE_LIMIT_USER answers"


def test_a_budget_session_the_server_ended_is_replaced_and_giving_back_does_not_fail(postgis_url):
    """Fault injection: the server ends the budget session while a slot is held (a restart, an
    administrator). The holder's give-back is quiet, the next slot comes on a new session, and
    the slot still held by this process is not handed out twice by it; a server that cannot be
    reached is a CatalogError naming the catalog."""
    import psycopg

    key = BudgetKey(*KEY)
    budgets, other = PostgresBudgets(CatalogUrl(postgis_url)), PostgresBudgets(CatalogUrl(postgis_url))
    try:
        with budgets.slot(key, 2):
            with psycopg.connect(postgis_url, autocommit=True) as admin:
                ended = admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s",
                    (f"eoharvest-budgets {os.getpid()}@{__import__('socket').gethostname()}"[:63],),
                ).fetchall()
            assert [row[0] for row in ended] == [True]  # the only session yet (``other`` connects on first use)
            with budgets.slot(key, 2, stopped=until(30)):  # a new session; slot 0 is still ours
                with pytest.raises(DownloadCancelled):
                    with budgets.slot(key, 2, stopped=until(0.3)):
                        pass
        with budgets.slot(key, 2, stopped=until(30)), budgets.slot(key, 2, stopped=until(30)):
            with pytest.raises(DownloadCancelled):
                with other.slot(key, 2, stopped=until(0.3)):
                    pass
    finally:
        budgets.close()
        other.close()
    unreachable = PostgresBudgets(CatalogUrl("postgresql://nobody@127.0.0.1:9/nothing"))
    with pytest.raises(CatalogError, match="127.0.0.1:9"):
        with unreachable.slot(key, 2):
            pass
    unreachable.close()
