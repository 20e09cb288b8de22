"""Load Settings once, at the edge: defaults < TOML file < EOHARVEST_* environment < CLI options.

The TOML file is ``$EOHARVEST_CONFIG`` or ``<user config dir>/eoharvest/config.toml``:

    catalog_path = "/data/eo/catalog.db"   # a file path, or sqlite:///path; no other URL
    log_level = "INFO"

    [endpoints]
    stac_url = "https://earth-search.aws.element84.com/v1"

    [http]
    read_timeout = 30

    [download]
    directory = "/data/eo/archive"
    provider_budgets = {links = 4}   # concurrent downloads per provider account

    [search]
    cmr_page_size = 500

Every field can also be set from the environment as ``EOHARVEST_<FIELD>`` (field names are
unique across sections), e.g. ``EOHARVEST_STAC_URL``, ``EOHARVEST_READ_TIMEOUT``,
``EOHARVEST_CATALOG`` (short for catalog_path) and ``EOHARVEST_DOWNLOAD_DIR`` (download.directory);
a table such as provider_budgets is written ``EOHARVEST_PROVIDER_BUDGETS="links=4,copernicus=2"``.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from pathlib import Path
from typing import Any, Mapping

import platformdirs

from eoharvest.application.settings import DownloadSettings, Endpoints, HttpSettings, SearchSettings, Settings
from eoharvest.domain.catalog_location import CatalogUrl, catalog_location
from eoharvest.domain.errors import InputError
from eoharvest.domain.urls import check_endpoint_url

APP_NAME = "eoharvest"
_SECTIONS: dict[str, type] = {
    "endpoints": Endpoints, "http": HttpSettings, "download": DownloadSettings, "search": SearchSettings,
}
_ALIASES = {"catalog": "catalog_path", "download_dir": "directory"}


def default_config_file() -> Path:
    return platformdirs.user_config_path(APP_NAME) / "config.toml"


def default_data_dir() -> Path:
    return platformdirs.user_data_path(APP_NAME)


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    config_file: Path | str | None = None,
) -> Settings:
    """Settings from defaults, the TOML file, ``EOHARVEST_*`` variables and ``overrides``.

    ``overrides`` uses flat field names (``catalog_path``, ``stac_url``, ``read_timeout``...);
    None values are ignored so CLI options left unset do not mask the file or environment.
    """
    env = dict(os.environ if environ is None else environ)
    path = Path(config_file or env.get("EOHARVEST_CONFIG") or default_config_file())
    flat: dict[str, Any] = {
        "catalog_path": default_data_dir() / "catalog.db",
        "directory": default_data_dir() / "archive",
    }
    if path.is_file():
        flat.update(_read_toml(path))
        flat["config_file"] = path
    elif config_file is not None or "EOHARVEST_CONFIG" in env:
        raise InputError(f"config file {str(path)!r} does not exist", hint="create it or unset EOHARVEST_CONFIG")
    flat.update(_from_environ(env))
    flat.update({_ALIASES.get(k, k): v for k, v in (overrides or {}).items() if v is not None})
    return _build(flat)


def _field_types() -> dict[str, tuple[type, str | None]]:
    """field name -> (owning dataclass, section name or None for top level)."""
    found: dict[str, tuple[type, str | None]] = {}
    for f in dataclasses.fields(Settings):
        if f.name not in _SECTIONS:
            found[f.name] = (Settings, None)
    for section, cls in _SECTIONS.items():
        for f in dataclasses.fields(cls):
            found[f.name] = (cls, section)
    return found


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"config file {str(path)!r} is not valid TOML: {exc}") from None
    known = _field_types()
    flat: dict[str, Any] = {}
    for key, value in data.items():
        if key in _SECTIONS and isinstance(value, dict):
            for sub_key, sub_value in value.items():
                if known.get(sub_key, (None, None))[1] != key:
                    raise InputError(
                        f"unknown setting [{key}] {sub_key!r} in {str(path)!r}",
                        hint=f"known [{key}] settings: {', '.join(f.name for f in dataclasses.fields(_SECTIONS[key]))}",
                    )
                flat[sub_key] = sub_value
        elif known.get(_ALIASES.get(key, key), (None, "x"))[1] is None:
            flat[_ALIASES.get(key, key)] = value
        else:
            raise InputError(f"unknown setting {key!r} in {str(path)!r}", hint="see `eoharvest config show`")
    return flat


def _from_environ(env: Mapping[str, str]) -> dict[str, Any]:
    known = _field_types()
    flat: dict[str, Any] = {}
    for name, value in env.items():
        if not name.startswith("EOHARVEST_") or name == "EOHARVEST_CONFIG":
            continue
        key = name[len("EOHARVEST_"):].lower()
        key = _ALIASES.get(key, key)
        if key in known:
            flat[key] = value
    return flat


def _build(flat: dict[str, Any]) -> Settings:
    known = _field_types()
    per_section: dict[str | None, dict[str, Any]] = {None: {}, **{s: {} for s in _SECTIONS}}
    for key, value in flat.items():
        if key not in known:
            raise InputError(f"unknown setting {key!r}")
        cls, section = known[key]
        if key == "catalog_path":
            value = catalog_location(value)  # before Path() collapses a URL's "//"
        value = _coerce(cls, key, value)
        if cls is Endpoints and value:
            check_endpoint_url(value, f"setting {key}")
        per_section[section][key] = value
    top = per_section[None]
    for section, cls in _SECTIONS.items():
        top[section] = cls(**per_section[section])
    return Settings(**top)


def _coerce(cls: type, key: str, value: Any) -> Any:
    hints = typing.get_type_hints(cls)
    target = hints[key]
    optional = False
    if isinstance(target, types.UnionType) or typing.get_origin(target) is typing.Union:
        args = [a for a in typing.get_args(target) if a is not type(None)]
        optional = len(args) < len(typing.get_args(target))
        target = args[0]
    if optional and (value is None or value == ""):
        return None
    if isinstance(value, CatalogUrl):
        return value  # a PostgreSQL catalog, parsed by catalog_location (never a Path)
    if key == "provider_budgets":
        return _provider_budgets(value)
    try:
        if target is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off"}:
                return False
            raise ValueError("expected true/false")
        if target is Path:
            return Path(str(value)).expanduser()
        if target in (int, float):
            if isinstance(value, bool):
                raise ValueError("expected a number")
            number = target(value)
            if number < 0:
                raise ValueError("must not be negative")
            return number
        return str(value)
    except (TypeError, ValueError) as exc:
        raise InputError(f"setting {key} = {value!r} is invalid: {exc}") from None


def _provider_budgets(value: Any) -> dict[str, int]:
    """``{links = 4}`` from TOML, or ``"links=4,copernicus=2"`` from the environment: each a
    known provider name and a positive whole number of concurrent downloads."""
    from eoharvest.adapters.providers.table import provider_names

    hint = 'write e.g. provider_budgets = {links = 4} (EOHARVEST_PROVIDER_BUDGETS="links=4,copernicus=2")'
    if isinstance(value, str):
        pairs: list[tuple[str, Any]] = []
        for part in filter(None, (p.strip() for p in value.split(","))):
            name, equals, number = part.partition("=")
            if not equals:
                raise InputError(f"setting provider_budgets: {part!r} is not name=number", hint=hint)
            pairs.append((name.strip(), number.strip()))
    elif isinstance(value, Mapping):
        pairs = list(value.items())
    else:
        raise InputError(f"setting provider_budgets = {value!r} is not a table of provider budgets", hint=hint)
    known = provider_names()
    budgets: dict[str, int] = {}
    for name, number in pairs:
        if name not in known:
            raise InputError(f"setting provider_budgets: unknown provider {name!r}",
                             hint=f"known providers: {', '.join(known)}")  # fmt: skip
        text = str(number).strip()
        if isinstance(number, bool) or not text.isdigit() or int(text) < 1:
            raise InputError(f"setting provider_budgets: {name} = {number!r} is not a positive whole number",
                             hint="give the most concurrent downloads of that provider's account, e.g. 4")  # fmt: skip
        budgets[name] = int(text)
    return budgets
