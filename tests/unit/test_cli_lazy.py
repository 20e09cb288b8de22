"""The CLI starts without the heavy libraries: subcommands are imported only when they run.

Imports are checked in a fresh interpreter (pytest itself has them all loaded already).
"""

import json
import subprocess
import sys

import click
from click.testing import CliRunner

from eoharvest.entrypoints import cli as cli_module
from eoharvest.entrypoints.cli import COMMANDS, cli

#: What importing the CLI module (and `eoharvest --help`) must not load: each is tens of
#: milliseconds or more, and none is needed before a command runs.
HEAVY = ("sqlalchemy", "sqlmodel", "httpx", "geoalchemy2", "pyogrio", "shapely", "numpy", "pyproj", "alembic")

_LOADED = """
import json, sys
from eoharvest.entrypoints.cli import main
args = json.loads(sys.argv[1])
code = main(args) if args is not None else 0
heavy = json.loads(sys.argv[2])
print(json.dumps({"code": code, "loaded": sorted(m for m in heavy if m in sys.modules)}))
"""


def heavy_modules_after(args):
    """Run the CLI with ``args`` (None: only import it) in a new interpreter; the heavy
    top-level packages it loaded."""
    proc = subprocess.run(
        [sys.executable, "-c", _LOADED, json.dumps(args), json.dumps(HEAVY)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["code"] == 0, proc.stdout
    return result["loaded"]


def test_importing_the_cli_loads_none_of_the_heavy_libraries():
    assert heavy_modules_after(None) == []


def test_help_and_version_load_none_of_the_heavy_libraries():
    assert heavy_modules_after(["--help"]) == []
    assert heavy_modules_after(["--version"]) == []


def test_a_subcommand_loads_only_what_it_uses():
    # `config path` needs the settings, not the catalog or the network.
    assert heavy_modules_after(["config", "path"]) == []


def test_help_lists_every_command_with_the_summary_of_its_own_docstring():
    cli_module.load_all_commands()
    context = click.Context(cli)
    for name, entry in COMMANDS.items():
        command = cli.get_command(context, name)
        assert command is not None, name
        assert command.get_short_help_str(limit=10_000) == entry.summary, name
    for width in (80, 100, 300):  # the lazy list is what click writes for the loaded commands
        lazy, loaded = click.HelpFormatter(width=width), click.HelpFormatter(width=width)
        cli.format_commands(context, lazy)
        click.Group.format_commands(cli, context, loaded)
        assert lazy.getvalue() == loaded.getvalue()


def test_a_subcommand_still_takes_the_global_options_and_its_own_help():
    result = CliRunner().invoke(cli, ["catalog", "stats", "--help"])
    assert result.exit_code == 0, result.output
    assert "--catalog" in result.output and "--json" in result.output
    result = CliRunner().invoke(cli, ["no-such-command"])
    assert result.exit_code == 2
    assert "No such command 'no-such-command'" in result.output
