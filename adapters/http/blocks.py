"""Hash and write received bytes on a reused worker thread, from the very buffers they were
received into: the reading thread fills one block while the worker hashes and writes the
previous one (hashlib and file writes release the GIL). Memory per transfer is ``depth``
blocks; no byte is copied between the socket and the page cache."""

from __future__ import annotations

import os
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Union

from eoharvest.adapters.http.hashing import MultiHasher

#: A slow transfer still reaches the disk a few times a second (resumable after a crash).
MAX_HOLD_SECONDS = 0.25
BLOCK_SIZE = 4 << 20
DEPTH = 3

Block = Union[bytes, bytearray, memoryview]


class WriterPool:
    """The worker threads that hash and write every transfer's blocks; threads are started on
    demand and reused across files (one per transfer in flight, not two per file)."""

    def __init__(self, max_workers: int = 32) -> None:
        self._max_workers = max_workers
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    def submit(self, work: BlockWriter) -> None:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._max_workers, thread_name_prefix="eoharvest-write")
            self._pool.submit(work.consume)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)


class BlockWriter:
    """``with BlockWriter(pool, fd, hasher) as out:`` then either fill ``out.buffer()`` blocks
    and ``out.hand_over(block, n)``, or ``out.hand_over(chunk)`` bytes received elsewhere.

    Leaving the block waits until every handed-over byte is hashed and written and re-raises a
    write error (e.g. ENOSPC), which takes precedence over whatever interrupted the transfer.
    The file descriptor stays the caller's to close.
    """

    def __init__(self, pool: WriterPool, fd: int, hasher: MultiHasher, *, block_size: int = BLOCK_SIZE,
                 depth: int = DEPTH) -> None:
        self._pool = pool
        self._fd = fd
        self._hasher = hasher
        self.block_size = block_size
        self._free: queue.Queue[bytearray] = queue.Queue()
        self._allocated = 0
        self._depth = depth
        self._full: queue.Queue[tuple[Block, int, bool] | None] = queue.Queue(depth)
        self._done = threading.Event()
        self.error: BaseException | None = None
        #: bytes written to the file so far (the rest wait in the queue)
        self.flushed = 0
        self.handed_at = time.monotonic()

    def __enter__(self) -> BlockWriter:
        self._pool.submit(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._full.put(None)
        self._done.wait()
        if self.error is not None:
            raise self.error

    def buffer(self) -> bytearray:
        """A free block to receive into (allocated up to ``depth`` times, then recycled)."""
        if self.error is not None:
            raise self.error
        try:
            return self._free.get_nowait()
        except queue.Empty:
            if self._allocated < self._depth:
                self._allocated += 1
                return bytearray(self.block_size)
        return self._free.get()

    def hand_over(self, block: Block, length: int | None = None, *, recycle: bool = False) -> None:
        """Queue ``block[:length]`` for hashing and writing (``recycle``: it came from
        :meth:`buffer` and goes back to the free blocks afterwards)."""
        if self.error is not None:
            raise self.error
        length = len(block) if length is None else length
        self.handed_at = time.monotonic()
        self._full.put((block, length, recycle))

    def consume(self) -> None:
        """Runs on a pool thread until the transfer's last block."""
        try:
            while True:
                item = self._full.get()
                if item is None:
                    return
                block, length, recycle = item
                if self.error is None:
                    try:
                        view = memoryview(block)[:length]
                        self._hasher.update(view)
                        _write_all(self._fd, view)
                        self.flushed += length  # one consumer: no lock needed for the count
                    except BaseException as exc:  # noqa: BLE001 - handed to the reading thread
                        self.error = exc
                if recycle:
                    self._free.put(block)  # type: ignore[arg-type]
        finally:
            self._done.set()


def _write_all(fd: int, view: memoryview) -> None:
    while view:
        written = os.write(fd, view)
        view = view[written:]
