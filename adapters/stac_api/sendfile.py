"""uvicorn's h11 protocol offering the ASGI ``http.response.pathsend`` extension, sent with
sendfile(2) through ``loop.sendfile``.

uvicorn does not offer ``pathsend``, so Starlette's ``FileResponse`` reads a whole file in chunks
in a worker thread and hands each chunk to h11, which copies it again before the socket does:
about 0.6x the throughput of nginx on the same file. With this protocol a whole-file ``GET``
(what ``FileResponse`` sends as ``pathsend``) goes from the page cache to the socket in the
kernel. Ranges, ``HEAD``, 304 and 416 are unchanged (``FileResponse`` answers them itself).

The file is opened again by path here, as ``FileResponse`` would: if its size is no longer the
``Content-Length`` already sent (it changed after the route checked it), the connection is
closed rather than sending other bytes than announced. The bytes go out from a thread of their
own (see :func:`_sendfile`), the event loop serving every other request meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import os
import select
import threading
import time
from typing import Any, Awaitable, Callable

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

PATHSEND = "http.response.pathsend"
log = logging.getLogger("eoharvest.serve")

Send = Callable[[dict[str, Any]], Awaitable[None]]


class SendfileH11Protocol(H11Protocol):
    """:class:`H11Protocol` whose applications may send ``http.response.pathsend``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.app = _offer_pathsend(self.app)


class _Sent:
    """What h11 is told went out as the body: only its length (sendfile sent the bytes)."""

    def __init__(self, length: int) -> None:
        self.length = length

    def __len__(self) -> int:
        return self.length


def _offer_pathsend(app: Any) -> Any:
    async def offering(scope: dict[str, Any], receive: Any, send: Send) -> None:
        if scope["type"] != "http":
            return await app(scope, receive, send)
        scope = {**scope, "extensions": {**(scope.get("extensions") or {}), PATHSEND: {}}}
        announced: list[int | None] = [None]

        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                announced[0] = _content_length(message.get("headers", ()))
            if message["type"] != PATHSEND:
                return await send(message)
            await _send_path(send, message["path"], announced[0], scope["method"] == "HEAD")

        return await app(scope, receive, sending)

    return offering


def _content_length(headers: Any) -> int | None:
    for name, value in headers:
        if name.lower() == b"content-length":
            return int(value)
    return None


_CYCLE = ("disconnected", "flow", "transport", "conn")
CHUNK = 1024 * 1024
#: whole files sent from threads at once; more are sent by the event loop (loop.sendfile)
MAX_THREADS = 16
#: a client that takes no bytes for this long is dropped
STALL_SECONDS = 60.0
_POLL_MS = 500
_threads = 0  # changed on the event loop's thread only


async def _send_path(send: Send, path: str, length: int | None, head: bool) -> None:
    """The body of the response whose headers went out: the file at ``path`` by sendfile."""
    cycle = getattr(send, "__self__", None)  # uvicorn's RequestResponseCycle of this request
    if not all(hasattr(cycle, name) for name in _CYCLE):
        return await _send_chunks(send, path, head)  # another uvicorn than this was written for
    if cycle.disconnected:
        return
    if not head:
        if cycle.flow.write_paused:
            await cycle.flow.drain()
        try:
            with open(path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                if length is None or size != length:
                    log.warning("closing the connection: %s changed while it was being served", path)
                    cycle.transport.close()
                    return
                sent = await _sendfile(cycle.transport, handle, size)
        except (OSError, RuntimeError):  # the client went away (or the file did)
            cycle.transport.close()
            return
        if sent != size:
            cycle.transport.close()
            return
        # h11 keeps count of the body against Content-Length: tell it the bytes went out
        cycle.conn.send_with_data_passthrough(h11.Data(data=_Sent(sent)))
    await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _sendfile(transport: asyncio.Transport, handle: Any, size: int) -> int:
    """Send ``size`` bytes of ``handle`` on ``transport``'s socket; how many went out.

    In a thread of its own while fewer than :data:`MAX_THREADS` do so (measured: about 1.4x the
    throughput of the event loop's ``loop.sendfile`` on a busy machine, whose every refill of the
    socket buffer is a round of the loop), else, or when the transport still holds unsent
    bytes, with ``loop.sendfile``."""
    global _threads
    sock = transport.get_extra_info("socket")
    if _threads >= MAX_THREADS or sock is None or transport.get_write_buffer_size():
        return await asyncio.get_running_loop().sendfile(transport, handle, 0, size)
    stop = threading.Event()
    # The thread works on its own duplicates of both descriptors, so neither number can be
    # closed and reused under it (a reused socket number would get this file's bytes).
    sock_fd, file_fd = os.dup(sock.fileno()), os.dup(handle.fileno())
    loop = asyncio.get_running_loop()
    done: asyncio.Future[int] = loop.create_future()

    def report(result: int | BaseException) -> None:
        if not done.done():
            done.set_exception(result) if isinstance(result, BaseException) else done.set_result(result)

    def run() -> None:
        try:
            result: int | BaseException = _send_blocking(sock_fd, file_fd, size, stop)
        except OSError as exc:
            result = exc
        finally:
            os.close(sock_fd)
            os.close(file_fd)
        try:
            loop.call_soon_threadsafe(report, result)
        except RuntimeError:  # the loop is closed: the server stopped meanwhile
            pass

    _threads += 1
    try:
        threading.Thread(target=run, name="eoharvest-sendfile", daemon=True).start()
        return await done
    finally:
        _threads -= 1
        stop.set()  # cancelled (server shutting down): the thread stops within a poll


def _send_blocking(sock_fd: int, file_fd: int, size: int, stop: threading.Event) -> int:
    """sendfile(2) on a non-blocking socket, waiting with poll(2) while its buffer is full; gives
    up after :data:`STALL_SECONDS` without progress (a client that stopped reading)."""
    poller = select.poll()
    poller.register(sock_fd, select.POLLOUT)
    sent, waited = 0, 0.0
    while sent < size and not stop.is_set() and waited < STALL_SECONDS:
        try:
            n = os.sendfile(sock_fd, file_fd, sent, size - sent)
        except BlockingIOError:
            started = time.monotonic()
            poller.poll(_POLL_MS)
            waited += time.monotonic() - started
            continue
        if n == 0:  # the file is shorter than it was: the caller closes the connection
            break
        sent, waited = sent + n, 0.0
    return sent


async def _send_chunks(send: Send, path: str, head: bool) -> None:
    """The plain ASGI way, when the request cycle is not uvicorn's h11 one."""
    with open(path, "rb") as handle:
        while not head and (chunk := await asyncio.to_thread(handle.read, CHUNK)):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b"", "more_body": False})
