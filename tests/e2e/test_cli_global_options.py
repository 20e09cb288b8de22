"""Global options (--catalog, --config, --log-level and its -v/-q shortcuts, --log-json, --debug) work before the
subcommand and after it, on nested subcommands too."""

import json
import os

import pytest

from eoharvest.adapters.catalog import open_catalog
from eoharvest.entrypoints.cli import main
from fakes.copernicus_server import CdseFake


@pytest.fixture
def env(tmp_path, monkeypatch):
    for key in list(os.environ):
        if key.startswith("EOHARVEST_"):
            monkeypatch.delenv(key)
    for key, value in {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config"),
                       "XDG_DATA_HOME": str(tmp_path / "data")}.items():
        monkeypatch.setenv(key, value)
    return tmp_path


def settings_shown(capsys, *args):
    assert main([*args]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def test_every_global_option_is_accepted_after_a_nested_subcommand(env, capsys):
    shown = settings_shown(capsys, "config", "show", "--catalog", str(env / "after.db"), "--log-level", "info", "--log-json")
    assert shown["catalog_path"] == str(env / "after.db")
    assert shown["log_level"].upper() == "INFO" and shown["log_json"] is True


def test_an_option_after_the_subcommand_wins_over_the_same_option_before_it(env, capsys):
    shown = settings_shown(capsys, "--catalog", str(env / "before.db"), "config", "show", "--catalog", str(env / "after.db"))
    assert shown["catalog_path"] == str(env / "after.db")
    kept = settings_shown(capsys, "--catalog", str(env / "before.db"), "config", "show")
    assert kept["catalog_path"] == str(env / "before.db")


def test_config_after_the_subcommand_is_the_file_that_is_read(env, capsys):
    config = env / "eo.toml"
    config.write_text(f'catalog_path = "{env / "from-file.db"}"\n')
    assert settings_shown(capsys, "config", "show", "--config", str(config))["catalog_path"] == str(env / "from-file.db")
    assert main(["config", "show", "--config", str(env / "missing.toml")]) == 2
    assert "missing.toml" in capsys.readouterr().err


def test_debug_after_the_subcommand_shows_the_traceback_and_debug_level(env, capsys):
    assert main(["aoi", "check", "POLYGON((0 0, 1 1))", "--debug"]) == 2
    assert "Traceback" in capsys.readouterr().err
    assert settings_shown(capsys, "config", "show", "--debug", "--log-level", "error")["log_level"] == "DEBUG"


def test_harvest_records_into_the_catalog_given_after_the_subcommand(env, capsys, monkeypatch):
    with CdseFake(recorded_pages=True) as cdse:
        monkeypatch.setenv("EOHARVEST_CDSE_ODATA_URL", cdse.odata_url)
        code = main(["harvest", "--provider", "copernicus", "--platform", "S1", "--aoi", "-180,-90,180,90",
                     "--no-download", "--json", "--catalog", str(env / "chosen.db"), "--log-level", "warning"])
    assert code == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["found"] == 47  # the five recorded pages
    with open_catalog(env / "chosen.db") as catalog:
        assert catalog.count() == 47


def test_catalog_stats_takes_the_catalog_after_the_nested_command(env, capsys):
    with open_catalog(env / "stats.db"):
        pass
    assert main(["catalog", "stats", "--json", "--catalog", str(env / "stats.db")]) == 0, capsys.readouterr().err
    assert json.loads(capsys.readouterr().out)["scenes"] == 0


@pytest.mark.parametrize("args, level", [
    (("-v", "config", "show"), "INFO"), (("config", "show", "-v"), "INFO"), (("-vv", "config", "show"), "DEBUG"),
    (("config", "show", "--verbose", "--verbose"), "DEBUG"), (("-q", "config", "show"), "ERROR"),
    (("config", "show", "--quiet"), "ERROR"), (("--log-level", "WARNING", "config", "show", "-v"), "WARNING"),
    (("-q", "config", "show", "--log-level", "INFO"), "INFO"), (("--debug", "config", "show", "-q"), "DEBUG"),
])  # fmt: skip
def test_v_and_q_are_shortcuts_for_the_log_level_and_an_explicit_level_wins(env, capsys, args, level):
    assert settings_shown(capsys, *args)["log_level"].upper() == level


def test_v_and_q_together_are_a_usage_error(env, capsys):
    assert main(["-v", "-q", "config", "show"]) == 2
    assert "contradict" in capsys.readouterr().err


def test_v_shows_info_logs_and_q_hides_warnings(env, capsys, monkeypatch):
    monkeypatch.setenv("EOHARVEST_CATALOG", str(env / "catalog.db"))
    monkeypatch.setenv("EOHARVEST_STAC_URL", "http://127.0.0.1:9/v1")  # nothing listens: warnings
    monkeypatch.setenv("EOHARVEST_MAX_RETRIES", "1")
    monkeypatch.setenv("EOHARVEST_RETRY_MAX_SECONDS", "2")
    assert main(["-q", "harvest", "--aoi", "0,0,1,1", "--no-download"]) != 0
    quiet = capsys.readouterr().err
    assert "WARNING" not in quiet and "retrying" not in quiet and "eoharvest: error:" in quiet
    assert main(["harvest", "--aoi", "0,0,1,1", "--no-download", "-v"]) != 0
    loud = capsys.readouterr().err
    assert "WARNING" in loud and "INFO eoharvest" in loud
