"""Saved-search definitions from CLI options (`watch add`, `watch edit`) and back to the
equivalent `eoharvest harvest` command (`watch show`).

Everything is validated when the search is saved, against the provider table alone: saving
needs no network and no credentials.
"""

from __future__ import annotations

import json
import shlex
from datetime import datetime, timedelta
from typing import Any, Mapping

from eoharvest.adapters.providers.table import PROVIDERS, spec_for
from eoharvest.domain import product_types
from eoharvest.domain.aoi import parse_aoi
from eoharvest.domain.errors import InputError, UnsafeURL
from eoharvest.domain.platforms import canonical_platforms
from eoharvest.domain.providers import PUBLISHED_SINCE
from eoharvest.domain.query import parse_cloud, parse_datetime
from eoharvest.domain.urls import check_endpoint_url, check_url_shape
from eoharvest.domain.watch import (
    DEFAULT_OVERLAP,
    WatchDefinition,
    check_no_secrets,
    format_interval,
    parse_interval,
)
from eoharvest.entrypoints.cli_common import aoi_argument
from eoharvest.entrypoints.search_options import parse_search_options, split_assets

#: What `watch edit --clear` can remove, and the definition field each names.
CLEARABLE = {
    "stac-url": "stac_url", "start": "since", "end": "end", "cloud-min": "cloud_min", "cloud-max": "cloud_max",
    "product-type": "product_type", "collections": "collections", "search-options": "search_options",
    "assets": "assets",
}  # fmt: skip
_EMPTY: dict[str, Any] = {"collections": (), "search_options": {}}


def definition_from_options(opts: Mapping[str, Any], *, vector_reader: Any,
                            base: WatchDefinition | None = None) -> tuple[WatchDefinition, list[str]]:  # fmt: skip
    """The definition the options describe (over ``base`` for `watch edit`: only what was given
    changes), and the AOI parser's warnings. Raises InputError naming the bad value."""
    values: dict[str, Any] = _fields(base) if base else {
        "provider": "earth-search", "platforms": ("Sentinel-2",), "every": timedelta(hours=1),
        "download": True, "order": True, "overlap": DEFAULT_OVERLAP,
    }  # fmt: skip
    for name in opts.get("clear") or ():
        field = CLEARABLE[name]
        values[field] = _EMPTY.get(field)
    warnings: list[str] = []
    if opts.get("provider"):
        values["provider"] = opts["provider"]
    spec = spec_for(values["provider"])
    if opts.get("stac_url"):
        values["stac_url"] = _checked_url(opts["stac_url"])
    if opts.get("platforms"):
        values["platforms"] = tuple(opts["platforms"])
    values["platforms"] = tuple(canonical_platforms(list(values["platforms"]), spec.platforms or None))
    if opts.get("aoi"):
        parsed = parse_aoi(aoi_argument(opts["aoi"]), reader=vector_reader, fix=bool(opts.get("fix_geometry")))
        warnings.extend(parsed.warnings)
        values["aoi"] = parsed.footprint.geojson
    if "aoi" not in values:
        raise InputError("a saved search needs --aoi", hint="e.g. --aoi '-79.4,43.8,-79.3,43.9'")
    start = opts.get("start") or opts.get("since")
    if start:
        values["since"] = parse_datetime(start, name="--start" if opts.get("start") else "--since")
    if opts.get("end"):
        values["end"] = parse_datetime(opts["end"], name="--end", end_of_day=True)
    for option, field in (("cloud_min", "cloud_min"), ("cloud_max", "cloud_max")):
        if opts.get(option) is not None:
            values[field] = parse_cloud(opts[option], name=f"--{option.replace('_', '-')}")
    if opts.get("product_type"):
        values["product_type"] = opts["product_type"]
    if opts.get("collections"):
        values["collections"] = tuple(opts["collections"])
    if opts.get("search_options"):
        values["search_options"] = {**(values.get("search_options") or {}), **parse_search_options(opts["search_options"])}
    if opts.get("assets"):
        values["assets"] = tuple(split_assets(opts["assets"]) or ())
    if opts.get("every"):
        values["every"] = parse_interval(opts["every"])
    if opts.get("overlap"):
        values["overlap"] = parse_interval(opts["overlap"])
    for flag in ("download", "order"):
        if opts.get(flag) is not None:
            values[flag] = bool(opts[flag])
    definition = WatchDefinition(**values)
    _check_against_provider(definition)
    check_no_secrets(definition)
    return definition, warnings


