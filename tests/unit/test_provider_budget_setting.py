"""``[download] provider_budgets``: a concurrent-download budget for any provider, validated."""

from __future__ import annotations

from dataclasses import replace

import pytest

from eoharvest.application.settings import DownloadSettings, Settings
from eoharvest.domain.errors import InputError
from eoharvest.entrypoints.bootstrap import build
from eoharvest.entrypoints.config import load_settings


def test_a_budget_is_read_from_the_file_and_from_the_environment(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text("[download]\nprovider_budgets = {links = 4, copernicus = 2}\n")
    assert load_settings(environ={}, config_file=config).download.provider_budgets == {"links": 4, "copernicus": 2}
    env = {"EOHARVEST_PROVIDER_BUDGETS": " links=3 , usgs=1 "}
    assert load_settings(environ=env, config_file=config).download.provider_budgets == {"links": 3, "usgs": 1}
    assert load_settings(environ={}).download.provider_budgets == {}
    assert load_settings(environ=env).as_dict()["download"]["provider_budgets"] == {"links": 3, "usgs": 1}


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("links=0", "links = '0'"),
        ("links=-2", "links = '-2'"),
        ("links=2.5", "links = '2.5'"),
        ("links=four", "links = 'four'"),
        ("links", "'links' is not name=number"),
        ("nosuch=4", "unknown provider 'nosuch'"),
    ],
)
def test_a_bad_budget_names_the_value_and_what_to_give(value, named):
    with pytest.raises(InputError) as caught:
        load_settings(environ={"EOHARVEST_PROVIDER_BUDGETS": value})
    assert named in str(caught.value) and caught.value.hint


def test_bad_budgets_in_the_file_are_input_errors(tmp_path):
    config = tmp_path / "config.toml"
    for text, named in [("{links = true}", "links = True"), ("{links = 0}", "links = 0"), ("4", "= 4 is not a table")]:
        config.write_text(f"[download]\nprovider_budgets = {text}\n")
        with pytest.raises(InputError, match=named):
            load_settings(environ={}, config_file=config)


def test_the_setting_gives_a_budget_to_any_provider_and_only_lowers_a_declared_one(tmp_path):
    settings = Settings(catalog_path=tmp_path / "catalog.db")
    with build(settings) as services:
        assert services.download_budget("links") is None
    budgets = {"links": 4, "copernicus": 2, "usgs": 9}
    with build(replace(settings, download=DownloadSettings(provider_budgets=budgets))) as services:
        links, copernicus = services.download_budget("links"), services.download_budget("copernicus")
        assert links is not None and links.limit == 4 and links.key.provider == "links"
        assert copernicus is not None and copernicus.limit == 2
        assert services.download_limits().provider_limits["links"] == 4
    with build(replace(settings, download=DownloadSettings(provider_budgets={"copernicus": 10}))) as services:
        copernicus = services.download_budget("copernicus")
        assert copernicus is not None and copernicus.limit == 4  # the account's own limit stays
