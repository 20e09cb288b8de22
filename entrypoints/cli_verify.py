"""`eoharvest verify`: re-hash archived files against the catalog; report or repair."""

from __future__ import annotations

import os
from pathlib import Path

import click

from eoharvest.adapters.http.hashing import file_digest
from eoharvest.adapters.transfers import SafeArchives
from eoharvest.application.verify import record_members, repair, verify_catalog
from eoharvest.domain.ports import CatalogRepository
from eoharvest.entrypoints.cli_common import echo_json
from eoharvest.entrypoints.context import AppContext

EXIT_PROBLEMS = 5  # IntegrityError's code: the archive does not match the catalog


def _kind(path: str) -> str:
    if os.path.isdir(path):
        return "dir"
    return "file" if os.path.isfile(path) else "missing"


def _remove(path: str) -> None:
    try:
        Path(path).unlink()
    except FileNotFoundError:
        pass


@click.command()
@click.option("--product", default=None, help="Only this product key.")
@click.option("--repair", "do_repair", is_flag=True,
              help="Delete corrupt files and mark broken copies as failed, so they are fetched again; "
                   "record size, mtime and inode of the files that match (what `serve` checks), and the "
                   "members of archives extracted before the catalog recorded them.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.pass_obj
def verify_command(obj: AppContext, product: str | None, do_repair: bool, as_json: bool) -> None:
    """Re-hash every file the catalog calls available and compare it with the SHA-256 recorded
    when it was downloaded. The members of extracted archives are compared with the SHA-256 of
    the bytes their extraction wrote. Exits 5 if a file or member is missing or changed (0
    after --repair, which marks the archive of a broken member failed so it is fetched again)."""
    # Only --repair writes: a plain verify never creates, migrates or locks the catalog.
    catalog: CatalogRepository = obj.services().catalog(read_only=not do_repair)
    report = verify_catalog(catalog, product, kind_of=_kind, sha256_of=file_digest)
    if do_repair:
        repair(report, catalog, remove=_remove)
        record_members(report, catalog, member_digests=SafeArchives().member_digests, kind_of=_kind,
                       sha256_of=file_digest)  # fmt: skip
    data = {
        "checked": report.checked, "ok": report.ok, "extracted_only": report.extracted,
        "mismatched": [f.local_path for f in report.mismatched], "missing": [f.local_path for f in report.missing],
        "repaired": report.repaired, "refreshed": report.refreshed,
        "members_checked": report.members_checked, "members_ok": len(report.members_ok),
        "members_mismatched": [m.local_path for m in report.members_mismatched],
        "members_missing": [m.local_path for m in report.members_missing],
        "members_recorded": report.members_recorded,
        "members_unrecorded": [{"archive": a.local_path, "why": why} for a, why in report.members_unrecorded],
    }
    if as_json:
        echo_json(data)
    else:
        click.echo(f"checked {report.checked}: {report.ok} ok, {len(report.mismatched)} changed, "
                   f"{len(report.missing)} missing, {report.extracted} extracted-only")
        if report.members_checked:
            click.echo(f"extracted members {report.members_checked}: {len(report.members_ok)} ok, "
                       f"{len(report.members_mismatched)} changed, {len(report.members_missing)} missing")
        for item in report.mismatched:
            click.echo(f"changed: {item.local_path} ({item.product_key})")
        for item in report.missing:
            click.echo(f"missing: {item.local_path} ({item.product_key})")
        for member in report.members_mismatched:
            click.echo(f"changed member: {member.local_path} ({member.product_key})")
        for member in report.members_missing:
            click.echo(f"missing member: {member.local_path} ({member.product_key})")
        if report.repaired:
            click.echo(f"repaired {report.repaired}: run the download again to fetch them")
        if report.members_recorded:
            click.echo(f"recorded the extracted members of {report.members_recorded} archive(s) (`serve` serves them)")
        for archive, why in report.members_unrecorded:
            click.echo(f"members not recorded: {archive.local_path}: {why}")
        if report.refreshed:
            click.echo(f"recorded the on-disk identity of {report.refreshed} verified file(s) (what `serve` checks)")
    if report.problems and not do_repair:
        raise click.exceptions.Exit(EXIT_PROBLEMS)
