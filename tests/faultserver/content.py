"""Deterministic file bodies: any size, generated on the fly, never held whole in memory.

Byte ``i`` of file ``(name, version)`` lives in block ``i // BLOCK``.  Block ``k`` is
``shake_256(sha256(name, version, k))`` stretched to ``BLOCK`` bytes, so any slice of a
multi-gigabyte body can be produced without generating what precedes it.
"""
from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field

BLOCK = 64 * 1024
#: Fixed origin for Last-Modified, so headers are reproducible run to run.
EPOCH = 1_704_067_200  # 2024-01-01T00:00:00Z


@functools.lru_cache(maxsize=128)
def block(name: str, version: int, index: int) -> bytes:
    """Return block ``index`` (``BLOCK`` bytes) of ``name`` at ``version``."""
    seed = hashlib.sha256(f"{name}\x00{version}\x00{index}".encode()).digest()
    return hashlib.shake_256(seed).digest(BLOCK)


def iter_bytes(name: str, version: int, start: int, end: int) -> Iterator[bytes]:
    """Yield the bytes ``[start, end)`` of the body in pieces of at most ``BLOCK`` bytes."""
    pos = start
    while pos < end:
        index, skip = divmod(pos, BLOCK)
        piece = block(name, version, index)[skip : skip + (end - pos)]
        yield piece
        pos += len(piece)


def iter_rotated(name: str, version: int, size: int, start: int, length: int) -> Iterator[bytes]:
    """Yield ``length`` bytes starting at ``start`` and wrapping past ``size`` back to 0."""
    if length <= 0:
        return
    start %= size
    first = min(length, size - start)
    yield from iter_bytes(name, version, start, start + first)
    rest = length - first
    while rest > 0:
        take = min(rest, size)
        yield from iter_bytes(name, version, 0, take)
        rest -= take


def read(name: str, version: int, start: int, end: int) -> bytes:
    """Return the bytes ``[start, end)`` as one object (meant for small slices in tests)."""
    return b"".join(iter_bytes(name, version, start, end))


@dataclass
class FileEntry:
    """One served file: its size, current version and cached digests per version."""

    name: str
    size: int
    version: int = 1
    _digests: dict[int, tuple[str, str]] = field(default_factory=dict, repr=False)

    @property
    def etag(self) -> str:
        """Strong ETag of the current version."""
        return self.etag_for(self.version)

    def etag_for(self, version: int) -> str:
        """Strong ETag; the prefix hashes the identity (name, version), not the body."""
        tag = hashlib.sha256(f"{self.name}\x00{version}".encode()).hexdigest()[:16]
        return f'"v{version}-{tag}"'

    @staticmethod
    def last_modified_for(version: int) -> float:
        """POSIX time of a version (one hour per version after ``EPOCH``)."""
        return float(EPOCH + 3600 * version)

    def digests(self) -> tuple[str, str]:
        """Return ``(sha256, md5)`` hex digests of the current version, computing once."""
        version = self.version
        if version not in self._digests:
            sha, md5 = hashlib.sha256(), hashlib.md5()
            for piece in iter_bytes(self.name, version, 0, self.size):
                sha.update(piece)
                md5.update(piece)
            self._digests[version] = (sha.hexdigest(), md5.hexdigest())
        return self._digests[version]
