"""`eoharvest aoi check`: validate an AOI the way a search would, and show what it means."""

from __future__ import annotations

import click

from eoharvest.domain.aoi import aoi_summary, parse_aoi
from eoharvest.entrypoints.cli_common import aoi_argument, echo_json
from eoharvest.entrypoints.context import AppContext


@click.group()
def aoi() -> None:
    """Check areas of interest."""


# ignore_unknown_options: a bbox such as -79.4,43.8,-79.3,43.9 starts with "-" but is the VALUE.
@aoi.command("check", context_settings={"ignore_unknown_options": True})
@click.argument("value")
@click.option("--fix-geometry", is_flag=True, help="Repair a self-intersecting polygon instead of failing.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON (GeoJSON geometry).")
@click.pass_obj
def check(obj: AppContext, value: str, fix_geometry: bool, as_json: bool) -> None:
    """Validate VALUE: WKT, GeoJSON text, a bbox "west,south,east,north", or a vector file path.

    Prints the bbox and centroid in lon/lat so a swapped latitude/longitude is easy to spot.
    """
    parsed = parse_aoi(
        aoi_argument(value), reader=obj.services().vector_reader, fix=fix_geometry
    )
    if as_json:
        fp = parsed.footprint
        echo_json(
            {
                "geometry": fp.geojson,
                "bbox": fp.bbox,
                "centroid": fp.centroid,
                "parts": len(fp.part_bboxes),
                "source_crs": parsed.source_crs,
                "warnings": list(parsed.warnings),
            }
        )
        return
    click.echo(aoi_summary(parsed))
