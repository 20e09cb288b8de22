"""`eoharvest providers ...`: tools of one provider (NASA CMR's collection listing)."""

from __future__ import annotations

from typing import Any

import click

from eoharvest.domain.errors import InputError
from eoharvest.entrypoints.cli_common import echo_json
from eoharvest.entrypoints.context import AppContext


@click.group()
def providers() -> None:
    """Tools of one provider (see `eoharvest harvest --help` for the provider list)."""


@providers.group("cmr")
def cmr() -> None:
    """NASA's Common Metadata Repository (CMR).

    Searching CMR needs no account; downloads need a free Earthdata Login account, given as
    CMR(user, password), EOHARVEST_CMR_USERNAME and _PASSWORD (or _TOKEN), EARTHDATA_USERNAME
    and EARTHDATA_PASSWORD (or EARTHDATA_TOKEN), ~/.netrc (machine urs.earthdata.nasa.gov, mode
    0600) or the keyring (service eoharvest-cmr).
    """


@cmr.command("collections")
@click.option("--keyword", required=True, help="Words to look for (CMR keyword search), e.g. HLS or 'MODIS surface reflectance'.")
@click.option("--provider-id", default=None, help="Only collections of this CMR provider, e.g. LPCLOUD, ASF, LAADS.")
@click.option("--limit", type=click.IntRange(1, 2000), default=50, show_default=True, help="List at most this many.")
@click.option("--json", "as_json", is_flag=True, help="Print as JSON.")
@click.pass_obj
def collections(obj: AppContext, keyword: str, provider_id: str | None, limit: int, as_json: bool) -> None:
    """List CMR collections matching --keyword: short name, version, CMR provider, concept id.

    Search a listed collection with `harvest --provider cmr --collection <concept id>` (or
    --product-type <short name>); the Python API also takes short_name=..., version=...,
    provider_id=... and collection_concept_id=....
    """
    source: Any = obj.services().connect("cmr")
    hits, found = source.catalogue.search(keyword, limit=limit, provider_id=provider_id)
    rows = [{"short_name": c.short_name, "version": c.version, "provider_id": c.provider_id,
             "concept_id": c.concept_id, "cloud_hosted": c.cloud_hosted, "title": c.title} for c in found]  # fmt: skip
    if as_json:
        echo_json({"hits": hits, "collections": rows})
        return
    if not rows:
        raise InputError(f"no CMR collection matches {keyword!r}", hint="try fewer or other words, or no --provider-id")
    widths = {k: max(len(k), *(len(str(r[k])) for r in rows)) for k in ("short_name", "version", "provider_id", "concept_id")}
    header = "  ".join(k.upper().replace("_", " ").ljust(widths[k]) for k in widths) + "  TITLE"
    click.echo(header)
    for row in rows:
        click.echo("  ".join(str(row[k]).ljust(widths[k]) for k in widths) + f"  {row['title'][:70]}")
    if hits is not None and hits > len(rows):
        click.echo(f"showing {len(rows)} of {hits} collections; narrow --keyword or raise --limit", err=True)
