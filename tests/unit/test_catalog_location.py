"""One parser for --catalog, EOHARVEST_CATALOG and catalog_path: paths and sqlite:/// URLs pass,
any other scheme is refused (Path() would collapse "postgresql://u@h/db" into a file name)."""

from pathlib import Path

import pytest

from eoharvest.domain.catalog_location import catalog_location
from eoharvest.domain.errors import CatalogError
from eoharvest.entrypoints.config import load_settings


@pytest.mark.parametrize("value, expected", [
    ("catalog.db", Path("catalog.db")), ("/data/eo/catalog.db", Path("/data/eo/catalog.db")),
    ("sqlite:///rel/catalog.db", Path("rel/catalog.db")), ("sqlite:////abs/catalog.db", Path("/abs/catalog.db")),
    ("SQLite:////abs/catalog.db", Path("/abs/catalog.db")), ("./odd:name.db", Path("odd:name.db")),
    ("C:\\data\\catalog.db", Path("C:\\data\\catalog.db")), (Path("postgresql:/u@h/db"), Path("postgresql:/u@h/db")),
])  # fmt: skip
def test_paths_and_sqlite_urls_name_a_file(value, expected):
    assert catalog_location(value) == expected


def test_a_home_relative_path_is_expanded(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert catalog_location("~/eo/catalog.db") == tmp_path / "eo" / "catalog.db"
    assert catalog_location("sqlite:///~/eo/catalog.db") == tmp_path / "eo" / "catalog.db"


@pytest.mark.parametrize("value", [
    "postgresql://user@host/db", "postgres://host/db", "postgresql+psycopg://u:p@h/db", "mysql://h/db",
    "file:///tmp/catalog.db", "s3://bucket/key", "https://example.org/catalog.db",
])  # fmt: skip
def test_other_schemes_are_refused_naming_the_value_and_what_to_give(value):
    with pytest.raises(CatalogError) as err:
        catalog_location(value)
    assert "only file paths are" in str(err.value) and "--catalog" in str(err.value)
    assert err.value.exit_code == 9
    if ":p@" not in value:
        assert repr(value) in str(err.value)


@pytest.mark.parametrize("value", ["", "  ", "sqlite://", "sqlite:///", "sqlite:///cat.db?mode=ro"])
def test_empty_and_fileless_locations_are_refused(value):
    with pytest.raises(CatalogError):
        catalog_location(value)


def test_settings_from_every_source_go_through_it(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text('catalog_path = "sqlite:////srv/eo/catalog.db"\n')
    assert load_settings(environ={}, config_file=config).catalog_path == Path("/srv/eo/catalog.db")
    with pytest.raises(CatalogError):
        load_settings(environ={"EOHARVEST_CATALOG": "postgresql://u@h/db"}, config_file=config)
    with pytest.raises(CatalogError):
        load_settings({"catalog_path": "postgresql://u@h/db"}, environ={}, config_file=config)
