"""The `eoharvest` command line.

Exit codes: 0 ok, 1 unexpected error, 2 bad input or usage, 3 authentication, 4 provider
response, 5 integrity, 6 retries exhausted / too slow, 7 disk full, 8 unsafe content,
9 catalog busy or catalog error, 10 unsupported environment, 11 orders still pending (run
again later), 130 cancelled (SIGINT), 143 stopped by SIGTERM.
"""

from __future__ import annotations

import functools
import gc
import importlib
import logging
import sys
import traceback
from typing import Any, Callable, NamedTuple, Sequence

import click

from eoharvest.domain.errors import EoharvestError
from eoharvest.domain.redaction import redact
from eoharvest.entrypoints.cli_common import add_global_options, cli_group_options, verbosity_level
from eoharvest.entrypoints.context import AppContext

log = logging.getLogger("eoharvest.cli")

EXIT_HELP = __doc__.split("\n\n", 1)[1].strip()


class CommandEntry(NamedTuple):
    """Where a subcommand lives, and the summary `eoharvest --help` lists for it."""

    module: str  # under eoharvest.entrypoints
    attribute: str
    summary: str  # the command's own short help (tests/unit/test_cli_lazy.py keeps them equal)


#: Every subcommand, imported only when it runs (or its own --help is asked for): importing
#: them all costs SQLAlchemy, httpx, shapely, pyproj, ... on every start, `--help` included.
COMMANDS: dict[str, CommandEntry] = {
    "aoi": CommandEntry("cli_aoi", "aoi", "Check areas of interest."),
    "catalog": CommandEntry(
        "cli_catalog", "catalog",
        "Query, export and summarise the local scene catalog (read-only), or upgrade its schema.",
    ),
    "config": CommandEntry("cli_config", "config", "Show the effective settings and where they come from."),
    "daemon": CommandEntry(
        "cli_daemon", "daemon",
        "Keep every saved search (`eoharvest watch`) fresh: run each on its interval until stopped.",
    ),
    "download": CommandEntry(
        "cli_download", "download_command", "Download catalogued scenes that are not yet in the archive."
    ),
    "harvest": CommandEntry(
        "cli_harvest", "harvest_command",
        "Search, record every result in the catalog, download what the archive does not have yet, "
        "verify it, and print a summary (found / new / already had / downloaded / failed / pending).",
    ),
    "orders": CommandEntry(
        "cli_orders", "orders",
        "Orders of products that must be prepared before they can be downloaded (Planet asset "
        "activation, USGS download requests, CDSE offline products waiting to come online).",
    ),
    "platforms": CommandEntry(
        "cli_config", "platforms", "List platform names and the aliases accepted for each (case-insensitive)."
    ),
    "product-types": CommandEntry(
        "cli_config", "product_types",
        "List the product types `harvest --product-type` accepts, per provider and platform.",
    ),
    "providers": CommandEntry(
        "cli_providers", "providers",
        "Tools of one provider (see `eoharvest harvest --help` for the provider list).",
    ),
    "serve": CommandEntry(
        "serve", "serve_command",
        "Serve the catalog as a read-only STAC API: item search (GET/POST, CQL2 filter, sortby, "
        "query, paging), collections with extents, items per collection.",
    ),
    "verify": CommandEntry(
        "cli_verify", "verify_command",
        "Re-hash every file the catalog calls available and compare it with the SHA-256 recorded "
        "when it was downloaded.",
    ),
    "watch": CommandEntry(
        "cli_watch", "watch",
        "Saved searches kept fresh by `eoharvest daemon` (or run by hand with `watch run`).",
    ),
}  # fmt: skip


