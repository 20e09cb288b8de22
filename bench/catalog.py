"""Catalog benchmark: eoharvest's SpatiaLite repository beside raw sqlite3 + mod_spatialite.

    .venv/bin/python bench/catalog.py --sizes 100000,1000000

For each size: ingest rate (scenes/s), query latency p50/p95 over random AOIs (footprint
intersects AOI + one-year date range + cloud <= 30, limit 100), and catalog bytes per scene
(raw metadata left empty). Targets: ingest >= 0.5x raw and >= 20k/s; p95 <= 5 ms at 1M;
<= 2 KB per scene.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import shapely

from eoharvest.adapters.catalog import open_catalog
from eoharvest.adapters.catalog.repository import BATCH
from eoharvest.adapters.catalog.spatialite import load_spatialite
from eoharvest.domain.catalog_query import CatalogFilter
from eoharvest.domain.footprint import Footprint
from eoharvest.domain.models import Scene

# (west, south, east, north) boxes roughly over land.
LAND = [(-120, 30, -80, 50), (-70, -35, -40, 0), (-5, 40, 30, 58), (10, 0, 40, 30),
        (70, 20, 120, 50), (115, -35, 150, -20)]  # fmt: skip
T0 = datetime(2016, 1, 1, tzinfo=timezone.utc)
CHUNK = 100_000


def random_points(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    boxes = np.array(LAND)[rng.integers(0, len(LAND), n)]
    lon = rng.uniform(boxes[:, 0], boxes[:, 2])
    lat = rng.uniform(boxes[:, 1], boxes[:, 3])
    return lon, lat


def synthetic(rng: np.random.Generator, start: int, n: int) -> tuple[list[Scene], list[tuple]]:
    """n Sentinel-2-tile-sized scenes (110 km squares), as Scenes and as raw insert tuples."""
    lon, lat = random_points(rng, n)
    dlon = 110 / (111.32 * np.cos(np.radians(lat)))
    dlat = np.full(n, 110 / 110.57)
    polys = shapely.box(lon, lat, lon + dlon, lat + dlat)
    wkbs = shapely.to_wkb(shapely.multipolygons(polys.reshape(-1, 1)))
    minutes = rng.integers(0, 10 * 365 * 24 * 60, n)
    clouds = rng.uniform(0, 100, n)
    scenes, rows = [], []
    for i in range(n):
        name = f"S2X_MSIL2A_{start + i:09d}"
        when = T0 + timedelta(minutes=int(minutes[i]))
        scenes.append(Scene("Sentinel-2", name, Footprint(polys[i]), when, float(clouds[i]), provider="bench",
                            product_key=name, filenames=(f"{name}.zip",)))  # fmt: skip
        stamp = when.replace(tzinfo=None).isoformat(" ")
        rows.append(("bench", name, name, None, "Sentinel-2", stamp, None, float(clouds[i]), None, 1,
                     "{}", "[]", "{}", wkbs[i], 1, stamp, stamp))  # fmt: skip
    return scenes, rows


RAW_SCHEMA = """
CREATE TABLE scenes (id INTEGER PRIMARY KEY, provider TEXT NOT NULL, scene_id TEXT NOT NULL,
  product_key TEXT NOT NULL, scene_key TEXT, platform TEXT NOT NULL, acq_start DATETIME,
  acq_end DATETIME, cloud_cover FLOAT, size BIGINT, online BOOLEAN NOT NULL, links TEXT NOT NULL,
  checksums TEXT NOT NULL, raw TEXT NOT NULL, geometry_valid BOOLEAN NOT NULL,
  first_seen DATETIME NOT NULL, last_seen DATETIME NOT NULL, UNIQUE (provider, scene_id));
