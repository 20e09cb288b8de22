"""Reading a body straight from the socket into reusable blocks.

httpx (httpcore + h11) reads a few hundred KiB at a time and copies every byte several times on
its way up; for a multi-gigabyte file that is most of the CPU a transfer costs, and for many
small files it is most of their fixed cost. Once the headers are parsed and h11 has handed over
what it had buffered, the rest of a plain HTTP/1.1 body with a Content-Length is just the next
bytes on the socket: they are received with ``recv_into`` straight into the block that is then
hashed and written.

Afterwards the connection is handed back to httpcore for the next request when h11's state can
be brought level with what was read (its Content-Length reader is told the bytes arrived; see
:func:`_hand_back`). Where that is not possible (another httpx/httpcore/h11 layout) the
connection is closed instead, and only large bodies take this path.
"""

from __future__ import annotations

import ssl
import time
from typing import Callable, Iterator

import httpx

#: Bodies at least this large are read from the socket directly even when the connection cannot
#: be reused afterwards; smaller ones then go through httpx, whose connection stays open.
RAW_MIN_BYTES = 16 << 20
#: Bodies at least this large are read from the socket directly when the connection can be
#: handed back afterwards (below it, httpx's own reads cost little).
REUSABLE_RAW_MIN_BYTES = 1 << 20
#: How much one recv_into may ask for (the kernel hands over what it has).
RECV_BYTES = 1 << 20


class RawBody:
    """The socket under a response's body and, when known, the h11 state to bring level after."""

    __slots__ = ("sock", "h11")

    def __init__(self, sock: object, h11: object | None) -> None:
        self.sock, self.h11 = sock, h11


def raw_socket(response: httpx.Response, remaining: int) -> RawBody | None:
    """The socket under ``response``'s body when reading it directly is safe, else None:
    HTTP/1.1, a Content-Length of exactly ``remaining`` bytes, not chunked, and not TLS inside
    TLS (the socket would carry the outer encryption)."""
    if remaining < REUSABLE_RAW_MIN_BYTES or response.http_version != "HTTP/1.1":
        return None
    if response.headers.get("Content-Length") != str(remaining) or "Transfer-Encoding" in response.headers:
        return None
    stream = response.extensions.get("network_stream")
    if stream is None:
        return None
    sock = stream.get_extra_info("socket")
    if sock is None or not hasattr(sock, "recv_into"):
        return None
    if stream.get_extra_info("ssl_object") is not None and not isinstance(sock, ssl.SSLSocket):
        return None
    h11 = _h11_state(response)
    if h11 is None and remaining < RAW_MIN_BYTES:
        return None
    return RawBody(sock, h11)


def _h11_state(response: httpx.Response) -> object | None:
    """The h11 connection under ``response`` (httpx stream -> httpcore pool stream ->
    HTTP11Connection), or None when the layers are not the known ones."""
    layer: object | None = response.stream
    for _ in range(8):
        state = getattr(layer, "_h11_state", None)
        if state is not None:
            return state if hasattr(state, "_reader") and hasattr(state, "_receive_buffer") else None
        layer = next((getattr(layer, name) for name in ("_stream", "_httpcore_stream", "_connection")
                      if getattr(layer, name, None) is not None), None)
        if layer is None:
            return None
    return None


def _hand_back(h11: object | None, consumed: int) -> bool:
    """Tell h11 the ``consumed`` body bytes read past it arrived, so that the response ends
    normally and httpcore reuses the connection. Only when h11 expects exactly those bytes and
    holds nothing of its own; otherwise False (the connection is then closed, never reused)."""
    reader = getattr(h11, "_reader", None)
    if type(reader).__name__ != "ContentLengthReader" or getattr(reader, "_remaining", None) != consumed:
        return False
    if len(getattr(h11, "_receive_buffer", b"x")):
        return False
    reader._remaining = 0  # type: ignore[union-attr]
    return True


Buffer = bytes | bytearray


def body_blocks(
    response: httpx.Response,
    raw: RawBody | None,
    remaining: int | None,
    *,
    buffer: Callable[[], bytearray],
    received: Callable[[int], None],
    read_timeout: float | None,
    max_hold: float,
) -> Iterator[tuple[Buffer, int, bool]]:
    """Yields ``(block, length, recycle)`` until the body ends. ``recycle`` blocks came from
    ``buffer()``; ``received(n)`` is told about every read (the stall watcher's progress)."""
    chunks = response.iter_raw()
    if raw is None or remaining is None:
        for chunk in chunks:
            received(len(chunk))
            yield chunk, len(chunk), False
        return
    # What h11 read along with the headers comes first; after one chunk its buffer is empty.
    first = next(chunks, b"")
    if first:
        received(len(first))
        remaining -= len(first)
        yield first, len(first), False
    sock = raw.sock
    consumed = 0
    sock.settimeout(read_timeout)  # type: ignore[attr-defined]
    recv_into = sock.recv_into  # type: ignore[attr-defined]
    while remaining > 0:
        block = buffer()
        view = memoryview(block)
        size = min(len(block), remaining)
        filled = 0
        ended = False
        started = time.monotonic()
        try:
            while filled < size:
                n = recv_into(view[filled:size], min(size - filled, RECV_BYTES))
                if n == 0:
                    ended = True  # the peer closed (or the watcher shut the socket down)
                    break
                filled += n
                received(n)
                if time.monotonic() - started >= max_hold:
                    break
        except OSError as exc:
            if filled:
                yield block, filled, True  # what arrived is kept for resuming
            # Reported like httpx's own read errors (a receive error, never a disk error).
            if isinstance(exc, TimeoutError):
                raise httpx.ReadTimeout(str(exc) or "timed out") from exc
            raise httpx.ReadError(str(exc) or type(exc).__name__) from exc
        remaining -= filled
        consumed += filled
        if filled:
            yield block, filled, True
        if ended:
            return  # early: the caller compares what arrived with what was announced
    if _hand_back(raw.h11, consumed):
        for _ in chunks:  # h11 now reports the end of the body: httpcore keeps the connection
            pass
