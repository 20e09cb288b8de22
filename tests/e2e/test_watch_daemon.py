"""`eoharvest watch` and `eoharvest daemon` end to end, as subprocesses, against a loopback STAC
API that grows between passes (tests/fakes/stac_growing.py)."""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import signal
import subprocess
import sys
import threading
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
    return json.loads(cli(env, "watch", "show", name, "--json").stdout)


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
    # Earth Search filters on `updated`: the window starts two days before the watermark (the
    # publication of day 2): day 1 and 2 again, plus day 6.
    assert (second["found"], second["new_in_catalog"], second["downloaded"], second["already_had"]) == (3, 1, 1, 2)
    assert stac.searches[1]["query"]["updated"]["gte"].startswith("2025-07-31T14:13:51")
    assert "datetime" not in stac.searches[1]  # the whole acquisition period, published since then
    stac.republish(ids[2], cloud=12.5, updated="2025-08-07T09:00:00Z")  # reprocessed, inside the overlap
    third = json.loads(cli(env, "watch", "run", "s2", "--json").stdout)
    assert (third["new_in_catalog"], third["downloaded"]) == (0, 0)
    assert len(stac.asset_hits) == 3  # every asset fetched once over three passes
    assert_archive_complete(stac, tmp_path, ids)
    with open_catalog(tmp_path / "catalog.db") as catalog:
        assert catalog.get_scene("earth-search", ids[2]).cloudcover_percentage == 12.5
    shown = state_of(env)
    assert shown["watermark"].startswith("2025-08-07T09:00:00") and shown["failures"] == 0  # the republication
    assert shown["watermark_kind"] == "published"
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
    stac.hold_assets()  # the daemon's pass stops at its first asset request until released below
    add_watch(env)
    daemons.append(daemon := Daemon(env, tmp_path))
    assert stac.asset_requested.wait(60), daemon.text()  # its pass is downloading (a hang guard)
    [row] = json.loads(cli(env, "daemon", "status", "--json").stdout)["searches"]
    assert row["running_in"].split("/")[0].rsplit(":", 1)[1] == str(daemon.proc.pid)  # host:pid/token
    stderr: list[str] = []
    waiting = threading.Event()

    def read_stderr(stream):
        for line in stream:
            stderr.append(line)
            if "waiting for the pass of s2 that runs in" in line:
                waiting.set()

    with subprocess.Popen([str(BIN), "watch", "run", "s2", "--json"], env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE) as run:  # fmt: skip
        reader = threading.Thread(target=read_stderr, args=(run.stderr,), daemon=True)
        reader.start()
        try:
            assert waiting.wait(60), "".join(stderr)  # `watch run` found the pass running and waits
        finally:
            stac.release_assets()
        out = run.stdout.read()
        assert run.wait(timeout=120) == 0, "".join(stderr)
        reader.join(timeout=10)
    report = json.loads(out)
    assert (report["downloaded"], report["failed"]) == (0, 0)  # the daemon's pass had fetched them all
    # It ran after the daemon's pass had committed: its window starts two days before day 12.
    assert report["found"] == 3
    assert sorted(stac.asset_hits) == sorted(set(stac.asset_hits)) and len(stac.asset_hits) == len(ids)
    assert daemon.stop() == 0
    assert_archive_complete(stac, tmp_path, ids)


def test_watch_show_prints_the_harvest_command_that_runs_the_same_search_as_a_pass(stac, env, tmp_path):
    ids = [stac.publish(3), stac.publish(5, cloud=50.0)]
    added = cli(env, "watch", "add", "full", "--provider", "stac", "--stac-url", stac.url, "--aoi", AOI,
                "--start", "2025-08-01", "--end", "2025-08-20", "--cloud-min", "1", "--cloud-max", "40",
                "--collection", "sentinel-2-c1-l2a", "--search-option", 'query={"grid:code": {"eq": "MGRS-24MXV"}}',
                "--search-option", "page_size=5", "--assets", "visual", "--every", "6h")  # fmt: skip
    assert added.returncode == 2 and "page_size" in added.stderr  # a per-run option, not a search's
    added = cli(env, "watch", "add", "full", "--provider", "stac", "--stac-url", stac.url, "--aoi", AOI,
                "--start", "2025-08-01", "--end", "2025-08-20", "--cloud-min", "1", "--cloud-max", "40",
                "--collection", "sentinel-2-c1-l2a", "--search-option", 'query={"grid:code": {"eq": "MGRS-24MXV"}}',
                "--assets", "visual", "--every", "6h")  # fmt: skip
    assert added.returncode == 0, added.stderr
    shown = cli(env, "watch", "show", "full")
    command = shlex.split(shown.stdout.splitlines()[0])
    assert command[:2] == ["eoharvest", "harvest"] and "--stac-url" in command
    harvested = cli(env, *command[1:], "--json")
    assert harvested.returncode == 0, harvested.stderr
    assert json.loads(harvested.stdout)["downloaded"] == 1  # day 5 is too cloudy
    passed = cli(env, "watch", "run", "full", "--json")
    assert passed.returncode == 0, passed.stderr
    assert (json.loads(passed.stdout)["found"], json.loads(passed.stdout)["already_had"]) == (1, 1)
    harvest_search, pass_search = stac.searches
    assert harvest_search == pass_search
    assert pass_search["collections"] == ["sentinel-2-c1-l2a"] and pass_search["datetime"].startswith("2025-08-01")
    assert pass_search["query"]["grid:code"] == {"eq": "MGRS-24MXV"}
    assert len(stac.asset_hits) == 1 and ids


