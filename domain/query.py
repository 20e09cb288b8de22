"""The search query value object and the validation of dates and cloud ranges."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timezone
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Mapping

from eoharvest.domain.errors import InputError

if TYPE_CHECKING:  # annotations only: shapely loads when a footprint is built
    from eoharvest.domain.footprint import Footprint


def parse_datetime(value: Any, *, name: str = "date", end_of_day: bool = False) -> datetime | None:
    """A timezone-aware UTC datetime from a datetime, date or ISO 8601 string.

    Naive values are taken as UTC. A bare date means the start of that day, or its last
    microsecond when ``end_of_day`` (so ``end_date=2019-05-21`` includes the 21st).
    """
    if value is None:
        return None
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, date):
        parsed = datetime.combine(value, time.max if end_of_day else time.min)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            raise InputError(f"{name} is empty", hint="use an ISO 8601 date such as 2019-05-11")
        try:
            if len(text) == 10:
                day = date.fromisoformat(text)
                parsed = datetime.combine(day, time.max if end_of_day else time.min)
            else:
                parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError as exc:
            raise InputError(
                f"{name} {value!r} is not a valid date: {exc}",
                hint="use an ISO 8601 date such as 2019-05-11 or 2019-05-11T10:30:00Z",
            ) from None
    else:
        raise InputError(
            f"{name} {value!r} is a {type(value).__name__}, not a date",
            hint="pass a datetime.datetime, a datetime.date or an ISO 8601 string",
        )
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc)


def parse_cloud(value: Any, *, name: str) -> float | None:
    """A cloud percentage in [0, 100]; None stays None."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise InputError(f"{name} {value!r} is not a number", hint="give a percentage 0-100")
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise InputError(
                f"{name} {value!r} is not a number", hint="give a percentage 0-100 without '%'"
            ) from None
    elif isinstance(value, (int, float)):
        number = float(value)
    else:
        raise InputError(f"{name} {value!r} is not a number", hint="give a percentage 0-100")
    if math.isnan(number) or math.isinf(number):
        raise InputError(f"{name} {value!r} is not a finite number", hint="give a percentage 0-100")
    if not 0.0 <= number <= 100.0:
        raise InputError(f"{name} {value!r} is out of range", hint="give a percentage 0-100")
    return number


@dataclass(frozen=True)
class SearchQuery:
    """A validated search: platforms, AOI, UTC date range, cloud range and provider options."""

    platforms: tuple[str, ...] = ()
    aoi: Footprint | None = None
    start: datetime | None = None
    end: datetime | None = None
    cloud_min: float | None = None
    cloud_max: float | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    #: the most scenes the request for this page may ask for (set per page by a search with a
    #: ``limit``, so the last page is no larger than what is still wanted); None: no cap
    page_limit: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "platforms", tuple(self.platforms))
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))
        if self.page_limit is not None and self.page_limit < 1:
            raise InputError(f"page_limit {self.page_limit} must be at least 1")
        for label, value in (("start", self.start), ("end", self.end)):
            if value is not None and value.tzinfo is None:
                raise InputError(f"{label} {value.isoformat()} must be timezone-aware")
        if self.start and self.end and self.start > self.end:
            raise InputError(
                f"start {self.start.date().isoformat()} is after end {self.end.date().isoformat()}"
                if self.start.date() != self.end.date()
                else f"start {self.start.isoformat()} is after end {self.end.isoformat()}",
                hint="swap the dates",
            )
        if (
            self.cloud_min is not None
            and self.cloud_max is not None
            and self.cloud_min > self.cloud_max
        ):
            raise InputError(
                f"cloud_min {self.cloud_min:g} is greater than cloud_max {self.cloud_max:g}",
                hint="cloud_min must be <= cloud_max",
            )

    @classmethod
    def create(
        cls,
        *,
        platforms: tuple[str, ...] = (),
        aoi: Footprint | None = None,
        start_date: Any = None,
        end_date: Any = None,
        cloud_min: Any = None,
        cloud_max: Any = None,
        **options: Any,
    ) -> SearchQuery:
        """Validate raw user values (dates as datetime/date/ISO text, clouds as numbers)."""
        return cls(
            platforms=platforms,
            aoi=aoi,
            start=parse_datetime(start_date, name="start date"),
            end=parse_datetime(end_date, name="end date", end_of_day=True),
            cloud_min=parse_cloud(cloud_min, name="cloud_min"),
            cloud_max=parse_cloud(cloud_max, name="cloud_max"),
            options=options,
        )

    def at_most(self, size: int) -> SearchQuery:
        """This query with requests capped at ``size`` scenes (see ``page_limit``)."""
        return replace(self, page_limit=size)

    def page_size(self, default: int) -> int:
        """How many scenes to ask for: the ``page_size`` option (else ``default``), capped by
        ``page_limit``."""
        wanted = self.options.get("page_size")
        if wanted is None:
            wanted = default
        elif isinstance(wanted, bool) or not isinstance(wanted, int) or wanted < 1:
            raise InputError(f"page_size {wanted!r} must be a whole number of scenes >= 1")
        return min(wanted, self.page_limit) if self.page_limit is not None else wanted

    @property
    def has_cloud_filter(self) -> bool:
        return self.cloud_min is not None or self.cloud_max is not None

    def cloud_accepts(self, cloud: float | None) -> bool:
        """Client-side cloud filter; scenes without a cloud value pass (SAR has none)."""
        if cloud is None:
            return True
        if self.cloud_min is not None and cloud < self.cloud_min:
            return False
        if self.cloud_max is not None and cloud > self.cloud_max:
            return False
        return True
