"""One parser for --catalog, EOHARVEST_CATALOG and catalog_path: paths and sqlite:/// URLs name a
file, postgresql:// URLs a PostGIS catalog (never a Path: Path() would collapse "//"), any other
scheme is refused."""

from pathlib import Path

import pytest

from eoharvest.domain.catalog_location import CatalogUrl, catalog_location
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


@pytest.mark.parametrize("value", ["postgresql://user@host/db", "postgres://host:5433/db", "postgresql+psycopg://u:p@h/db"])
def test_postgresql_urls_name_a_postgis_catalog_and_print_without_password(value):
    location = catalog_location(value)
    assert isinstance(location, CatalogUrl) and location.url == value
    assert ":p@" not in str(location) + repr(location)


@pytest.mark.parametrize("value, message", [
    ("postgresql://host", "names no database"), ("postgresql://u:secretpw@h:x1/db", "port of the catalog URL"),
])  # fmt: skip
def test_malformed_postgresql_urls_are_refused_without_showing_the_password(value, message):
    with pytest.raises(CatalogError, match=message) as err:
        catalog_location(value)
    assert "secretpw" not in str(err.value) and err.value.exit_code == 9


@pytest.mark.parametrize("value", [
    "mysql://h/db", "file:///tmp/catalog.db", "s3://bucket/key", "https://example.org/catalog.db",
])  # fmt: skip
def test_other_schemes_are_refused_naming_the_value_and_what_to_give(value):
    with pytest.raises(CatalogError) as err:
        catalog_location(value)
    assert "only file paths are" in str(err.value) and "postgresql://" in str(err.value) and "--catalog" in str(err.value)
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
    url = "postgresql://u:pw12345@h/db"
    assert load_settings(environ={"EOHARVEST_CATALOG": url}, config_file=config).catalog_path == CatalogUrl(url)
    settings = load_settings({"catalog_path": url}, environ={}, config_file=config)
    assert settings.catalog_path == CatalogUrl(url) and "pw12345" not in str(settings.as_dict())
    with pytest.raises(CatalogError):
        load_settings(environ={"EOHARVEST_CATALOG": "mysql://u@h/db"}, config_file=config)
