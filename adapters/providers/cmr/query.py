"""CMR granule search parameters from a SearchQuery (CMR Search API documentation, "Granule
Search By Parameters": temporal, bounding_box, polygon, cloud_cover, day_night_flag, paging).

Spatial: a rectangular AOI is a ``bounding_box`` (West > East when it crosses the antimeridian);
any other AOI is one counter-clockwise ``polygon[]`` per part (an AOI split at ±180 has two),
OR-ed with ``options[spatial][or]=true``. CMR reads polygon edges as great circles, so long AOI
edges are densified to keep the lon/lat shape the user drew. Holes are not sent (CMR's polygon
parameter has one ring): the search covers the outer ring.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable, Mapping

import shapely
from shapely.geometry import Polygon
from shapely.geometry.polygon import orient

from eoharvest.adapters.providers.cmr.collections import (
    ACCEPTED_OPTIONS,
    PLATFORMS,
    CollectionRef,
    collections_of,
    known_collection,
)
from eoharvest.domain import antimeridian
from eoharvest.domain.errors import InputError
from eoharvest.domain.footprint import Footprint
from eoharvest.domain.providers import PUBLISHED_SINCE
from eoharvest.domain.query import SearchQuery, parse_datetime

MAX_PAGE_SIZE = 2000
DAY_NIGHT = ("day", "night", "both", "unspecified")
_CONCEPT_ID = re.compile(r"^C\d+-[A-Za-z0-9_]+$")
_AOI_ARC_DEGREES = 1.0

Params = tuple[tuple[str, str], ...]


def check_options(options: Mapping[str, Any]) -> None:
    unknown = sorted(k for k in options if k not in ACCEPTED_OPTIONS and k != PUBLISHED_SINCE)
    if unknown:
        raise InputError(
            f"cmr does not take the search option(s) {', '.join(unknown)}",
            hint=f"it accepts: {', '.join(ACCEPTED_OPTIONS)}",
        )


def _texts(value: Any, name: str) -> list[str]:
    if value is None:
        return []
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, Iterable) or not all(isinstance(v, str) and v.strip() for v in items):
        raise InputError(f"{name} {value!r} must be text or a list of text")
    return [v.strip() for v in items]


@dataclass(frozen=True)
class CollectionName:
    """A collection asked for by short name; ``ref`` is the table's entry when it knows it."""

    short_name: str
    version: str | None
    ref: CollectionRef | None = None
    #: named by the user (an unknown one is an error), not implied by a platform
    explicit: bool = True


@dataclass(frozen=True)
class WantedCollections:
    concept_ids: tuple[str, ...]
    names: tuple[CollectionName, ...]
    provider_id: str | None


def wanted_collections(query: SearchQuery) -> WantedCollections:
    """The collections to search: concept ids and short names from the options, product types
    (a CMR short name such as ``HLSL30``, or a label such as ``SLC``), else the platforms'."""
    options = query.options
    concept_ids = _texts(options.get("collection_concept_id"), "collection_concept_id")
    names: list[CollectionName] = []
    version = _texts(options.get("version"), "version")
    if len(version) > 1:
        raise InputError(f"version {version!r}: give one version", hint="or search by collection_concept_id")
    for value in _texts(options.get("collections"), "collections"):
        if _CONCEPT_ID.match(value):
            concept_ids.append(value)
        else:
            names.append(_named(value, None))
    for value in _texts(options.get("short_name"), "short_name"):
        names.append(_named(value, version[0] if version else None))
    for value in _texts(options.get("product_type"), "product_type"):
        names.extend(_product_type(value, query.platforms, version[0] if version else None))
    bad = [c for c in concept_ids if not _CONCEPT_ID.match(c)]
    if bad:
        raise InputError(f"collection_concept_id {bad[0]!r} is not a CMR collection concept id",
                         hint="concept ids look like C2021957657-LPCLOUD")  # fmt: skip
    if version and not names:
        raise InputError(f"version {version[0]!r} needs a short_name or product_type", hint="e.g. short_name='HLSL30'")
    if not concept_ids and not names:
        platforms = query.platforms or PLATFORMS
        names = [CollectionName(r.short_name, r.version, r, False) for p in platforms for r in collections_of(p) if r.default]
    provider = _texts(options.get("provider_id"), "provider_id")
    if len(provider) > 1:
        raise InputError(f"provider_id {provider!r}: give one CMR provider id", hint="e.g. provider_id='LPCLOUD'")
    return WantedCollections(tuple(dict.fromkeys(concept_ids)), tuple(dict.fromkeys(names)), provider[0] if provider else None)


def _named(short_name: str, version: str | None) -> CollectionName:
    ref = known_collection(short_name)
    if ref is not None:
        return CollectionName(ref.short_name, version or ref.version, ref)
    return CollectionName(short_name, version)


