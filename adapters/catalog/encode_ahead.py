"""Encode the next batch of scenes while SQLite indexes the current one.

Turning Scenes into rows (``rows.encode_scenes``) is Python work that holds the GIL. Inserting a
batch (``executemany``) takes the GIL back between rows, and a thread encoding meanwhile keeps it
for up to the switch interval (5 ms) each time: the two take turns instead of overlapping
(bench/catalog.py measured no gain over encoding in line). Filling the batch's R*Tree entries
(``BulkWrite.index``) is one statement that holds no GIL for its whole length, longer than
encoding a batch once a catalog is large: the next batch is encoded then
(:meth:`EncodeAhead.prefetch`). Memory stays bounded by two encoded batches.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from types import TracebackType
from typing import Sequence

from eoharvest.adapters.catalog.rows import EncodedScenes, encode_scenes
from eoharvest.domain.models import Scene


class EncodeAhead:
    """``encode_scenes(scenes[start:end], now)`` for each ``(start, end)`` of ``bounds``, in
    order (:meth:`take`); :meth:`prefetch` starts the next one in a worker thread."""

    def __init__(self, scenes: Sequence[Scene], bounds: Sequence[tuple[int, int]], now: datetime) -> None:
        self._scenes = scenes
        self._bounds = bounds
        self._now = now
        self._next = 0  # index in bounds of the batch take() returns next
        self._pending: Future[EncodedScenes] | None = None
        self._worker: ThreadPoolExecutor | None = None

    def take(self) -> EncodedScenes:
        """The next batch, encoded: the one :meth:`prefetch` started, else encoded here."""
        start, end = self._bounds[self._next]
        self._next += 1
        if self._pending is not None:
            pending, self._pending = self._pending, None
            return pending.result()
        return encode_scenes(self._scenes[start:end], self._now)

    def prefetch(self) -> None:
        """Start encoding the batch :meth:`take` returns next in the worker thread (if any is left)."""
        if self._pending is not None or self._next >= len(self._bounds):
            return
        if self._worker is None:
            self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="eoharvest-encode")
        start, end = self._bounds[self._next]
        self._pending = self._worker.submit(encode_scenes, self._scenes[start:end], self._now)

    def close(self) -> None:
        """Stop the worker (after a failed write it finishes the batch in hand first)."""
        if self._worker is not None:
            self._worker.shutdown(wait=True)
            self._worker = None
        self._pending = None

    def __enter__(self) -> EncodeAhead:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
