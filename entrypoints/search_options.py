"""The search options `harvest` and `watch add` / `watch edit` share: one definition of each,
so a saved search can say everything a harvest can (and `watch show` can print the harvest
command that runs the same search)."""

from __future__ import annotations

import json
from typing import Any, Callable, TypeVar

import click

from eoharvest.domain.errors import InputError
from eoharvest.entrypoints.cli_common import provider_option

F = TypeVar("F", bound=Callable[..., Any])

PRODUCT_TYPE_HELP = (
    "Product type, the same names on every provider (L1C, L2A, GRD, SLC, OCN, L1TP, L2SP, ...; "
    "comma-separated for several) or the provider's own (S2MSI2A, a STAC collection id, a CMR "
    "short name such as HLSL30). `eoharvest product-types` lists them."
)
SEARCH_OPTION_HELP = (
    "A provider search option (repeatable): e.g. relativeOrbitNumber=65, tileId=17TPJ (copernicus); "
    "query='{\"eo:cloud_cover\": {\"lt\": 5}}', sortby=-properties.datetime (STAC). VALUE is read "
    "as JSON when it is JSON, else as text. The README lists each provider's options."
)


def parse_search_options(items: tuple[str, ...]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs; a VALUE that is valid JSON is taken as JSON (numbers, lists,
    objects, true/false), anything else as text."""
    parsed: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InputError(f"--search-option {item!r} is not KEY=VALUE", hint="e.g. --search-option relativeOrbitNumber=65")
        if key in parsed:
            raise InputError(f"--search-option {key} is given twice", hint="give a list as JSON: KEY='[1, 2]'")
        try:
            parsed[key] = json.loads(text)
        except ValueError:
            parsed[key] = text
    return parsed


def search_definition_options(*, defaults: bool = True) -> Callable[[F], F]:
    """``--provider --stac-url --platform --aoi --start --end --cloud-min --cloud-max
    --product-type --collection --search-option --assets``, as `harvest` defines them.

    Without ``defaults`` (`watch edit`) nothing has a default and nothing is required, so an
    option that was not given can be told from one that was."""
    decorators = [
        provider_option(default="earth-search" if defaults else None),
        click.option("--stac-url", default=None, help="STAC API root URL (overrides the provider's configured URL)."),
        click.option("--platform", "-p", "platforms", multiple=True, default=("Sentinel-2",) if defaults else (),
                     show_default=defaults, help="Platform name or alias (repeatable): Sentinel-2, S2, Landsat-8, ..."),
        click.option("--aoi", required=defaults, default=None,
                     help="WKT, GeoJSON, 'west,south,east,north', or a vector file path."),
        click.option("--start", default=None, help="Start date (UTC), e.g. 2024-05-11."),
        click.option("--end", default=None, help="End date (UTC, inclusive), e.g. 2024-05-21."),
        click.option("--cloud-min", type=float, default=None, help="Minimum cloud cover percentage."),
        click.option("--cloud-max", type=float, default=None, help="Maximum cloud cover percentage."),
        click.option("--product-type", default=None, help=PRODUCT_TYPE_HELP),
        click.option("--collection", "collections", multiple=True,
                     help="Search these collections directly: STAC collection ids, or CMR concept ids / short names."),
        click.option("--search-option", "search_options", multiple=True, metavar="KEY=VALUE", help=SEARCH_OPTION_HELP),
        click.option("--assets", default=None,
                     help="Comma-separated assets to download (default: all data assets; Planet: one per item type, "
                          "e.g. ortho_analytic_4b_sr); checked against the first page of results before "
                          "anything is downloaded."),
    ]  # fmt: skip

    def apply(func: F) -> F:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return apply


def split_assets(text: str | None) -> list[str] | None:
    """``--assets a,b`` as a list (None when not given)."""
    if not text:
        return None
    return [a.strip() for a in text.split(",") if a.strip()]
