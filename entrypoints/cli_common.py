"""Options and output helpers shared by the CLI command modules."""

from __future__ import annotations

import functools
import json
from typing import Any, Callable, TypeVar

import click

from eoharvest.adapters.providers.table import PROVIDERS, provider_names

F = TypeVar("F", bound=Callable[..., Any])


def cli_group_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Options of the top-level `eoharvest` group."""
    decorators = [
        click.option("--debug", is_flag=True, help="Show tracebacks and DEBUG logs."),
        click.option(
            "--config",
            type=click.Path(dir_okay=False),
            default=None,
            help="Config file (default: $EOHARVEST_CONFIG or the user config dir).",
        ),
        click.option(
            "--catalog",
            type=click.Path(dir_okay=False),
            default=None,
            help="Catalog database file (env EOHARVEST_CATALOG).",
        ),
        click.option(
            "--log-level",
            type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
            default=None,
            help="Log level (env EOHARVEST_LOG_LEVEL; default WARNING).",
        ),
        click.option("--log-json", is_flag=True, default=False, help="Log as JSON lines."),
    ]
    return functools.reduce(lambda f, d: d(f), reversed(decorators), func)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def aoi_argument(value: str) -> object:
    """"w,s,e,n" on the command line means a bbox; anything else goes to the AOI parser."""
    parts = value.split(",")
    if len(parts) == 4:
        try:
            return tuple(float(p) for p in parts)
        except ValueError:
            pass
    return value


def provider_option(default: str | None = "earth-search", help_prefix: str = "Where to search") -> Callable[[F], F]:
    """``--provider``: a choice of the provider table's names, each explained in the help."""
    described = "; ".join(f"{spec.name}: {spec.summary}" for spec in PROVIDERS)
    return click.option(
        "--provider", type=click.Choice(provider_names()), default=default, show_default=default is not None,
        help=f"{help_prefix}. {described}.",
    )
