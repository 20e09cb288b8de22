"""Download benchmark: eoharvest's verified transfer against curl, on loopback.

    .venv/bin/python bench/download.py [--size-mib 2048] [--files 8] [--file-mib 16] [--rate-mib 16]

Part 1 fetches one large file from a local sendfile() server with curl (`curl -s -o`) and with
eoharvest (streaming to a .part, SHA-256 in-stream, verified, fsync'ed and renamed), each in its
own subprocess so peak RSS is measured per client. Target: throughput ratio >= 0.95, RSS <= 64 MiB.

Part 2 fetches N files from a server that throttles each connection to --rate-mib MiB/s through
download_all() with 4 parallel downloads per provider. Ideal wall time = ceil(N/4) * size/rate.
Target: measured/ideal <= 1.1.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

BLOCK = 64 * 1024 * 1024


class FileServer:
    """Serves files from a directory with sendfile(), Range support and an optional per-connection rate."""

    def __init__(self, root: Path, rate: float | None = None) -> None:
        root_dir, limit = root, rate

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # noqa: D401
                pass

            def do_GET(self):  # noqa: N802
                path = root_dir / self.path.lstrip("/")
                size = path.stat().st_size
                start = 0
                rng = self.headers.get("Range")
                if rng:
                    start = int(rng.split("=")[1].rstrip("-"))
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(size - start))
                self.send_header("ETag", f'"{size}"')
                self.send_header("Content-Type", "application/octet-stream")
                self.end_headers()
                with open(path, "rb") as f:
                    if limit is None:
                        self.connection.sendfile(f, offset=start)
                        return
                    f.seek(start)
                    chunk = 256 * 1024
                    t0 = time.monotonic()
                    sent = 0
                    while block := f.read(chunk):
                        self.wfile.write(block)
                        sent += len(block)
                        ahead = sent / limit - (time.monotonic() - t0)
                        if ahead > 0:
                            time.sleep(ahead)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def make_file(path: Path, size: int) -> str:
    block = os.urandom(min(BLOCK, size))
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            part = block[: min(left, len(block))]
            f.write(part)
            digest.update(part)
            left -= len(part)
    return digest.hexdigest()


# Peak RSS is read from VmHWM: ru_maxrss survives execve on Linux, so a child would report
# the (large) parent's RSS at fork time.
HWM = "int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1])"

IMPORT_ONLY_CHILD = r"""
import json
import httpx
from eoharvest.adapters.http.transfer import TransferEngine
print(json.dumps({"rss_kib": %s}))
""" % HWM

EOH_CHILD = r"""
import json, sys, time
from pathlib import Path
import httpx
from eoharvest.adapters.http.guard import UrlGuard
from eoharvest.adapters.http.transfer import FetchSpec, TransferEngine
from eoharvest.domain.models import Checksum
url, dest, size, sha = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
with httpx.Client(timeout=30) as client:
    engine = TransferEngine(client, guard=UrlGuard(allow_private=True))
    t0 = time.monotonic()
    out = engine.fetch(FetchSpec(url, dest, size=size, checksums=(Checksum("sha256", sha, "bench"),)))
    took = time.monotonic() - t0
