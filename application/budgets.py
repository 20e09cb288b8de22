"""Provider budgets kept in this process (the ``ProviderBudgets`` port for SpatiaLite catalogs).

A SpatiaLite catalog is used by the processes of one machine, and each of them keeps its own
budgets, as eoharvest always did: slots are counted, and calls paced, among the threads of one
composition root (``Services``). Budgets shared by every process on a PostgreSQL catalog live in
``adapters/catalog/postgis_budget.py``.
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

from eoharvest.domain.budgets import BudgetKey
from eoharvest.domain.errors import DownloadCancelled
from eoharvest.domain.ports import Clock, ProviderBudgets

#: Longest wait between two looks at ``stopped()`` while waiting for a slot.
POLL_INTERVAL = 0.1


class LocalBudgets:
    """Slots and paces of this process's provider accounts."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._guard = threading.Lock()
        self._held: dict[BudgetKey, int] = {}
        self._freed = threading.Condition(self._guard)
        self._pace_locks: dict[BudgetKey, threading.Lock] = {}
        self._last: dict[BudgetKey, float] = {}

    @contextmanager
    def slot(self, key: BudgetKey, limit: int, stopped: Callable[[], bool] | None = None) -> Iterator[None]:
        with self._freed:
            while self._held.get(key, 0) >= max(1, limit):
                if stopped is not None and stopped():
                    raise DownloadCancelled(f"cancelled while waiting for a {key.kind} slot of {key.provider}")
                self._freed.wait(POLL_INTERVAL)
            self._held[key] = self._held.get(key, 0) + 1
        try:
            yield
        finally:
            with self._freed:
                self._held[key] -= 1
                self._freed.notify_all()

    def pace(self, key: BudgetKey, rate: float, stopped: Callable[[], bool] | None = None) -> None:
        """Spacing is measured between the moments calls are let through, one caller at a time
        per key: reserving moments ahead and sleeping outside the lock would let a caller that
        woke late (a loaded machine) be followed by the next one on time, closer than the rate."""
        if not rate or rate <= 0:
            return
        with self._guard:
            lock = self._pace_locks.setdefault(key, threading.Lock())
        with lock:
            last = self._last.get(key)
            if last is not None:
                remaining = last + 1.0 / rate - self._clock.monotonic()
                if remaining > 0:
                    if stopped is not None and stopped():
                        raise DownloadCancelled(f"cancelled while pacing {key.kind} of {key.provider}")
                    self._clock.sleep(remaining)
            self._last[key] = self._clock.monotonic()

    def close(self) -> None:
        """Nothing to release: the budgets end with the process."""


@dataclass(frozen=True)
class DownloadBudget:
    """The concurrent-download budget of one provider account: ``limit`` slots of ``key``."""

    budgets: ProviderBudgets
    key: BudgetKey
    limit: int

    def hold(self, stopped: Callable[[], bool] | None = None) -> AbstractContextManager[None]:
        """One slot for the ``with`` block; waiting stops with DownloadCancelled on ``stopped()``."""
        return self.budgets.slot(self.key, self.limit, stopped)


__all__ = ["DownloadBudget", "LocalBudgets"]
