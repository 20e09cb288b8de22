"""Retry rules: which failures are transient, how long to wait, when to give up."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

# curl's --retry set: timeouts, 408, 429 and the 5xx that mean "try again later".
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


def is_retryable_status(status: int) -> bool:
    return status in RETRYABLE_STATUS


def parse_retry_after(value: str | None, *, now: datetime, cap: float) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or HTTP-date), capped.

    A date in the past means "now" (0); an absurd value is capped; garbage is ignored (None).
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if text.isdigit():
        return min(float(text), cap)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return min(max((when - now).total_seconds(), 0.0), cap)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded by attempts and by wall time; exponential backoff with full jitter."""

    max_attempts: int = 6
    max_seconds: float = 900.0
    base_delay: float = 1.0
    max_delay: float = 60.0
    retry_after_cap: float = 900.0

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Delay before retry number ``attempt`` (1-based): random in [d/2, d], d = base * 2^(n-1)."""
        ceiling = min(self.max_delay, self.base_delay * (2.0 ** max(attempt - 1, 0)))
        r = rng.random() if rng is not None else random.random()
        return ceiling / 2 + r * ceiling / 2

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random | None = None) -> float:
        """The wait before the next attempt: our backoff, or the server's Retry-After plus a
        little jitter (up to half of it, at most 1 s): clients told the same Retry-After at once
        must not all come back in the same instant and be refused again."""
        own = self.backoff(attempt, rng)
        if retry_after is None:
            return own
        wait = max(min(retry_after, self.retry_after_cap), 0.0)
        r = rng.random() if rng is not None else random.random()
        return min(wait + r * min(1.0, wait / 2), self.retry_after_cap)

    def allows(self, attempts_made: int, elapsed: float, next_delay: float = 0.0) -> bool:
        """Whether another attempt fits in both budgets."""
        return attempts_made < self.max_attempts and elapsed + next_delay <= self.max_seconds
