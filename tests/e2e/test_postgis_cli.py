"""The CLI on a PostgreSQL/PostGIS catalog (`--catalog postgresql://...`), as subprocesses: harvest
gives the same `catalog query` answers as on SpatiaLite, one daemon per catalog through an
advisory lock (exit 9, no lock file), and a password never shows."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fakes.stac_growing import GrowingStacServer
from fakes.stac_server import FakeStacServer
from pgcluster import SECRET_PASSWORD, SECRET_ROLE

from eoharvest.entrypoints.cli import main

BIN = Path(sys.executable).with_name("eoharvest")
AOIS = [
    "-180,-90,180,90",
    "-40.5,-5,-38.5,-4",  # a few Sentinel-2 tiles off Brazil
    "-106,39.5,-104,41",  # Colorado: Sentinel-2 and Landsat
    "74,-51,80,-44",  # the Sentinel-1 swath in the Indian Ocean
    '{"type": "Polygon", "coordinates": [[[-39.5, -5], [-38.5, -5], [-38.5, -4.6], [-39.5, -5]]]}',
    "170,-20,-170,-10",  # across the antimeridian: nothing there
]


def environment(tmp_path, catalog, **extra):
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("EOHARVEST_", "PG"))},
        "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "EOHARVEST_CATALOG": str(catalog), "EOHARVEST_DOWNLOAD_DIR": str(tmp_path / "archive"), **extra,
    }  # fmt: skip


def cli(env, *args, timeout=120):
    return subprocess.run([str(BIN), *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=env["HOME"])


def _without_times(collection):
    """The answer without first_seen/last_seen: the two harvests ran at different moments."""
    for feature in collection["features"]:
        feature["properties"].pop("first_seen")
        feature["properties"].pop("last_seen")
    return collection


def test_harvest_into_each_back_end_gives_the_same_catalog_query_answers(postgis_url, tmp_path, monkeypatch, capsys):
    # In-process (main()) for speed; the daemon test below runs real subprocesses.
    answers = {}
    with FakeStacServer() as stac:
        for name, catalog in (("spatialite", tmp_path / "c.db"), ("postgis", postgis_url)):
            for key, value in environment(tmp_path, catalog, EOHARVEST_STAC_URL=stac.url).items():
                monkeypatch.setenv(key, value)
            for platform in ("Sentinel-2", "Sentinel-1", "Landsat-8"):
                assert main(["harvest", "--platform", platform, "--aoi", AOIS[0], "--no-download", "--json"]) == 0
            capsys.readouterr()
            answers[name] = {}
            for aoi in AOIS:
                for extra in ((), ("--all-providers", "--sort", "scene_id", "--desc"), ("--where", "cloud < 30")):
                    assert main(["catalog", "query", "--format", "geojson", "--aoi", aoi, *extra]) == 0
                    answers[name][(aoi, extra)] = _without_times(json.loads(capsys.readouterr().out))
            assert main(["catalog", "stats", "--json"]) == 0
            answers[name]["stats"] = {k: v for k, v in json.loads(capsys.readouterr().out).items() if k != "catalog"}
    assert answers["postgis"] == answers["spatialite"]
    found = {aoi: len(answers["postgis"][(aoi, ())]["features"]) for aoi in AOIS}
    assert found[AOIS[0]] > found[AOIS[1]] > 0 and found[AOIS[2]] > 0 and found[AOIS[3]] == 3 and found[AOIS[5]] == 0


def _daemon(env, log):
    with open(log, "w") as out:
        return subprocess.Popen([str(BIN), "--log-level", "INFO", "daemon", "--refresh", "0.5"], env=env,
                                stdout=out, stderr=subprocess.STDOUT, cwd=env["HOME"])  # fmt: skip


def _wait(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def test_one_daemon_per_postgis_catalog_through_an_advisory_lock(postgis_url, tmp_path):
    with GrowingStacServer() as stac:
        stac.publish(1)
        env = environment(tmp_path, postgis_url, EOHARVEST_STAC_URL=stac.url)
        added = cli(env, "watch", "add", "s2", "--aoi", "-79.4,43.8,-79.3,43.9", "--assets", "visual")
        assert added.returncode == 0, added.stderr
        first = _daemon(env, tmp_path / "first.log")
        try:
            assert _wait(lambda: json.loads(cli(env, "daemon", "status", "--json").stdout)["daemon_running"]), \
                (tmp_path / "first.log").read_text()
            # Its passes run on PostgreSQL: leases, harvest, downloads, sync state.
            assert _wait(lambda: json.loads(cli(env, "watch", "show", "s2", "--json").stdout)["last_run_at"] is not None), \
                (tmp_path / "first.log").read_text()
            second = cli(env, "daemon", timeout=60)
            assert second.returncode == 9, second.stderr
            assert "another eoharvest daemon" in second.stderr and f"{first.pid}@" in second.stderr
            assert "advisory lock" in second.stderr and "Traceback" not in second.stderr
            status = json.loads(cli(env, "daemon", "status", "--json").stdout)
            assert status["daemon_pid"].startswith(f"{first.pid}@")
            assert not list(tmp_path.rglob("*.lock"))  # no file lock for a PostgreSQL catalog
            # A daemon killed outright leaves no stale lock: the server ends its session.
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
            assert _wait(lambda: not json.loads(cli(env, "daemon", "status", "--json").stdout)["daemon_running"])
            third = _daemon(env, tmp_path / "third.log")
            try:
                assert _wait(lambda: json.loads(cli(env, "daemon", "status", "--json").stdout)["daemon_running"])
                third.send_signal(signal.SIGTERM)
                assert third.wait(timeout=20) == 0, (tmp_path / "third.log").read_text()
            finally:
                if third.poll() is None:
                    third.kill()
                    third.wait(timeout=10)
        finally:
            if first.poll() is None:
                first.kill()
                first.wait(timeout=10)


def test_the_password_comes_from_the_environment_and_never_shows(postgis_cluster, tmp_path):
    database = postgis_cluster.new_database()
    url = postgis_cluster.url(database, user=SECRET_ROLE)
    env = environment(tmp_path, url, PGPASSWORD=SECRET_PASSWORD)
    assert cli(env, "catalog", "upgrade").returncode == 0
    stats = cli(env, "catalog", "stats", "--json")
    assert stats.returncode == 0 and json.loads(stats.stdout)["catalog"] == url
    # The password in the URL (a canary that is wrong): exit 9, masked everywhere.
    wrong = postgis_cluster.url(database, user=SECRET_ROLE, password="canary-e2e-wrong-5521")
    for args in (("catalog", "stats"), ("--debug", "catalog", "stats"), ("catalog", "upgrade"), ("config", "show")):
        done = cli(environment(tmp_path, wrong), *args)
        assert "canary-e2e-wrong-5521" not in done.stdout + done.stderr, args
        if args[-1] != "show":
            assert done.returncode == 9 and "PGPASSWORD" in done.stderr, done.stderr


@pytest.mark.parametrize("url, message", [
    ("postgresql://127.0.0.1:5432", "names no database"),
    ("postgresql://h:port/db", "port of the catalog URL"),
])  # fmt: skip
def test_a_malformed_catalog_url_is_refused_with_exit_code_9(tmp_path, url, message):
    done = cli(environment(tmp_path, url), "catalog", "stats")
    assert done.returncode == 9 and message in done.stderr