def _product_type(value: str, platforms: tuple[str, ...], version: str | None) -> list[CollectionName]:
    labelled = [
        r for p in platforms or PLATFORMS for r in collections_of(p) if r.product_type.upper() == value.upper()
    ]
    if labelled:
        return [CollectionName(r.short_name, version or r.version, r) for r in labelled]
    return [_named(value, version)]


def cmr_time(value: datetime) -> str:
    """``yyyy-MM-ddTHH:mm:ssZ`` (CMR's temporal format; fractions are dropped)."""
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def temporal(start: datetime | None, end: datetime | None) -> str | None:
    if start is None and end is None:
        return None
    return f"{cmr_time(start) if start else ''},{cmr_time(end) if end else ''}"


def _number(value: float) -> str:
    text = f"{value:.7f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _is_rectangle(polygon: Polygon) -> bool:
    if polygon.interiors or len(polygon.exterior.coords) != 5:
        return False
    envelope = shapely.box(*polygon.bounds)
    return bool(abs(envelope.area - polygon.area) <= 1e-12 * max(envelope.area, 1.0))


def _polygon_text(polygon: Polygon) -> str:
    ring = orient(Polygon(polygon.exterior), sign=1.0)  # counter-clockwise, as CMR requires
    ring = shapely.segmentize(ring, _AOI_ARC_DEGREES)
    pairs: list[str] = []
    for x, y in ring.exterior.coords:
        pair = f"{_number(x)},{_number(y)}"
        if not pairs or pairs[-1] != pair:
            pairs.append(pair)
    return ",".join(pairs)


def spatial_params(aoi: Footprint) -> Params:
    """``bounding_box`` for rectangles (one across ±180 too), else ``polygon[]`` per part."""
    parts = [p for p in shapely.get_parts(aoi.geometry) if isinstance(p, Polygon) and not p.is_empty]
    if not parts:  # a point or line AOI: its bounding box
        return (("bounding_box", ",".join(_number(v) for v in aoi.bbox)),)
    if all(_is_rectangle(p) for p in parts) and (len(parts) == 1 or antimeridian.crosses_antimeridian(aoi.geometry)):
        west, south, east, north = antimeridian.wrapped_bbox(aoi.geometry)
        if len(parts) == 1 or _one_band(parts):
            return (("bounding_box", ",".join(_number(v) for v in (west, south, east, north))),)
    params: list[tuple[str, str]] = [("polygon[]", _polygon_text(p)) for p in parts]
    if len(params) > 1:
        params.append(("options[spatial][or]", "true"))
    return tuple(params)


def _one_band(parts: list[Polygon]) -> bool:
    """The rectangles of a split box share south and north: one box across ±180."""
    return len({(round(p.bounds[1], 9), round(p.bounds[3], 9)) for p in parts}) == 1 and len(parts) == 2


def cloud_param(low: float | None, high: float | None) -> str:
    return f"{_number(low) if low is not None else ''},{_number(high) if high is not None else ''}"


def page_size(options: Mapping[str, Any], default: int) -> int:
    value = options.get("page_size", default)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PAGE_SIZE:
        raise InputError(f"page_size {value!r} is out of range", hint=f"give a whole number from 1 to {MAX_PAGE_SIZE}")
    return value


def option_params(options: Mapping[str, Any]) -> Params:
    """``day_night_flag``, ``updated_since`` and ``revision_date[]`` from the search options."""
    params: list[tuple[str, str]] = []
    flag = options.get("day_night_flag")
    if flag is not None:
        if not isinstance(flag, str) or flag.strip().lower() not in DAY_NIGHT:
            raise InputError(f"day_night_flag {flag!r} is not understood", hint=f"use one of: {', '.join(DAY_NIGHT)}")
        params.append(("day_night_flag", flag.strip().lower()))
    # The provider-neutral publication-time filter is CMR's updated_since (revision date).
    updated = options.get("updated_since", options.get(PUBLISHED_SINCE))
    if updated is not None:
        since = parse_datetime(updated, name="updated_since")
        assert since is not None
        params.append(("updated_since", cmr_time(since)))
    revision = options.get("revision_date")
    if revision is not None:
        low, high = _range(revision)
        params.append(("revision_date[]", temporal(low, high) or ","))
    return tuple(params)


def _range(value: Any) -> tuple[datetime | None, datetime | None]:
    """``(start, end)``, ``[start, end]`` or ``"start,end"`` (either side may be empty/None)."""
    parts = value.split(",") if isinstance(value, str) else list(value) if isinstance(value, (list, tuple)) else None
    if parts is None or len(parts) != 2:
        raise InputError(f"revision_date {value!r} must be a (start, end) pair", hint="e.g. revision_date=('2024-06-01', None)")
    start = parse_datetime(parts[0] or None, name="revision_date start")
    end = parse_datetime(parts[1] or None, name="revision_date end", end_of_day=True)
    return start, end
