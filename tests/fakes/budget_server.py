"""A loopback server that records how a provider budget is used by several processes.

``GET /hold`` answers after ``hold`` seconds and counts the requests in flight (``peak`` is the
most seen at once, as a provider counting an account's concurrent downloads would); ``GET
/tick`` records its arrival time (``time.monotonic()``, the machine-wide clock, so ticks of
several processes can be compared) as a provider enforcing a request rate would.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        fake = self.server.fake
        if self.path == "/tick":
            with fake.lock:
                fake.ticks.append(time.monotonic())
        elif self.path == "/hold":
            with fake.lock:
                fake.in_flight += 1
                fake.peak = max(fake.peak, fake.in_flight)
                fake.holds += 1
            try:
                time.sleep(fake.hold)
            finally:
                with fake.lock:
                    fake.in_flight -= 1
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: BudgetServer


class BudgetServer:
    """``with BudgetServer(hold=0.05) as server``: ``server.url``, ``peak``, ``holds``, ``ticks``."""

    def __init__(self, *, hold: float = 0.05) -> None:
        self.hold = hold
        self.lock = threading.Lock()
        self.in_flight = self.peak = self.holds = 0
        self.ticks: list[float] = []
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> BudgetServer:
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
