"""`eoharvest watch`: saved searches that the daemon keeps fresh (add, edit, list, show,
enable, disable, remove, run)."""

from __future__ import annotations

from typing import Any, Callable

import click

from eoharvest.application.sync import load_saved_searches
from eoharvest.domain.errors import EoharvestError, InputError
from eoharvest.domain.watch import DEFAULT_OVERLAP, SavedSearch, check_search_name, format_interval
from eoharvest.entrypoints.cli_common import echo_json
from eoharvest.entrypoints.cli_report import print_report
from eoharvest.entrypoints.context import AppContext
from eoharvest.entrypoints.search_options import search_definition_options
from eoharvest.entrypoints.sync_wiring import sync_service
from eoharvest.entrypoints.watch_spec import CLEARABLE, definition_from_options, describe, harvest_command


@click.group()
def watch() -> None:
    """Saved searches kept fresh by `eoharvest daemon` (or run by hand with `watch run`)."""


def _schedule_options(*, defaults: bool) -> Callable[[Any], Any]:
    """The saved search's own options: schedule, overlap, downloads; without ``defaults``
    (`watch edit`) an option not given leaves the stored value alone."""
    decorators = [
        click.option("--since", default=None, help="Same as --start (never search before this UTC date)."),
        click.option("--every", default="1h" if defaults else None, show_default=defaults,
                     help="Interval: 30m, 1h, 6h, 1d ..."),
        click.option("--download/--no-download", default=True if defaults else None, show_default=defaults,
                     help="Download what the archive lacks, or only catalog."),
        click.option("--order/--no-order", default=True if defaults else None, show_default=defaults,
                     help="Order products the provider must prepare first, or place no new orders."),
        click.option("--overlap", default=format_interval(DEFAULT_OVERLAP) if defaults else None, show_default=defaults,
                     help="How far behind the watermark each pass searches again (late-indexed and re-published scenes)."),
        click.option("--fix-geometry", is_flag=True, help="Repair a self-intersecting AOI instead of failing."),
    ]  # fmt: skip

    def apply(func: Any) -> Any:
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return apply


@watch.command("add")
@click.argument("name")
@search_definition_options()
@_schedule_options(defaults=True)
@click.pass_obj
def add(obj: AppContext, name: str, **opts: Any) -> None:
    """Save (or replace) search NAME. It takes every search option of `eoharvest harvest`
    (endpoint included) and keeps it; everything is validated now, not at the first pass.
    Replacing a search with one that searches something else starts it again from its start."""
    services = obj.services()
    check_search_name(name)
    definition, warnings = definition_from_options(opts, vector_reader=services.vector_reader)
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    catalog = services.catalog()
    replaced = load_saved_searches(catalog).get(name)
    catalog.save_search(name, definition.to_json())
    if replaced is not None:
        _restart_if_scope_changed(catalog, replaced, definition)
    click.echo(f"saved search {name!r}: {describe(definition)}", err=True)


def _restart_if_scope_changed(catalog: Any, saved: SavedSearch, definition: Any) -> None:
    """A watermark only means something for the search that set it: when what is searched
    changes, the next pass starts again from the search's start."""
    if definition.search_scope() != saved.definition.search_scope() and saved.state.watermark is not None:
        catalog.put_search_state(saved.name, saved.state.restarted())
        click.echo(f"what {saved.name!r} searches changed: its next pass starts again from its start", err=True)


@watch.command("edit")
@click.argument("name")
@search_definition_options(defaults=False)
@_schedule_options(defaults=False)
@click.option("--clear", "clear", multiple=True, type=click.Choice(sorted(CLEARABLE)),
              help="Remove a stored value (repeatable), e.g. --clear cloud-max.")
@click.pass_obj
def edit(obj: AppContext, name: str, **opts: Any) -> None:
    """Change the options given (the others stay). A change of what is searched (provider,
    endpoint, platforms, AOI, dates, clouds, product type, collections, search options) starts
    the search again from its start; the schedule, downloads and overlap keep the watermark."""
    services = obj.services()
    catalog = services.catalog()
    saved = _find_in(catalog, name)
    definition, warnings = definition_from_options(opts, vector_reader=services.vector_reader, base=saved.definition)
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    catalog.save_search(name, definition.to_json(), enabled=saved.enabled)
    _restart_if_scope_changed(catalog, saved, definition)
    click.echo(f"saved search {name!r}: {describe(definition)}", err=True)


