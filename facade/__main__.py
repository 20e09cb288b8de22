"""`python -m eoharvest` runs the CLI."""

from eoharvest.entrypoints.cli import run

run()
