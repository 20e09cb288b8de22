"""`eoharvest serve` benchmark: item-search latency over HTTP beside `catalog query` in-process.

    .venv/bin/python bench/serve.py --sizes 100000,1000000 [--dir /var/tmp/eoh-bench]

For each size it builds a catalog of synthetic Sentinel-2-sized scenes (each with a small STAC
item as its raw record, so the server builds real items), starts the real `eoharvest serve`
command on a loopback port, and times random searches (a 0.5-degree bbox + a one-year datetime
interval, 10 items per page, STAC's default) two ways, alternating which goes first:

* ``serve``: GET /search from this process (HTTP keep-alive) until the JSON is parsed;
* ``catalog query``: the repository's ``query`` with the same criteria (the fast path the CLI
  uses), in-process: the floor the server's own work adds to.

Prints p50/p95 for both and the ratio; target: serve p95 <= 50 ms at 1M scenes.
"""

from __future__ import annotations

import argparse
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from catalog import CHUNK, load_average, percentile, queries, synthetic  # noqa: E402

from eoharvest.adapters.catalog import open_catalog  # noqa: E402
from eoharvest.domain.catalog_query import CatalogFilter  # noqa: E402
from eoharvest.domain.footprint import Footprint  # noqa: E402

BIN = Path(sys.executable).with_name("eoharvest")


def with_stac_raw(scenes: list) -> list:
    """Each scene with a small STAC item as its raw record (what a STAC provider leaves)."""
    out = []
    for s in scenes:
        raw = {
            "type": "Feature", "stac_version": "1.0.0", "id": s.scene_id, "collection": "sentinel-2-l2a",
            "geometry": None, "links": [],
            "properties": {"datetime": s.acq_date.isoformat().replace("+00:00", "Z"), "platform": "sentinel-2a",
                           "eo:cloud_cover": s.cloudcover_percentage},
            "assets": {"visual": {"href": f"https://example.test/{s.scene_id}/TCI.tif", "roles": ["visual"],
                                  "type": "image/tiff; application=geotiff; profile=cloud-optimized"}},
        }  # fmt: skip
        out.append(s.__class__(**{**s.__dict__, "raw": raw, "provider": "earth-search"}))
    return out


def build(path: Path, n: int) -> None:
    rng = np.random.default_rng(n)
    with open_catalog(path) as repo:
        for start in range(0, n, CHUNK):
            scenes, _ = synthetic(rng, start, min(CHUNK, n - start))
            repo.upsert_scenes(with_stac_raw(scenes))


class Served:
    def __init__(self, catalog: Path) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("EOHARVEST_")}
        self.process = subprocess.Popen([str(BIN), "--catalog", str(catalog), "serve", "--port", "0",
                                         "--no-access-log"], env=env, stderr=subprocess.PIPE, text=True)  # fmt: skip
        lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in self.process.stderr or []], daemon=True).start()
        while True:
            line = lines.get(timeout=120)
            if "STAC API at " in line:
                self.url = line.split("STAC API at ", 1)[1].split()[0]
                return

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(30)


def run(n: int, folder: Path, n_queries: int) -> dict[str, float]:
    path = folder / f"serve-{n}.db"
    done = folder / f"serve-{n}.built"
    t = time.perf_counter()
    if not done.exists():  # with --dir, a catalog built by an earlier run is reused
        path.unlink(missing_ok=True)
        build(path, n)
        done.touch()
    built = time.perf_counter() - t
    repo = open_catalog(path, read_only=True)
    server = Served(path)
    lat_http: list[float] = []
    lat_query: list[float] = []
    hits: list[int] = []
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            # The collection scan starts with the server; let it end before timing searches.
            t = time.perf_counter()
            http.get("/collections").raise_for_status()
            first_collections = time.perf_counter() - t
            http.get("/search", params={"limit": 1}).raise_for_status()  # warm-up
            for i, (west, south, east, north, d0, d1) in enumerate(queries(np.random.default_rng(2), n_queries)):
                interval = f"{d0.isoformat().replace('+00:00', 'Z')}/{d1.isoformat().replace('+00:00', 'Z')}"
                params = {"bbox": f"{west},{south},{east},{north}", "datetime": interval, "limit": 10}
                criteria = CatalogFilter(aoi=Footprint.from_bbox(west, south, east, north), start=d0, end=d1,
                                         sort="acq_date", descending=True, limit=10)  # fmt: skip

                def over_http() -> None:
                    t = time.perf_counter()
                    response = http.get("/search", params=params)
                    response.raise_for_status()
                    hits.append(len(response.json()["features"]))
                    lat_http.append(time.perf_counter() - t)

                def in_process() -> None:
                    t = time.perf_counter()
                    repo.query(criteria)
                    lat_query.append(time.perf_counter() - t)

                for step in (over_http, in_process) if i % 2 == 0 else (in_process, over_http):
                    step()
            # What a browser such as QGIS may ask: a page with no filter at all.
            unfiltered = []
            for _ in range(3):
                t = time.perf_counter()
                http.get("/search", params={"limit": 10}).raise_for_status()
                unfiltered.append(time.perf_counter() - t)
    finally:
        server.stop()
        repo.close()
    return {
        "http_p50": percentile(lat_http, 50), "http_p95": percentile(lat_http, 95),
        "query_p50": percentile(lat_query, 50), "query_p95": percentile(lat_query, 95),
        "hits": float(np.mean(hits)), "build_s": built,
        "collections_s": first_collections, "unfiltered_ms": percentile(unfiltered, 50),
    }  # fmt: skip


def report(n: int, r: dict[str, float]) -> None:
    ok = r["http_p95"] <= 50.0
    print(f"N={n:,}   (mean items per page {r['hits']:.1f}; catalog built (or reused) in {r['build_s']:.0f} s; "
          f"load average {load_average()})")  # fmt: skip
    print(f"  {'':22} {'serve':>9} {'catalog query':>14} {'ratio':>6}   target")
    print(f"  {'search p50 (ms)':22} {r['http_p50']:9.2f} {r['query_p50']:14.2f} {r['http_p50'] / r['query_p50']:6.2f}")
    print(f"  {'search p95 (ms)':22} {r['http_p95']:9.2f} {r['query_p95']:14.2f} {r['http_p95'] / r['query_p95']:6.2f}"
          f"   <= 50 ms (at 1M): {'met' if ok else 'MISSED'}")  # fmt: skip
    print(f"  first /collections (waits for the startup collection scan): {r['collections_s']:.2f} s; "
          f"unfiltered /search page: {r['unfiltered_ms']:.0f} ms (median of 3)")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000", help="comma-separated scene counts")
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--dir", default=None,
                        help="keep the catalogs in this folder and reuse them next time (default: a temp dir)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.dir:
        Path(args.dir).mkdir(parents=True, exist_ok=True)
        for n in sizes:
            report(n, run(n, Path(args.dir), args.queries))
        return
    with tempfile.TemporaryDirectory() as tmp:
        for n in sizes:
            report(n, run(n, Path(tmp), args.queries))


if __name__ == "__main__":
    main()
