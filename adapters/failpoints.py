"""Crash points for the kill -9 tests (tests/integration/test_kill9.py): ``EOHARVEST_CRASH_AT=<name>`` makes the process
SIGKILL itself when it reaches that step. Unset (always, outside tests) it costs one lookup."""

from __future__ import annotations

import os
import signal

ENV = "EOHARVEST_CRASH_AT"


def crash_point(name: str) -> None:
    if os.environ.get(ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
