"""The CLI on a PostgreSQL/PostGIS catalog (`--catalog postgresql://...`), as subprocesses: harvest
gives the same `catalog query` answers as on SpatiaLite, several daemons share one catalog (each
pass once, downloads through the queue, `daemon status` lists them), and a password never shows."""

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


def _daemon(env, log, *extra):
    with open(log, "w") as out:
        return subprocess.Popen([str(BIN), "--log-level", "INFO", "daemon", "--refresh", "0.5", *extra], env=env,
                                stdout=out, stderr=subprocess.STDOUT, cwd=env["HOME"])  # fmt: skip


def _wait(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def _status(env):
    return json.loads(cli(env, "daemon", "status", "--json").stdout)


def _daemons(env):
    return {d["pid"]: d for d in _status(env)["daemons"]}


def test_several_daemons_share_a_postgis_catalog_each_pass_runs_once_and_downloads_go_through_the_queue(
    postgis_url, tmp_path
):
    with GrowingStacServer() as stac:
        stac.publish(1)
        env = environment(tmp_path, postgis_url, EOHARVEST_STAC_URL=stac.url)
        added = cli(env, "watch", "add", "s2", "--aoi", "-79.4,43.8,-79.3,43.9", "--assets", "visual")
        assert added.returncode == 0, added.stderr
        logs = [tmp_path / "first.log", tmp_path / "second.log"]
        first, second = (_daemon(env, log, "--lease-seconds", "3", "--heartbeat", "0.2") for log in logs)
        text = lambda: "".join(log.read_text() for log in logs)  # noqa: E731
        try:
            assert _wait(lambda: {first.pid, second.pid} <= {
                pid for pid, d in _daemons(env).items() if d["status"] == "running"}), text()  # fmt: skip
            # The pass ran (on one of them) and queued its download, which a worker fetched.
            assert _wait(lambda: _status(env)["download_jobs"] == {"available": 1}, timeout=60), text()
            assert json.loads(cli(env, "watch", "show", "s2", "--json").stdout)["last_run_at"] is not None
            time.sleep(1.5)  # both daemons' first ticks are due within a second of their start
            assert text().count("pass s2: searching") == 1, text()
            assert not list(tmp_path.rglob("*.lock"))  # no file lock for a PostgreSQL catalog
            archive = list((tmp_path / "archive").rglob("*.tif"))
            assert len(archive) == 1 and not list((tmp_path / "archive").rglob("*.part*"))
            # A daemon killed outright shows as stale; the other goes on and stops cleanly.
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
            assert _wait(lambda: _daemons(env)[first.pid]["status"] == "stale"), text()
            assert _daemons(env)[second.pid]["status"] == "running"
            shown = cli(env, "daemon", "status")
            assert f":{first.pid}:" in shown.stdout and "STALE" in shown.stdout and "heartbeat" in shown.stdout
            second.send_signal(signal.SIGTERM)
            assert second.wait(timeout=20) == 0, text()
            assert _daemons(env)[second.pid]["status"] == "stopped"
            assert "Traceback" not in text()
        finally:
            for proc in (first, second):
                if proc.poll() is None:
                    proc.kill()
                    proc.wait(timeout=10)


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
