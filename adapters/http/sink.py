"""Write and hash received bytes on two more threads, so receiving, writing and hashing overlap
(hashlib and file writes release the GIL). Memory stays bounded by the queue lengths."""

from __future__ import annotations

import queue
import threading
import time
from typing import BinaryIO, Callable

from eoharvest.adapters.http.hashing import MultiHasher

_DONE = object()
MAX_HOLD_SECONDS = 0.25


class _Stage:
    """One consumer thread applying ``work`` to every block; the first error stops the work."""

    def __init__(self, name: str, work: Callable[[bytes], object], max_pending: int) -> None:
        self.work = work
        self.error: BaseException | None = None
        self.queue: queue.Queue[object] = queue.Queue(max_pending)
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        while True:
            block = self.queue.get()
            if block is _DONE:
                return
            if self.error is None:
                try:
                    self.work(block)  # type: ignore[arg-type]
                except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                    self.error = exc

    def finish(self) -> None:
        self.queue.put(_DONE)
        self.thread.join()


class PipelinedSink:
    """``with PipelinedSink(file, hasher) as sink: sink.write(chunk)``.

    Leaving the block waits until every byte is written and hashed, closes the file, and
    re-raises a write error (e.g. ENOSPC), which then takes precedence over whatever
    interrupted the transfer. Bytes are handed over in ~1 MiB blocks (or every 0.25 s on a slow
    link), so the threads switch (and pass the GIL) about once per MiB instead of once per
    socket read.
    """

    def __init__(self, out: BinaryIO, hasher: MultiHasher, max_pending: int = 4, batch: int = 1 << 20) -> None:
        self._out = out
        self._batch = batch
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._handed_at = time.monotonic()
        self._flushed = 0
        self._writer = _Stage("eoharvest-write", self._write, max_pending)
        self._hasher = _Stage("eoharvest-hash", hasher.update, max_pending)

    def _write(self, block: bytes) -> None:
        self._out.write(block)
        self._flushed += len(block)  # one writer thread: no lock needed for the count

    @property
    def flushed(self) -> int:
        """Bytes handed to the file so far (the rest wait in this sink's queues)."""
        return self._flushed

    def __enter__(self) -> PipelinedSink:
        self._writer.thread.start()
        self._hasher.thread.start()
        return self

    def write(self, chunk: bytes) -> None:
        if self._writer.error is not None:
            raise self._writer.error
        self._pending.append(chunk)
        self._pending_size += len(chunk)
        # A slow transfer still reaches the disk a few times a second (resumable after a crash).
        if self._pending_size >= self._batch or time.monotonic() - self._handed_at >= MAX_HOLD_SECONDS:
            self._hand_over()

    def _hand_over(self) -> None:
        if self._pending:
            block = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
            self._pending, self._pending_size = [], 0
            self._handed_at = time.monotonic()
            self._writer.queue.put(block)
            self._hasher.queue.put(block)

    def __exit__(self, *exc_info: object) -> None:
        self._hand_over()  # bytes received before an interruption are kept for resuming
        self._writer.finish()
        self._hasher.finish()
        error = self._writer.error or self._hasher.error
        try:
            self._out.flush()
        except OSError as exc:
            error = error or exc
        finally:
            self._out.close()
        if error is not None:
            raise error
