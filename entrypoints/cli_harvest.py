"""`eoharvest harvest`: search -> catalog -> verified download, with a summary table."""

from __future__ import annotations

import gc
import itertools
import json
from pathlib import Path
from typing import Any

import click

from eoharvest.adapters.providers.table import PROVIDERS, spec_for
from eoharvest.application.harvest import harvest
from eoharvest.domain.aoi import aoi_summary, parse_aoi
from eoharvest.domain.errors import InputError
from eoharvest.domain.ports import OrderingSource
from eoharvest.entrypoints.cli_common import aoi_argument, provider_option
from eoharvest.entrypoints.cli_orders import print_preview
from eoharvest.entrypoints.cli_report import exit_for_failures, print_report
from eoharvest.entrypoints.context import AppContext
from eoharvest.entrypoints.progress import ProgressBars


def parse_search_options(items: tuple[str, ...]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs; a VALUE that is valid JSON is taken as JSON (numbers, lists,
    objects, true/false), anything else as text."""
    parsed: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InputError(f"--search-option {item!r} is not KEY=VALUE", hint="e.g. --search-option relativeOrbitNumber=65")
        if key in parsed:
            raise InputError(f"--search-option {key} is given twice", hint="give a list as JSON: KEY='[1, 2]'")
        try:
            parsed[key] = json.loads(text)
        except ValueError:
            parsed[key] = text
    return parsed


@click.command()
@provider_option()
@click.option("--stac-url", default=None, help="STAC API root URL (overrides the provider's configured URL).")
@click.option("--platform", "-p", "platforms", multiple=True, default=("Sentinel-2",), show_default=True,
              help="Platform name or alias (repeatable): Sentinel-2, S2, Landsat-8, ...")
@click.option("--aoi", required=True, help="WKT, GeoJSON, 'west,south,east,north', or a vector file path.")
@click.option("--start", default=None, help="Start date (UTC), e.g. 2024-05-11.")
@click.option("--end", default=None, help="End date (UTC, inclusive), e.g. 2024-05-21.")
@click.option("--cloud-min", type=float, default=None, help="Minimum cloud cover percentage.")
@click.option("--cloud-max", type=float, default=None, help="Maximum cloud cover percentage.")
@click.option("--product-type", default=None,
              help="Product type, the same names on every provider (L1C, L2A, GRD, SLC, OCN, L1TP, L2SP, ...; "
                   "comma-separated for several) or the provider's own (S2MSI2A, a STAC collection id, a CMR "
                   "short name such as HLSL30). `eoharvest product-types` lists them.")
@click.option("--collection", "collections", multiple=True,
              help="Search these collections directly: STAC collection ids, or CMR concept ids / short names.")
@click.option("--search-option", "search_options", multiple=True, metavar="KEY=VALUE",
              help="A provider search option (repeatable): e.g. relativeOrbitNumber=65, tileId=17TPJ (copernicus); "
                   "query='{\"eo:cloud_cover\": {\"lt\": 5}}', sortby=-properties.datetime (STAC). VALUE is read "
                   "as JSON when it is JSON, else as text. The README lists each provider's options.")
@click.option("--assets", default=None, help="Comma-separated assets to download (default: all data assets).")
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
    search = api.scenes(
        platformname=list(opts["platforms"]), aoi=parsed.footprint, start_date=opts["start"],
        end_date=opts["end"], cloud_min=opts["cloud_min"], cloud_max=opts["cloud_max"], **options,
    )
    outdir = Path(opts["outdir"] or obj.settings.download.directory)
    if not opts["as_json"]:
        click.echo(f"searching {source.name} for {', '.join(opts['platforms'])}; {aoi_summary(parsed)}", err=True)
    extra: dict[str, Any] = services.download_limits(opts["workers"]).as_params()
    if opts["assets"]:
        extra["assets"] = [a.strip() for a in opts["assets"].split(",") if a.strip()]
    if opts["dry_run"]:
        ordering = source if isinstance(source, OrderingSource) else None
        book = services.order_book()
        print_preview((book.preview(ordering, s, extra.get("assets"), place=opts["order"], overwrite=opts["overwrite"])
                       for s in itertools.islice(search, opts["limit"])), as_json=opts["as_json"])  # fmt: skip
        return
    extra["order"] = opts["order"]
    if opts["activation_timeout"] is not None:
        extra["activation_timeout"] = opts["activation_timeout"]
    # The AOI was read above: nothing here reads a vector file again, so GDAL stays unloaded.
    catalog = services.catalog(preload_gdal=False)
    gc.freeze()  # what setup built lives until exit; see main() in cli.py
    with bars:
        report = harvest(
            search, catalog, outdir=str(outdir), download=opts["download"], limit=opts["limit"],
            overwrite=opts["overwrite"], clock=services.clock, **extra,
        )
    print_report(report, outdir, as_json=opts["as_json"], catalog=str(obj.settings.catalog_path), title="eoharvest harvest")
    exit_for_failures(report)