class LazyGroup(click.Group):
    """A group that imports a subcommand's module only when that subcommand is resolved; the
    command list in ``--help`` comes from :data:`COMMANDS` without importing anything."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in COMMANDS:
            entry = COMMANDS[cmd_name]
            module = importlib.import_module(f"eoharvest.entrypoints.{entry.module}")
            command: click.Command = getattr(module, entry.attribute)
            _prepare(command)
            self.add_command(command, name=cmd_name)
        return self.commands.get(cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            if name in COMMANDS:
                # A stand-in command shortens the summary exactly as the real one would.
                summary = click.Command(name, help=COMMANDS[name].summary).get_short_help_str(limit)
            else:  # added at run time (cli.add_command): it is loaded already
                summary = self.commands[name].get_short_help_str(limit)
            rows.append((name, summary))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(
    cls=LazyGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=" ".join(EXIT_HELP.split()),
)
@cli_group_options
@click.version_option(package_name="eoharvest", prog_name="eoharvest")
@click.pass_context
def cli(ctx: click.Context, **options: Any) -> None:
    """Search any STAC API (Earth Search, Planetary Computer, CDSE STAC), the Copernicus Data
    Space Ecosystem and NASA's CMR; download scenes so every file is verified; keep an offline,
    queryable catalog of everything seen and fetched.

    Settings come from the config file (see `eoharvest config path`), EOHARVEST_* environment
    variables and these options, in increasing priority.
    """
    debug = options.pop("debug")
    shortcut = verbosity_level(options.pop("verbose"), options.pop("quiet"))
    level = options.pop("log_level")
    overrides = {
        "catalog_path": options.pop("catalog"),
        "log_level": "DEBUG" if debug else level or shortcut,
        "log_json": options.pop("log_json") or None,
    }
    context = AppContext(overrides=overrides, debug=debug, config_file=options.pop("config"), configure_logs=True,
                         explicit_level=level is not None)
    ctx.obj = context
    ctx.call_on_close(context.close)
    # Settings (and logging) are loaded when the command starts (see _started), after the
    # subcommand's own copy of the global options has been parsed.


def _started(callback: Callable[..., Any]) -> Callable[..., Any]:
    """Load the settings and set up logging before ``callback`` runs (for a group: only when it
    runs as the command itself, not on the way to a subcommand)."""

    @functools.wraps(callback)
    def run(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        app = ctx.find_object(AppContext)
        if app is not None and not (isinstance(ctx.command, click.Group) and ctx.invoked_subcommand):
            app.settings  # noqa: B018 - loads the settings, configures logging, reports a bad config
        return callback(*args, **kwargs)

    return run


def _prepare(command: click.Command) -> None:
    add_global_options(command)
    if command.callback is not None:
        command.callback = _started(command.callback)
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _prepare(sub)


def load_all_commands() -> None:
    """Import every subcommand now (tools that walk the whole command tree, tests)."""
    context = click.Context(cli)
    for name in COMMANDS:
        cli.get_command(context, name)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code. Tracebacks only with --debug (or EOHARVEST_DEBUG=1)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    # Everything imported so far lives as long as the process: move it out of the collector's
    # way. Otherwise each full collection walks those ~100k objects again, and parsing a search
    # page (hundreds of thousands of new dicts and lists) triggers many: it halved JSON decoding
    # speed in bench/harvest.py. The collector gets them back when the command ends, for a
    # process that runs commands in-process (tests, embedding applications).
    gc.freeze()
    try:
        return _run(args, debug)
    finally:
        gc.unfreeze()


def _run(args: list[str], debug: bool) -> int:
    try:
        # Without standalone mode click returns a command's Exit code instead of raising it.
        code = cli.main(args=args, prog_name="eoharvest", standalone_mode=False)
        return code if isinstance(code, int) else 0
    except EoharvestError as exc:
        if debug:
            traceback.print_exc()
        click.echo(f"eoharvest: error: {redact(str(exc))}", err=True)
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.UsageError as exc:
        exc.show()
        return 2
    except click.Abort:
        click.echo("eoharvest: aborted", err=True)
        return 130
    except KeyboardInterrupt:
        click.echo("eoharvest: interrupted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except Exception as exc:  # the last line of defence: no traceback unless --debug
        if debug:
            traceback.print_exc()
        click.echo(
            f"eoharvest: internal error: {redact(type(exc).__name__ + ': ' + str(exc))} "
            "(re-run with --debug for details and please report it)",
            err=True,
        )
        return 1


def run() -> None:
    sys.exit(main())

