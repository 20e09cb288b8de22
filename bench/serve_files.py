"""`eoharvest serve` file-route benchmark: served file throughput beside nginx, same file, same run.

    .venv/bin/python bench/serve_files.py [--size-mib 1024] [--rounds 5] [--ranges 300] [--dir /var/tmp/eoh-bench]

Writes one file of --size-mib MiB (random bytes) into a product folder, records it in a fresh
catalog as verified (SHA-256, size, mtime, inode), then starts the real `eoharvest serve`
(uvicorn, no access log) and nginx (sendfile on, no access log) on two loopback ports, both
serving that file from the same disk. Each is warmed once, then:

* whole file: ``curl -s -o /dev/null`` (a C client, so the server is what is measured), the two
  servers alternating, --rounds times each; medians in MiB/s and the ratio serve / nginx
  (target >= 0.8), and the CPU time each server process spent per GiB sent (user + system, from
  /proc: on a busy machine the throughput swings with what else runs, the CPU cost much less);
* small reads like GDAL's: --ranges random 16 KiB ``Range`` requests over one keep-alive
  connection (httpx), the two servers alternating per request; median latency of each.

The 1/5/15-minute load averages are printed before and after: numbers from a busy machine mean
little (the ratio, measured alternately in the same run, less so).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from catalog import load_average  # noqa: E402
from serve import Served  # noqa: E402  (the `eoharvest serve` subprocess of bench/serve.py)

from eoharvest.adapters.catalog import open_catalog  # noqa: E402
from eoharvest.domain.models import Scene  # noqa: E402

BIN = Path(sys.executable).with_name("eoharvest")
CHUNK = 8 * 1024 * 1024


def write_file(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with open(path, "wb") as out:
        left = size
        while left:
            block = os.urandom(min(CHUNK, left))
            out.write(block)
            digest.update(block)
            left -= len(block)
        out.flush()
        os.fsync(out.fileno())
    return digest.hexdigest()


def build_catalog(catalog: Path, path: Path, sha256: str) -> None:
    from datetime import datetime, timezone

    from eoharvest.domain.footprint import Footprint

    scene = Scene(platformname="Sentinel-2", scene_id="BENCH", footprint=Footprint.from_bbox(10, 45, 11, 46),
                  acq_date=datetime(2024, 1, 1, tzinfo=timezone.utc), cloudcover_percentage=None, provider="cdse",
                  product_key="BENCH")  # fmt: skip
    with open_catalog(catalog) as repo:
        repo.upsert_scenes([scene])
        file_id = repo.record_file("cdse", "BENCH", path.name, size=path.stat().st_size)
        repo.set_file_state(file_id, "available", local_path=str(path), sha256=sha256)


class Nginx:
    """nginx as the current user, serving ``root`` on a free loopback port (sendfile on)."""

    def __init__(self, root: Path, work: Path) -> None:
        exe = shutil.which("nginx") or "/usr/sbin/nginx"
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        work.mkdir(parents=True, exist_ok=True)
        user = f"user {os.environ.get('USER', 'root')};" if os.geteuid() == 0 else ""
        conf = work / "nginx.conf"
        conf.write_text(f"""{user}
worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    client_body_temp_path {work}/body; proxy_temp_path {work}/proxy; fastcgi_temp_path {work}/fcgi;
    uwsgi_temp_path {work}/uwsgi; scgi_temp_path {work}/scgi;
    types {{ }} default_type application/octet-stream;
    server {{ listen 127.0.0.1:{self.port}; root {root}; }}
}}
""")
        self.process = subprocess.Popen([exe, "-p", str(work), "-c", str(conf), "-e", str(work / "error.log")],
                                        stderr=subprocess.PIPE)  # fmt: skip
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                if self.process.poll() is not None:
                    raise SystemExit(f"nginx did not start: {self.process.stderr.read() if self.process.stderr else ''}")
                time.sleep(0.1)
        self.url = f"http://127.0.0.1:{self.port}/"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(15)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def nginx_worker(master: int) -> int:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    if len(children) != 1:
        raise SystemExit(f"expected one nginx worker, found {children}")
    return int(children[0])


def curl_speed(url: str, size: int) -> float:
    """MiB/s of one whole-file GET by curl (checked: every byte arrived)."""
    out = subprocess.run(["curl", "-s", "--noproxy", "*", "-o", "/dev/null", "-w", "%{size_download} %{time_total}",
                          url], capture_output=True, text=True, check=True, timeout=600)  # fmt: skip
    got, seconds = out.stdout.split()
    if int(got) != size:
        raise SystemExit(f"{url}: {got} bytes instead of {size}")
    return size / float(seconds) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--ranges", type=int, default=300)
    parser.add_argument("--dir", type=Path, default=None, help="working folder (default: a temporary one)")
    args = parser.parse_args()
    if shutil.which("curl") is None or (shutil.which("nginx") is None and not Path("/usr/sbin/nginx").exists()):
        raise SystemExit("needs curl and nginx (scripts/bench.sh installs them)")
    base = args.dir or Path(tempfile.mkdtemp(prefix="eoh-serve-files-"))
    base.mkdir(parents=True, exist_ok=True)
    base.chmod(0o755)
    archive = base / "archive"
    (archive / "BENCH").mkdir(parents=True, exist_ok=True)
    path = archive / "BENCH" / "B04.tif"
    size = args.size_mib * 2**20
    print(f"load average before: {load_average()}")
    print(f"writing {args.size_mib} MiB to {path}")
    sha256 = write_file(path, size)
    catalog = base / "catalog.db"
    if catalog.exists():
        catalog.unlink()
    build_catalog(catalog, path, sha256)
    serve, nginx = Served(catalog), Nginx(archive, base / "nginx")
    urls = {"serve": f"{serve.url}files/BENCH/B04.tif", "nginx": f"{nginx.url}BENCH/B04.tif"}
    try:
        for url in urls.values():
            curl_speed(url, size)  # warm: page cache, connections
        speeds: dict[str, list[float]] = {"serve": [], "nginx": []}
        cpu: dict[str, list[float]] = {"serve": [], "nginx": []}
        pids = {"serve": serve.process.pid, "nginx": nginx_worker(nginx.process.pid)}
        for round_ in range(args.rounds):
            order = ["serve", "nginx"] if round_ % 2 == 0 else ["nginx", "serve"]
            for name in order:
                before = cpu_seconds(pids[name])
                speeds[name].append(curl_speed(urls[name], size))
                cpu[name].append((cpu_seconds(pids[name]) - before) / (size / 2**30))
        s, n = statistics.median(speeds["serve"]), statistics.median(speeds["nginx"])
        print(f"whole file ({args.size_mib} MiB, {args.rounds} alternating rounds, curl):")
        print(f"  serve  median {s:8.0f} MiB/s  runs {' '.join(f'{v:.0f}' for v in speeds['serve'])}")
        print(f"  nginx  median {n:8.0f} MiB/s  runs {' '.join(f'{v:.0f}' for v in speeds['nginx'])}")
        print(f"  ratio serve/nginx {s / n:.2f} (target >= 0.8)")
        cs, cn = statistics.median(cpu["serve"]), statistics.median(cpu["nginx"])
        print(f"  server CPU per GiB sent: serve median {cs * 1000:.0f} ms, nginx median {cn * 1000:.0f} ms")
        rng = random.Random(27)
        latency: dict[str, list[float]] = {"serve": [], "nginx": []}
        data = path.open("rb")
        with httpx.Client(trust_env=False) as client, data:
            for i in range(args.ranges):
                start = rng.randrange(size - 16384)
                data.seek(start)
                expected = data.read(16384)
                for name in (["serve", "nginx"] if i % 2 == 0 else ["nginx", "serve"]):
                    t0 = time.perf_counter()
                    answer = client.get(urls[name], headers={"Range": f"bytes={start}-{start + 16383}"})
                    latency[name].append(time.perf_counter() - t0)
                    if answer.status_code != 206 or answer.content != expected:
                        raise SystemExit(f"{name}: wrong answer to a range ({answer.status_code})")
        ls, ln = statistics.median(latency["serve"]) * 1000, statistics.median(latency["nginx"]) * 1000
        print(f"16 KiB ranges ({args.ranges} each, keep-alive, httpx): serve median {ls:.2f} ms, "
              f"nginx median {ln:.2f} ms")  # fmt: skip
    finally:
        serve.stop()
        nginx.stop()
        if args.dir is None:
            shutil.rmtree(base, ignore_errors=True)
    print(f"load average after: {load_average()}")


if __name__ == "__main__":
    main()
