from pathlib import Path

import pytest

from eoharvest.domain.errors import InputError
from eoharvest.entrypoints.config import load_settings


def test_defaults_point_at_earth_search_and_the_user_data_dir(tmp_path):
    settings = load_settings(environ={}, config_file=None) if False else load_settings(
        environ={"HOME": str(tmp_path)}
    )
    assert settings.endpoints.stac_url.startswith("https://earth-search")
    assert settings.catalog_path.name == "catalog.db"


def test_file_then_environment_then_overrides_take_priority(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text(
        'catalog_path = "/from/file.db"\nlog_level = "INFO"\n'
        '[endpoints]\nstac_url = "http://127.0.0.1:9/file"\n[http]\nread_timeout = 7\n'
        '[download]\ndirectory = "/archive"\n'
    )
    env = {"EOHARVEST_CONFIG": str(cfg), "EOHARVEST_STAC_URL": "http://127.0.0.1:9/env"}
    settings = load_settings({"catalog_path": "/cli.db", "log_level": None}, environ=env)
    assert settings.config_file == cfg
    assert settings.catalog_path == Path("/cli.db")
    assert settings.log_level == "INFO"
    assert settings.endpoints.stac_url == "http://127.0.0.1:9/env"
    assert settings.http.read_timeout == 7.0
    assert settings.download.directory == Path("/archive")


def test_short_environment_names_work():
    settings = load_settings(
        environ={"EOHARVEST_CATALOG": "/tmp/c.db", "EOHARVEST_DOWNLOAD_DIR": "/tmp/a", "EOHARVEST_LOG_JSON": "yes"}
    )
    assert settings.catalog_path == Path("/tmp/c.db")
    assert settings.download.directory == Path("/tmp/a")
    assert settings.log_json is True


def test_unknown_settings_in_the_file_are_reported_with_their_name(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[http]\nread_timeot = 5\n")
    with pytest.raises(InputError, match="read_timeot"):
        load_settings(environ={}, config_file=cfg)


def test_bad_values_name_the_setting(tmp_path):
    with pytest.raises(InputError, match="read_timeout = 'soon'"):
        load_settings(environ={"EOHARVEST_READ_TIMEOUT": "soon"})
    with pytest.raises(InputError, match="max_workers"):
        load_settings(environ={"EOHARVEST_MAX_WORKERS": "-3"})


def test_invalid_toml_and_missing_explicit_file_are_input_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("this is = = not toml")
    with pytest.raises(InputError, match="not valid TOML"):
        load_settings(environ={}, config_file=bad)
    with pytest.raises(InputError, match="does not exist"):
        load_settings(environ={"EOHARVEST_CONFIG": str(tmp_path / "missing.toml")})


def test_settings_render_as_plain_data():
    data = load_settings(environ={}).as_dict()
    assert isinstance(data["catalog_path"], str)
    assert data["endpoints"]["cdse_odata_url"].endswith("/odata/v1")
