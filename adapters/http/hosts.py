"""Which download hosts are failing: a host with too many consecutive failures in a short time
is paused, so workers stop spending their time on it while other hosts' downloads go on."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Callable

from eoharvest.domain.urls import origin_of


@dataclass(frozen=True)
class HostPausePolicy:
    """``failures`` consecutive failures within ``window`` seconds pause a host for ``pause``
    seconds (0 failures: never)."""

    failures: int = 5
    window: float = 60.0
    pause: float = 60.0


class HostHealth:
    """Counts consecutive failed attempts per origin (scheme, host, port); thread-safe.

    A failure is an attempt that gained no bytes (connection refused, stall, 5xx, 429); an
    attempt that delivered bytes or completed resets the count. One instance is shared by every
    engine of a process, since several providers may serve from one host.
    """

    def __init__(self, policy: HostPausePolicy | None = None, *, monotonic: Callable[[], float]) -> None:
        self.policy = policy or HostPausePolicy()
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._failures: dict[str, deque[float]] = {}
        self._paused_until: dict[str, float] = {}

    @staticmethod
    def key(url: str) -> str:
        return str(origin_of(url))

    def paused_for(self, url: str) -> float:
        """Seconds the host of ``url`` stays paused (0 when it may be asked now)."""
        key = self.key(url)
        with self._lock:
            until = self._paused_until.get(key)
            if until is None:
                return 0.0
            left = until - self._monotonic()
            if left <= 0:
                del self._paused_until[key]
                return 0.0
            return left

    def failed(self, url: str) -> float:
        """Record a failed attempt; returns the pause it started (0 when none)."""
        policy = self.policy
        if policy.failures <= 0:
            return 0.0
        key = self.key(url)
        now = self._monotonic()
        with self._lock:
            times = self._failures.setdefault(key, deque(maxlen=policy.failures))
            times.append(now)
            if len(times) == policy.failures and now - times[0] <= policy.window:
                times.clear()  # after the pause the host gets a fresh count
                self._paused_until[key] = now + policy.pause
                return policy.pause
        return 0.0

    def succeeded(self, url: str) -> None:
        key = self.key(url)
        with self._lock:
            self._failures.pop(key, None)