def _fields(definition: WatchDefinition) -> dict[str, Any]:
    return {name: getattr(definition, name) for name in WatchDefinition.__dataclass_fields__}


def _checked_url(url: str) -> str:
    check_endpoint_url(url, "--stac-url")
    try:
        check_url_shape(url)
    except UnsafeURL as exc:
        raise InputError(f"--stac-url: {exc.message}", hint=exc.hint or "give the STAC API root, e.g. https://host/v1") from None
    return url


def _check_against_provider(definition: WatchDefinition) -> None:
    """What the provider table can tell without connecting: endpoint, options, product types."""
    spec = spec_for(definition.provider)
    if not spec.searchable:
        raise InputError(f"--provider {spec.name} has no search to save", hint="choose a searchable provider")
    if spec.takes_url and not definition.stac_url:
        named = " / ".join(s.name for s in PROVIDERS if s.kind == spec.kind and not s.takes_url)
        raise InputError(f"--provider {spec.name} needs --stac-url", hint=f"or choose {named}")
    if definition.stac_url and spec.kind != "stac":
        raise InputError(f"--stac-url does not apply to --provider {spec.name}",
                         hint="remove it with `watch edit NAME --clear stac-url`, or choose a STAC provider")  # fmt: skip
    capabilities = spec.capabilities
    if definition.assets and not capabilities.asset_selection:
        raise InputError(f"--assets: {spec.name} downloads whole products, not assets", hint="leave --assets out")
    accepted = set(capabilities.search_options) - {"page_size"}
    for key in definition.search_options:
        if key == PUBLISHED_SINCE:
            raise InputError(f"--search-option {key} is set by each pass from the watermark", hint="leave it out")
        if key not in accepted:
            raise InputError(f"--search-option {key} is not a search option of {spec.name}",
                             hint=f"it takes: {', '.join(sorted(accepted)) or 'none'}")  # fmt: skip
    for key in ("product_type", "collections"):
        if key in definition.search_options:
            raise InputError(f"--search-option {key}: use --{key.replace('_', '-').rstrip('s')} instead")
    if definition.collections and "collections" not in capabilities.search_options:
        raise InputError(f"--collection does not apply to --provider {spec.name}", hint="use --product-type")
    if definition.product_type:
        if "product_type" not in capabilities.search_options:
            raise InputError(f"--product-type does not apply to --provider {spec.name}")
        if spec.kind != "stac":  # a STAC server's own collection list decides at search time
            product_types.resolve(definition.product_type, definition.platforms, spec.product_types, provider=spec.name)


def harvest_arguments(definition: WatchDefinition) -> list[str]:
    """The `eoharvest harvest` arguments that run the search of ``definition`` (its first pass:
    the whole period from its start; later passes search the window after the watermark)."""
    args = ["--provider", definition.provider]
    if definition.stac_url:
        args += ["--stac-url", definition.stac_url]
    for platform in definition.platforms:
        args += ["--platform", platform]
    args += ["--aoi", json.dumps(dict(definition.aoi), separators=(",", ":"))]
    if definition.since:
        args += ["--start", _iso(definition.since)]
    if definition.end:
        args += ["--end", _iso(definition.end)]
    if definition.cloud_min is not None:
        args += ["--cloud-min", f"{definition.cloud_min:g}"]
    if definition.cloud_max is not None:
        args += ["--cloud-max", f"{definition.cloud_max:g}"]
    if definition.product_type:
        args += ["--product-type", definition.product_type]
    for collection in definition.collections:
        args += ["--collection", collection]
    for key, value in definition.search_options.items():
        text = value if isinstance(value, str) and not _reads_as_json(value) else json.dumps(value)
        args += ["--search-option", f"{key}={text}"]
    if definition.assets:
        args += ["--assets", ",".join(definition.assets)]
    if not definition.download:
        args.append("--no-download")
    if not definition.order:
        args.append("--no-order")
    return args


def harvest_command(definition: WatchDefinition) -> str:
    """:func:`harvest_arguments` as one shell line."""
    return shlex.join(["eoharvest", "harvest", *harvest_arguments(definition)])


def describe(definition: WatchDefinition) -> str:
    """One line for `watch add` / `watch edit`."""
    return f"{definition.provider} {', '.join(definition.platforms)} every {format_interval(definition.every)}"


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _reads_as_json(text: str) -> bool:
    """A text value that `--search-option` would read back as JSON (``65``, ``true``) must be
    quoted as a JSON string to stay text."""
    try:
        json.loads(text)
    except ValueError:
        return False
    return True
