"""`eoharvest catalog query|export|stats`: look into the local catalog without touching the network."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import click

from eoharvest.domain.catalog_fields import DOWNLOAD_STATES, PREDICATES, SORT_FIELDS
from eoharvest.domain.errors import EoharvestError, InputError
from eoharvest.entrypoints.context import AppContext

if TYPE_CHECKING:
    from eoharvest.domain.aoi_box import AoiBox
    from eoharvest.domain.catalog_query import CatalogFilter, CatalogRecord
    from eoharvest.domain.footprint import Footprint


def filter_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The filter options shared by `catalog query` and `catalog export`."""
    decorators = [
        click.option("--aoi", default=None, help="WKT, GeoJSON, bbox 'w,s,e,n' or a vector file."),
        click.option("--predicate", type=click.Choice(PREDICATES), default="intersects", show_default=True,
                     help="contains: the footprint covers the AOI; within: it lies inside the AOI."),
        click.option("--start", default=None, help="Acquired on or after (ISO 8601, UTC)."),
        click.option("--end", default=None, help="Acquired on or before (a bare date includes the day)."),
        click.option("--cloud-min", default=None, help="Minimum cloud cover, percent."),
        click.option("--cloud-max", default=None, help="Maximum cloud cover, percent."),
        click.option("--platform", "platforms", multiple=True, help="Platform (repeatable)."),
        click.option("--provider", "providers", multiple=True, help="Provider (repeatable)."),
        click.option("--state", "states", multiple=True, type=click.Choice(DOWNLOAD_STATES),
                     help="Download state (repeatable)."),
        click.option("--where", default=None, help="Filter such as \"cloud < 20 AND platform = 'Sentinel-2'\"."),
        click.option("--sort", default=None, help=f"Sort field: {', '.join(SORT_FIELDS)}."),
        click.option("--desc", is_flag=True, help="Sort descending."),
        click.option("--all-providers", is_flag=True,
                     help="One row per provider copy instead of one per product."),
    ]  # fmt: skip
    return functools.reduce(lambda f, d: d(f), reversed(decorators), func)


def _criteria(obj: AppContext, options: dict[str, Any], limit: int | None) -> CatalogFilter:
    from eoharvest.domain.catalog_query import CatalogFilter

    return CatalogFilter.create(
        aoi=_aoi(obj, options["aoi"]),
        predicate=options["predicate"],
        start=options["start"],
        end=options["end"],
        cloud_min=options["cloud_min"],
        cloud_max=options["cloud_max"],
        platforms=options["platforms"],
        providers=options["providers"],
        states=options["states"],
        where=options["where"],
        sort=options["sort"],
        descending=options["desc"],
        limit=limit,
        distinct_products=not options["all_providers"],
    )


def _aoi(obj: AppContext, value: str | None) -> Footprint | AoiBox | None:
    if value is None:
        return None
    from eoharvest.domain.aoi_box import plain_box

    box = plain_box(value)  # a plain bbox: no shapely (GeoJSON queries then never load it)
    if box is not None:
        return box
    from eoharvest.domain.aoi import parse_aoi

    parsed = parse_aoi(value, reader=obj.vector_reader())
    for warning in parsed.warnings:
        click.echo(f"warning: {warning}", err=True)
    return parsed.footprint


@click.group()
def catalog() -> None:
    """Query, export and summarise the scene catalog (read-only), upgrade its schema, or copy it
    to another back end (SpatiaLite file or PostgreSQL/PostGIS database)."""


@catalog.command("query")
@filter_options
@click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--format", "fmt", type=click.Choice(["table", "geojson", "csv", "stac"]), default="table",
              show_default=True)  # fmt: skip
@click.pass_obj
def query(obj: AppContext, limit: int, fmt: str, **options: Any) -> None:
    """Print catalogued scenes matching the filters."""
    criteria = _criteria(obj, options, limit)  # first: an AOI file needs GDAL, see AppContext.catalog_reader
    if fmt == "geojson":
        _write_geojson(obj.catalog_reader(), criteria, functools.partial(click.echo, nl=False))
        click.echo()
        return
    from eoharvest.adapters.catalog import export

    records = obj.open_catalog(read_only=True).query(criteria)
    if fmt == "stac":
        click.echo(json.dumps(export.stac_item_collection(records), ensure_ascii=False))
    elif fmt == "csv":
        click.echo(export.csv_text(records), nl=False)
    else:
        _print_table(records)


def _write_geojson(catalog: Any, criteria: CatalogFilter, write: Callable[[str], Any]) -> int:
    """Write the matching scenes as a FeatureCollection through ``write``, streamed from the
    catalog when it can (memory independent of the number of scenes); returns the count."""
    from eoharvest.adapters.catalog import geojson_stream

    stream = getattr(catalog, "geojson_features", None)
    if stream is not None:
        features = stream(criteria)
    else:  # another repository (tests' in-memory one): the whole result, then the same Features
        from eoharvest.adapters.catalog import export

        collection = export.geojson_collection(catalog.query(criteria))
        features = (json.dumps(f, ensure_ascii=False) for f in collection["features"])
    return geojson_stream.write_feature_collection(features, write)


