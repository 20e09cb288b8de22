"""The listening socket behind a ``FaultServer``: a ThreadingHTTPServer that can stop fast."""
from __future__ import annotations

import socket
import sys
import threading
import traceback
from http.server import ThreadingHTTPServer
from socketserver import TCPServer
from typing import TYPE_CHECKING, Any

from faultserver.handler import FaultHandler

if TYPE_CHECKING:
    from faultserver.server import FaultServer


class Listener(ThreadingHTTPServer):
    """ThreadingHTTPServer that tracks its connections and threads so ``stop()`` can end them.

    Several listeners (on other loopback addresses) may share one ``FaultServer`` owner,
    which holds the files, faults and request log.
    """

    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], owner: FaultServer) -> None:
        self.owner = owner
        self.conn_lock = threading.Lock()
        self.connections: set[socket.socket] = set()
        self.threads: set[threading.Thread] = set()
        self.serve_thread: threading.Thread | None = None
        super().__init__(address, FaultHandler)
        host = address[0]
        self.origin = f"http://{f'[{host}]' if ':' in host else host}:{self.server_address[1]}"

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls getfqdn(), a reverse DNS lookup we neither need nor want.
        TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def start(self) -> None:
        """Accept connections in a daemon thread (idempotent)."""
        if self.serve_thread is None:
            self.serve_thread = threading.Thread(
                target=self.serve_forever, kwargs={"poll_interval": 0.05},
                name=f"faultserver-{self.owner.name}-accept", daemon=True)
            self.serve_thread.start()

    def halt(self, timeout: float) -> None:
        """Stop accepting, close the listening socket and wake every open connection."""
        if self.serve_thread is not None:
            self.shutdown()
            self.serve_thread.join(timeout)
            self.serve_thread = None
        self.server_close()
        with self.conn_lock:
            connections = list(self.connections)
        for conn in connections:
            try:
                # shutdown, not close: it wakes a blocked recv/send without racing on the fd.
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(target=self._run, args=(request, client_address),
                                  name=f"faultserver-{self.owner.name}", daemon=True)
        with self.conn_lock:
            self.connections.add(request)
            self.threads.add(thread)
        thread.start()

    def _run(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self.conn_lock:
                self.connections.discard(request)
                self.threads.discard(threading.current_thread())

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Stay quiet about connection errors (faults, impatient clients); show the rest."""
        if not isinstance(sys.exc_info()[1], OSError):
            traceback.print_exc()

    def leftovers(self) -> tuple[list[threading.Thread], list[socket.socket]]:
        """Handler threads and connections still alive."""
        with self.conn_lock:
            return list(self.threads), list(self.connections)


class Listener6(Listener):
    """IPv6 variant (for ``::1``)."""

    address_family = socket.AF_INET6


def make_listener(host: str, port: int, owner: FaultServer) -> Listener:
    """Bind a listener on ``host:port`` (port 0 = ephemeral) for ``owner``."""
    return (Listener6 if ":" in host else Listener)((host, port), owner)
