"""A thread-safe gauge of how many threads are inside a block at once."""

from __future__ import annotations

import threading


class ConcurrencyGauge:
    """``with gauge:`` around the work; ``now`` is how many are inside, ``peak`` the most seen."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now = self.peak = 0

    def __enter__(self) -> ConcurrencyGauge:
        with self._lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self.now -= 1
