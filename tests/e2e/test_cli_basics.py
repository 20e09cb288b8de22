"""The CLI as a user runs it: a real subprocess for the entry point, main() for the rest."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from eoharvest.entrypoints.cli import main

EOHARVEST = Path(sys.executable).with_name("eoharvest")
MARKHAM = (
    '{"type": "Polygon", "coordinates": [[[-79.4, 43.8], [-79.3, 43.8], '
    "[-79.3, 43.9], [-79.4, 43.9], [-79.4, 43.8]]]}"
)


@pytest.fixture
def env(tmp_path, monkeypatch):
    """Isolate config and data dirs from the developer's own."""
    values = {
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    for key in list(os.environ):
        if key.startswith("EOHARVEST_"):
            monkeypatch.delenv(key)
    return {**os.environ, **values}


def run_cli(args, env, timeout=60):
    return subprocess.run(
        [str(EOHARVEST), *args], env=env, capture_output=True, text=True, timeout=timeout
    )


def test_the_installed_command_prints_help_with_exit_codes(env):
    result = run_cli(["--help"], env)
    assert result.returncode == 0, result.stderr
    assert "Usage: eoharvest" in result.stdout
    assert "aoi" in result.stdout and "config" in result.stdout
    assert "Exit codes" in result.stdout


def test_aoi_check_prints_bbox_and_centroid(env):
    result = run_cli(["aoi", "check", MARKHAM], env)
    assert result.returncode == 0, result.stderr
    assert "-79.4" in result.stdout and "43.9" in result.stdout
    assert "centroid" in result.stdout.lower()


def test_a_bad_aoi_exits_2_with_a_clear_message_and_no_traceback(env):
    result = run_cli(["aoi", "check", "POLYGON((0 0, 1 1))"], env)
    assert result.returncode == 2
    assert result.stderr.startswith("eoharvest: error:")
    assert "Traceback" not in result.stderr


def test_debug_shows_the_traceback(env):
    result = run_cli(["--debug", "aoi", "check", "POLYGON((0 0, 1 1))"], env)
    assert result.returncode == 2
    assert "Traceback" in result.stderr


def test_aoi_check_json_gives_geojson(env, capsys):
    assert main(["aoi", "check", "--json", "-79.4,43.8,-79.3,43.9"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["geometry"]["type"] == "Polygon"
    assert data["bbox"] == pytest.approx([-79.4, 43.8, -79.3, 43.9])


def test_unknown_option_is_a_usage_error_exit_2(env, capsys):
    assert main(["--no-such-option"]) == 2
    assert "No such option" in capsys.readouterr().err


def test_config_show_reflects_environment_overrides(env, monkeypatch, capsys):
    monkeypatch.setenv("EOHARVEST_STAC_URL", "http://127.0.0.1:8/stac")
    assert main(["--catalog", "/tmp/x.db", "config", "show"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["endpoints"]["stac_url"] == "http://127.0.0.1:8/stac"
    assert data["catalog_path"] == "/tmp/x.db"


def test_a_broken_config_file_is_an_input_error(env, tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[http]\nbogus = 1\n")
    assert main(["--config", str(cfg), "config", "show"]) == 2
    assert "bogus" in capsys.readouterr().err


def test_platforms_lists_aliases(env, capsys):
    assert main(["platforms", "--json"]) == 0
    assert "S2" in json.loads(capsys.readouterr().out)["Sentinel-2"]
