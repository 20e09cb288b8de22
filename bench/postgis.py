"""Catalog benchmark on PostGIS beside SpatiaLite (the baseline), in the same run, same scenes.

    .venv/bin/python bench/postgis.py --sizes 100000,1000000
    .venv/bin/python bench/postgis.py --url postgresql://me@dbhost/bench --sizes 100000  # one size per empty database

For each size: ingest rate (scenes/s through ``upsert_scenes``) and query latency p50/p95 over
random AOIs (footprint intersects AOI + one-year date range + cloud <= 30, limit 100, the
query of bench/catalog.py), on both back ends, and the PostGIS/SpatiaLite ratio. Without
``--url`` a throw-away local cluster is started (tests/pgcluster.py) with fsync on: both
back ends keep their default durability (SpatiaLite: WAL, synchronous=NORMAL; PostgreSQL:
fsync, synchronous_commit=on). The PostGIS database must be empty; it is filled and left so.
Latencies include the client round trip (loopback TCP for PostgreSQL, none for SQLite); the
query rows also show the same SQL run on a bare psycopg connection (compiled beforehand), the
floor that the server and the connection set.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from catalog import CHUNK, load_average, percentile, queries, synthetic  # noqa: E402  (bench/catalog.py)

from eoharvest.adapters.catalog import open_catalog, postgis_query  # noqa: E402
from eoharvest.adapters.catalog.postgis import open_postgis_catalog  # noqa: E402
from eoharvest.domain.catalog_location import CatalogUrl  # noqa: E402
from eoharvest.domain.catalog_query import CatalogFilter  # noqa: E402
from eoharvest.domain.footprint import Footprint  # noqa: E402


def measure(repos: dict[str, object], n: int, n_queries: int) -> dict[str, dict[str, float]]:
    rng = np.random.default_rng(n)
    spent = dict.fromkeys(repos, 0.0)
    for start in range(0, n, CHUNK):
        scenes, _ = synthetic(rng, start, min(CHUNK, n - start))
        for name, repo in repos.items():
            t = time.perf_counter()
            repo.upsert_scenes(scenes)  # type: ignore[attr-defined]
            spent[name] += time.perf_counter() - t
        del scenes
    latencies: dict[str, list[float]] = {name: [] for name in (*repos, "raw")}
    hits: dict[str, list[int]] = {name: [] for name in repos}
    pg = repos["postgis"]
    raw = psycopg.connect(pg.location.url, autocommit=True)  # type: ignore[attr-defined]
    for west, south, east, north, d0, d1 in queries(np.random.default_rng(1), n_queries):
        criteria = CatalogFilter(aoi=Footprint.from_bbox(west, south, east, north), start=d0, end=d1,
                                 cloud_max=30.0, limit=100)  # fmt: skip
        for name, repo in repos.items():
            t = time.perf_counter()
            found = repo.query(criteria)  # type: ignore[attr-defined]
            latencies[name].append(time.perf_counter() - t)
            hits[name].append(len(found))
        # The floor: the same SQL, compiled beforehand, on a bare psycopg connection.
        compiled = postgis_query.statement(criteria).compile(pg.reader)  # type: ignore[attr-defined]
        sql, params = str(compiled), compiled.params
        t = time.perf_counter()
        raw.execute(sql, params).fetchall()
        latencies["raw"].append(time.perf_counter() - t)
    raw.close()
    if hits["postgis"] != hits["spatialite"]:
        raise SystemExit("the back ends disagree on the query answers: the figures would mean nothing")
    result = {
        name: {"rate": n / spent[name], "p50": percentile(latencies[name], 50), "p95": percentile(latencies[name], 95),
               "hits": statistics.mean(hits[name])}
        for name in repos
    }  # fmt: skip
    result["raw"] = {"p50": percentile(latencies["raw"], 50), "p95": percentile(latencies["raw"], 95)}
    return result


def report(n: int, r: dict[str, dict[str, float]]) -> None:
    pg, lite = r["postgis"], r["spatialite"]
    print(f"N={n:,}   (mean query hits {pg['hits']:.1f}; load average {load_average()})")
    print(f"  {'':18} {'PostGIS':>10} {'SpatiaLite':>10} {'ratio':>6}")
    print(f"  {'ingest (scenes/s)':18} {pg['rate']:>10,.0f} {lite['rate']:>10,.0f} {pg['rate'] / lite['rate']:6.2f}")
    for key in ("p50", "p95"):
        print(f"  {'query ' + key + ' (ms)':18} {pg[key]:>10.2f} {lite[key]:>10.2f} {pg[key] / lite[key]:6.2f}"
              f"   (the same SQL on bare psycopg: {r['raw'][key]:.2f} ms)")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000", help="comma-separated scene counts")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--url", default=None, help="an empty PostGIS database (default: a throw-away local cluster)")
    parser.add_argument("--dir", default=None, help="where to put the SpatiaLite files (default: a temp dir)")
    args = parser.parse_args()
    cluster = None
    if args.url is None:
        from pgcluster import start_cluster

        cluster = start_cluster(durable=True)
    try:
        with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
            for n in (int(s) for s in args.sizes.split(",")):
                url = args.url if cluster is None else cluster.url(cluster.new_database())
                lite = open_catalog(Path(tmp) / f"lite-{n}.db")
                pg = open_postgis_catalog(CatalogUrl(url))
                if pg.count():
                    raise SystemExit(f"{pg.location} is not empty")
                try:
                    report(n, measure({"postgis": pg, "spatialite": lite}, n, args.queries))
                finally:
                    lite.close()
                    pg.close()
    finally:
        if cluster is not None:
            cluster.stop()


if __name__ == "__main__":
    main()