@watch.command("disable")
@click.argument("name")
@click.pass_obj
def disable(obj: AppContext, name: str) -> None:
    """Stop scheduling search NAME (its state is kept; `watch enable` resumes it)."""
    catalog = obj.services().catalog()
    if not catalog.set_search_enabled(name, False):
        raise InputError(f"no saved search named {name!r}", hint="see `eoharvest watch list`")
    click.echo(f"disabled saved search {name!r}", err=True)


@watch.command("enable")
@click.argument("name")
@click.pass_obj
def enable(obj: AppContext, name: str) -> None:
    """Schedule search NAME again, clearing a pause (after a permanent error) and its backoff."""
    saved = sync_service(obj.services()).enable(name)
    click.echo(f"enabled saved search {name!r}; next pass at the daemon's next refresh", err=True)
    if saved.state.last_error:
        click.echo(f"(its last error was: {saved.state.last_error})", err=True)


@watch.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def list_cmd(obj: AppContext, as_json: bool) -> None:
    """Saved searches with their interval, last and next run, failures, and whether they are
    disabled or paused."""
    searches = load_saved_searches(obj.services().catalog(read_only=True))
    if as_json:
        echo_json([_summary(s) for s in searches.values()])
        return
    if not searches:
        click.echo("no saved searches (add one with `eoharvest watch add`)", err=True)
    for s in searches.values():
        row = _summary(s)
        click.echo(f"{s.name}\t{row['provider']}\tevery {row['every']}\tlast {row['last_run_at'] or '-'}"
                   f"\tnext {row['next_run_at'] or 'at daemon start'}\tfailures {row['failures']}"
                   + ("\tdisabled" if not s.enabled else "") + (f"\tpaused: {s.state.paused}" if s.state.paused else ""))  # fmt: skip


@watch.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Definition (AOI as GeoJSON), command and state as JSON.")
@click.pass_obj
def show(obj: AppContext, name: str, as_json: bool) -> None:
    """Search NAME as the equivalent `eoharvest harvest` command (its first pass; later passes
    search the window after the watermark), then its state."""
    detail = _detail(_find(obj, name))
    if as_json:
        echo_json(detail)
        return
    click.echo(detail["harvest_command"])
    for key in ("every", "overlap", "enabled", "paused", "watermark", "watermark_kind", "last_run_at",
                "next_run_at", "failures", "last_error", "last_found", "last_new", "last_downloaded", "last_queued"):
        click.echo(f"# {key}: {detail[key] if detail[key] is not None else '-'}")


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
    """Run one incremental pass of NAME now: ignores backoff, lifts a pause (a pass that succeeds
    clears it), and runs a disabled search too (it stays disabled)."""
    outcome = sync_service(obj.services()).run_now(name)
    if outcome.result is not None:
        print_report(outcome.result.report, obj.settings.download.directory, as_json=as_json,
                     catalog=str(obj.settings.catalog_path), title=f"eoharvest watch run {name}")  # fmt: skip
    if outcome.status not in ("ok",):
        click.echo(f"eoharvest: pass {outcome.status}: {outcome.detail}", err=True)
        errors = outcome.result.failed_errors if outcome.result else ()
        first = outcome.error or (errors[0] if errors else None)
        code = first.exit_code if isinstance(first, EoharvestError) else (3 if outcome.status == "paused" else 1)
        raise click.exceptions.Exit(130 if outcome.status == "cancelled" else code)


def _find(obj: AppContext, name: str) -> SavedSearch:
    return _find_in(obj.services().catalog(read_only=True), name)


def _find_in(catalog: Any, name: str) -> SavedSearch:
    saved = load_saved_searches(catalog).get(name)
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
        "enabled": s.enabled,
        "failures": s.state.failures,
        "last_error": s.state.last_error,
        "paused": s.state.paused,
    }


def _detail(s: SavedSearch) -> dict[str, Any]:
    state = s.state
    return {
        **_summary(s),
        "definition": s.definition.to_json(),
        "harvest_command": harvest_command(s.definition),
        "overlap": format_interval(s.definition.overlap),
        "watermark": _iso(state.watermark),
        "watermark_kind": state.watermark_kind,
        "last_found": state.last_found,
        "last_new": state.last_new,
        "last_downloaded": state.last_downloaded,
        "last_queued": state.last_queued,
    }
