"""`eoharvest config ...` and `eoharvest platforms`."""

from __future__ import annotations

import click

from eoharvest.domain.platforms import PLATFORM_ALIASES
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
