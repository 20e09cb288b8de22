"""SIGINT and SIGTERM during `harvest` and `download`: a graceful stop, then the summary.

The first signal only asks the run to stop: no new scene is claimed, running transfers stop at
their next chunk and keep their ``.part`` file and sidecar (the next run resumes them), their
catalog rows go back to ``queued``; the command then prints its summary and exits 128 + the
signal number (130 for SIGINT, 143 for SIGTERM), as shells and service managers expect. A second
signal means "now": it interrupts at once (exit 130).
"""

from __future__ import annotations

import signal
import sys
import threading
from contextlib import contextmanager
from types import FrameType
from typing import Iterator

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """``cancel_requested`` for a run: true once a stop signal arrived."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def __call__(self) -> bool:
        return self.signum is not None

    @property
    def name(self) -> str:
        return signal.Signals(self.signum).name if self.signum is not None else ""

    @property
    def exit_code(self) -> int:
        return 128 + (self.signum or 0)


@contextmanager
def graceful_stop() -> Iterator[StopRequest]:
    """Handle SIGINT and SIGTERM as a stop request while the block runs (main thread only:
    Python delivers signals there; elsewhere, e.g. a CLI run inside a test thread, the request
    simply never turns true)."""
    request = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield request
        return

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if request.signum is not None:
            raise KeyboardInterrupt  # the second signal: stop now
        request.signum = signum
        sys.stderr.write(
            f"eoharvest: {signal.Signals(signum).name} received: stopping after the running transfers "
            "(partial files are kept and resume on the next run; send it again to stop at once)\n"
        )

    previous = {sig: signal.signal(sig, on_signal) for sig in STOP_SIGNALS}
    try:
        yield request
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
