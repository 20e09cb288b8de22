"""Several daemons on one PostgreSQL catalog: download throughput of N daemons against one, and
the latency of a claim with a million queued jobs.

    .venv/bin/python bench/scaleout.py                       # both parts, defaults below
    .venv/bin/python bench/scaleout.py --daemons 1,2,3,4 --jobs 120 --repeat 3
    .venv/bin/python bench/scaleout.py --skip-throughput --queued 1000000

Throughput: a throttled loopback provider (each response paced, ``--pace`` seconds per 64 KiB)
that serves at most ``--budget`` downloads at once (the provider's budget: more requests wait
for a free slot, as a provider's queue would make them). For each N, ``--jobs`` files are
queued in a fresh catalog and N real ``eoharvest daemon --workers W`` processes drain the queue;
the time runs from the first claim to the last completion (catalog timestamps: process start-up
is not counted). The baseline is one daemon (the same tool, same workers) in the same run; the
ratio should approach N until N x W reaches the budget. Runs alternate between the N values
and the medians are shown.

Claims: ``--queued`` jobs are made with one ``INSERT ... SELECT generate_series`` (their files
with another), then ``CatalogJobQueue.claim`` (the daemons' own code: the ``FOR UPDATE SKIP
LOCKED`` claim and the read of the job's file) is timed from 1 and from 8 threads; the baseline
is the same claim on a queue of 10,000 jobs, and the floor a bare ``SELECT 1`` round trip.
A throw-away local cluster with fsync on is started (tests/pgcluster.py) unless ``--url`` names
an empty database. Figures are printed with the load average (this machine: 2 shared cores).
"""

from __future__ import annotations

import argparse
import hashlib
import http.server
import os
import signal
import socketserver
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from eoharvest.adapters.catalog import open_catalog  # noqa: E402
from eoharvest.adapters.catalog.job_queue import CatalogJobQueue  # noqa: E402
from eoharvest.domain.catalog_location import CatalogUrl  # noqa: E402
from eoharvest.domain.models import Checksum, Scene  # noqa: E402

BIN = Path(sys.executable).with_name("eoharvest")
BLOCK = 64 * 1024
#: the baseline queue of the claim benchmark
SMALL_QUEUE = 10_000


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


