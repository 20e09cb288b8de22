"""Runs the eoharvest CLI with the test-only ordering provider ("orderfake") in the provider
table, as a separate process. Not a test module. Usage: orderfake_cli.py ARGS..."""

import sys

from fakes import order_provider

order_provider.install()

from eoharvest.entrypoints.cli import main  # noqa: E402 - after the provider table has the entry

if __name__ == "__main__":
    sys.exit(main())
