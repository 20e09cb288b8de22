"""Subprocess worker for the catalog concurrency tests (T-08, T-16). Prints one JSON line.

    python catalog_worker.py race DIR N                  open DIR/c{i}.db beside another racer
    python catalog_worker.py daemon DB SECONDS BEGIN     50-scene upsert batches
    python catalog_worker.py cli DB SECONDS BEGIN ID     single-scene upserts
    python catalog_worker.py reader DB SECONDS           spatial queries
"""

from __future__ import annotations

import json
import os
import random
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy.exc import OperationalError

from eoharvest.adapters.catalog import open_catalog
from eoharvest.domain.catalog_query import CatalogFilter
from eoharvest.domain.errors import CatalogBusy, EoharvestError
from eoharvest.domain.footprint import Footprint
from eoharvest.domain.models import Scene

BUSY_TIMEOUT_MS = 10_000
T0 = datetime(2024, 1, 1, tzinfo=timezone.utc)


def scene(name: str, rng: random.Random) -> Scene:
    lon, lat = rng.uniform(-10, 30), rng.uniform(35, 60)
    return Scene(
        "Sentinel-2", name, Footprint.from_bbox(lon, lat, lon + 1, lat + 1),
        T0 + timedelta(minutes=rng.randrange(500_000)), rng.uniform(0, 100), provider="t08",
    )  # fmt: skip


def race(folder: str, n: int) -> dict:
    """Open DIR/c{i}.db for i in 0..n-1, in step with another racer: in each round both processes
    probe the missing file, then meet at a gate (a file per racer) before either takes the
    catalog's lock, so every round is a real race whatever the machine's load."""
    import eoharvest.adapters.catalog as catalog_package

    created, errors, missing_at_gate = [], [], []
    real_lock = catalog_package.exclusive_lock
    round_path = Path(folder)

    def gated_lock(lock_path: Path, *args, **kwargs):
        database = lock_path.with_name(lock_path.name.removesuffix(".lock"))
        (database.parent / f"{database.name}.ready.{os.getpid()}").touch()
        deadline = time.monotonic() + 120  # a hang guard only
        while len(list(database.parent.glob(f"{database.name}.ready.*"))) < 2:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the other racer never reached the gate of {database.name}")
            time.sleep(0.002)
        missing_at_gate.append(not database.exists())
        return real_lock(lock_path, *args, **kwargs)

    catalog_package.exclusive_lock = gated_lock
    for i in range(n):
        try:
            repo = open_catalog(round_path / f"c{i}.db")
            created.append(repo.created)
            repo.close()
        except Exception as exc:  # the test counts every error
            created.append(None)
            errors.append(f"{type(exc).__name__}: {exc}")
    return {"created": created, "errors": errors, "missing_at_gate": missing_at_gate}


def writer(db: str, seconds: float, begin: str, batch: int, tag: str, pause: float) -> dict:
    rng = random.Random(tag)
    repo = open_catalog(db, busy_timeout_ms=BUSY_TIMEOUT_MS, writer_begin=begin)
    ok = locked = other = 0
    max_wait = 0.0
    deadline = time.monotonic() + seconds
    counter = 0
    while time.monotonic() < deadline:
        names = [f"{tag}-{counter + k}" for k in range(batch)] if batch > 1 else [f"{tag}-{rng.randrange(20)}"]
        counter += batch
        started = time.monotonic()
        try:
            repo.upsert_scenes([scene(n, rng) for n in names])  # reads first, then writes
            ok += 1
        except (OperationalError, CatalogBusy) as exc:
            if "locked" in str(exc) or "busy" in str(exc).lower():
                locked += 1
            else:
                other += 1
        except EoharvestError:
            other += 1
        max_wait = max(max_wait, time.monotonic() - started)
        time.sleep(pause)
    repo.close()
    return {"ok": ok, "locked": locked, "other": other, "max_wait": max_wait}


def reader(db: str, seconds: float) -> dict:
    rng = random.Random(7)
    repo = open_catalog(db, busy_timeout_ms=BUSY_TIMEOUT_MS)
    ok = failed = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        lon, lat = rng.uniform(-10, 30), rng.uniform(35, 60)
        try:
            repo.query(CatalogFilter.create(aoi=Footprint.from_bbox(lon, lat, lon + 2, lat + 2), limit=50))
            ok += 1
        except Exception:
            failed += 1
        time.sleep(0.005)
    repo.close()
    return {"ok": ok, "failed": failed}


def main(argv: list[str]) -> None:
    mode = argv[0]
    if mode == "race":
        result = race(argv[1], int(argv[2]))
    elif mode == "daemon":
        result = writer(argv[1], float(argv[2]), argv[3], 50, "daemon", 0.002)
    elif mode == "cli":
        result = writer(argv[1], float(argv[2]), argv[3], 1, f"cli{argv[4]}", 0.001)
    else:
        result = reader(argv[1], float(argv[2]))
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])
