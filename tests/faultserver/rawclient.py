"""Minimal raw-socket HTTP/1.1 client that reports exactly what arrived on the wire."""
from __future__ import annotations

import socket
import time
from dataclasses import dataclass, field


@dataclass
class RawResponse:
    """Status, headers (lower-cased names), body bytes as received, and how it ended."""

    status: int
    headers: dict[str, str]
    body: bytes
    error: OSError | None = None
    eof: bool = False
    arrivals: list[float] = field(default_factory=list)

    @property
    def declared_length(self) -> int | None:
        """The ``Content-Length`` header as an int, if any."""
        value = self.headers.get("content-length")
        return int(value) if value is not None else None


def raw_request(host: str, port: int, path: str, headers: dict[str, str] | None = None,
                method: str = "GET", timeout: float = 5.0, max_seconds: float = 10.0,
                read_size: int = 65536) -> RawResponse:
    """Send one request with ``Connection: close`` and read until EOF, error or timeout.

    ``timeout`` is the per-recv idle timeout; ``max_seconds`` bounds the whole exchange.
    """
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}:{port}", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    data, arrivals = bytearray(), []
    error: OSError | None = None
    eof = False
    deadline = time.monotonic() + max_seconds
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(read_size)
            except OSError as exc:  # includes TimeoutError and ConnectionResetError
                error = exc
                break
            if not chunk:
                eof = True
                break
            data += chunk
            arrivals.append(time.monotonic())
    head, _, body = bytes(data).partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed = {}
    for line in header_lines:
        key, _, value = line.partition(":")
        parsed[key.strip().lower()] = value.strip()
    status = int(status_line.split()[1]) if status_line else 0
    return RawResponse(status, parsed, body, error, eof, arrivals)
