"""``scene-search`` requests: the scene filter of a SearchQuery, and offset paging.

M2M pages by ``startingNumber`` (1-based) and ``maxResults`` and answers ``totalHits``,
``recordsReturned`` and ``nextRecord``; on the last page ``nextRecord`` equals ``totalHits``
instead of pointing past it, so the end is where the records run out, not where
``nextRecord`` says.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping

from eoharvest.domain.errors import InputError
from eoharvest.domain.query import SearchQuery, parse_datetime

#: scenes per request (eodag caps M2M pages at 5000; smaller answers fail less expensively)
PAGE_SIZE = 1000
MAX_PAGE_SIZE = 10000
#: M2M wants both ends of a date range
EARLIEST, LATEST = "1972-07-23", "2099-12-31"


@dataclass(frozen=True)
class UsgsPage:
    """Where the next page starts: the datasets still to search, and the offset in the first."""

    datasets: tuple[str, ...]
    starting_number: int = 1


def published_range(options: Mapping[str, Any]) -> tuple[datetime | None, datetime | None]:
    """The ``published_since``/``published_until`` options (M2M's ingest time, ``publishDate``)."""
    since = parse_datetime(options["published_since"], name="published_since") if options.get("published_since") else None
    until = (parse_datetime(options["published_until"], name="published_until", end_of_day=True)
             if options.get("published_until") else None)  # fmt: skip
    if since and until and since > until:
        raise InputError(f"published_since {since.isoformat()} is after published_until {until.isoformat()}")
    return since, until


def scene_filter(query: SearchQuery) -> dict[str, Any]:
    """The ``sceneFilter``: area, acquisition days, cloud range, ingest days. M2M filters by whole
    days and whole percents; the source re-checks each scene against the exact query."""
    result: dict[str, Any] = {}
    if query.aoi is not None:
        geometry = query.aoi.geometry
        if geometry.geom_type == "Polygon":
            result["spatialFilter"] = {"filterType": "geoJson", "geoJson": query.aoi.geojson}
        else:  # several parts (e.g. cut at the antimeridian): their box, refined per scene
            west, south, east, north = geometry.bounds
            result["spatialFilter"] = {
                "filterType": "mbr",
                "lowerLeft": {"latitude": south, "longitude": west},
                "upperRight": {"latitude": north, "longitude": east},
            }
    if query.start is not None or query.end is not None:
        result["acquisitionFilter"] = {
            "start": query.start.date().isoformat() if query.start else EARLIEST,
            "end": query.end.date().isoformat() if query.end else LATEST,
        }
    if query.has_cloud_filter:
        low = math.floor(query.cloud_min) if query.cloud_min is not None else 0
        high = math.ceil(query.cloud_max) if query.cloud_max is not None else 100
        result["cloudCoverFilter"] = {"min": low, "max": high, "includeUnknown": False}
    since, until = published_range(query.options)
    if since is not None or until is not None:
        result["ingestFilter"] = {
            "start": since.date().isoformat() if since else EARLIEST,
            "end": until.date().isoformat() if until else LATEST,
        }
    return result


def search_body(dataset: str, query: SearchQuery, page: UsgsPage, size: int) -> dict[str, Any]:
    return {
        "datasetName": dataset,
        "maxResults": size,
        "startingNumber": page.starting_number,
        "metadataType": "summary",
        "sceneFilter": scene_filter(query),
    }


def next_start(data: Mapping[str, Any], page: UsgsPage) -> int | None:
    """The next ``startingNumber`` in this dataset, or None when it is exhausted."""
    returned = _int(data.get("recordsReturned"))
    total = _int(data.get("totalHits"))
    if returned is None:
        results = data.get("results")
        returned = len(results) if isinstance(results, list) else 0
    if returned <= 0:
        return None
    following = page.starting_number + returned
    if total is not None and following > total:
        return None
    # nextRecord is trusted only when it moves forward (the last page repeats totalHits)
    announced = _int(data.get("nextRecord"))
    return announced if announced is not None and announced > page.starting_number else following


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
