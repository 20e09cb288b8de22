"""`eoharvest watch` and `eoharvest daemon` end to end, as subprocesses, against a loopback STAC
API that grows between passes (tests/fakes/stac_growing.py)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fakes.stac_growing import GrowingStacServer

from eoharvest.adapters.catalog import open_catalog

BIN = Path(sys.executable).with_name("eoharvest")
AOI = "-79.4,43.8,-79.3,43.9"


@pytest.fixture
def stac():
    with GrowingStacServer() as server:
        yield server


@pytest.fixture
def env(stac, tmp_path):
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("EOHARVEST_")},
        "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "EOHARVEST_STAC_URL": stac.url, "EOHARVEST_CATALOG": str(tmp_path / "catalog.db"),
        "EOHARVEST_DOWNLOAD_DIR": str(tmp_path / "archive"),
    }  # fmt: skip


def cli(env, *args, timeout=60):
    return subprocess.run([str(BIN), *args], env=env, capture_output=True, text=True, timeout=timeout)


def add_watch(env, name="s2", *extra):
    result = cli(env, "watch", "add", name, "--aoi", AOI, "--cloud-max", "30", "--assets", "visual", *extra)
    assert result.returncode == 0, result.stderr


class Daemon:
    """A daemon subprocess logging to a file; always stopped at the end of the test."""

    def __init__(self, env, tmp_path, *args):
        self.log = tmp_path / f"daemon-{time.monotonic_ns()}.log"
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen([str(BIN), "--log-level", "INFO", "daemon", "--refresh", "0.5", *args],
                                         env=env, stdout=out, stderr=subprocess.STDOUT)  # fmt: skip

    def text(self):
        return self.log.read_text()

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)


@pytest.fixture
def daemons():
    started = []
    yield started
    for daemon in started:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
            daemon.proc.wait(timeout=10)


def wait_for(condition, timeout=20.0, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return False


def archive_state(tmp_path):
    archive = tmp_path / "archive"
    return sorted(archive.rglob("visual.tif")), sorted(archive.rglob("*.part*"))


def state_of(env, name="s2"):
    return json.loads(cli(env, "watch", "show", name).stdout)


def assert_archive_complete(stac, tmp_path, ids):
    files, leftovers = archive_state(tmp_path)
    assert leftovers == []
    # Each product exactly once (folders are product names; both carry the acquisition day).
    assert sorted(p.parent.name.split("_")[2][:8] for p in files) == sorted(i.split("_")[2][:8] for i in ids)
    for path in files:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert any(hashlib.sha256(stac.expected_asset(h)).hexdigest() == digest for h in set(stac.asset_hits))
    with open_catalog(tmp_path / "catalog.db") as catalog:
        assert catalog.count() == len(ids)
        for path in files:
            assert catalog.available_files(path.parent.name) == [str(path)]


@pytest.mark.parametrize("args, message", [
    (("--every", "90 minutes"), "interval '90 minutes' is not understood"),
    (("--every", "0m"), "out of range"),
    (("--aoi", "POLYGON((0 0, 1 1, 1 0))"), "AOI"),
    (("--platform", "Sentinel-7"), "Sentinel-7"),
    (("--cloud-max", "130"), "--cloud-max"),
    (("--since", "yesterday"), "--since"),
])  # fmt: skip
def test_watch_add_refuses_bad_values_with_exit_code_2_and_a_clear_message(env, args, message):
    base = {"--aoi": AOI, "--every": "1h"}
    base.update(dict(zip(args[::2], args[1::2])))
    result = cli(env, "watch", "add", "bad", *[x for kv in base.items() for x in kv])
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    listed = cli(env, "watch", "list", "--json")  # nothing was saved: not even a catalog exists
    assert listed.returncode == 9 and "there is no catalog" in listed.stderr


def test_watch_run_picks_up_new_scenes_exactly_once_and_updates_republished_ones(stac, env, tmp_path):
    ids = [stac.publish(1), stac.publish(2)]
    add_watch(env)
    first = cli(env, "watch", "run", "s2", "--json")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["downloaded"] == 2
    ids.append(stac.publish(6))
    second = json.loads(cli(env, "watch", "run", "s2", "--json").stdout)
    # The window starts two days before the watermark (day 2): day 1 and 2 again, plus day 6.
    assert (second["found"], second["new_in_catalog"], second["downloaded"], second["already_had"]) == (3, 1, 1, 2)
    assert stac.searches[1]["datetime"].startswith("2025-07-31T13:03:22")
    stac.republish(ids[2], cloud=12.5, updated="2025-08-07T09:00:00Z")  # reprocessed, inside the overlap
    third = json.loads(cli(env, "watch", "run", "s2", "--json").stdout)
    assert (third["new_in_catalog"], third["downloaded"]) == (0, 0)
    assert len(stac.asset_hits) == 3  # every asset fetched once over three passes
    assert_archive_complete(stac, tmp_path, ids)
    with open_catalog(tmp_path / "catalog.db") as catalog:
        assert catalog.get_scene("earth-search", ids[2]).cloudcover_percentage == 12.5
    shown = state_of(env)
    assert shown["watermark"].startswith("2025-08-06T13:03:22") and shown["failures"] == 0
    assert cli(env, "watch", "remove", "s2").returncode == 0
    assert cli(env, "watch", "remove", "s2").returncode == 2


def test_a_second_daemon_is_refused_and_status_reports_the_first(stac, env, tmp_path, daemons):
    stac.publish(1)
    add_watch(env)
    daemons.append(first := Daemon(env, tmp_path))
    assert wait_for(lambda: state_of(env)["last_run_at"] is not None), first.text()
    second = cli(env, "daemon", timeout=30)
    assert second.returncode == 9
    assert "another eoharvest daemon" in second.stderr and str(first.proc.pid) in second.stderr
    status = json.loads(cli(env, "daemon", "status", "--json").stdout)
    assert status["daemon_running"] and status["daemon_pid"] == str(first.proc.pid)
    assert status["bytes_downloaded_today"] > 0
    [row] = status["searches"]
    assert (row["name"], row["failures"], row["queue_depth"], row["last_error"]) == ("s2", 0, 0, None)
    assert row["running_in"] is None  # between passes
    assert first.stop() == 0
    assert json.loads(cli(env, "daemon", "status", "--json").stdout)["daemon_running"] is False


def test_sigterm_during_downloads_exits_0_quickly_and_the_next_pass_resumes(stac, env, tmp_path, daemons):
    ids = [stac.publish(day) for day in (1, 2, 3)]
    stac.drip_delay = 0.05  # about 20 KiB/s: each asset takes seconds
    add_watch(env)
    daemons.append(daemon := Daemon(env, tmp_path))
    assert wait_for(lambda: any(p.stat().st_size > 4096 for p in archive_state(tmp_path)[1] if p.suffix == ".part"))
    started = time.monotonic()
    assert daemon.stop(signal.SIGTERM, timeout=10) == 0, daemon.text()
    assert time.monotonic() - started < 10
    assert "pass s2 cancelled" in daemon.text() and "exiting anyway" not in daemon.text()
    assert [p for p in archive_state(tmp_path)[1] if p.suffix == ".part"], "partials are kept for resuming"
    assert state_of(env)["watermark"] is None  # the interrupted pass committed nothing
    stac.drip_delay = 0.0005
    hits_before = len(stac.asset_hits)
    result = cli(env, "watch", "run", "s2", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["failed"] == 0
    assert len(stac.asset_hits) - hits_before == 3
    assert_archive_complete(stac, tmp_path, ids)


def test_a_daemon_killed_mid_pass_and_restarted_loses_nothing_and_duplicates_nothing(stac, env, tmp_path, daemons):
    ids = [stac.publish(day) for day in (1, 2, 3, 4)]
    stac.drip_delay = 0.02
    add_watch(env)
    daemons.append(victim := Daemon(env, tmp_path))
    assert wait_for(lambda: archive_state(tmp_path)[1])
    victim.stop(signal.SIGKILL)
    stac.drip_delay = 0.0005
    daemons.append(survivor := Daemon(env, tmp_path))
    assert wait_for(lambda: state_of(env)["last_run_at"] is not None), survivor.text()
    assert survivor.stop() == 0
    assert_archive_complete(stac, tmp_path, ids)


def test_cli_writers_beside_the_daemon_never_see_database_is_locked(stac, env, tmp_path, daemons):
    for day in range(1, 29):
        stac.publish(day)
    add_watch(env, "busy", "--every", "1s", "--no-download")
    daemons.append(daemon := Daemon(env, tmp_path))
    assert wait_for(lambda: state_of(env, "busy")["last_run_at"] is not None), daemon.text()

    def writer(n):
        return [cli(env, "watch", "add", f"w{n}-{i}", "--aoi", AOI, "--every", "1d", "--no-download")
                for i in range(3)]  # fmt: skip

    with ThreadPoolExecutor(4) as pool:
        results = [r for batch in pool.map(writer, range(4)) for r in batch]
    assert [r.returncode for r in results] == [0] * 12, [r.stderr for r in results if r.returncode]
    assert not any("locked" in r.stderr for r in results)
    assert daemon.stop() == 0
    assert "locked" not in daemon.text()
    assert len(json.loads(cli(env, "watch", "list", "--json").stdout)) == 13


def test_watch_run_beside_the_daemons_pass_of_the_same_search_waits_for_it_and_fetches_nothing_twice(
    stac, env, tmp_path, daemons
):
    ids = [stac.publish(day) for day in range(1, 13)]
    stac.drip_delay = 0.02  # about 1.5 s per asset: the daemon's pass lasts a few seconds
    add_watch(env)
    daemons.append(daemon := Daemon(env, tmp_path))
    assert wait_for(lambda: archive_state(tmp_path)[1]), daemon.text()  # its pass is downloading
    [row] = json.loads(cli(env, "daemon", "status", "--json").stdout)["searches"]
    assert row["running_in"].split("/")[0].rsplit(":", 1)[1] == str(daemon.proc.pid)  # host:pid/token
    result = cli(env, "watch", "run", "s2", "--json", timeout=120)
    assert result.returncode == 0, result.stderr
    assert "waiting for the pass of s2 that runs in" in result.stderr
    report = json.loads(result.stdout)
    assert (report["downloaded"], report["failed"]) == (0, 0)  # the daemon's pass had fetched them all
    # It ran after the daemon's pass had committed: its window starts two days before day 12.
    assert report["found"] == 3
    assert sorted(stac.asset_hits) == sorted(set(stac.asset_hits)) and len(stac.asset_hits) == len(ids)
    assert daemon.stop() == 0
    assert_archive_complete(stac, tmp_path, ids)
