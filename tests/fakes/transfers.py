"""In-memory doubles of the download ports: ``FileTransfer`` and ``ArchiveHandler``."""

from __future__ import annotations

import hashlib
import os
import threading
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Callable, Iterator, Mapping, Sequence

from eoharvest.domain.catalog_query import ExtractedMember
from eoharvest.domain.errors import UnsafeArchive
from eoharvest.domain.models import DownloadDescriptor
from eoharvest.domain.ports import Progress, TransferResult


class FakeTransfer:
    """Writes ``bodies[file name]`` to the destination, or raises ``errors[file name]``.

    Records every fetch as ``(provider, file name)`` and every prepared directory; calls
    ``validate(path)`` before the file counts as written, like the real engine does before
    its rename (a refused file is removed).
    """

    def __init__(self, bodies: Mapping[str, bytes], errors: Mapping[str, Exception] | None = None) -> None:
        self.bodies = dict(bodies)
        self.errors = dict(errors or {})
        self.fetched: list[tuple[str, str]] = []
        self.prepared: list[str] = []
        self.held: list[str] = []
        self._lock = threading.Lock()

    def hold_directory(self, directory: str, stopped: Callable[[], bool] | None = None, *,
                       shared: bool = False) -> AbstractContextManager[bool]:  # fmt: skip
        return _held(self, directory + (" (shared)" if shared else ""))

    def prepare_directory(self, directory: str) -> None:
        self.prepared.append(directory)

    def fetch(
        self,
        provider: str,
        descriptor: DownloadDescriptor,
        dest: str,
        *,
        overwrite: bool = False,
        stopped: Callable[[], bool] | None = None,
        progress: Progress | None = None,
        validate: Callable[[str], None] | None = None,
    ) -> TransferResult:
        with self._lock:
            self.fetched.append((provider, descriptor.filename))
        if descriptor.filename in self.errors:
            raise self.errors[descriptor.filename]
        body = self.bodies[descriptor.filename]
        Path(dest).parent.mkdir(parents=True, exist_ok=True)
        Path(dest).write_bytes(body)
        if progress is not None:
            progress(descriptor.filename, len(body), len(body))
        if validate is not None:
            try:
                validate(dest)
            except Exception:
                os.unlink(dest)
                raise
        return TransferResult(dest, hashlib.sha256(body).hexdigest())


@contextmanager
def _held(transfer: FakeTransfer, directory: str) -> Iterator[bool]:
    with transfer._lock:
        transfer.held.append(directory)
    yield False


class FakeArchives:
    """Every archive is valid and holds ``members`` (name -> bytes), written on extraction with
    the real handler's rules: nothing is replaced, protected names are refused."""

    def __init__(self, members: Mapping[str, bytes] | None = None) -> None:
        self.members = dict(members or {"member.txt": b"inside"})
        self.verified: list[str] = []
        self.protected: list[tuple[str, ...]] = []

    def verify(self, path: str) -> None:
        self.verified.append(path)

    def member_digests(self, path: str) -> Mapping[str, tuple[int, str]]:
        return {name: (len(data), hashlib.sha256(data).hexdigest()) for name, data in self.members.items()}

    def extract(self, archive: str, into: str, *, protected: Sequence[str] = ()) -> Sequence[ExtractedMember]:
        self.protected.append(tuple(protected))
        clash = [name for name in self.members if name.split("/")[0] in protected]
        if clash:
            raise UnsafeArchive(f"member '{clash[0]}' would replace the product's file")
        paths = []
        for name, data in self.members.items():
            target = Path(into) / name
            if target.exists() and target.read_bytes() != data:
                raise UnsafeArchive(f"member '{name}' would replace '{target}'")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            paths.append(ExtractedMember(name, str(target), len(data), hashlib.sha256(data).hexdigest()))
        return paths