def test_a_search_saved_with_its_own_stac_url_runs_against_that_server_after_a_daemon_restart(stac, env, tmp_path, daemons):
    with GrowingStacServer() as own:
        own.publish(1)
        added = cli(env, "watch", "add", "own", "--provider", "stac", "--stac-url", own.url, "--aoi", AOI,
                    "--every", "2s", "--no-download")  # fmt: skip
        assert added.returncode == 0, added.stderr
        assert state_of(env, "own")["definition"]["stac_url"] == own.url
        daemons.append(first := Daemon(env, tmp_path))
        assert wait_for(lambda: state_of(env, "own")["last_found"] == 1), first.text()
        assert first.stop() == 0
        own.publish(2)
        searched = len(own.searches)
        daemons.append(second := Daemon(env, tmp_path))
        assert wait_for(lambda: len(own.searches) > searched and state_of(env, "own")["last_found"] >= 1
                        and state_of(env, "own")["watermark"].startswith("2025-08-02")), second.text()  # fmt: skip
        assert second.stop() == 0
        assert stac.searches == []  # the configured STAC URL was never asked
        with open_catalog(tmp_path / "catalog.db") as catalog:
            assert catalog.count() == 2


@pytest.mark.parametrize("args, message", [
    (("--provider", "stac"), "--provider stac needs --stac-url"),
    (("--provider", "copernicus", "--stac-url", "https://example.org/v1"), "--stac-url does not apply"),
    (("--stac-url", "https://user:secret@example.org/v1", "--provider", "stac"), "user-info"),
    (("--stac-url", "https://example.org/v1?token=SECRET-123", "--provider", "stac"), "would store a credential"),
    (("--search-option", "bogus=1"), "bogus is not a search option of earth-search"),
    (("--search-option", "published_since=2024-01-01"), "set by each pass"),
    (("--provider", "copernicus", "--assets", "B04"), "whole products"),
    (("--provider", "copernicus", "--product-type", "XYZ"), "no product type 'XYZ'"),
    (("--start", "2024-05-01", "--end", "2024-04-01"), "after end"),
    (("--cloud-min", "50", "--cloud-max", "10"), "--cloud-min 50 is greater"),
])  # fmt: skip
def test_watch_add_validates_the_harvest_options_it_stores(env, args, message):
    result = cli(env, "watch", "add", "bad", "--aoi", AOI, *args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr and "SECRET-123" not in result.stderr and "secret@" not in result.stderr
    assert "Traceback" not in result.stderr


def test_watch_edit_disable_enable_and_a_paused_search_in_daemon_status(stac, env, tmp_path):
    stac.publish(1)
    stac.publish(2)
    add_watch(env)
    assert cli(env, "watch", "run", "s2").returncode == 0
    edited = cli(env, "watch", "edit", "s2", "--every", "6h", "--cloud-max", "20")
    assert edited.returncode == 0, edited.stderr
    shown = state_of(env)
    assert (shown["every"], shown["definition"]["cloud_max"], shown["definition"]["assets"]) == ("6h", 20.0, ["visual"])
    assert shown["watermark"] is None  # the cloud range changed what is searched: from the start again
    watermark = json.loads(cli(env, "watch", "run", "s2", "--json").stdout) and state_of(env)["watermark"]
    assert cli(env, "watch", "edit", "s2", "--every", "2h", "--no-download").returncode == 0
    assert state_of(env)["watermark"] == watermark  # the schedule is not what is searched
    assert cli(env, "watch", "edit", "s2", "--clear", "cloud-max").returncode == 0
    assert state_of(env)["definition"]["cloud_max"] is None
    assert cli(env, "watch", "disable", "s2").returncode == 0
    assert "disabled" in cli(env, "watch", "list").stdout and "disabled" in cli(env, "daemon", "status").stdout
    assert cli(env, "watch", "enable", "s2").returncode == 0
    assert "disabled" not in cli(env, "daemon", "status").stdout
    assert cli(env, "watch", "disable", "nope").returncode == 2
    # A search option the server cannot honour: a permanent error pauses the search.
    assert cli(env, "watch", "edit", "s2", "--search-option", "filter=eo:cloud_cover < 5").returncode == 0
    paused = cli(env, "watch", "run", "s2")
    assert paused.returncode == 2 and "pass paused" in paused.stderr
    status = cli(env, "daemon", "status").stdout
    assert "PAUSED: earth-search refused the search" in status and "Filter extension" in status
    assert "eoharvest watch enable s2" in status
    assert json.loads(cli(env, "daemon", "status", "--json").stdout)["searches"][0]["paused"]
    assert cli(env, "watch", "edit", "s2", "--clear", "search-options").returncode == 0
    assert cli(env, "watch", "enable", "s2").returncode == 0
    row = json.loads(cli(env, "daemon", "status", "--json").stdout)["searches"][0]
    assert (row["paused"], row["failures"], row["enabled"]) == (None, 0, True)
    assert cli(env, "watch", "run", "s2").returncode == 0
    assert state_of(env)["watermark"] is not None
    assert cli(env, "watch", "add", "s2", "--aoi", "-79.5,43.8,-79.3,43.9").returncode == 0  # replaced: another AOI
    assert state_of(env)["watermark"] is None
