"""`eoharvest config ...`, `eoharvest platforms` and `eoharvest product-types`."""

from __future__ import annotations

import click

from eoharvest.adapters.providers.table import PROVIDERS, provider_names
from eoharvest.domain.platforms import PLATFORM_ALIASES
from eoharvest.domain.product_types import LEVELS
from eoharvest.entrypoints.cli_common import echo_json
from eoharvest.entrypoints.config import default_config_file
from eoharvest.entrypoints.context import AppContext


@click.group()
def config() -> None:
    """Show the effective settings and where they come from."""


@config.command("show")
@click.pass_obj
def show(obj: AppContext) -> None:
    """Print the effective settings as JSON (secrets are never settings, so none appear)."""
    echo_json(obj.settings.as_dict())


@config.command("path")
@click.pass_obj
def path(obj: AppContext) -> None:
    """Print the config file in use (or the default location if there is none)."""
    used = obj.settings.config_file
    click.echo(str(used) if used else f"{default_config_file()} (not present; defaults in use)")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
def platforms(as_json: bool) -> None:
    """List platform names and the aliases accepted for each (case-insensitive)."""
    if as_json:
        echo_json({name: list(aliases) for name, aliases in PLATFORM_ALIASES.items()})
        return
    for name, aliases in PLATFORM_ALIASES.items():
        click.echo(f"{name:<14} {', '.join(aliases)}")


@click.command("product-types")
@click.option("--provider", type=click.Choice(provider_names()), default=None, help="Only this provider.")
@click.option("--json", "as_json", is_flag=True,
              help='Print as JSON: provider -> platform -> type -> own names ("" holds names accepted only as they are).')
def product_types(provider: str | None, as_json: bool) -> None:
    """List the product types `harvest --product-type` accepts, per provider and platform.

    One vocabulary serves every provider (L1C, L2A, GRD, SLC, OCN, L1TP, L2SP, ...); the
    provider's own names (CDSE productType values, STAC collection ids) shown beside each are
    accepted too. On any other STAC API (--provider stac) a product type must be one of the
    collections the server lists, or a name whose usual collection it lists.
    """
    specs = [s for s in PROVIDERS if provider is None or s.name == provider]
    if as_json:
        echo_json({s.name: {p: {t: list(n) for t, n in types.items()} for p, types in s.product_types.items()}
                   for s in specs})
        return
    used = {t for s in specs for types in s.product_types.values() for t in types if t}
    click.echo("product types:")
    for level in (t for t in LEVELS if t in used):
        click.echo(f"  {level:<10} {LEVELS[level]}")
    for spec in specs:
        scope = "checked against the collections the server lists" if spec.takes_url else spec.summary
        click.echo(f"\n{spec.name} ({scope}):")
        for platform, types in spec.product_types.items():
            for level, names in types.items():
                click.echo(f"  {platform:<14} {level or '(own names)':<11} {', '.join(names)}")