# -- the throttled provider ------------------------------------------------------------------------
def body(name: str, size: int) -> bytes:
    seed = hashlib.sha256(name.encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


class Provider(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True

    def __init__(self, size: int, pace: float, budget: int) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.size, self.pace = size, pace
        self.slots = threading.BoundedSemaphore(budget)
        self.busy = self.peak = 0
        self.lock = threading.Lock()

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        server: Provider = self.server  # type: ignore[assignment]
        data = body(self.path, server.size)
        with server.slots:  # the provider's budget: at most this many bodies at once
            with server.lock:
                server.busy += 1
                server.peak = max(server.peak, server.busy)
            try:
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                for start in range(0, len(data), BLOCK):
                    self.wfile.write(data[start : start + BLOCK])
                    time.sleep(server.pace)
            finally:
                with server.lock:
                    server.busy -= 1


# -- throughput of N daemons -------------------------------------------------------------------------
def queue_jobs(url: str, provider: Provider, jobs: int) -> None:
    with open_catalog(CatalogUrl(url)) as catalog:
        names = [f"b{i:05d}" for i in range(jobs)]
        catalog.upsert_scenes([Scene("Bench", n, None, None, None, provider="links", product_key=n) for n in names])
        queue = CatalogJobQueue(catalog)
        for n in names:
            digest = hashlib.sha256(body(f"/{n}.bin", provider.size)).hexdigest()
            file_id = catalog.record_file("links", n, f"{n}.bin", href=f"{provider.origin}/{n}.bin",
                                          size=provider.size, checksum=Checksum("sha256", digest, "bench"))  # fmt: skip
            queue.enqueue(file_id)


def drain(url: str, daemons: int, workers: int, jobs: int, folder: Path) -> float:
    """Seconds from the first claim to the last completion with ``daemons`` daemon processes."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("EOHARVEST_")},
           "HOME": str(folder), "XDG_CONFIG_HOME": str(folder / "config"), "EOHARVEST_CATALOG": url,
           "EOHARVEST_DOWNLOAD_DIR": str(folder / "archive"), "EOHARVEST_ALLOW_PRIVATE_TARGETS": "true",
           "EOHARVEST_PER_PROVIDER_LIMIT": str(workers)}  # fmt: skip
    procs = [subprocess.Popen([str(BIN), "daemon", "--workers", str(workers), "--refresh", "60"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(daemons)]  # fmt: skip
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                done = conn.execute("SELECT count(*) FROM download_jobs WHERE state = 'available'").fetchone()[0]
                if done == jobs:
                    break
                failed = conn.execute("SELECT count(*) FROM download_jobs WHERE state = 'failed'").fetchone()[0]
                if failed:
                    raise SystemExit(f"{failed} job(s) failed: the figures would mean nothing")
                time.sleep(0.2)
            else:
                raise SystemExit("the daemons did not finish in 10 minutes")
            first, last = conn.execute(
                "SELECT min(a.started_at), max(j.completed_at) FROM download_jobs j "
                "JOIN download_attempts a ON a.job_id = j.id"
            ).fetchone()
            per_daemon = conn.execute("SELECT count(DISTINCT completed_by) FROM download_jobs").fetchone()[0]
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
    if per_daemon != daemons:
        print(f"  note: {per_daemon} of {daemons} daemons completed jobs (the others started too late)")
    return (last - first).total_seconds()


def throughput(cluster: object, counts: list[int], args: argparse.Namespace) -> None:
    provider = Provider(args.size, args.pace, args.budget)
    threading.Thread(target=provider.serve_forever, daemon=True).start()
    print(f"throughput: {args.jobs} files of {args.size // 1024} KiB, {args.pace}s per 64 KiB, provider budget "
          f"{args.budget} at once, {args.workers} workers per daemon; load average {load_average()}")  # fmt: skip
    seconds: dict[int, list[float]] = {n: [] for n in counts}
    with tempfile.TemporaryDirectory(prefix="eoharvest-bench-") as tmp:
        for round_ in range(args.repeat):
            for n in counts:  # alternate the configurations
                url = cluster.url(cluster.new_database())  # type: ignore[attr-defined]
                with open_catalog(CatalogUrl(url)):
                    pass
                queue_jobs(url, provider, args.jobs)
                folder = Path(tmp) / f"r{round_}-n{n}"
                folder.mkdir()
                seconds[n].append(drain(url, n, args.workers, args.jobs, folder))
                print(f"  round {round_ + 1}, {n} daemon(s): {args.jobs / seconds[n][-1]:.1f} files/s "
                      f"(load {load_average()})", flush=True)  # fmt: skip
    provider.shutdown()
    base = args.jobs / statistics.median(seconds[counts[0]])
    print(f"{'daemons':>8} {'files/s':>9} {'vs 1':>6} {'ideal':>6}")
    for n in counts:
        rate = args.jobs / statistics.median(seconds[n])
        ideal = min(n * args.workers, args.budget) / min(counts[0] * args.workers, args.budget)
        print(f"{n:>8} {rate:>9.1f} {rate / base:>6.2f} {ideal:>6.2f}")
    print(f"peak concurrent downloads at the provider: {provider.peak} (budget {args.budget}); "
          f"load average {load_average()}")  # fmt: skip


# -- claim latency with a million queued jobs -------------------------------------------------------------
def fill(url: str, queued: int) -> None:
    with open_catalog(CatalogUrl(url)) as catalog:
        catalog.upsert_scenes([Scene("Bench", "one", None, None, None, provider="links", product_key="one")])
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO files (scene_pk, name, href, size, state, updated_at) "
            "SELECT (SELECT id FROM scenes LIMIT 1), 'f' || g, 'http://127.0.0.1:9/f' || g, 1, 'queued', now() "
            "FROM generate_series(1, %s) AS g", (queued,))  # fmt: skip
        conn.execute(
            "INSERT INTO download_jobs (file_id, state, attempts, created_at, updated_at) "
            "SELECT id, 'queued', 0, now(), now() FROM files")  # fmt: skip
        conn.execute("ANALYZE files")
        conn.execute("ANALYZE download_jobs")


def claim_latencies(url: str, threads: int, claims: int) -> list[float]:
    """``claims`` claims from ``threads`` threads; the claimed jobs are queued again afterwards
    (not timed), so every run sees the same queue."""
    latencies: list[float] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    with open_catalog(CatalogUrl(url)) as catalog:
        queue = CatalogJobQueue(catalog)
        queue.claim("warm-up", 60)

        def run(owner: str) -> None:
            mine = []
            try:
                for _ in range(claims // threads):
                    t = time.perf_counter()
                    if queue.claim(owner, 60) is None:
                        raise RuntimeError("the queue ran dry")
                    mine.append(time.perf_counter() - t)
            except BaseException as error:  # noqa: BLE001 - reported by the main thread
                errors.append(error)
            with lock:
                latencies.extend(mine)

        workers = [threading.Thread(target=run, args=(f"bench-{i}",)) for i in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE download_jobs SET state = 'queued', lease_owner = NULL, lease_until = NULL "
                     "WHERE state = 'fetching'")  # fmt: skip
        conn.execute("DELETE FROM download_attempts")
        conn.execute("UPDATE files SET state = 'queued' WHERE state = 'fetching'")
    if errors:
        raise SystemExit(f"a claimer failed: {errors[0]}")
    return latencies


def round_trip(url: str, n: int = 500) -> float:
    with psycopg.connect(url, autocommit=True) as conn:
        times = []
        for _ in range(n):
            t = time.perf_counter()
            conn.execute("SELECT 1").fetchone()
            times.append(time.perf_counter() - t)
    return percentile(times, 95)


def claims(cluster: object, args: argparse.Namespace) -> None:
    print(f"claims: {args.claims} claims per run; load average {load_average()}")
    urls = {}
    for queued in (SMALL_QUEUE, args.queued):
        urls[queued] = cluster.url(cluster.new_database())  # type: ignore[attr-defined]
        t = time.perf_counter()
        fill(urls[queued], queued)
        print(f"  {queued:,} queued jobs made in {time.perf_counter() - t:.1f}s (load {load_average()})", flush=True)
    rows = []
    for threads in (1, 8):
        p95: dict[int, list[float]] = {q: [] for q in urls}
        p50: dict[int, list[float]] = {q: [] for q in urls}
        for _ in range(args.repeat):
            for queued, url in urls.items():  # alternate the queue sizes
                lat = claim_latencies(url, threads, args.claims)
                p95[queued].append(percentile(lat, 95))
                p50[queued].append(percentile(lat, 50))
        rows.append((threads, {q: statistics.median(v) for q, v in p50.items()},
                     {q: statistics.median(v) for q, v in p95.items()}))  # fmt: skip
    floor = round_trip(urls[args.queued])
    print(f"{'threads':>8} {'queued':>10} {'p50 ms':>8} {'p95 ms':>8} {'p95 vs 10k':>10}")
    for threads, p50s, p95s in rows:
        for queued in urls:
            print(f"{threads:>8} {queued:>10,} {p50s[queued] * 1000:>8.2f} {p95s[queued] * 1000:>8.2f} "
                  f"{p95s[queued] / p95s[SMALL_QUEUE]:>10.2f}")  # fmt: skip
    print(f"floor: SELECT 1 round trip p95 {floor * 1000:.2f} ms; load average {load_average()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--daemons", default="1,2,3,4")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=120)
    parser.add_argument("--size", type=int, default=256 * 1024)
    parser.add_argument("--pace", type=float, default=0.05)
    parser.add_argument("--budget", type=int, default=6)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--queued", type=int, default=1_000_000)
    parser.add_argument("--claims", type=int, default=2000)
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-claims", action="store_true")
    args = parser.parse_args()
    from pgcluster import start_cluster

    cluster = start_cluster(durable=True)
    try:
        if not args.skip_throughput:
            throughput(cluster, [int(n) for n in args.daemons.split(",")], args)
        if not args.skip_claims:
            claims(cluster, args)
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
