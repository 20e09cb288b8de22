"""One watcher thread for every body being read: it cuts off a response that is cancelled, runs
below the throughput floor for a whole window, or makes no progress for longer than its file's
remaining failure budget. A stalled ``recv()`` wakes only when its socket is shut down, so the
check cannot live in the reading thread; one shared thread replaces a thread per transfer."""

from __future__ import annotations

import socket
import threading
import time
from typing import Callable

import httpx

POLL = 0.1
#: The thread stays this long without watches before it ends (sequential downloads reuse it).
IDLE_EXIT = 5.0


class Watch:
    """A response being read. The reader adds to ``received``; the watcher sets ``reason``."""

    def __init__(
        self,
        response: httpx.Response,
        stopped: Callable[[], bool],
        *,
        now: float,
        min_throughput: int,
        window: float,
        stall_limit: float,
    ) -> None:
        self.response = response
        self.stopped = stopped
        self.min_throughput = min_throughput
        self.window = window
        self.stall_limit = stall_limit
        self.received = 0
        self.cancelled = False
        self.reason: str | None = None  # why the watcher cut the response off
        self.last_progress = now
        self._seen = 0
        self._window_start = now
        self._window_base = 0

    def check(self, now: float) -> bool:
        """True when the response must be cut off (``reason`` or ``cancelled`` says why)."""
        if self.stopped():
            self.cancelled = True
            return True
        received = self.received
        if received != self._seen:
            self._seen, self.last_progress = received, now
        elif now - self.last_progress >= self.stall_limit:
            self.reason = f"no data for {now - self.last_progress:.0f} s"
            return True
        elapsed = now - self._window_start
        if elapsed >= self.window:
            rate = (received - self._window_base) / elapsed
            if rate < self.min_throughput:
                self.reason = f"too slow: {rate:.0f} B/s over {elapsed:.0f} s"
                return True
            self._window_start, self._window_base = now, received
        return False

    @property
    def fired(self) -> bool:
        return self.cancelled or self.reason is not None


class TransferMonitor:
    """Polls every registered :class:`Watch` each ``POLL`` seconds on one daemon thread, which
    starts with the first watch and ends once none has been left for ``IDLE_EXIT`` seconds."""

    def __init__(self, monotonic: Callable[[], float]) -> None:
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._watches: set[Watch] = set()
        self._thread: threading.Thread | None = None

    def watch(self, watch: Watch) -> None:
        with self._lock:
            self._watches.add(watch)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="eoharvest-monitor", daemon=True)
                self._thread.start()

    def unwatch(self, watch: Watch) -> None:
        with self._lock:
            self._watches.discard(watch)

    def _run(self) -> None:
        event = threading.Event()
        idle_since: float | None = None
        while True:
            event.wait(POLL)
            with self._lock:  # held while cutting off: an unwatched response is never touched
                if not self._watches:
                    # Real time, not the injected clock: a frozen test clock must not keep it.
                    idle_since = idle_since or time.monotonic()
                    if time.monotonic() - idle_since >= IDLE_EXIT:
                        self._thread = None
                        return
                    continue
                idle_since = None
                now = self._monotonic()
                for watch in self._watches:
                    if not watch.fired and watch.check(now):
                        _cut_off(watch.response)


def _cut_off(response: httpx.Response) -> None:
    # close() alone does not wake a thread blocked in recv(); shutdown() does.
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
