"""`eoharvest download`: fetch catalogued scenes (by id or by a catalog query), verified and
dedup-aware. Search and download in one go is `eoharvest harvest`."""

from __future__ import annotations

from typing import Any

import click

from eoharvest.application.asset_check import check_asset_names
from eoharvest.application.downloading import download_all
from eoharvest.application.harvest import HarvestReport
from eoharvest.domain.aoi import parse_aoi
from eoharvest.domain.catalog_query import CatalogFilter
from eoharvest.domain.errors import DownloadCancelled, InputError
from eoharvest.domain.models import Scene
from eoharvest.domain.ports import CatalogRepository
from eoharvest.entrypoints.cli_common import aoi_argument, asset_list, provider_option, writable_outdir
from eoharvest.entrypoints.cli_report import exit_for_failures, exit_if_stopped, print_report
from eoharvest.entrypoints.context import AppContext
from eoharvest.entrypoints.graceful import graceful_stop
from eoharvest.entrypoints.progress import ProgressBars


@click.command()
@click.option("--id", "ids", multiple=True,
              help="Scene id or product key as shown by `catalog query` (repeatable); needs --provider.")
@provider_option(default=None, help_prefix="Provider of --id scenes, or a filter on the query", searchable=False)
@click.option("--aoi", default=None, help="Only scenes intersecting this AOI (any AOI form).")
@click.option("--start", default=None, help="Acquired on or after this date (UTC).")
@click.option("--end", default=None, help="Acquired on or before this date (UTC).")
@click.option("--cloud-max", type=float, default=None, help="Maximum cloud cover percentage.")
@click.option("--platform", "platforms", multiple=True, help="Platform (repeatable).")
@click.option("--state", "states", multiple=True, help="Download state (repeatable), e.g. none, failed.")
@click.option("--where", default=None, help="Filter expression, e.g. \"cloud < 20 AND platform = 'Sentinel-2'\".")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many scenes.")
@click.option("--assets", default=None,
              help="Comma-separated assets (default: all data assets); checked against the selected scenes first.")
@click.option("--outdir", type=click.Path(file_okay=False), default=None, help="Archive directory.")
@click.option("--overwrite", is_flag=True, help="Download again even if the archive has the product.")
@click.option("--workers", type=click.IntRange(1, 32), default=None,
              help="Parallel downloads (default: [download] max_workers, 4).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_obj
def download_command(obj: AppContext, **opts: Any) -> None:
    """Download catalogued scenes that are not yet in the archive.

    Select them by id (`--provider copernicus --id S2A_...`) or with the same filters as
    `eoharvest catalog query`. Each product is verified (size, provider checksum, archive
    structure) before it appears at its final path; products already verified anywhere in the
    archive are skipped.

    SIGTERM or SIGINT stops it gracefully: running transfers keep their partial files (the next
    run resumes them), the summary is printed, and the exit code is 143 or 130.
    """
    services = obj.services()
    catalog: CatalogRepository = services.catalog()
    outdir = writable_outdir(opts["outdir"], obj.settings.download.directory)  # once, up front
    scenes = _select(obj, catalog, opts)
    extra: dict[str, Any] = services.download_limits(opts["workers"]).as_params()
    if opts["assets"]:
        extra["assets"] = asset_list(opts["assets"])
        by_provider: dict[str, list[Scene]] = {}
        for scene in scenes:
            by_provider.setdefault(scene.provider, []).append(scene)
        for provider, group in by_provider.items():  # before any download
            check_asset_names(services.source_for(provider), extra["assets"], group)
    bars = ProgressBars(enabled=None if not opts["as_json"] else False)
    downloads = services.scene_downloads(progress=bars)
    bound = [
        scene.bind_downloader(services.downloader_factory(services.source_for(scene.provider), downloads))
        for scene in scenes
    ]
    report = HarvestReport(found=len(bound))
    started = services.clock.monotonic()
    summary: Any = None
    with bars, graceful_stop() as stop:
        if bound:
            try:
                summary = download_all(
                    bound, str(outdir), overwrite=opts["overwrite"], skip_error=True, clock=services.clock,
                    cancel_requested=stop, **extra,
                )
            except DownloadCancelled as exc:
                if not stop():
                    raise
                summary = getattr(exc, "summary", None)
    if summary is not None:
        report.results, report.failures = list(summary.results), list(summary.failures)
        report.pending = list(summary.pending)
    report.already_had = sum(1 for r in report.results if r.skipped)
    report.downloaded = len(report.results) - report.already_had
    report.failed = len(report.failures)
    report.seconds = services.clock.monotonic() - started
    print_report(report, outdir, as_json=opts["as_json"], catalog=str(obj.settings.catalog_path), title="eoharvest download")
    exit_if_stopped(stop)
    exit_for_failures(report)


def _select(obj: AppContext, catalog: CatalogRepository, opts: dict[str, Any]) -> list[Scene]:
    if opts["ids"]:
        if not opts["provider"]:
            raise InputError("--id needs --provider", hint="scene ids are unique per provider; see `eoharvest catalog query`")
        scenes = []
        for scene_id in opts["ids"]:
            scene = catalog.get_scene(opts["provider"], scene_id) or _by_product_key(catalog, opts["provider"], scene_id)
            if scene is None:
                raise InputError(
                    f"scene {scene_id!r} of {opts['provider']!r} is not in the catalog",
                    hint="search for it first with `eoharvest harvest --no-download`",
                )
            scenes.append(scene)
        return scenes
    return _query(obj, catalog, opts)


def _by_product_key(catalog: CatalogRepository, provider: str, key: str) -> Scene | None:
    """The provider's scene of product ``key`` (what `catalog query` shows), if catalogued."""
    criteria = CatalogFilter.create(providers=[provider], where=f"product_key = {_quoted(key)}", limit=1)
    records = catalog.query(criteria)
    return records[0].scene if records else None


def _quoted(value: str) -> str:
    # The --where parser binds the value; only its own quoting needs escaping here.
    return "'" + value.replace("'", "''") + "'"


def _query(obj: AppContext, catalog: CatalogRepository, opts: dict[str, Any]) -> list[Scene]:
    aoi = None
    if opts["aoi"]:
        aoi = parse_aoi(aoi_argument(opts["aoi"]), reader=obj.services().vector_reader).footprint
    criteria = CatalogFilter.create(
        aoi=aoi, start=opts["start"], end=opts["end"], cloud_max=opts["cloud_max"],
        platforms=opts["platforms"], providers=[opts["provider"]] if opts["provider"] else (),
        states=opts["states"], where=opts["where"], limit=opts["limit"],
    )
    return [record.scene for record in catalog.query(criteria)]
