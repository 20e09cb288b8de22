"""Options and output helpers shared by the CLI command modules."""

from __future__ import annotations

import functools
import json
import tempfile
from pathlib import Path
from typing import Any, Callable, TypeVar

import click

from eoharvest.domain.errors import InputError

F = TypeVar("F", bound=Callable[..., Any])


def _global_option_decorators(**extra: Any) -> list[Callable[[Any], Any]]:
    return [
        click.option("--debug", is_flag=True, default=False, help="Show tracebacks and DEBUG logs.", **extra),
        click.option(
            "--config",
            type=click.Path(dir_okay=False),
            default=None,
            help="Config file (default: $EOHARVEST_CONFIG or the user config dir).",
            **extra,
        ),
        click.option(
            "--catalog",
            type=click.Path(dir_okay=False),
            default=None,
            help="Catalog: a file path (or sqlite:///path), or postgresql://user@host/db (env EOHARVEST_CATALOG).",
            **extra,
        ),
        click.option(
            "--log-level",
            type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
            default=None,
            help="Log level (env EOHARVEST_LOG_LEVEL; default WARNING).",
            **extra,
        ),
        click.option("-v", "--verbose", count=True,
                     help="More log output: -v is --log-level INFO, -vv is DEBUG.", **extra),
        click.option("-q", "--quiet", is_flag=True, default=False,
                     help="Only errors: short for --log-level ERROR.", **extra),
        click.option("--log-json", is_flag=True, default=False, help="Log as JSON lines.", **extra),
    ]


def verbosity_level(verbose: int, quiet: bool) -> str | None:
    """The log level that -v/-vv/-q stand for (None: neither given)."""
    if verbose and quiet:
        raise click.UsageError("-v/--verbose and -q/--quiet contradict each other; give one")
    if quiet:
        return "ERROR"
    return {0: None, 1: "INFO"}.get(verbose, "DEBUG")


def cli_group_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Options of the top-level `eoharvest` group."""
    return cli_options_on(func, _global_option_decorators())


def _apply_global_option(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value is None or value is False or (type(value) is int and value == 0) or param.name is None:
        return value  # not given here: what was given before the subcommand stays
    from eoharvest.entrypoints.context import AppContext

    app = ctx.find_object(AppContext)
    if app is not None:
        app.apply_global_option(param.name, value)
    return value


def add_global_options(command: click.Command) -> None:
    """Let ``command`` take the global options after its name too (`eoharvest harvest --catalog
    X`); a value given there wins over one given before the subcommand."""

    def holder() -> None: ...

    decorated = cli_options_on(holder, _global_option_decorators(expose_value=False, callback=_apply_global_option))
    taken = {opt for param in command.params for opt in getattr(param, "opts", ())}
    for param in reversed(getattr(decorated, "__click_params__", [])):
        if not taken & set(param.opts):
            command.params.append(param)


def cli_options_on(func: Callable[..., Any], decorators: list[Callable[[Any], Any]]) -> Callable[..., Any]:
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


def provider_option(
    default: str | None = "earth-search", help_prefix: str = "Where to search", *, searchable: bool = True
) -> Callable[[F], F]:
    """``--provider``: a choice of the provider table's names (with ``searchable``, only those
    with a search), each explained in the help."""
    # Here, not at the top: the table imports every provider's vocabulary, which the commands
    # without a --provider (catalog query, stats, --help) need not load.
    from eoharvest.adapters.providers.table import PROVIDERS, provider_names

    names = provider_names(searchable=searchable)
    described = "; ".join(f"{spec.name}: {spec.summary}" for spec in PROVIDERS if spec.name in names)
    return click.option(
        "--provider", type=click.Choice(names), default=default, show_default=default is not None,
        help=f"{help_prefix}. {described}.",
    )


def writable_outdir(option: str | None, default: Path) -> Path:
    """The archive folder (``--outdir``, else the configured download directory), checked once
    before anything is searched or downloaded: it is (or can be made) a folder this user can
    create files in. A missing folder is created, as the first download would."""
    path = Path(option).expanduser() if option else default
    named = f"--outdir {str(path)!r}" if option else f"the download folder {str(path)!r}"
    to_do = "choose another --outdir" if option else "set --outdir, EOHARVEST_DOWNLOAD_DIR or [download] directory"
    if path.exists() and not path.is_dir():
        raise InputError(f"{named} is not a folder", hint=to_do)
    try:
        path.mkdir(parents=True, exist_ok=True)
        # A real file, not os.access: ACLs, read-only mounts and quotas all show up here.
        with tempfile.NamedTemporaryFile(dir=path, prefix=".eoharvest-write-check-"):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise InputError(f"{named} is not writable: {reason}", hint=f"{to_do}, or fix its permissions") from None
    return path


def asset_list(value: str) -> list[str]:
    """``--assets a,b`` -> ["a", "b"]; an empty list is an InputError, not "every asset"."""
    names = list(dict.fromkeys(a.strip() for a in value.split(",") if a.strip()))
    if not names:
        raise InputError(f"--assets {value!r} names no asset", hint="e.g. --assets visual,B04 (or leave it out for all data assets)")
    return names
