"""Saved searches kept fresh by the sync daemon: their definition, their state, and the pure
rules for intervals, search windows, watermarks and backoff.

A definition holds everything ``eoharvest harvest`` takes to run the same search, its endpoint
included. The watermark is the newest publication time among the scenes a committed pass has
seen where the provider can search by publication time (``publication_time_filter``), else the
newest acquisition time (STAC ``datetime``). Each pass searches after ``watermark - overlap``;
the overlap absorbs the provider's indexing latency and re-published items. With acquisition
time, a scene published later than ``overlap`` after its acquisition is missed: that is why
publication time is used wherever a provider can filter on it.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping

from eoharvest.domain.errors import InputError
from eoharvest.domain.query import parse_datetime
from eoharvest.domain.redaction import redact

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_INTERVAL = re.compile(r"^\s*(\d+)\s*([smhd])\s*$", re.IGNORECASE)
MIN_INTERVAL = timedelta(seconds=1)
MAX_INTERVAL = timedelta(days=366)
DEFAULT_OVERLAP = timedelta(days=2)
DEFAULT_BACKOFF_CAP = timedelta(days=1)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def parse_interval(text: str) -> timedelta:
    """``30m``, ``1h``, ``6h``, ``1d`` (also ``45s``) as a timedelta; anything else is an InputError."""
    match = _INTERVAL.match(str(text))
    if not match:
        raise InputError(
            f"interval {text!r} is not understood",
            hint="use a whole number and a unit: 30m, 1h, 6h, 1d (s = seconds, m, h, d)",
        )
    interval = timedelta(seconds=int(match[1]) * _UNITS[match[2].lower()])
    if not MIN_INTERVAL <= interval <= MAX_INTERVAL:
        raise InputError(f"interval {text!r} is out of range", hint="use between 1s and 366d")
    return interval


def format_interval(interval: timedelta) -> str:
    """The shortest exact spelling: 86400 s -> ``1d``, 5400 s -> ``90m``."""
    seconds = int(interval.total_seconds())
    for unit in ("d", "h", "m"):
        if seconds and seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"


def check_search_name(name: str) -> str:
    if not _NAME.match(name or ""):
        raise InputError(
            f"search name {name!r} is not allowed",
            hint="use 1-128 letters, digits, '_', '-' or '.', starting with a letter or digit",
        )
    return name


#: What a watermark measures: acquisition time (every provider can filter on it) or
#: publication time (providers declaring ``publication_time_filter``).
ACQUIRED = "acquired"
PUBLISHED = "published"
WATERMARK_KINDS = (ACQUIRED, PUBLISHED)


@dataclass(frozen=True)
class WatchDefinition:
    """What a saved search asks for: everything ``eoharvest harvest`` would need to run the same
    search (its endpoint included), plus the schedule. Stored as JSON (the AOI as a GeoJSON
    geometry); never holds a secret (:func:`check_no_secrets`)."""

    provider: str
    platforms: tuple[str, ...]
    aoi: Mapping[str, Any]
    every: timedelta
    cloud_max: float | None = None
    download: bool = True
    assets: tuple[str, ...] | None = None
    #: acquisition start (``harvest --start``): no pass searches before it
    since: datetime | None = None
    overlap: timedelta = DEFAULT_OVERLAP
    #: the STAC API root for providers of the STAC family (``harvest --stac-url``)
    stac_url: str | None = None
    #: acquisition end (``harvest --end``): a saved search can watch a closed period (late
    #: publications and reprocessings of it)
    end: datetime | None = None
    cloud_min: float | None = None
    product_type: str | None = None
    collections: tuple[str, ...] = ()
    #: provider search options (``harvest --search-option KEY=VALUE``), JSON values
    search_options: Mapping[str, Any] = field(default_factory=dict)
    #: place orders for products the provider must prepare first (``harvest --order``)
    order: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "platforms", tuple(self.platforms))
        object.__setattr__(self, "collections", tuple(self.collections))
        object.__setattr__(self, "search_options", dict(self.search_options))
        if self.since and self.end and self.since > self.end:
            raise InputError(
                f"start {self.since.isoformat()} is after end {self.end.isoformat()}", hint="swap the dates"
            )
        if self.cloud_min is not None and self.cloud_max is not None and self.cloud_min > self.cloud_max:
            raise InputError(f"--cloud-min {self.cloud_min:g} is greater than --cloud-max {self.cloud_max:g}")

    def search_keywords(self) -> dict[str, Any]:
        """The provider keyword options of ``scenes(...)`` (product type, collections, options)."""
        keywords: dict[str, Any] = {}
        if self.product_type:
            keywords["product_type"] = self.product_type
        if self.collections:
            keywords["collections"] = list(self.collections)
        keywords.update(self.search_options)
        return keywords

    def search_scope(self) -> dict[str, Any]:
        """The part of the definition that decides which scenes match (not when or how they
        are fetched): changing it makes the old watermark meaningless."""
        data = self.to_json()
        for key in ("every", "download", "assets", "overlap_seconds", "order"):
            data.pop(key, None)
        return data

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "stac_url": self.stac_url,
            "platforms": list(self.platforms),
            "aoi": dict(self.aoi),
            "every": format_interval(self.every),
            "cloud_min": self.cloud_min,
            "cloud_max": self.cloud_max,
            "product_type": self.product_type,
            "collections": list(self.collections),
            "search_options": dict(self.search_options),
            "download": self.download,
            "order": self.order,
            "assets": list(self.assets) if self.assets is not None else None,
            "since": self.since.isoformat() if self.since else None,
            "end": self.end.isoformat() if self.end else None,
            "overlap_seconds": int(self.overlap.total_seconds()),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WatchDefinition:
        """Read a stored definition; keys written by older versions default as they did then."""
        assets = data.get("assets")
        return cls(
            provider=str(data["provider"]),
            platforms=tuple(data["platforms"]),
            aoi=dict(data["aoi"]),
            every=parse_interval(data["every"]),
            cloud_max=data.get("cloud_max"),
            download=bool(data.get("download", True)),
            assets=tuple(assets) if assets is not None else None,
            since=parse_datetime(data.get("since"), name="since"),
            overlap=timedelta(seconds=int(data.get("overlap_seconds", DEFAULT_OVERLAP.total_seconds()))),
            stac_url=data.get("stac_url"),
            end=parse_datetime(data.get("end"), name="end"),
            cloud_min=data.get("cloud_min"),
            product_type=data.get("product_type"),
            collections=tuple(data.get("collections") or ()),
            search_options=dict(data.get("search_options") or {}),
            order=bool(data.get("order", True)),
        )


def check_no_secrets(definition: WatchDefinition) -> None:
    """A saved search is stored in the catalog in clear: refuse one that carries a credential
    (a token in the STAC URL or in a search option). Credentials come from the provider's
    configuration instead."""
    text = json.dumps(definition.to_json(), sort_keys=True, default=str)
    if redact(text) != text:
        raise InputError(
            "this saved search would store a credential (in --stac-url or a --search-option)",
            hint="configure the provider's credentials (environment, ~/.netrc or keyring) instead",
        )


@dataclass(frozen=True)
class SearchState:
    """Per-search progress, written only when a pass has committed (or failed).

    ``paused`` holds the reason a search stopped running by itself (a permanent error: bad
    credentials, a removed collection); it stays until ``watch enable`` or ``watch run``.
    ``watermark_kind`` says what the watermark measures (:data:`WATERMARK_KINDS`)."""

    watermark: datetime | None = None
    last_run_at: datetime | None = None
    next_run_at: datetime | None = None
    failures: int = 0
    last_error: str | None = None
    paused: str | None = None
    last_found: int = 0
    last_new: int = 0
    last_downloaded: int = 0
    watermark_kind: str | None = None
    #: scenes the last pass handed to the download queue (a daemon on a PostgreSQL catalog):
    #: queued, not downloaded yet
    last_queued: int = 0

    def succeeded(self, now: datetime, every: timedelta, watermark: datetime | None,
                  found: int, new: int, downloaded: int, *, watermark_kind: str | None = None,
                  queued: int = 0) -> SearchState:  # fmt: skip
        return dataclasses.replace(
            self, watermark=watermark, last_run_at=now, next_run_at=now + every, failures=0,
            last_error=None, paused=None, last_found=found, last_new=new, last_downloaded=downloaded,
            watermark_kind=watermark_kind or self.watermark_kind, last_queued=queued,
        )  # fmt: skip

    def failed(self, now: datetime, error: str, next_run_at: datetime, *, paused: str | None = None,
               watermark: datetime | None = None, watermark_kind: str | None = None) -> SearchState:  # fmt: skip
        """A failed pass; ``watermark`` may still advance past the part that did commit."""
        return dataclasses.replace(
            self, watermark=watermark or self.watermark, last_run_at=now, next_run_at=next_run_at,
            failures=self.failures + 1, last_error=error[:2000], paused=paused,
            watermark_kind=(watermark_kind or self.watermark_kind) if watermark else self.watermark_kind,
        )  # fmt: skip

    def resumed(self) -> SearchState:
        """The state after ``watch enable``: no pause, no backoff, the watermark kept."""
        return dataclasses.replace(self, paused=None, failures=0, next_run_at=None)

    def restarted(self) -> SearchState:
        """The state after the search's scope changed (``watch edit``): the next pass starts
        again from the definition's start."""
        return dataclasses.replace(self.resumed(), watermark=None, watermark_kind=None)


