"""`eoharvest watch`: saved searches that the daemon keeps fresh (add, list, show, remove, run)."""

from __future__ import annotations

from typing import Any

import click

from eoharvest.adapters.providers.table import spec_for
from eoharvest.application.sync import load_saved_searches
from eoharvest.domain.aoi import parse_aoi
from eoharvest.domain.errors import EoharvestError, InputError
from eoharvest.domain.platforms import canonical_platforms
from eoharvest.domain.query import parse_cloud, parse_datetime
from eoharvest.domain.watch import (
    DEFAULT_OVERLAP,
    SavedSearch,
    WatchDefinition,
    check_search_name,
    format_interval,
    parse_interval,
)
from eoharvest.entrypoints.cli_common import aoi_argument, echo_json, provider_option
from eoharvest.entrypoints.cli_report import print_report
from eoharvest.entrypoints.context import AppContext
from eoharvest.entrypoints.sync_wiring import sync_service


@click.group()
def watch() -> None:
    """Saved searches kept fresh by `eoharvest daemon` (or run by hand with `watch run`)."""


@watch.command("add")
@click.argument("name")
@provider_option()
@click.option("--platform", "-p", "platforms", multiple=True, default=("Sentinel-2",), show_default=True,
              help="Platform name or alias (repeatable).")
@click.option("--aoi", required=True, help="WKT, GeoJSON, 'west,south,east,north', or a vector file path.")
@click.option("--cloud-max", default=None, help="Maximum cloud cover percentage.")
@click.option("--every", default="1h", show_default=True, help="Interval: 30m, 1h, 6h, 1d ...")
@click.option("--download/--no-download", default=True, show_default=True)
@click.option("--assets", default=None, help="Comma-separated assets to download (default: all data assets).")
@click.option("--since", default=None, help="Never search before this date (UTC), e.g. 2024-01-01.")
@click.option("--overlap", default=format_interval(DEFAULT_OVERLAP), show_default=True,
              help="How far behind the watermark each pass searches again (re-published scenes).")
@click.option("--fix-geometry", is_flag=True, help="Repair a self-intersecting AOI instead of failing.")
@click.pass_obj
def add(obj: AppContext, name: str, **opts: Any) -> None:
    """Save (or replace) search NAME; everything is validated now, not at the first pass."""
    services = obj.services()
    check_search_name(name)
    parsed = parse_aoi(aoi_argument(opts["aoi"]), reader=services.vector_reader, fix=opts["fix_geometry"])
    for warning in parsed.warnings:
        click.echo(f"warning: {warning}", err=True)
    assets = tuple(a.strip() for a in opts["assets"].split(",") if a.strip()) if opts["assets"] else None
    definition = WatchDefinition(
        provider=opts["provider"],
        platforms=_platforms(services, opts["provider"], opts["platforms"]),
        aoi=parsed.footprint.geojson,
        every=parse_interval(opts["every"]),
        cloud_max=parse_cloud(opts["cloud_max"], name="--cloud-max"),
        download=opts["download"],
        assets=assets,
        since=parse_datetime(opts["since"], name="--since"),
        overlap=parse_interval(opts["overlap"]),
    )
    services.catalog().save_search(name, definition.to_json())
    click.echo(f"saved search {name!r}: {definition.provider} {', '.join(definition.platforms)} "
               f"every {format_interval(definition.every)}", err=True)  # fmt: skip


def _platforms(services: Any, provider: str, names: tuple[str, ...]) -> tuple[str, ...]:
    # From the provider table: connecting would look up credentials, which saving does not need.
    return canonical_platforms(list(names), spec_for(provider).platforms or None)


@watch.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def list_cmd(obj: AppContext, as_json: bool) -> None:
    """Saved searches with their interval, last and next run, and failures."""
    searches = load_saved_searches(obj.services().catalog(read_only=True))
    if as_json:
        echo_json([_summary(s) for s in searches.values()])
        return
    if not searches:
        click.echo("no saved searches (add one with `eoharvest watch add`)", err=True)
    for s in searches.values():
        row = _summary(s)
        click.echo(f"{s.name}\t{row['provider']}\tevery {row['every']}\tlast {row['last_run_at'] or '-'}"
                   f"\tnext {row['next_run_at'] or 'at daemon start'}\tfailures {row['failures']}")  # fmt: skip


@watch.command("show")
@click.argument("name")
@click.pass_obj
def show(obj: AppContext, name: str) -> None:
    """The definition (JSON, AOI as GeoJSON) and sync state of search NAME."""
    echo_json(_detail(_find(obj, name)))


@watch.command("remove")
@click.argument("name")
@click.pass_obj
def remove(obj: AppContext, name: str) -> None:
    """Forget search NAME (scenes and files already catalogued stay)."""
    if not obj.services().catalog().remove_search(name):
        raise InputError(f"no saved search named {name!r}", hint="see `eoharvest watch list`")
    click.echo(f"removed saved search {name!r}", err=True)


@watch.command("run")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_obj
def run(obj: AppContext, name: str, as_json: bool) -> None:
    """Run one incremental pass of NAME now (ignores backoff; lifts an authentication pause)."""
    outcome = sync_service(obj.services()).run_now(name)
    if outcome.result is not None:
        print_report(outcome.result.report, obj.settings.download.directory, as_json=as_json,
                     catalog=str(obj.settings.catalog_path), title=f"eoharvest watch run {name}")  # fmt: skip
    if outcome.status not in ("ok",):
        click.echo(f"eoharvest: pass {outcome.status}: {outcome.detail}", err=True)
        errors = outcome.result.failed_errors if outcome.result else ()
        first = errors[0] if errors else None
        code = first.exit_code if isinstance(first, EoharvestError) else (3 if outcome.status == "paused" else 1)
        raise click.exceptions.Exit(130 if outcome.status == "cancelled" else code)


def _find(obj: AppContext, name: str) -> SavedSearch:
    saved = load_saved_searches(obj.services().catalog(read_only=True)).get(name)
    if saved is None:
        raise InputError(f"no saved search named {name!r}", hint="see `eoharvest watch list`")
    return saved


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _summary(s: SavedSearch) -> dict[str, Any]:
    return {
        "name": s.name,
        "provider": s.definition.provider,
        "every": format_interval(s.definition.every),
        "last_run_at": _iso(s.state.last_run_at),
        "next_run_at": _iso(s.state.next_run_at),
        "failures": s.state.failures,
        "last_error": s.state.last_error,
        "paused": s.state.paused,
    }


def _detail(s: SavedSearch) -> dict[str, Any]:
    state = s.state
    return {
        **_summary(s),
        "definition": s.definition.to_json(),
        "watermark": _iso(state.watermark),
        "last_found": state.last_found,
        "last_new": state.last_new,
        "last_downloaded": state.last_downloaded,
    }
