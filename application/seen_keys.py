"""A set of fixed-size keys in about 20 bytes per key, for a search's duplicate check.

A search remembers every scene it yielded, so that a scene a provider sends twice (its pages
shifting under it) is dropped. A Python ``set`` of 16-byte ``bytes`` costs ~90 bytes per scene:
9 MB at 100k results, most of what a streamed harvest's memory grows by. Here the keys live in
one sorted ``bytearray`` (16 bytes each), found by binary search; new keys wait in a small set
that is merged in once it holds an eighth of the sorted ones, so merging costs O(log n) passes
per key and the set stays small.
"""

from __future__ import annotations

import bisect
import heapq
from typing import Iterator

_MIN_PENDING = 4096


class _Records:
    """The sorted keys as a read-only sequence of ``bytes``, for :mod:`bisect`."""

    def __init__(self, data: bytearray, size: int) -> None:
        self.data = data
        self.size = size

    def __len__(self) -> int:
        return len(self.data) // self.size

    def __getitem__(self, index: int) -> bytes:
        start = index * self.size
        return bytes(self.data[start : start + self.size])

    def __iter__(self) -> Iterator[bytes]:
        for start in range(0, len(self.data), self.size):
            yield bytes(self.data[start : start + self.size])


class SeenKeys:
    """Keys of exactly ``size`` bytes: ``add(key)`` returns False if it was there already."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._sorted = _Records(bytearray(), size)
        self._pending: set[bytes] = set()

    def __len__(self) -> int:
        return len(self._sorted) + len(self._pending)

    def __contains__(self, key: bytes) -> bool:
        if key in self._pending:
            return True
        records = self._sorted
        at = bisect.bisect_left(records, key)
        return at < len(records) and records[at] == key

    def add(self, key: bytes) -> bool:
        if len(key) != self._size:
            raise ValueError(f"a key of {len(key)} bytes in a set of {self._size}-byte keys")
        if key in self:
            return False
        self._pending.add(key)
        if len(self._pending) >= max(_MIN_PENDING, len(self._sorted) // 8):
            self._merge()
        return True

    def _merge(self) -> None:
        merged = bytearray()
        for key in heapq.merge(self._sorted, sorted(self._pending)):
            merged += key
        self._sorted = _Records(merged, self._size)
        self._pending = set()
