"""Two `eoharvest` processes on one archive share the work: every file is fetched once, every
file ends verified, and neither reports a failure (real subprocesses, loopback STAC API)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from fakes.stac_growing import GrowingStacServer

from eoharvest.adapters.catalog import open_catalog

BIN = Path(sys.executable).with_name("eoharvest")
AOI = "-79.4,43.8,-79.3,43.9"
SCENES = 24


@pytest.fixture
def stac():
    with GrowingStacServer() as server:
        for day in range(1, SCENES + 1):
            server.publish(day)
        yield server


@pytest.fixture
def env(stac, tmp_path):
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("EOHARVEST_")},
        "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "EOHARVEST_STAC_URL": stac.url, "EOHARVEST_CATALOG": str(tmp_path / "catalog.db"),
        "EOHARVEST_DOWNLOAD_DIR": str(tmp_path / "archive"),
    }  # fmt: skip


def test_two_harvests_of_the_same_scenes_at_once_fetch_every_file_once_and_both_exit_0(stac, env, tmp_path):
    # Slow assets (about 1 s each): the two runs overlap on every product.
    stac.drip_delay = 0.01
    args = [str(BIN), "harvest", "--aoi", AOI, "--start", "2025-08-01", "--end", "2025-08-31",
            "--assets", "visual", "--json"]  # fmt: skip
    runs = [subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]  # fmt: skip
    outputs = []
    for run in runs:
        try:
            outputs.append(run.communicate(timeout=240))
        finally:
            if run.poll() is None:
                run.kill()
                run.wait(timeout=10)
    assert [run.returncode for run in runs] == [0, 0], [err[-2000:] for _, err in outputs]
    reports = [json.loads(out) for out, _ in outputs]
    assert [r["found"] for r in reports] == [SCENES, SCENES] and [r["failed"] for r in reports] == [0, 0]
    assert sum(r["downloaded"] for r in reports) == SCENES  # each product downloaded by one of them
    assert Counter(stac.asset_hits).most_common(1)[0][1] == 1 and len(stac.asset_hits) == SCENES
    archive = tmp_path / "archive"
    files = sorted(archive.rglob("visual.tif"))
    assert len(files) == SCENES
    assert sorted(p.name for p in archive.rglob("*") if p.is_file() and p.name != "visual.tif") == []
    with open_catalog(tmp_path / "catalog.db") as catalog:
        for path in files:
            [stored] = catalog.stored_files(path.parent.name)
            assert stored.local_path == str(path)
            assert stored.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    verify = subprocess.run([str(BIN), "verify", "--json"], env=env, capture_output=True, text=True, timeout=60)
    assert verify.returncode == 0 and json.loads(verify.stdout)["ok"] == SCENES
