"""The `eoharvest` command line.

Exit codes: 0 ok, 1 unexpected error, 2 bad input or usage, 3 authentication, 4 provider
response, 5 integrity, 6 retries exhausted / too slow, 7 disk full, 8 unsafe content,
9 catalog busy or catalog error, 10 unsupported environment, 11 orders still pending (run
again later), 130 cancelled.
"""

from __future__ import annotations

import logging
import sys
import traceback
from typing import Any, Sequence

import click

from eoharvest.domain.errors import EoharvestError
from eoharvest.domain.redaction import redact
from eoharvest.entrypoints.cli_common import cli_group_options
from eoharvest.entrypoints.context import AppContext
from eoharvest.entrypoints.logs import configure_logging

log = logging.getLogger("eoharvest.cli")

EXIT_HELP = __doc__.split("\n\n", 1)[1].strip()


@click.group(
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    epilog=" ".join(EXIT_HELP.split()),
)
@cli_group_options
@click.version_option(package_name="eoharvest", prog_name="eoharvest")
@click.pass_context
def cli(ctx: click.Context, **options: Any) -> None:
    """Search any STAC API (Earth Search, Planetary Computer, CDSE STAC) and the Copernicus Data
    Space Ecosystem; download scenes so every file is verified; keep an offline, queryable
    catalog of everything seen and fetched.

    Settings come from the config file (see `eoharvest config path`), EOHARVEST_* environment
    variables and these options, in increasing priority.
    """
    debug = options.pop("debug")
    overrides = {
        "catalog_path": options.pop("catalog"),
        "log_level": "DEBUG" if debug else options.pop("log_level"),
        "log_json": options.pop("log_json") or None,
    }
    context = AppContext(overrides=overrides, debug=debug, config_file=options.pop("config"))
    ctx.obj = context
    ctx.call_on_close(context.close)
    settings = context.settings
    configure_logging(settings.log_level, json_lines=settings.log_json)


def _register_commands() -> None:
    from eoharvest.entrypoints.cli_aoi import aoi
    from eoharvest.entrypoints.cli_catalog import catalog
    from eoharvest.entrypoints.cli_config import config, platforms, product_types
    from eoharvest.entrypoints.cli_daemon import daemon
    from eoharvest.entrypoints.cli_download import download_command
    from eoharvest.entrypoints.cli_harvest import harvest_command
    from eoharvest.entrypoints.cli_orders import orders
    from eoharvest.entrypoints.cli_verify import verify_command
    from eoharvest.entrypoints.cli_watch import watch

    for command in (aoi, catalog, config, platforms, product_types):
        cli.add_command(command)
    cli.add_command(harvest_command, name="harvest")
    cli.add_command(download_command, name="download")
    cli.add_command(verify_command, name="verify")
    cli.add_command(watch)
    cli.add_command(daemon)
    cli.add_command(orders)


_register_commands()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit code. Tracebacks only with --debug (or EOHARVEST_DEBUG=1)."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
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

