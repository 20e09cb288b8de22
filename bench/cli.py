"""CLI benchmark: where users wait, against the tools they would otherwise use.

    .venv/bin/python bench/cli.py [--size 1000000] [--runs 5] [--catalog PATH] [--dir DIR]
    bash scripts/bench.sh cli [...]        # installs the baselines (gdal-bin, sqlite3) first

Every figure is the median of ``--runs`` runs of fresh processes, eoharvest's and the
baseline's alternating (so a change in the machine's load hits both), wall seconds and peak RSS
(GNU time's maximum resident set size of that process alone), with the ratio of the medians
beside its target and the load average:

* start-up: ``eoharvest --help`` (target <= 15x) and ``eoharvest catalog stats`` on a 1k-scene
  catalog (<= 35x), against ``python -c pass``;
* queries on a catalog of ``--size`` scenes (built once with bench/catalog.py's synthetic
  Sentinel-2 tiles, not timed; ``--catalog`` reuses one), as GeoJSON on stdout, against
  ``ogr2ogr -f GeoJSON /vsistdout/`` with the same bbox, date and cloud filter: 100 rows
  (``--limit 100``) and every scene in a bbox; target <= 2x ogr2ogr's wall time each, and
  eoharvest's peak RSS at most 60 MiB above the same command on an empty catalog;
* ``catalog stats`` against the ``sqlite3`` shell running the same SQL (target <= 1.2x).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from catalog import CHUNK, load_average, synthetic  # noqa: E402

BIN = Path(sys.executable).parent
TIME = "/usr/bin/time"
BBOX_100 = (4.0, 44.0, 16.0, 52.0)  # ~3% of the synthetic scenes, filtered to 100 below
BBOX_ALL = (4.0, 44.0, 14.0, 52.0)  # every scene in it: ~2.6% of the catalog
YEAR = ("2019-01-01", "2019-12-31")


def build_catalog(path: Path, n: int) -> None:
    import numpy as np

    from eoharvest.adapters.catalog import open_catalog

    rng = np.random.default_rng(n)
    with open_catalog(path) as repo:
        for start in range(0, n, CHUNK):
            scenes, _ = synthetic(rng, start, min(CHUNK, n - start))
            repo.upsert_scenes(scenes)
    # Leave a checkpointed file, as a catalog at rest is.
    import sqlite3

    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def measure(cmd: list[str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak RSS (MiB) of one run of ``cmd`` (stdout discarded)."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as report:
        start = time.perf_counter()
        proc = subprocess.run([TIME, "-f", "%M %U %S", "-o", report.name, *cmd], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)  # fmt: skip
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-2000:]}")
        rss_kib, user, system = report.read().split()[-3:]
    return wall, float(user) + float(system), int(rss_kib) / 1024


def compare(ours: list[str], theirs: list[str], runs: int) -> dict[str, float]:
    """Medians of alternating runs of ``ours`` and ``theirs``."""
    results: dict[str, list[tuple[float, float, float]]] = {"ours": [], "theirs": []}
    measure(ours), measure(theirs)  # warm the page cache for both; not counted
    for run in range(runs):
        for name in ("ours", "theirs") if run % 2 == 0 else ("theirs", "ours"):
            results[name].append(measure(ours if name == "ours" else theirs))
    med = {f"{name}_{kind}": statistics.median(r[i] for r in rows)
           for name, rows in results.items() for i, kind in enumerate(("wall", "cpu", "rss"))}  # fmt: skip
    med["ratio"] = med["ours_wall"] / med["theirs_wall"]
    med["cpu_ratio"] = med["ours_cpu"] / max(med["theirs_cpu"], 0.005)
    return med


def report(title: str, m: dict[str, float], baseline: str, target: float, extra: str = "") -> None:
    ok = "met" if m["ratio"] <= target else "MISSED"
    print(
        f"{title:34} eoharvest {m['ours_wall']:.3f} s / {m['ours_rss']:.0f} MiB, {baseline} "
        f"{m['theirs_wall']:.3f} s / {m['theirs_rss']:.0f} MiB: {m['ratio']:.2f}x (target <= {target}x: {ok}; "
        f"CPU {m['ours_cpu']:.2f} vs {m['theirs_cpu']:.2f} s){extra}   [load {load_average()}]",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1_000_000, help="scenes in the query catalog")
    parser.add_argument("--runs", type=int, default=5, help="alternating runs per figure (medians are quoted)")
    parser.add_argument("--catalog", type=Path, default=None, help="an existing catalog to query instead")
    parser.add_argument("--dir", default=None, help="where to put the catalogs (default: a temp dir)")
    args = parser.parse_args()
    for tool in ("ogr2ogr", "sqlite3", TIME):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is missing: bash scripts/bench.sh cli installs the baselines (gdal-bin, sqlite3, time)")
    from eoharvest.adapters.catalog import stats

    eoh, py = str(BIN / "eoharvest"), sys.executable
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        folder = Path(tmp)
        small, empty = folder / "small.db", folder / "empty.db"
        build_catalog(small, 1000)
        build_catalog(empty, 0)
        big = args.catalog
        if big is None:
            big = folder / "big.db"
            print(f"building a catalog of {args.size:,} scenes (not timed) ...", flush=True)
            build_catalog(big, args.size)
        print(f"medians of {args.runs} alternating runs; load average at start {load_average()}", flush=True)

        report("eoharvest --help", compare([eoh, "--help"], [py, "-c", "pass"], args.runs), "python -c pass", 15)
        report("catalog stats (1k scenes)", compare([eoh, "--catalog", str(small), "catalog", "stats"],
                                                   [py, "-c", "pass"], args.runs), "python -c pass", 35)  # fmt: skip

        start, end = YEAR
        where = (f"acq_start >= '{start} 00:00:00.000000' AND acq_start <= '{end} 23:59:59.999999' "
                 "AND (cloud_cover IS NULL OR cloud_cover <= 30)")  # fmt: skip
        ogr = ["ogr2ogr", "-f", "GeoJSON", "/vsistdout/", str(big), "scenes"]

        def query(catalog: Path, bbox: tuple[float, ...], *options: str) -> list[str]:
            return [eoh, "--catalog", str(catalog), "catalog", "query", "--format", "geojson",
                    "--aoi", ",".join(map(str, bbox)), *options]  # fmt: skip

        spat = lambda bbox: ["-spat", *map(str, bbox)]  # noqa: E731
        q100 = ["--start", start, "--end", end, "--cloud-max", "30", "--limit", "100"]
        m = compare(query(big, BBOX_100, *q100), [*ogr, *spat(BBOX_100), "-where", where, "-limit", "100"], args.runs)
        empty_rss = compare(query(empty, BBOX_100, *q100), [py, "-c", "pass"], 1)["ours_rss"]
        report("query 100 rows as GeoJSON", m, "ogr2ogr", 2,
               f"; RSS {m['ours_rss'] - empty_rss:+.0f} MiB over an empty catalog (target <= +60)")  # fmt: skip
        everything = ["--limit", str(10 * args.size + 1)]
        m = compare(query(big, BBOX_ALL, *everything), [*ogr, *spat(BBOX_ALL)], args.runs)
        empty_rss = compare(query(empty, BBOX_ALL, *everything), [py, "-c", "pass"], 1)["ours_rss"]
        report("every scene in a bbox as GeoJSON", m, "ogr2ogr", 2,
               f"; RSS {m['ours_rss'] - empty_rss:+.0f} MiB over an empty catalog (target <= +60)")  # fmt: skip

        sql = ";\n".join(stats.STATEMENTS.values()) + ";"
        m = compare([eoh, "--catalog", str(big), "catalog", "stats"], ["sqlite3", "-readonly", str(big), sql], args.runs)
        report("catalog stats", m, "sqlite3 (same SQL)", 1.2)
    print(f"load average at the end {load_average()}")


if __name__ == "__main__":
    main()
