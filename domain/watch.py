"""Saved searches kept fresh by the sync daemon: their definition, their state, and the pure
rules for intervals, search windows, watermarks and backoff.

The watermark is the newest acquisition time (STAC ``datetime``) among the scenes a committed
pass has seen. Each pass searches from ``watermark - overlap``; the overlap absorbs the
provider's ingestion latency and re-published items. Acquisition time is what every provider
can filter on; an ingestion time (STAC ``updated``/``published``) would be a better watermark
where a provider can search by it, because a scene ingested later than ``overlap`` after its
acquisition is otherwise missed.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Iterable, Mapping

from eoharvest.domain.errors import InputError
from eoharvest.domain.query import parse_datetime

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


@dataclass(frozen=True)
class WatchDefinition:
    """What a saved search asks for; stored as JSON (the AOI as a GeoJSON geometry)."""

    provider: str
    platforms: tuple[str, ...]
    aoi: Mapping[str, Any]
    every: timedelta
    cloud_max: float | None = None
    download: bool = True
    assets: tuple[str, ...] | None = None
    since: datetime | None = None
    overlap: timedelta = DEFAULT_OVERLAP

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "platforms": list(self.platforms),
            "aoi": dict(self.aoi),
            "every": format_interval(self.every),
            "cloud_max": self.cloud_max,
            "download": self.download,
            "assets": list(self.assets) if self.assets is not None else None,
            "since": self.since.isoformat() if self.since else None,
            "overlap_seconds": int(self.overlap.total_seconds()),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WatchDefinition:
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
        )


@dataclass(frozen=True)
class SearchState:
    """Per-search progress, written only when a pass has committed (or failed)."""

    watermark: datetime | None = None
    last_run_at: datetime | None = None
    next_run_at: datetime | None = None
    failures: int = 0
    last_error: str | None = None
    paused: str | None = None
    last_found: int = 0
    last_new: int = 0
    last_downloaded: int = 0

    def succeeded(self, now: datetime, every: timedelta, watermark: datetime | None,
                  found: int, new: int, downloaded: int) -> SearchState:  # fmt: skip
        return dataclasses.replace(
            self, watermark=watermark, last_run_at=now, next_run_at=now + every, failures=0,
            last_error=None, paused=None, last_found=found, last_new=new, last_downloaded=downloaded,
        )  # fmt: skip

    def failed(self, now: datetime, error: str, next_run_at: datetime, *, paused: str | None = None,
               watermark: datetime | None = None) -> SearchState:  # fmt: skip
        """A failed pass; ``watermark`` may still advance past the part that did commit."""
        return dataclasses.replace(
            self, watermark=watermark or self.watermark, last_run_at=now, next_run_at=next_run_at,
            failures=self.failures + 1, last_error=error[:2000], paused=paused,
        )  # fmt: skip


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
