"""ProviderPace: order API calls are let through at least 1/rate apart, measured between the
moments they are let through, even when a caller wakes late from its sleep (a loaded machine)."""

from __future__ import annotations

import threading

from fakes.sources import FakeClock

from eoharvest.application.orders import ProviderPace


class LateWaker(FakeClock):
    """A clock whose first sleep overruns by ``late`` seconds, as a descheduled thread's does."""

    def __init__(self, late: float) -> None:
        super().__init__()
        self.late = late

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds + self.late)
        self.late = 0.0


def test_a_caller_that_wakes_late_does_not_let_the_next_call_through_early():
    clock = LateWaker(late=0.04)
    pace, released = ProviderPace(clock), []
    for _ in range(4):
        pace.wait("p", 20.0)
        released.append(clock.monotonic())
    gaps = [b - a for a, b in zip(released, released[1:])]
    assert min(gaps) >= 0.05 - 1e-9, gaps  # reserving slots ahead gave 0.00, 0.09, 0.01


def test_threads_waiting_at_once_are_let_through_one_by_one_at_the_rate():
    clock = FakeClock()
    pace, released, guard = ProviderPace(clock), [], threading.Lock()

    def call():
        pace.wait("p", 10.0)
        with guard:
            released.append(clock.monotonic())

    threads = [threading.Thread(target=call) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    released.sort()
    assert len(released) == 6
    assert min(b - a for a, b in zip(released, released[1:])) >= 0.1 - 1e-9


def test_providers_are_paced_independently_and_no_rate_means_no_wait():
    clock = FakeClock()
    pace = ProviderPace(clock)
    pace.wait("a", 1.0)
    pace.wait("b", 1.0)
    pace.wait("c", None)
    pace.wait("c", None)
    assert clock.sleeps == []
