"""The real clock (a ``domain.ports.Clock``): what runs unless a test injects another."""

from __future__ import annotations

import time
from datetime import datetime, timezone


class SystemClock:
    """Wall time in UTC, the monotonic clock and ``time.sleep`` (a ``domain.ports.Clock``)."""

    def now(self) -> datetime:
        """The current time as a timezone-aware UTC datetime."""
        return datetime.now(timezone.utc)

    def monotonic(self) -> float:
        """Seconds from an arbitrary start; never goes backwards (use it for deadlines)."""
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        """Block for ``seconds``; zero or negative values return at once."""
        if seconds > 0:
            time.sleep(seconds)
