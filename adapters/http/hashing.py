"""Incremental hashing of a download with every algorithm we need, in one pass."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterable

try:  # BLAKE3 is optional: CDSE publishes it, hashlib does not have it.
    import blake3 as _blake3
except ImportError:  # pragma: no cover - depends on the environment
    _blake3 = None


def supported_algorithms() -> frozenset[str]:
    names = {"md5", "sha1", "sha256", "sha512", "sha3_256", "sha3_512", "sha3_384", "sha3_224"}
    if _blake3 is not None:
        names.add("blake3")
    return frozenset(names)


def _new(algorithm: str):  # type: ignore[no-untyped-def]
    if algorithm == "blake3":
        if _blake3 is None:
            raise ValueError("blake3 is not installed")
        return _blake3.blake3()
    return hashlib.new(algorithm)


class MultiHasher:
    """Feeds the same bytes to several hash objects. SHA-256 is always computed (for the catalog)."""

    def __init__(self, algorithms: Iterable[str] = ()) -> None:
        wanted = {"sha256", *algorithms} & supported_algorithms()
        self._hashes = {name: _new(name) for name in sorted(wanted)}

    @property
    def algorithms(self) -> frozenset[str]:
        return frozenset(self._hashes)

    def update(self, data: bytes) -> None:
        for h in self._hashes.values():
            h.update(data)

    def update_from_file(self, path: Path, length: int, chunk_size: int = 1 << 20) -> None:
        """Hash the first ``length`` bytes of ``path`` (the part already on disk when resuming)."""
        remaining = length
        with open(path, "rb") as f:
            while remaining > 0:
                block = f.read(min(chunk_size, remaining))
                if not block:
                    raise OSError(f"{path} is shorter than {length} bytes")
                self.update(block)
                remaining -= len(block)

    def hexdigests(self) -> dict[str, str]:
        return {name: h.hexdigest() for name, h in self._hashes.items()}


def file_digest(path: Path, algorithm: str = "sha256", chunk_size: int = 1 << 20) -> str:
    """Hex digest of a whole file."""
    hasher = _new(algorithm)
    with open(path, "rb") as f:
        while block := f.read(chunk_size):
            hasher.update(block)
    return hasher.hexdigest()
