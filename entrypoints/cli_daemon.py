"""`eoharvest daemon` (run the scheduler) and `eoharvest daemon status`.

Exit codes: 0 after a clean stop (SIGTERM/SIGINT), 9 when another daemon already serves a
SpatiaLite catalog (``DaemonAlreadyRunning``, a ``CatalogBusy``; a PostgreSQL catalog takes any
number of daemons), otherwise the CLI's usual codes.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from contextlib import nullcontext
from datetime import datetime, time, timezone
from typing import Any

import click

from eoharvest.application.sync import load_saved_searches
from eoharvest.application.sync_service import ProviderGate
from eoharvest.domain.catalog_location import CatalogUrl
from eoharvest.domain.catalog_query import CatalogFilter
from eoharvest.domain.footprint import Footprint
from eoharvest.domain.jobs import DaemonRecord
from eoharvest.domain.ports import CatalogRepository
from eoharvest.domain.watch import SavedSearch, format_interval
from eoharvest.entrypoints.cli_common import echo_json
from eoharvest.entrypoints.context import AppContext
from eoharvest.entrypoints.daemon import SyncDaemon, install_stop_signals
from eoharvest.entrypoints.daemon_lock import daemon_holder, daemon_lock_for
from eoharvest.entrypoints.daemon_queue import QueueSettings, SharedDaemon
from eoharvest.entrypoints.sync_wiring import sync_service

log = logging.getLogger("eoharvest.daemon")


@click.group(invoke_without_command=True)
@click.option("--refresh", type=click.FloatRange(0.1, 3600), default=30.0, show_default=True,
              help="Seconds between re-reading the saved searches from the catalog.")
@click.option("--stop-timeout", type=click.FloatRange(0.5, 300), default=8.0, show_default=True,
              help="Seconds in-flight passes get to stop after SIGTERM/SIGINT.")
@click.option("--parallel", type=click.IntRange(1, 16), default=2, show_default=True,
              help="Saved searches that may run at the same time.")
@click.option("--workers", type=click.IntRange(1, 64), default=None,
              help="PostgreSQL catalog: download workers of this daemon claiming queued files "
                   "[default: [download] max_workers].")
@click.option("--lease-seconds", type=click.FloatRange(1, 3600), default=60.0, show_default=True,
              help="PostgreSQL catalog: how long a claimed download stays this daemon's without a "
                   "heartbeat; a crashed daemon's downloads return to the queue after it.")
@click.option("--heartbeat", type=click.FloatRange(0.1, 600), default=None,
              help="Seconds between heartbeats (registry row and lease renewal) [default: a sixth "
                   "of --lease-seconds, at most 10].")
@click.option("--order-poll-every", type=click.FloatRange(0, 3600), default=10.0, show_default=True,
              help="Seconds from this daemon's poll of an order to the order's next due time: no "
                   "daemon or process asks the provider about it before then (polls are claimed "
                   "under a lease in the catalog).")
@click.pass_context
def daemon(ctx: click.Context, refresh: float, stop_timeout: float, parallel: int, workers: int | None,
           lease_seconds: float, heartbeat: float | None, order_poll_every: float) -> None:
    """Keep every saved search (`eoharvest watch`) fresh: run each on its interval until stopped.

    Each pass also follows its provider's open orders: pending orders are polled, products
    waiting to come online are re-checked, and what is ready is downloaded. On a SpatiaLite
    catalog one daemon serves it (a lock on <catalog>.daemon.lock) and downloads inside its
    passes. On a PostgreSQL catalog any number of daemons, on any machines mounting the same
    download folder, share it: each pass of a saved search runs once per due time, passes queue
    their downloads in the catalog, and every daemon's --workers claim and fetch them (see
    docs/daemon.md). SIGTERM or SIGINT stops it within --stop-timeout seconds, leaving partial
    downloads to be resumed.
    """
    if ctx.invoked_subcommand is not None:
        return
    obj: AppContext = ctx.obj
    location = obj.settings.catalog_path
    shared = isinstance(location, CatalogUrl)
    # Signals first: a SIGTERM while the catalog opens or migrates must still end in exit 0.
    stop_requested = threading.Event()
    install_stop_signals(stop_requested.set)
    # Several daemons share a PostgreSQL catalog; a SpatiaLite file has one.
    with nullcontext() if isinstance(location, CatalogUrl) else daemon_lock_for(location):
        services = obj.services()
        services.catalog()
        services.order_book().poll_every = order_poll_every
        if stop_requested.is_set():
            click.echo("eoharvest daemon: stopped before it started", err=True)
            return
        settings = QueueSettings(
            workers=workers or services.download_limits().max_workers, lease_seconds=lease_seconds,
            heartbeat=heartbeat or min(10.0, lease_seconds / 6), poll_seconds=min(1.0, lease_seconds / 4),
        )  # fmt: skip
        companion = SharedDaemon(services, settings, queued_downloads=shared)
        runner = SyncDaemon(sync_service(services, gate=ProviderGate(), fetcher=companion.fetcher),
                            max_parallel_passes=parallel, refresh_seconds=refresh, companion=companion)  # fmt: skip
        install_stop_signals(runner.request_stop)
        if stop_requested.is_set():
            runner.request_stop()
        runner.start()
        click.echo(f"eoharvest daemon: serving {location} as {companion.identity.owner}", err=True)
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
    """Every daemon serving the catalog (owner host:pid:start, version, heartbeat age, download
    jobs it has claimed; `stale` when its heartbeat stopped: crashed, hung or cut off), the
    download queue per state; per search: last/next run, failures, last error, whether it is
    disabled or paused (and why), queue depth, and which process runs a pass of it now; bytes
    downloaded today (UTC); orders per state."""
    catalog: CatalogRepository = obj.services().catalog(read_only=True)
    now = datetime.now(timezone.utc)
    today = datetime.combine(now.date(), time.min, tzinfo=timezone.utc)
    daemons = [_daemon_row(record, now) for record in daemon_records(catalog)]
    running = [d for d in daemons if d["status"] == "running"]
    location = obj.settings.catalog_path
    pid = None if isinstance(location, CatalogUrl) else daemon_holder(location)
    report: dict[str, Any] = {
        "daemon_running": pid is not None or bool(running),
        "daemon_pid": pid if pid is not None else (str(running[0]["pid"]) if running else None),
        "daemons": daemons,
        "download_jobs": job_counts(catalog),
        "bytes_downloaded_today": catalog.verified_bytes_since(today),
        "orders": catalog.order_counts(),
        "searches": [_row(catalog, s) for s in load_saved_searches(catalog).values()],
    }
    if as_json:
        echo_json(report)
        return
    if not daemons:
        click.echo(f"daemon: {'running (pid ' + str(pid) + ')' if pid else 'not running'}")
    for d in daemons:
        click.echo(f"daemon {d['owner']}: {d['status'].upper() if d['status'] == 'stale' else d['status']}, "
                   f"heartbeat {d['heartbeat_age_seconds']:.0f}s ago, {d['claimed_jobs']} job(s) claimed, "
                   f"version {d['version']}, started {d['started_at']}")  # fmt: skip
    jobs = ", ".join(f"{state} {n}" for state, n in sorted(report["download_jobs"].items()) if n)
    if jobs:
        click.echo(f"download queue: {jobs}")
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


def daemon_records(catalog: CatalogRepository) -> list[DaemonRecord]:
    """The catalog's daemon registry (revision 0009), newest first."""
    from eoharvest.adapters.catalog.daemon_registry import CatalogDaemonRegistry

    return CatalogDaemonRegistry(catalog).daemons()  # type: ignore[arg-type]


def job_counts(catalog: CatalogRepository) -> dict[str, int]:
    from eoharvest.adapters.catalog.job_queue import CatalogJobQueue

    return CatalogJobQueue(catalog).counts()  # type: ignore[arg-type]


def _daemon_row(record: DaemonRecord, now: datetime) -> dict[str, Any]:
    return {
        "owner": record.owner,
        "host": record.host,
        "pid": record.pid,
        "version": record.version,
        "status": record.status(now),
        "started_at": record.started_at.isoformat(timespec="seconds"),
        "heartbeat_at": record.heartbeat_at.isoformat(timespec="seconds"),
        "heartbeat_age_seconds": round(record.heartbeat_age(now), 1),
        "stopped_at": record.stopped_at.isoformat(timespec="seconds") if record.stopped_at else None,
        "claimed_jobs": record.claimed_jobs,
    }


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