@dataclass(frozen=True)
class SavedSearch:
    name: str
    definition: WatchDefinition
    enabled: bool = True
    state: SearchState = field(default_factory=SearchState)


def window_start(definition: WatchDefinition, state: SearchState) -> datetime | None:
    """Where the next pass starts searching: ``watermark - overlap``, never before ``since``."""
    if state.watermark is None:
        return definition.since
    start = state.watermark - definition.overlap
    return max(start, definition.since) if definition.since else start


@dataclass(frozen=True)
class SearchWindow:
    """What one pass searches: acquisition bounds, and with a publication-time watermark
    (``kind == PUBLISHED``) the publication lower bound too."""

    kind: str
    start: datetime | None
    end: datetime | None = None
    published_since: datetime | None = None


def search_window(definition: WatchDefinition, state: SearchState, kind: str = ACQUIRED) -> SearchWindow:
    """The next pass's window. With acquisition time: from ``watermark - overlap`` (never before
    the start). With publication time: the definition's whole acquisition period, published
    since ``watermark - overlap``, so a scene published long after its acquisition is found.

    A watermark of the other kind carries over: publication time is never earlier than
    acquisition time, so a publication filter from an acquisition watermark misses nothing
    the acquisition window would have found."""
    if kind == PUBLISHED:
        since = state.watermark - definition.overlap if state.watermark else None
        return SearchWindow(kind, definition.since, definition.end, since)
    return SearchWindow(ACQUIRED, window_start(definition, state), definition.end)


