"""Building CDSE OData search URLs (OData 4.01 URL conventions). Pure functions.

One ``$filter`` covers every requested platform: a clause per collection, joined with ``or``,
so that the cloud-cover condition applies only to collections that have a ``cloudCover``
attribute (a SAR collection with a cloud condition would return nothing).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Mapping, Sequence
from urllib.parse import parse_qsl, quote, unquote_plus, urlencode

import shapely
from shapely.geometry import MultiPolygon, Point, Polygon

from eoharvest.adapters.providers.copernicus.collections import CLOUD_ATTRIBUTE, COLLECTIONS, NO_CLOUD
from eoharvest.domain.antimeridian import split
from eoharvest.domain.errors import InputError
from eoharvest.domain.footprint import Footprint
from eoharvest.domain.query import parse_datetime

MAX_TOP = 1000

def odata_time(value: datetime) -> str:
    """``2022-05-03T00:00:00.000000Z``: UTC with 6 fractional digits (the server's own form)."""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def area_wkt(aoi: Footprint) -> str:
    """Lon-lat WKT in EPSG:4326 with closed rings; antimeridian-crossing shapes become MultiPolygons."""
    geometry = split(aoi.geometry)
    if not isinstance(geometry, (Polygon, MultiPolygon, Point)):
        geometry = geometry.convex_hull if geometry.geom_type != "GeometryCollection" else geometry.envelope
    if geometry.is_empty:
        raise InputError("the area of interest is empty")
    return shapely.to_wkt(geometry, rounding_precision=7, trim=True)


def _quote(value: str) -> str:
    if "'" in value:
        raise InputError(f"product type {value!r} contains a quote")
    return f"'{value}'"


def collection_clause(platform: str, product_types: Sequence[str], cloud: str | None) -> str:
    parts = [f"Collection/Name eq {_quote(COLLECTIONS[platform])}"]
    if product_types:
        values = " or ".join(f"att/OData.CSC.StringAttribute/Value eq {_quote(t)}" for t in product_types)
        if len(product_types) > 1:
            values = f"({values})"
        parts.append(f"Attributes/OData.CSC.StringAttribute/any(att:att/Name eq 'productType' and {values})")
    if cloud and platform in CLOUD_ATTRIBUTE:
        parts.append(cloud)
    return " and ".join(parts)


def cloud_clause(cloud_min: float | None, cloud_max: float | None) -> str | None:
    conditions = []
    if cloud_min is not None:
        conditions.append(f"att/OData.CSC.DoubleAttribute/Value ge {cloud_min:.2f}")
    if cloud_max is not None:
        conditions.append(f"att/OData.CSC.DoubleAttribute/Value le {cloud_max:.2f}")
    if not conditions:
        return None
    return (
        "Attributes/OData.CSC.DoubleAttribute/any(att:att/Name eq 'cloudCover' and "
        + " and ".join(conditions) + ")"
    )


def build_filter(
    platforms: Sequence[str],
    product_types: Mapping[str, Sequence[str]],
    *,
    aoi: Footprint | None,
    start: datetime | None,
    end: datetime | None,
    cloud: str | None,
) -> str:
    """The ``$filter`` text: collections (with product types and cloud cover), area, sensing time."""
    clauses = [collection_clause(p, product_types.get(p, ()), cloud) for p in platforms]
    if len(clauses) == 1:
        parts = [clauses[0]]
    else:
        parts = ["(" + " or ".join(f"({c})" for c in clauses) + ")"]
    if aoi is not None:
        parts.append(f"OData.CSC.Intersects(area=geography'SRID=4326;{area_wkt(aoi)}')")
    if start is not None:
        parts.append(f"ContentDate/Start ge {odata_time(start)}")
    if end is not None:
        parts.append(f"ContentDate/Start le {odata_time(end)}")
    return " and ".join(parts)


def publication_clause(value: Any) -> str:
    """Products published in CDSE at or after ``value`` (the ``published_since`` option)."""
    since = parse_datetime(value, name="published_since")
    if since is None:
        raise InputError("published_since is empty", hint="give a UTC date and time")
    return f"PublicationDate ge {odata_time(since)}"


def search_url(base_url: str, filter_text: str, *, order: str, top: int, count: bool) -> str:
    """A Products search URL; ``$orderby`` is always set, or pages are unordered."""
    params = [
        ("$filter", filter_text),
        ("$orderby", f"ContentDate/Start {order}"),
        ("$top", str(top)),
        ("$expand", "Attributes"),
    ]
    if count:
        params.append(("$count", "true"))
    return f"{base_url.rstrip('/')}/Products?" + urlencode(params, quote_via=quote, safe="/,()'$:")


def query_params(url: str) -> dict[str, str]:
    """The decoded query parameters of a URL (the last value of a repeated one wins)."""
    return dict(parse_qsl(url.partition("?")[2], keep_blank_values=True))


def strip_count(url: str) -> str:
    """The link without ``$count=true`` (the server re-carries it on every nextLink; it is slow).

    Every other parameter is kept byte for byte.
    """
    base, _, query = url.partition("?")
    kept = [part for part in query.split("&") if unquote_plus(part.partition("=")[0]).lower() != "$count"]
    return base + ("?" + "&".join(kept) if kept else "")


def ensure_orderby(url: str, order: str) -> str:
    """Add ``$orderby`` to a link that lost it (pages without it are unordered)."""
    if "$orderby" in query_params(url):
        return url
    return url + ("&" if "?" in url else "?") + urlencode({"$orderby": f"ContentDate/Start {order}"}, quote_via=quote, safe="/$")


def cap_top(url: str, top: int) -> str:
    """The link asking for at most ``top`` products. ``$skip`` is absolute, so a smaller
    ``$top`` on a nextLink continues at the same product; other parameters stay byte for byte."""
    current = query_params(url).get("$top", "")
    if current.isdigit() and int(current) <= top:
        return url
    base, _, query = url.partition("?")
    kept = [part for part in query.split("&") if part and unquote_plus(part.partition("=")[0]) != "$top"]
    return base + "?" + "&".join([*kept, urlencode({"$top": str(top)}, quote_via=quote, safe="$")])


def skip_of(url: str) -> int:
    value = query_params(url).get("$skip", "0")
    return int(value) if value.isdigit() else 0
