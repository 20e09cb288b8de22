"""Summary output shared by `eoharvest harvest` and `eoharvest download`."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from eoharvest.application.bulk import NotAttempted
from eoharvest.application.harvest import HarvestReport
from eoharvest.domain.errors import EoharvestError, OrdersPending
from eoharvest.domain.redaction import redact
from eoharvest.entrypoints.cli_common import echo_json
from eoharvest.entrypoints.graceful import StopRequest


def print_report(report: HarvestReport, outdir: Path, *, as_json: bool, catalog: str, title: str) -> None:
    """The summary table (or JSON) of a harvest or download run."""
    data = {
        "found": report.found,
        "new_in_catalog": report.new,
        "already_had": report.already_had,
        "downloaded": report.downloaded,
        # handed to the download queue (a daemon on a PostgreSQL catalog): fetched by its workers
        "queued": report.queued,
        "failed": report.failed,
        "pending": len(report.pending),
        # This run's network bytes (a resumed file counts only the rest), and what the run's
        # scenes now take in the archive (including those already there).
        "bytes_transferred": report.bytes_transferred,
        "bytes_in_archive": report.bytes_in_archive,
        "seconds": round(report.seconds, 2),
        "outdir": str(outdir),
        "catalog": catalog,
        "failures": [{"scene_id": f.scene_id, "error": str(f.error)} for f in report.failures],
        "pending_orders": [{"scene_id": p.scene_id, "state": p.state, "reason": p.reason} for p in report.pending],
        "search_error": redact(str(report.search_error)) if report.search_error else None,
    }
    if as_json:
        echo_json(data)
        return
    table = Table(title=title)
    columns = ["found", "new", "already had", "downloaded", *(["queued"] if report.queued else []), "failed",
               "pending", "time"]  # fmt: skip
    for column in columns:
        table.add_column(column, justify="right")
    table.add_row(str(report.found), str(report.new), str(report.already_had), str(report.downloaded),
                  *([str(report.queued)] if report.queued else []), str(report.failed), str(len(report.pending)),
                  f"{report.seconds:.1f} s")  # fmt: skip
    console = Console(soft_wrap=True)
    console.print(table)
    console.print(f"transferred in this run: {report.bytes_transferred:,} bytes   "
                  f"these scenes in the archive: {report.bytes_in_archive:,} bytes", highlight=False)
    console.print(f"archive: {outdir}   catalog: {catalog}")
    skipped: dict[str, list[str]] = {}
    for failure in report.failures:
        if isinstance(failure.error, NotAttempted):
            skipped.setdefault(failure.error.provider, []).append(failure.scene_id)
            continue
        console.print(f"[red]failed[/red] {failure.scene_id}: {failure.error}", markup=True, highlight=False)
    for provider, scene_ids in skipped.items():
        console.print(f"[red]not attempted[/red] {len(scene_ids)} more scene(s) of {provider}: its credentials "
                      "were refused earlier in this run", markup=True, highlight=False)
    for pending in report.pending:
        console.print(f"[yellow]pending[/yellow] {pending.scene_id} ({pending.state}): {pending.reason}",
                      markup=True, highlight=False)  # fmt: skip
    if report.pending:
        console.print(f"{len(report.pending)} product(s) pending: `eoharvest orders list` shows their orders; "
                      "the next run or the daemon downloads them when they are ready", highlight=False)


def exit_for_failures(report: HarvestReport) -> None:
    """Exit with the code of the error that stopped the search, else of the first failed
    download (so cron and scripts notice); 11 (``OrdersPending``) when nothing failed but orders
    are still pending; 0 when all went well."""
    if report.search_error is not None:
        error = report.search_error
        click.echo(
            f"eoharvest: error: the search stopped after {report.found} scene(s), which are in the "
            f"catalog: {redact(str(error))}",
            err=True,
        )
        raise click.exceptions.Exit(error.exit_code)
    if report.failures:
        first = report.failures[0].error
        raise click.exceptions.Exit(first.exit_code if isinstance(first, EoharvestError) else 1)
    if report.pending:
        raise click.exceptions.Exit(OrdersPending.exit_code)


def exit_if_stopped(stop: StopRequest) -> None:
    """After a SIGINT/SIGTERM stop: say what was kept and exit 128 + the signal number."""
    if stop():
        click.echo(
            f"eoharvest: stopped by {stop.name}; partial files are kept and the next run resumes them",
            err=True,
        )
        raise click.exceptions.Exit(stop.exit_code)