def next_watermark(current: datetime | None, seen: Iterable[datetime | None],
                   failed: Iterable[datetime | None] = ()) -> datetime | None:  # fmt: skip
    """The newest acquisition seen, held back to the oldest scene whose download failed (so the
    next window, which starts ``overlap`` earlier, searches it again). Never moves backwards."""
    failed = list(failed)
    if any(t is None for t in failed):
        return current  # a failed scene without a time: only the old window is sure to cover it
    times = [t for t in seen if t is not None]
    candidate = max(times) if times else None
    held = [t for t in failed if t is not None]
    if held and candidate is not None:
        candidate = min(candidate, min(held))
    if current is None:
        return candidate
    return max(current, candidate) if candidate is not None else current


def backoff_delay(every: timedelta, failures: int, cap: timedelta = DEFAULT_BACKOFF_CAP) -> timedelta:
    """Delay before retrying after ``failures`` consecutive failures: the interval doubled per
    failure, capped at ``cap`` (but never shorter than the interval itself)."""
    exponent = min(max(failures - 1, 0), 30)
    doubled: timedelta = every * (2**exponent)
    return max(every, min(doubled, cap))


@dataclass(frozen=True)
class SearchLease:
    """Who runs a pass of a saved search now (``owner``), since when, and until when unless it
    renews the lease; an expired lease may be taken by anyone."""

    owner: str
    acquired_at: datetime
    expires_at: datetime