CREATE INDEX ix_pk ON scenes (product_key); CREATE INDEX ix_sk ON scenes (scene_key);
CREATE INDEX ix_acq ON scenes (acq_start); CREATE INDEX ix_pa ON scenes (platform, acq_start);
"""
RAW_INSERT = """INSERT INTO scenes (provider, scene_id, product_key, scene_key, platform, acq_start,
  acq_end, cloud_cover, size, online, links, checksums, raw, footprint, geometry_valid, first_seen,
  last_seen) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,GeomFromWKB(?, 4326),?,?,?)"""
RAW_QUERY = """SELECT id, scene_id, AsBinary(footprint) FROM scenes
  WHERE id IN (SELECT pkid FROM idx_scenes_footprint WHERE xmin <= ? AND xmax >= ? AND ymin <= ? AND ymax >= ?)
  AND ST_Intersects(footprint, GeomFromWKB(?, 4326)) = 1 AND acq_start >= ? AND acq_start <= ?
  AND cloud_cover <= ? ORDER BY acq_start LIMIT 100"""


def raw_open(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    load_spatialite(conn)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("SELECT InitSpatialMetaData(1, 'WGS84')")
    conn.executescript(RAW_SCHEMA)
    conn.execute("SELECT AddGeometryColumn('scenes', 'footprint', 4326, 'MULTIPOLYGON', 'XY')")
    conn.execute("SELECT CreateSpatialIndex('scenes', 'footprint')")
    return conn


def queries(rng: np.random.Generator, count: int) -> list[tuple]:
    lon, lat = random_points(rng, count)
    out = []
    for x, y in zip(lon, lat):
        start = T0 + timedelta(days=int(rng.integers(0, 9 * 365)))
        out.append((x, y, x + 0.5, y + 0.5, start, start + timedelta(days=365)))
    return out


def percentile(values: list[float], p: float) -> float:
    return float(np.percentile(values, p)) * 1000


def run(n: int, folder: Path, n_queries: int) -> dict[str, float]:
    rng = np.random.default_rng(n)
    repo = open_catalog(folder / f"eoh-{n}.db")
    raw = raw_open(folder / f"raw-{n}.db")
    t_eoh = t_raw = 0.0
    for start in range(0, n, CHUNK):
        scenes, rows = synthetic(rng, start, min(CHUNK, n - start))
        t = time.perf_counter()
        repo.upsert_scenes(scenes)
        t_eoh += time.perf_counter() - t
        t = time.perf_counter()
        for k in range(0, len(rows), BATCH):  # same transaction size as the repository
            raw.execute("BEGIN IMMEDIATE")
            raw.executemany(RAW_INSERT, rows[k : k + BATCH])
            raw.execute("COMMIT")
        t_raw += time.perf_counter() - t
        del scenes, rows
    lat_eoh, lat_raw, hits = [], [], []
    for west, south, east, north, d0, d1 in queries(np.random.default_rng(1), n_queries):
        criteria = CatalogFilter(aoi=Footprint.from_bbox(west, south, east, north), start=d0, end=d1,
                                 cloud_max=30.0, limit=100)  # fmt: skip
        t = time.perf_counter()
        found = repo.query(criteria)
        lat_eoh.append(time.perf_counter() - t)
        hits.append(len(found))
        wkb = shapely.to_wkb(shapely.box(west, south, east, north))
        t = time.perf_counter()
        raw.execute(RAW_QUERY, (east, west, north, south, wkb, d0.replace(tzinfo=None).isoformat(" "),
                                d1.replace(tzinfo=None).isoformat(" "), 30.0)).fetchall()  # fmt: skip
        lat_raw.append(time.perf_counter() - t)
    dbapi = repo.reader.raw_connection()  # outside any transaction, or the checkpoint fails
    dbapi.cursor().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    dbapi.close()
    repo.close()
    raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    raw.close()
    return {
        "eoh_rate": n / t_eoh, "raw_rate": n / t_raw,
        "eoh_p50": percentile(lat_eoh, 50), "eoh_p95": percentile(lat_eoh, 95),
        "raw_p50": percentile(lat_raw, 50), "raw_p95": percentile(lat_raw, 95),
        "hits": statistics.mean(hits),
        "eoh_bytes": (folder / f"eoh-{n}.db").stat().st_size / n,
        "raw_bytes": (folder / f"raw-{n}.db").stat().st_size / n,
    }  # fmt: skip


def load_average() -> str:
    """The 1/5/15-minute load averages: latencies mean little on a busy machine."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def report(n: int, r: dict[str, float]) -> None:
    """One table per size: eoharvest beside raw SpatiaLite, the ratio, and the issue's targets."""
    ingest_ok = r["eoh_rate"] >= 0.5 * r["raw_rate"] and r["eoh_rate"] >= 20_000
    p95_ok = r["eoh_p95"] <= 5.0
    rows = [
        ("ingest (scenes/s)", f"{r['eoh_rate']:,.0f}", f"{r['raw_rate']:,.0f}", r["eoh_rate"] / r["raw_rate"],
         f">= 0.5x raw and >= 20,000: {'met' if ingest_ok else 'MISSED'}"),
        ("query p50 (ms)", f"{r['eoh_p50']:.2f}", f"{r['raw_p50']:.2f}", r["eoh_p50"] / r["raw_p50"], ""),
        ("query p95 (ms)", f"{r['eoh_p95']:.2f}", f"{r['raw_p95']:.2f}", r["eoh_p95"] / r["raw_p95"],
         f"<= 5 ms (at 1M): {'met' if p95_ok else 'MISSED'}"),
        ("size (B/scene)", f"{r['eoh_bytes']:.0f}", f"{r['raw_bytes']:.0f}", r["eoh_bytes"] / r["raw_bytes"],
         f"<= 2048: {'met' if r['eoh_bytes'] <= 2048 else 'MISSED'}"),
    ]  # fmt: skip
    print(f"N={n:,}   (mean query hits {r['hits']:.1f}; load average {load_average()})")
    print(f"  {'':18} {'eoharvest':>10} {'raw':>10} {'ratio':>6}   target")
    for name, eoh, raw, ratio, target in rows:
        print(f"  {name:18} {eoh:>10} {raw:>10} {ratio:6.2f}   {target}")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000", help="comma-separated scene counts")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--dir", default=None, help="where to put the databases (default: a temp dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for n in (int(s) for s in args.sizes.split(",")):
            r = run(n, Path(tmp), args.queries)
            report(n, r)


if __name__ == "__main__":
    main()
