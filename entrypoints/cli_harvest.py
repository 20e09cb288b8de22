"""`eoharvest harvest`: search -> catalog -> verified download, with a summary table."""

from __future__ import annotations

import gc
import itertools
from pathlib import Path
from typing import Any

import click

from eoharvest.adapters.providers.table import PROVIDERS, spec_for
from eoharvest.application.asset_check import check_asset_names, check_asset_support
from eoharvest.application.harvest import HarvestReport, harvest
from eoharvest.domain.aoi import aoi_summary, parse_aoi
from eoharvest.domain.errors import DownloadCancelled, InputError
from eoharvest.domain.ports import OrderingSource
from eoharvest.domain.urls import check_endpoint_url
from eoharvest.entrypoints.cli_common import aoi_argument, asset_list, writable_outdir
from eoharvest.entrypoints.cli_orders import print_preview
from eoharvest.entrypoints.cli_report import exit_for_failures, exit_if_stopped, print_report
from eoharvest.entrypoints.context import AppContext
from eoharvest.entrypoints.graceful import graceful_stop
from eoharvest.entrypoints.progress import ProgressBars
from eoharvest.entrypoints.search_options import parse_search_options, search_definition_options


@click.command()
@search_definition_options()
@click.option("--outdir", type=click.Path(file_okay=False), default=None,
              help="Archive directory (default: the configured download directory).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Stop after this many scenes; no request asks the provider for more than are still wanted.")
@click.option("--download/--no-download", default=True, show_default=True, help="Download, or only catalog.")
@click.option("--order/--no-order", default=True, show_default=True,
              help="Order products the provider must prepare first (Planet, USGS), or place no new orders "
                   "(those products are reported pending; placed orders are still followed).")
@click.option("--activation-timeout", type=click.FloatRange(min=0), default=None,
              help="Seconds to wait for orders to become ready (default 3600); still pending: exit 11.")
@click.option("--dry-run", is_flag=True,
              help="Search, then list what would be ordered (and its size) and downloaded; change nothing.")
@click.option("--overwrite", is_flag=True, help="Download again even if the archive has the product.")
@click.option("--workers", type=click.IntRange(1, 32), default=None,
              help="Parallel downloads (default: [download] max_workers, 4).")
@click.option("--fix-geometry", is_flag=True, help="Repair a self-intersecting AOI instead of failing.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.pass_obj
def harvest_command(obj: AppContext, **opts: Any) -> None:
    """Search, record every result in the catalog, download what the archive does not have yet,
    verify it, and print a summary (found / new / already had / downloaded / failed / pending).

    Products the provider must prepare first are ordered before anything is downloaded, and each
    is downloaded as soon as it is ready; orders not ready by --activation-timeout are kept for
    the next run or the daemon (exit 11). --dry-run shows what would be ordered first.

    SIGTERM or SIGINT stops it gracefully: running transfers keep their partial files (the next
    run resumes them), the summary is printed, and the exit code is 143 or 130.
    """
    services = obj.services()
    parsed = parse_aoi(aoi_argument(opts["aoi"]), reader=services.vector_reader, fix=opts["fix_geometry"])
    provider = opts["provider"]
    spec = spec_for(provider)
    if spec.takes_url and not opts["stac_url"]:
        named = " / ".join(s.name for s in PROVIDERS if s.kind == spec.kind and not s.takes_url)
        raise InputError(f"--provider {provider} needs --stac-url", hint=f"or choose {named}")
    if opts["stac_url"] and spec.kind != "stac":
        raise InputError(f"--stac-url does not apply to --provider {provider}", hint="set EOHARVEST_CDSE_ODATA_URL instead")
    if opts["stac_url"]:
        check_endpoint_url(opts["stac_url"], "--stac-url")
    # Everything the run needs locally is checked before the first request: the catalog opens
    # (or says why not) and the archive folder takes files, once, not once per scene. The AOI
    # was read above: nothing later reads a vector file or reprojects, so GDAL and PROJ stay
    # unloaded, except pyproj for a dry run's geodesic areas (it must load before SpatiaLite).
    if opts["dry_run"]:
        import pyproj  # noqa: F401
    catalog = services.catalog(preload_gdal=False)
    downloading = opts["download"] and not opts["dry_run"]
    outdir = writable_outdir(opts["outdir"], obj.settings.download.directory) if downloading else \
        Path(opts["outdir"] or obj.settings.download.directory)
    source = services.connect(provider, url=opts["stac_url"]) if opts["stac_url"] else services.source_for(provider)
    bars = ProgressBars(enabled=None if not opts["as_json"] else False)
    api = services.sensor_api(source, services.scene_downloads(progress=bars))
    options: dict[str, Any] = {}
    if opts["product_type"]:
        options["product_type"] = opts["product_type"]
    if opts["collections"]:
        options["collections"] = list(opts["collections"])
    if opts["limit"]:
        options["limit"] = opts["limit"]  # the search stops there, asking for no more than that
    options.update(parse_search_options(opts["search_options"]))
    extra: dict[str, Any] = services.download_limits(opts["workers"]).as_params()
    if opts["assets"]:
        extra["assets"] = asset_list(opts["assets"])
        check_asset_support(source, extra["assets"])
    search = api.scenes(
        platformname=list(opts["platforms"]), aoi=parsed.footprint, start_date=opts["start"],
        end_date=opts["end"], cloud_min=opts["cloud_min"], cloud_max=opts["cloud_max"], **options,
    )
    if not opts["as_json"]:
        click.echo(f"searching {source.name} for {', '.join(opts['platforms'])}; {aoi_summary(parsed)}", err=True)
    if opts["dry_run"]:
        ordering = source if isinstance(source, OrderingSource) else None
        book = services.order_book()
        print_preview((book.preview(ordering, s, extra.get("assets"), place=opts["order"], overwrite=opts["overwrite"])
                       for s in itertools.islice(search, opts["limit"])), as_json=opts["as_json"])  # fmt: skip
        return
    extra["order"] = opts["order"]
    if opts["activation_timeout"] is not None:
        extra["activation_timeout"] = opts["activation_timeout"]
    wanted = extra.get("assets") if opts["download"] else None
    gc.freeze()  # what setup built lives until exit; see main() in cli.py
    with bars, graceful_stop() as stop:
        try:
            report = harvest(
                search, catalog, outdir=str(outdir), download=opts["download"], limit=opts["limit"],
                overwrite=opts["overwrite"], clock=services.clock, cancel_requested=stop,
                check_first_page=(lambda page: check_asset_names(source, wanted, page)) if wanted else None,
                **extra,
            )
        except DownloadCancelled as exc:
            if not stop():
                raise
            report = getattr(exc, "report", None) or HarvestReport()
    print_report(report, outdir, as_json=opts["as_json"], catalog=str(obj.settings.catalog_path), title="eoharvest harvest")
    exit_if_stopped(stop)
    exit_for_failures(report)


