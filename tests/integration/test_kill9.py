"""T-06: SIGKILL a downloading process at random times and at named step boundaries; the next
run must finish with a consistent catalog, verified files and no leftovers."""

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from eoharvest.adapters.catalog import open_catalog
from faultserver.faults import FaultPlan
from faultserver.fixtures import fault_server, fault_server_factory  # noqa: F401

WORKER = Path(__file__).with_name("download_worker.py")
SEED = 606


def write_spec(server, names, tmp_path, outdir, catalog):
    files = [
        {"product": Path(n).stem, "name": n, "url": server.url(n), "size": len(server.content(n)),
         "sha256": server.expected_sha256(n)}
        for n in names
    ]
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"files": files, "outdir": str(outdir), "catalog": str(catalog),
                                "sleep_per_chunk": 0.002}))
    return spec


def run_worker(spec, *, kill_after=None, crash_at=None, timeout=120):
    env = {**os.environ}
    env.pop("EOHARVEST_CRASH_AT", None)
    if crash_at:
        env["EOHARVEST_CRASH_AT"] = crash_at
    proc = subprocess.Popen([sys.executable, str(WORKER), str(spec)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if kill_after is not None:
        try:
            proc.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def assert_consistent(server, names, outdir: Path, catalog_path: Path):
    for name in names:
        final = outdir / Path(name).stem / name
        assert hashlib.sha256(final.read_bytes()).hexdigest() == server.expected_sha256(name), name
    leftovers = [str(p) for p in outdir.rglob("*") if ".part" in p.name or p.name.startswith(".staging")]
    assert leftovers == []
    with open_catalog(catalog_path) as catalog:
        with catalog.reader.connect() as conn:
            assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"
        for name in names:
            assert catalog.available_files(Path(name).stem) == [str(outdir / Path(name).stem / name)]


def make_files(server, n=6):
    rng = random.Random(SEED)
    names = []
    for i in range(n):
        name = f"p{i:02d}.bin"
        server.add_file(name, rng.randrange(2, 6) * 1024 * 1024)
        names.append(name)
    return names


@pytest.mark.parametrize("trial", range(4))
def test_t06_kill_at_a_random_moment_then_rerun_leaves_everything_consistent(fault_server, tmp_path, trial):
    fault_server.plan = FaultPlan(SEED + trial, rates={"reset": 0.2}, max_consecutive=3)
    names = make_files(fault_server)
    outdir, catalog = tmp_path / "archive", tmp_path / "catalog.db"
    spec = write_spec(fault_server, names, tmp_path, outdir, catalog)
    kill_after = random.Random(SEED + trial).uniform(1.2, 2.8)  # interpreter start-up is ~1 s
    code, _, err = run_worker(spec, kill_after=kill_after)
    assert code in (0, -signal.SIGKILL), err
    code, out, err = run_worker(spec)
    assert code == 0 and "done" in out, err
    assert_consistent(fault_server, names, outdir, catalog)


@pytest.mark.parametrize("step", ["after-fsync", "after-rename", "after-commit"])
def test_t06_kill_at_each_step_boundary_then_rerun_leaves_everything_consistent(fault_server, tmp_path, step):
    names = make_files(fault_server, n=3)
    outdir, catalog = tmp_path / "archive", tmp_path / "catalog.db"
    spec = write_spec(fault_server, names, tmp_path, outdir, catalog)
    code, _, err = run_worker(spec, crash_at=step)
    assert code == -signal.SIGKILL, err
    code, out, err = run_worker(spec)
    assert code == 0 and "done" in out, err
    assert_consistent(fault_server, names, outdir, catalog)
