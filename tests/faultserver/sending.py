"""Writing a response body, honestly or with a byte-level fault (reset, truncate, stall, drip)."""
from __future__ import annotations

import fcntl
import socket
import struct
import termios
import time
from collections.abc import Iterable
from typing import Any

from faultserver.faults import Fault

#: How long a reset waits for already-written bytes to leave the kernel before the RST.
DRAIN_SECONDS = 0.2


def send_body(handler: Any, pieces: Iterable[bytes], length: int, fault: Fault | None) -> None:
    """Write ``length`` bytes from ``pieces`` to ``handler.wfile``, applying ``fault``."""
    if fault is not None and fault.kind == "drip":
        _drip(handler, pieces, length, fault)
        return
    limit = length if fault is None else fault.at(length)
    _write_upto(handler, pieces, limit)
    if fault is None:
        return
    handler.close_connection = True
    if fault.kind == "reset":
        reset(handler)
    elif fault.kind == "stall":
        handler.owner.stopping.wait(float(fault.param("seconds")))
    # truncate: returning with close_connection set makes socketserver send a clean FIN.


def _write_upto(handler: Any, pieces: Iterable[bytes], limit: int) -> None:
    sent = 0
    pace = getattr(handler.owner, "pace", 0.0)
    for piece in pieces:
        if sent >= limit:
            break
        piece = piece[: limit - sent]
        handler.wfile.write(piece)
        sent += len(piece)
        handler.record.bytes_sent += len(piece)
        if pace and sent < limit and handler.owner.stopping.wait(pace):
            break


def _drip(handler: Any, pieces: Iterable[bytes], length: int, fault: Fault) -> None:
    """Send one byte per ``interval`` until the body ends, ``duration`` passes or stop()."""
    interval = float(fault.param("interval"))
    deadline = time.monotonic() + float(fault.param("duration"))
    stopping = handler.owner.stopping
    sent = 0
    for piece in pieces:
        for i in range(len(piece)):
            handler.wfile.write(piece[i : i + 1])
            sent += 1
            handler.record.bytes_sent += 1
            if sent == length:
                return
            if stopping.wait(interval) or time.monotonic() >= deadline:
                handler.close_connection = True
                return


def reset(handler: Any) -> None:
    """Abort the connection with a real TCP RST (SO_LINGER on, timeout 0, then close)."""
    sock: socket.socket = handler.connection
    _drain(sock)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    # The fd closes only when every makefile() reference is gone, so drop rfile first.
    handler.rfile.close()
    sock.close()


def _drain(sock: socket.socket) -> None:
    """Wait (bounded) until the kernel send queue is empty, so ``offset`` bytes arrive.

    A zero-linger close discards unsent data; without this wait the client would see an
    RST at a smaller, timing-dependent offset.
    """
    deadline = time.monotonic() + DRAIN_SECONDS
    buf = bytearray(4)
    while time.monotonic() < deadline:
        try:
            fcntl.ioctl(sock.fileno(), termios.TIOCOUTQ, buf)
        except OSError:
            return
        if struct.unpack("i", buf)[0] == 0:
            return
        time.sleep(0.001)