def _print_table(records: list[CatalogRecord]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(show_lines=False)
    # Product keys are what users copy into `download --id`: never truncate them.
    table.add_column("product", no_wrap=True, overflow="ignore")
    for heading in ("provider", "platform", "acquired (UTC)", "cloud %", "state"):
        table.add_column(heading, no_wrap=True)
    for r in records:
        s = r.scene
        cloud = "" if s.cloudcover_percentage is None else f"{s.cloudcover_percentage:.1f}"
        acquired = s.acq_date.strftime("%Y-%m-%d %H:%M") if s.acq_date else ""
        table.add_row(s.product_key or s.scene_id, s.provider, s.platformname, acquired, cloud, r.download_state)
    console = Console(soft_wrap=True)
    if not console.is_terminal:
        console.width = max(console.width, 200)  # piped output: keep one scene per line
    console.print(table)
    click.echo(f"{len(records)} scene(s)", err=True)


@catalog.command("export")
@filter_options
@click.option("--format", "fmt", type=click.Choice(["geojson", "gpkg", "stac"]), required=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="At most this many scenes.")
@click.pass_obj
def export_cmd(obj: AppContext, fmt: str, output: Path, limit: int | None, **options: Any) -> None:
    """Write the matching scenes to a GeoJSON, GeoPackage or STAC ItemCollection file.

    STAC: each provider's own item (asset keys, roles, collection, links as sent), downloaded
    files as asset hrefs with the remote ones under `alternate`; validated offline first.
    """
    folder = output.parent if str(output.parent) else Path(".")
    if not folder.is_dir():
        raise InputError(f"-o {str(output)!r}: the folder {str(folder)!r} does not exist", hint="create it or choose another path")
    criteria = _criteria(obj, options, limit)  # first: an AOI file needs GDAL, see AppContext.catalog_reader
    try:
        if fmt == "geojson":
            reader = obj.catalog_reader()
            count = _write_file(output, lambda write: _write_geojson(reader, criteria, write))
            click.echo(f"wrote {count} scene(s) to {output}", err=True)
            return
        from eoharvest.adapters.catalog import export

        records = obj.open_catalog(read_only=True).query(criteria)
        if fmt == "gpkg":
            export.write_geopackage(records, output)
        else:
            export.write_json(export.stac_item_collection(records), output)
    except OSError as exc:
        if isinstance(exc, EoharvestError):
            raise
        raise InputError(f"cannot write -o {str(output)!r}: {exc.strerror or exc}",
                         hint="choose a path in a folder you can write to") from None
    click.echo(f"wrote {len(records)} scene(s) to {output}", err=True)


def _write_file(output: Path, produce: Callable[[Callable[[str], Any]], int]) -> int:
    """Let ``produce(write)`` write the file ``output`` (UTF-8) through a sibling part file that
    replaces it only when complete; returns what ``produce`` returns."""
    part = output.with_name(f".{output.name}.part")
    try:
        with part.open("w", encoding="utf-8") as stream:
            count = produce(stream.write)
        part.replace(output)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return count


@catalog.command("upgrade")
@click.pass_obj
def upgrade(obj: AppContext) -> None:
    """Create the catalog, or migrate it to this eoharvest's schema (the read-only commands
    refuse a catalog older than the code)."""
    obj.open_catalog()
    click.echo(f"catalog {obj.settings.catalog_path} is up to date", err=True)


@catalog.command("stats")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@click.pass_obj
def stats(obj: AppContext, as_json: bool) -> None:
    """Counts per platform, year and download state, and the size of the local archive."""
    s = obj.catalog_reader(spatial=False).stats()
    data = {
        "catalog": str(obj.settings.catalog_path),
        "scenes": s.scenes,
        "products": s.products,
        "per_platform": dict(s.per_platform),
        "per_year": {str(k): v for k, v in s.per_year.items()},
        "per_state": dict(s.per_state),
        "files_available": s.files_available,
        "archive_bytes": s.archive_bytes,
    }
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"catalog   {data['catalog']}")
    click.echo(f"scenes    {s.scenes} ({s.products} distinct products)")
    for title, counts in (("platform", s.per_platform), ("year", s.per_year), ("state", s.per_state)):
        click.echo(f"per {title}:")
        for key, n in counts.items():
            click.echo(f"  {key!s:<14} {n}")
    click.echo(f"archive   {s.files_available} verified file(s), {_size(s.archive_bytes)}")


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{n} B"
        value /= 1024
    return f"{n} B"


from eoharvest.entrypoints.cli_catalog_copy import copy_cmd  # noqa: E402  (a subcommand in its own module)

catalog.add_command(copy_cmd)