print(json.dumps({"seconds": took, "verified": out.verified_with, "rss_kib": %s}))
""" % HWM


def part1(tmp: Path, size: int) -> dict:
    src = tmp / "src"
    src.mkdir()
    sha = make_file(src / "big.bin", size)
    results: dict = {"size_mib": size // (1024 * 1024)}
    with FileServer(src) as server:
        url = f"{server.url}/big.bin"
        # Alternate the clients and flush dirty pages before every run: otherwise whoever runs
        # second is throttled by the kernel writing back the first one's gigabytes.
        curl_times, eoh = [], []
        for i in range(3):
            out = tmp / f"curl{i}.bin"
            os.sync()
            t0 = time.monotonic()
            subprocess.run(["curl", "-s", "-o", str(out), url], check=True)
            curl_times.append(time.monotonic() - t0)
            out.unlink()
            dest = tmp / f"eoh{i}" / "big.bin"
            dest.parent.mkdir()
            os.sync()
            t0 = time.monotonic()
            proc = subprocess.run([sys.executable, "-c", EOH_CHILD, url, str(dest), str(size), sha],
                                  check=True, capture_output=True, text=True)
            data = json.loads(proc.stdout.strip().splitlines()[-1])
            data["wall"] = time.monotonic() - t0
            eoh.append(data)
            shutil.rmtree(dest.parent)
    baseline = subprocess.run([sys.executable, "-c", IMPORT_ONLY_CHILD], check=True, capture_output=True, text=True)
    baseline_kib = json.loads(baseline.stdout)["rss_kib"]
    curl_best = min(curl_times)
    eoh_best = min(e["seconds"] for e in eoh)
    results.update(
        curl_seconds=round(curl_best, 3),
        curl_mib_s=round(size / curl_best / 2**20, 1),
        eoharvest_seconds=round(eoh_best, 3),
        eoharvest_mib_s=round(size / eoh_best / 2**20, 1),
        ratio=round(curl_best / eoh_best, 3),
        eoharvest_peak_rss_mib=round(max(e["rss_kib"] for e in eoh) / 1024, 1),
        import_baseline_rss_mib=round(baseline_kib / 1024, 1),
        transfer_rss_growth_mib=round((max(e["rss_kib"] for e in eoh) - baseline_kib) / 1024, 1),
        verified=eoh[0]["verified"],
    )
    return results


def part2(tmp: Path, files: int, file_size: int, rate: float) -> dict:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
    import httpx

    from eoharvest import download_all
    from eoharvest.adapters.http.guard import UrlGuard
    from eoharvest.adapters.http.transfer import TransferEngine
    from eoharvest.adapters.transfers import ProviderTransfers, SafeArchives
    from eoharvest.application.downloading import source_downloader_factory
    from eoharvest.application.scene_download import SceneDownloadService
    from eoharvest.domain.models import Activation, Checksum, DownloadDescriptor, Scene
    from eoharvest.domain.providers import BASIC

    src = tmp / "src2"
    src.mkdir()
    shas = {f"f{i}.bin": make_file(src / f"f{i}.bin", file_size) for i in range(files)}
    with FileServer(src, rate=rate) as server, httpx.Client(timeout=60) as client:
        engine = TransferEngine(client, guard=UrlGuard(allow_private=True))

        class Source:
            name = "bench"
            capabilities = BASIC

            def activate(self, scene):
                return Activation(True)

            def download_descriptors(self, scene, assets=None):
                name = scene.scene_id + ".bin"
                return [DownloadDescriptor(f"{server.url}/{name}", name, size=file_size,
                                           checksums=(Checksum("sha256", shas[name], "bench"),))]

        source = Source()
        factory = source_downloader_factory(source, SceneDownloadService(ProviderTransfers(lambda p: engine), SafeArchives()))
        scenes = [Scene("Bench", f"f{i}", None, None, None, provider="bench").bind_downloader(factory)
                  for i in range(files)]
        t0 = time.monotonic()
        results, failures = download_all(scenes, str(tmp / "out2"), max_per_provider=4, max_workers=4)
        wall = time.monotonic() - t0
    ideal = math.ceil(files / 4) * file_size / rate
    return {"files": files, "file_mib": file_size // 2**20, "rate_mib_s": rate / 2**20,
            "failures": len(failures), "wall_seconds": round(wall, 2), "ideal_seconds": round(ideal, 2),
            "wall_over_ideal": round(wall / ideal, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=2048)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--file-mib", type=int, default=16)
    parser.add_argument("--rate-mib", type=float, default=16.0)
    args = parser.parse_args()
    if not shutil.which("curl"):
        sys.exit("curl is needed for the baseline (apt-get install curl)")
    # Outputs go to RAM (/dev/shm) by default so the comparison measures the clients, not the
    # kernel's writeback of earlier runs and ext4 discards of deleted gigabytes.
    default_dir = "/dev/shm" if shutil.disk_usage("/dev/shm").free > 3 * args.size_mib * 2**20 else None
    with tempfile.TemporaryDirectory(dir=os.environ.get("EOHARVEST_BENCH_DIR", default_dir)) as tmp:
        one = part1(Path(tmp), args.size_mib * 2**20)
        print(f"single file {one['size_mib']} MiB: curl {one['curl_seconds']} s ({one['curl_mib_s']} MiB/s), "
              f"eoharvest {one['eoharvest_seconds']} s ({one['eoharvest_mib_s']} MiB/s, hashed+verified {one['verified']}); "
              f"ratio {one['ratio']} (target >= 0.95); eoharvest peak RSS {one['eoharvest_peak_rss_mib']} MiB (target <= 64), "
              f"of which {one['import_baseline_rss_mib']} MiB is the interpreter and imports before any transfer")
        two = part2(Path(tmp), args.files, args.file_mib * 2**20, args.rate_mib * 2**20)
        print(f"{two['files']} files x {two['file_mib']} MiB at {two['rate_mib_s']} MiB/s per connection, 4 at a time: "
              f"{two['wall_seconds']} s vs ideal {two['ideal_seconds']} s; ratio {two['wall_over_ideal']} (target <= 1.1); "
              f"failures {two['failures']}")
        print(json.dumps({"single": one, "throttled": two}))


if __name__ == "__main__":
    main()
