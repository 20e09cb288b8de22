"""`eoharvest catalog copy --from A --to B`: move a catalog between SpatiaLite and PostGIS."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from eoharvest.domain.catalog_location import CatalogUrl, catalog_location
from eoharvest.domain.errors import CatalogError, InputError


def parse_location(value: str) -> Path | CatalogUrl:
    """A SpatiaLite file (a path or ``sqlite:///path``) or a ``postgresql://`` URL, parsed as
    ``--catalog`` is (CatalogError, exit 9, for anything else)."""
    return catalog_location(value)


def _same(a: Path | CatalogUrl, b: Path | CatalogUrl) -> bool:
    if isinstance(a, Path) and isinstance(b, Path):
        return a.resolve() == b.resolve()
    return a == b


def _warn_password_in_arguments(location: Path | CatalogUrl, option: str) -> None:
    if isinstance(location, CatalogUrl) and location.password:
        click.echo(f"warning: the password in {option} is visible to other users in the process list; "
                   "prefer PGPASSWORD or a password file (~/.pgpass, PGPASSFILE)", err=True)  # fmt: skip


@click.command("copy")
@click.option("--from", "source_text", required=True, metavar="LOCATION",
              help="Catalog to read: a SpatiaLite file (path or sqlite:///path) or postgresql://user@host/db.")
@click.option("--to", "target_text", required=True, metavar="LOCATION",
              help="Catalog to write (created and migrated if new; rows it already has are kept).")
@click.option("--json", "as_json", is_flag=True, help="Print the per-table counts as JSON.")
def copy_cmd(source_text: str, target_text: str, as_json: bool) -> None:
    """Copy a catalog into another one, e.g. from SpatiaLite to PostgreSQL/PostGIS: scenes,
    files, saved searches with their sync state, and orders.

    Resumable and idempotent: rows are matched by their natural keys and a row the target
    already has is never overwritten, so an interrupted copy is completed by running it again.
    At the end every row of the source must be in the target (exit 9 otherwise). Stop daemons
    writing to the source first. Passwords: use PGPASSWORD or ~/.pgpass rather than the URL.
    """
    from eoharvest.adapters.catalog.copying import CatalogCopier
    from eoharvest.entrypoints.bootstrap import open_catalog_at

    source = parse_location(source_text)
    target = parse_location(target_text)
    _warn_password_in_arguments(source, "--from")
    _warn_password_in_arguments(target, "--to")
    if _same(source, target):
        raise InputError(f"--from and --to are the same catalog ({source})", hint="copy into another file or database")
    reader = open_catalog_at(source, read_only=True)
    try:
        writer = open_catalog_at(target)
        try:
            report = CatalogCopier(reader.reader, writer.writer, progress=_progress(as_json)).run()
        finally:
            writer.close()
    finally:
        reader.close()
    if as_json:
        click.echo(json.dumps({"from": str(source), "to": str(target), "complete": report.complete,
                               "tables": report.as_dict()}, indent=2))  # fmt: skip
    else:
        for t in report.tables:
            click.echo(f"{t.table:<13} {t.source:>9} in source, {t.copied:>9} copied, {t.present:>9} already there")
    if not report.complete:
        missing = ", ".join(f"{t.table} ({t.source - t.copied - t.present:+d})" for t in report.tables if not t.complete)
        raise CatalogError(f"the copy from {source} to {target} is incomplete: {missing}",
                           hint="the source changed during the copy? stop its writers and run the copy again")  # fmt: skip
    click.echo(f"copied {source} to {target}", err=True)


def _progress(quiet: bool) -> Any:
    shown: dict[str, int] = {}

    def report(table: str, done: int) -> None:
        # One line per 50,000 rows: enough to see a long copy move, not a flood.
        if not quiet and done // 50_000 > shown.get(table, 0):
            shown[table] = done // 50_000
            click.echo(f"  {table}: {done:,} rows", err=True)

    return report
