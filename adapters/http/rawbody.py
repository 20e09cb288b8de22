"""Reading a large body straight from the socket into reusable blocks.

httpx (httpcore + h11) reads 64 KiB at a time and copies every byte several times on its way
up; for a multi-gigabyte file that is most of the CPU a transfer costs. Once the headers are
parsed and h11 has handed over what it had buffered, the rest of a plain HTTP/1.1 body with a
Content-Length is just the next bytes on the socket: they are received with ``recv_into``
straight into the block that is then hashed and written. The connection is not reused
afterwards (h11 never saw the body), which is why only large bodies take this path.
"""

from __future__ import annotations

import ssl
import time
from typing import Callable, Iterator

import httpx

#: Bodies at least this large are read from the socket directly; smaller ones through httpx,
#: whose connection then stays open for the next file.
RAW_MIN_BYTES = 16 << 20
#: How much one recv_into may ask for (the kernel hands over what it has).
RECV_BYTES = 1 << 20


def raw_socket(response: httpx.Response, remaining: int) -> object | None:
    """The socket under ``response``'s body when reading it directly is safe, else None:
    HTTP/1.1, a Content-Length of exactly ``remaining`` bytes, not chunked, and not TLS inside
    TLS (the socket would carry the outer encryption)."""
    if remaining < RAW_MIN_BYTES or response.http_version != "HTTP/1.1":
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
    return sock


Buffer = bytes | bytearray


def body_blocks(
    response: httpx.Response,
    sock: object | None,
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
    if sock is None or remaining is None:
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
        if filled:
            yield block, filled, True
        if ended:
            return  # early: the caller compares what arrived with what was announced
