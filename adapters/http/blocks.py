"""Hash and write received bytes on reused worker threads, from the very buffers they were
received into: while the reading thread fills one block, one worker hashes the previous ones
and another writes them (hashlib and file writes release the GIL, so the three stages run on
as many cores). Memory per transfer is ``depth`` blocks, taken from and returned to a pool
shared by all transfers; no byte is copied between the socket and the page cache."""

from __future__ import annotations

import collections
import os
import queue
import threading
import time
from typing import Callable, Union

from eoharvest.adapters.http.hashing import MultiHasher
from eoharvest.adapters.http.writeback import Writeback

#: A slow transfer still reaches the disk a few times a second (resumable after a crash).
MAX_HOLD_SECONDS = 0.25
BLOCK_SIZE = 4 << 20
DEPTH = 4
#: Free blocks kept for the next transfers (allocating 4 MiB per file costs page faults).
SPARE_BLOCKS = 16
#: A worker thread without work for this long ends (a new one starts when needed).
IDLE_EXIT = 30.0

Block = Union[bytes, bytearray, memoryview]


class WriterPool:
    """Worker threads shared by every transfer, started on demand and reused across files.

    A transfer needs two at once (hashing, writing), so a task never waits for a free thread:
    when none is idle, one more starts (a bounded pool could deadlock when transfers outnumber
    its threads). Also keeps spare blocks of :data:`BLOCK_SIZE` for reuse."""

    def __init__(self, max_workers: int | None = None, *, spare_blocks: int = SPARE_BLOCKS) -> None:
        del max_workers  # accepted for compatibility: the pool grows with the transfers in flight
        self._cond = threading.Condition()
        self._tasks: collections.deque[Callable[[], None]] = collections.deque()
        self._free = 0  # threads not running a task (waiting, or about to look for one)
        self._threads: set[threading.Thread] = set()
        self._closed = False
        self._spares: list[bytearray] = []
        self._spare_limit = spare_blocks

    def submit(self, task: Callable[[], None]) -> None:
        with self._cond:
            self._tasks.append(task)
            if len(self._tasks) > self._free:
                thread = threading.Thread(target=self._run, name=f"eoharvest-write-{len(self._threads)}", daemon=True)
                self._threads.add(thread)
                self._free += 1
                thread.start()
            self._cond.notify()

    def _run(self) -> None:
        me = threading.current_thread()
        while True:
            with self._cond:
                # Tasks are looked for under the lock before every wait: none is left behind.
                while not self._tasks:
                    if self._closed or (not self._cond.wait(IDLE_EXIT) and not self._tasks):
                        self._free -= 1
                        self._threads.discard(me)
                        return
                task = self._tasks.popleft()
                self._free -= 1
            try:
                task()
            finally:
                with self._cond:
                    self._free += 1

    def take_block(self, size: int) -> bytearray:
        if size == BLOCK_SIZE:
            with self._cond:
                if self._spares:
                    return self._spares.pop()
        return bytearray(size)

    def give_back(self, block: bytearray) -> None:
        if len(block) == BLOCK_SIZE:
            with self._cond:
                if len(self._spares) < self._spare_limit:
                    self._spares.append(block)

    def close(self) -> None:
        """Let the threads end once their work is done, and wait for them (a later submit
        starts new ones)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            threads = list(self._threads)
            self._spares.clear()
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join()
        with self._cond:
            self._closed = False


class _Item:
    __slots__ = ("block", "length", "recycle", "pending")

    def __init__(self, block: Block, length: int, recycle: bool) -> None:
        self.block, self.length, self.recycle = block, length, recycle
        self.pending = 2  # the hasher and the writer


class BlockWriter:
    """``with BlockWriter(pool, fd, hasher) as out:`` then either fill ``out.buffer()`` blocks
    and ``out.hand_over(block, n, recycle=True)``, or ``out.hand_over(chunk)`` bytes received
    elsewhere.

    Leaving the block waits until every handed-over byte is hashed and written and re-raises a
    write error (e.g. ENOSPC), which takes precedence over whatever interrupted the transfer.
    The file descriptor (opened for appending at ``offset``) stays the caller's to close.
    ``inline``: hash and write in the calling thread instead (a body of one block gains nothing
    from the hand-over, and concurrent transfers keep the cores busy).
    ``drop_behind``: the file is not read back soon, so its pages leave the cache once written
    (see :mod:`~eoharvest.adapters.http.writeback`).
    """

    def __init__(
        self,
        pool: WriterPool,
        fd: int,
        hasher: MultiHasher,
        *,
        block_size: int = BLOCK_SIZE,
        depth: int = DEPTH,
        offset: int | None = None,
        drop_behind: bool = False,
        inline: bool = False,
    ) -> None:
        self._pool = pool
        self._inline = inline
        self._fd = fd
        self._hasher = hasher
        self.block_size = block_size
        self._free: queue.Queue[bytearray] = queue.Queue()
        self._taken: list[bytearray] = []
        self._depth = depth
        self._to_hash: queue.Queue[_Item | None] = queue.Queue(depth)
        self._to_write: queue.Queue[_Item | None] = queue.Queue(depth)
        self._release = threading.Lock()
        self._hashed = threading.Event()
        self._wrote = threading.Event()
        start = os.lseek(fd, 0, os.SEEK_END) if offset is None else offset
        self._writeback = Writeback(fd, start, drop_behind=drop_behind)
        self.error: BaseException | None = None
        #: bytes written to the file so far (the rest wait in the queue)
        self.flushed = 0
        self.handed_at = time.monotonic()

    def __enter__(self) -> BlockWriter:
        if not self._inline:
            self._pool.submit(self._hash_all)
            self._pool.submit(self._write_all)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if not self._inline:
            self._to_hash.put(None)
            self._to_write.put(None)
            self._hashed.wait()
            self._wrote.wait()
        for block in self._taken:
            self._pool.give_back(block)
        if self.error is not None:
            raise self.error

    def buffer(self) -> bytearray:
        """A free block to receive into (taken from the pool up to ``depth`` times, then recycled)."""
        if self.error is not None:
            raise self.error
        try:
            return self._free.get_nowait()
        except queue.Empty:
            if len(self._taken) < self._depth:
                block = self._pool.take_block(self.block_size)
                self._taken.append(block)
                return block
        return self._free.get()

    def hand_over(self, block: Block, length: int | None = None, *, recycle: bool = False) -> None:
        """Queue ``block[:length]`` for hashing and writing (``recycle``: it came from
        :meth:`buffer` and goes back to the free blocks once both are done with it)."""
        if self.error is not None:
            raise self.error
        item = _Item(block, len(block) if length is None else length, recycle)
        self.handed_at = time.monotonic()
        if self._inline:
            try:
                self._hasher.update(memoryview(block)[: item.length])
                self._write(item)
            except BaseException as exc:
                self.error = exc
                raise
            finally:
                if recycle:
                    self._free.put(block)  # type: ignore[arg-type]
            return
        self._to_hash.put(item)
        self._to_write.put(item)

    # -- the two workers (each sees every block, in order) ------------------------------------
    def _hash_all(self) -> None:
        update = self._hasher.update
        self._consume(self._to_hash, self._hashed, lambda item: update(memoryview(item.block)[: item.length]))

    def _write_all(self) -> None:
        self._consume(self._to_write, self._wrote, self._write)

    def _write(self, item: _Item) -> None:
        _write_fully(self._fd, memoryview(item.block)[: item.length])
        self.flushed += item.length  # one writer: no lock needed for the count
        self._writeback.written(item.length)

    def _consume(self, items: queue.Queue[_Item | None], done: threading.Event, work: Callable[[_Item], None]) -> None:
        try:
            while True:
                item = items.get()
                if item is None:
                    return
                if self.error is None:
                    try:
                        work(item)
                    except BaseException as exc:  # noqa: BLE001 - handed to the reading thread
                        self.error = self.error or exc
                self._finished(item)
        finally:
            done.set()

    def _finished(self, item: _Item) -> None:
        with self._release:
            item.pending -= 1
            last = item.pending == 0
        if last and item.recycle:
            self._free.put(item.block)  # type: ignore[arg-type]


def _write_fully(fd: int, view: memoryview) -> None:
    while view:
        written = os.write(fd, view)
        view = view[written:]
