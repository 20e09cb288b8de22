"""SIGTERM (what systemd, docker and kill send) stops `harvest` and `download` as SIGINT does: no
new scene is claimed, running transfers keep their resumable partials, no catalog file row is
left `fetching`, the summary is printed and the exit code is 128 + the signal (143, 130). The
next run resumes the partial with a ranged request and verifies it.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fakes.stac_server import FakeStacServer

BIN = Path(sys.executable).with_name("eoharvest")
WORLD = "-180,-90,180,90"


@pytest.fixture
def env(tmp_path):
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("EOHARVEST_")},
        "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_DATA_HOME": str(tmp_path / "data"),
        "EOHARVEST_CATALOG": str(tmp_path / "catalog.db"), "EOHARVEST_DOWNLOAD_DIR": str(tmp_path / "archive"),
        "EOHARVEST_ALLOW_PRIVATE_TARGETS": "true",
    }  # fmt: skip


def file_states(catalog: Path) -> dict[str, int]:
    with sqlite3.connect(catalog) as connection:
        return dict(connection.execute("SELECT state, count(*) FROM files GROUP BY state").fetchall())


def stop_mid_transfer(args: list[str], env: dict[str, str], archive: Path, sig: int) -> subprocess.CompletedProcess:
    """Start the command, send ``sig`` once a part file exists, and wait (bounded) for its end."""
    process = subprocess.Popen([str(BIN), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not _receiving(archive) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert process.poll() is None, process.communicate()
        assert _receiving(archive), "no transfer started within 60 s"
        process.send_signal(sig)  # the file has at least 0.4 s to go (see asset_delay)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def _receiving(archive: Path) -> bool:
    return any(part.stat().st_size > 0 for part in archive.rglob("*.part"))


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["SIGTERM", "SIGINT"])
def test_a_signal_mid_download_keeps_the_partial_prints_the_summary_and_the_rerun_resumes(env, tmp_path, sig, code):
    archive = tmp_path / "archive"
    args = ["harvest", "--aoi", WORLD, "--limit", "3", "--assets", "visual", "--workers", "1", "--json"]
    with FakeStacServer() as stac:
        stac.asset_delay = 0.1  # 4 KiB every 100 ms: an asset (20-120 KB) takes 0.5 to 3 s
        env["EOHARVEST_STAC_URL"] = stac.url
        stopped = stop_mid_transfer(args, env, archive, sig)

        assert stopped.returncode == code, stopped.stderr
        assert "Traceback" not in stopped.stderr
        assert f"stopped by {signal.Signals(sig).name}; partial files are kept" in stopped.stderr
        report = json.loads(stopped.stdout)
        assert report["found"] == 3 and report["failed"] == 0 and report["downloaded"] < 3
        parts = sorted(archive.rglob("*.part"))
        assert len(parts) == 1 and parts[0].stat().st_size > 0
        assert parts[0].with_name(parts[0].name + ".json").is_file()  # the sidecar that makes it resumable
        states = file_states(tmp_path / "catalog.db")
        assert "fetching" not in states and states.get("queued") == 1, states
        assert stac.asset_hits and len(stac.asset_hits) <= 2  # the third scene was never claimed

        stac.asset_delay = 0.0
        partial = parts[0].stat().st_size
        rerun = subprocess.run([str(BIN), *args], env=env, capture_output=True, text=True, timeout=120)
        assert rerun.returncode == 0, rerun.stderr
        assert json.loads(rerun.stdout)["failed"] == 0
        assert len(stac.ranges) == 1 and 0 < stac.ranges[0][1] <= partial  # resumed, not restarted
    assert not list(archive.rglob("*.part*"))
    assert file_states(tmp_path / "catalog.db") == {"available": 3}
    verify = subprocess.run([str(BIN), "verify", "--json"], env=env, capture_output=True, text=True, timeout=120)
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_sigterm_during_download_of_catalogued_scenes_exits_143_with_the_summary(env, tmp_path):
    archive = tmp_path / "archive"
    with FakeStacServer() as stac:
        env["EOHARVEST_STAC_URL"] = stac.url
        found = subprocess.run([str(BIN), "harvest", "--aoi", WORLD, "--limit", "2", "--no-download"], env=env,
                               capture_output=True, text=True, timeout=120)  # fmt: skip
        assert found.returncode == 0, found.stderr
        stac.asset_delay = 0.1
        stopped = stop_mid_transfer(["download", "--assets", "visual", "--workers", "1"], env, archive, signal.SIGTERM)
    assert stopped.returncode == 143, stopped.stderr
    assert "eoharvest download" in stopped.stdout and "downloaded" in stopped.stdout  # the summary table
    assert "fetching" not in file_states(tmp_path / "catalog.db")
    assert len(list(archive.rglob("*.part"))) == 1
