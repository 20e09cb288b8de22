"""`eoharvest daemon` (run the scheduler) and `eoharvest daemon status`.

Exit codes: 0 after a clean stop (SIGTERM/SIGINT), 9 when another daemon already serves the
catalog (``DaemonAlreadyRunning``, a ``CatalogBusy``), otherwise the CLI's usual codes.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from datetime import datetime, time, timezone
from typing import Any

import click

from eoharvest.application.sync import load_saved_searches
from eoharvest.application.sync_service import ProviderGate
from eoharvest.domain.catalog_query import CatalogFilter
from eoharvest.domain.footprint import Footprint
from eoharvest.domain.ports import CatalogRepository
from eoharvest.domain.watch import SavedSearch, format_interval
from eoharvest.entrypoints.cli_common import echo_json
from eoharvest.entrypoints.context import AppContext
from eoharvest.entrypoints.daemon import SyncDaemon, install_stop_signals
from eoharvest.entrypoints.daemon_lock import daemon_holder, daemon_lock_for
from eoharvest.entrypoints.sync_wiring import sync_service

log = logging.getLogger("eoharvest.daemon")


@click.group(invoke_without_command=True)
@click.option("--refresh", type=click.FloatRange(0.1, 3600), default=30.0, show_default=True,
              help="Seconds between re-reading the saved searches from the catalog.")
@click.option("--stop-timeout", type=click.FloatRange(0.5, 300), default=8.0, show_default=True,
              help="Seconds in-flight passes get to stop after SIGTERM/SIGINT.")
@click.option("--parallel", type=click.IntRange(1, 16), default=2, show_default=True,
              help="Saved searches that may run at the same time.")
@click.pass_context
def daemon(ctx: click.Context, refresh: float, stop_timeout: float, parallel: int) -> None:
    """Keep every saved search (`eoharvest watch`) fresh: run each on its interval until stopped.

    Each pass also follows its provider's open orders: pending orders are polled, products
    waiting to come online are re-checked, and what is ready is downloaded. One daemon per
    catalog (a lock on <catalog>.daemon.lock; on PostgreSQL an advisory lock in the server);
    SIGTERM or SIGINT stops it within --stop-timeout seconds, leaving partial downloads to be
    resumed by the next pass.
    """
    if ctx.invoked_subcommand is not None:
        return
    obj: AppContext = ctx.obj
    # Signals first: a SIGTERM while the catalog opens or migrates must still end in exit 0.
    stop_requested = threading.Event()
    install_stop_signals(stop_requested.set)
    with daemon_lock_for(obj.settings.catalog_path):
        services = obj.services()
        services.catalog()
        if stop_requested.is_set():
            click.echo("eoharvest daemon: stopped before it started", err=True)
            return
        runner = SyncDaemon(sync_service(services, gate=ProviderGate()), max_parallel_passes=parallel,
                            refresh_seconds=refresh)  # fmt: skip
        install_stop_signals(runner.request_stop)
        if stop_requested.is_set():
            runner.request_stop()
        runner.start()
        click.echo(f"eoharvest daemon: serving {obj.settings.catalog_path} (pid {os.getpid()})", err=True)
        runner.wait_until_stopped()
        if not runner.shutdown(timeout=stop_timeout):
            # A pass stuck in a network read would keep the interpreter from exiting; its
            # partial files are already safe on disk, so leave without waiting for it.
            log.error("passes still running after %ss; exiting anyway", stop_timeout)
            logging.shutdown()
            sys.stderr.flush()
            os._exit(0)
    click.echo("eoharvest daemon: stopped", err=True)


@daemon.command("status")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def status(obj: AppContext, as_json: bool) -> None:
    """Per search: last/next run, failures, last error, whether it is disabled or paused (and
    why), queue depth, and which process runs a pass of it now; bytes downloaded today (UTC); orders per state; and whether a daemon holds
    this catalog's lock."""
    catalog: CatalogRepository = obj.services().catalog(read_only=True)
    today = datetime.combine(datetime.now(timezone.utc).date(), time.min, tzinfo=timezone.utc)
    pid = daemon_holder(obj.settings.catalog_path)
    report: dict[str, Any] = {
        "daemon_running": pid is not None,
        "daemon_pid": pid,
        "bytes_downloaded_today": catalog.verified_bytes_since(today),
        "orders": catalog.order_counts(),
        "searches": [_row(catalog, s) for s in load_saved_searches(catalog).values()],
    }
    if as_json:
        echo_json(report)
        return
    click.echo(f"daemon: {'running (pid ' + str(pid) + ')' if pid else 'not running'}")
    click.echo(f"downloaded today: {report['bytes_downloaded_today']:,} bytes")
    counts = ", ".join(f"{state} {n}" for state, n in report["orders"].items() if n)
    click.echo(f"orders: {counts or 'none'} (details: eoharvest orders list)")
    for row in report["searches"]:
        click.echo(f"{row['name']}: every {row['every']}, last {row['last_run_at'] or '-'}, "
                   f"next {row['next_run_at'] or 'at daemon start'}, failures {row['failures']}, "
                   f"queue {row['queue_depth']}" + (f", running in {row['running_in']}" if row["running_in"] else "")
                   + ("" if row["enabled"] else ", disabled (eoharvest watch enable)")
                   + (f", PAUSED: {row['paused']}" if row["paused"] else "")
                   + (f", last error: {row['last_error']}" if row["last_error"] and not row["paused"] else ""))  # fmt: skip


def queue_depth(catalog: CatalogRepository, saved: SavedSearch) -> int:
    """Scenes of this search in the catalog that are not available yet (0 for catalog-only)."""
    d = saved.definition
    if not d.download:
        return 0
    criteria = CatalogFilter.create(aoi=Footprint.from_geojson(dict(d.aoi)), providers=[d.provider],
                                    platforms=d.platforms, cloud_min=d.cloud_min, cloud_max=d.cloud_max,
                                    start=d.since, end=d.end)  # fmt: skip
    return sum(1 for record in catalog.query(criteria) if record.download_state != "available")


def _row(catalog: CatalogRepository, saved: SavedSearch) -> dict[str, Any]:
    state = saved.state

    def iso(value: datetime | None) -> str | None:
        return value.isoformat() if value else None

    lease = catalog.search_lease(saved.name)
    running = lease.owner if lease is not None and lease.expires_at > datetime.now(timezone.utc) else None

    return {
        "name": saved.name,
        "provider": saved.definition.provider,
        "every": format_interval(saved.definition.every),
        "enabled": saved.enabled,
        "last_run_at": iso(state.last_run_at),
        "next_run_at": iso(state.next_run_at),
        "watermark": iso(state.watermark),
        "watermark_kind": state.watermark_kind,
        "failures": state.failures,
        "last_error": state.last_error,
        "paused": state.paused,
        "queue_depth": queue_depth(catalog, saved),
        "running_in": running,  # the holder of the search's lease while a pass runs
    }
