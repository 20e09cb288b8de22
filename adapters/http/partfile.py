"""Part files and sidecars: bytes go to ``<final>.part`` beside the final name, with a JSON
sidecar recording what they are a prefix of (written once per response, before its first body
byte); publishing is fsync + rename + fsync(dir), so the final name only ever holds a complete
file, and returns only once the rename is durable.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Callable

from eoharvest.adapters.failpoints import crash_point
from eoharvest.adapters.flocks import wait_for_lock
from eoharvest.adapters.http.dirsync import DirectorySync, fsync_dir
from eoharvest.domain.errors import InsufficientSpace

#: How long a download waits for another process's download of the same file by default.
LOCK_WAIT = 6 * 3600.0


@dataclass
class Sidecar:
    """What the part file holds. Written via temp file + os.replace so it is never half-written."""

    url: str
    expected_size: int | None = None
    etag: str | None = None
    last_modified: str | None = None
    checksums: dict[str, str] = field(default_factory=dict)
    provider: str = ""

    @property
    def strong_etag(self) -> str | None:
        """Only a strong ETag may go into If-Range (RFC 9110 13.1.5)."""
        if self.etag and not self.etag.startswith("W/"):
            return self.etag
        return None


class PartFile:
    """The partial download of one final path, held under an exclusive OS lock."""

    def __init__(self, final: Path) -> None:
        self.final = final
        self.part = final.with_name(final.name + ".part")
        self.sidecar_path = final.with_name(final.name + ".part.json")
        self._lock_fd: int | None = None

    # -- locking: one writer per partial, across processes ---------------------------
    def lock(self, *, stopped: Callable[[], bool] = lambda: False, timeout: float = LOCK_WAIT) -> bool:
        """Hold the partial's lock, waiting while another process downloads this file (see
        :func:`~eoharvest.adapters.flocks.wait_for_lock`); True when it had to wait.

        The lock is on the ``.part`` inode, and the holder renames that inode to the final name
        when it publishes (or a reconciliation removes it): a lock obtained on an inode that no
        longer is ``<final>.part`` guards nothing, so it is dropped and taken again.
        """
        self.part.parent.mkdir(parents=True, exist_ok=True)
        waited = False
        deadline = time.monotonic() + timeout
        while True:
            fd = os.open(self.part, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
            try:
                left = max(0.0, deadline - time.monotonic())
                waited = wait_for_lock(fd, what=self.final.name, stopped=stopped, timeout=left) or waited
                if _same_file(fd, self.part):
                    self._lock_fd = fd
                    return waited
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)
            waited = True

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # -- state -------------------------------------------------------------------------
    def size(self) -> int:
        try:
            return self.part.stat().st_size
        except FileNotFoundError:
            return 0

    def load_sidecar(self) -> Sidecar | None:
        try:
            data: dict[str, Any] = json.loads(self.sidecar_path.read_text(encoding="utf-8"))
            return Sidecar(**data)
        except (FileNotFoundError, ValueError, TypeError):
            return None

    def save_sidecar(self, sidecar: Sidecar) -> None:
        # A temporary name of this writer's own: a fixed one could be replaced or removed by
        # another process between our write and our rename.
        tmp = self.sidecar_path.with_name(f"{self.sidecar_path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
        try:
            tmp.write_text(json.dumps(asdict(sidecar)), encoding="utf-8")
            os.replace(tmp, self.sidecar_path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def truncate(self) -> None:
        with open(self.part, "r+b") as f:
            f.truncate(0)

    def open_for_append(self) -> BinaryIO:
        return open(self.part, "ab")

    def open_fd_for_append(self) -> int:
        return os.open(self.part, os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW)

    # -- publish -----------------------------------------------------------------------
    def publish(self, directories: DirectorySync | None = None, *, drop_cache: bool = False) -> Path:
        """fsync the part, rename it over the final name, fsync the directory (and the folder's
        own entry in its parent), drop the sidecar. Returns once the rename is durable;
        ``directories`` lets concurrent publishers share directory fsyncs. ``drop_cache``: the
        file's pages (clean once fsynced) leave the page cache, for the next files to reuse."""
        with open(self.part, "rb+") as f:
            os.fsync(f.fileno())
            if drop_cache and hasattr(os, "posix_fadvise"):
                os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        crash_point("after-fsync")
        os.replace(self.part, self.final)
        if directories is None:
            fsync_dir(self.final.parent)
        else:
            directories.sync(self.final.parent)
            directories.sync_entry(self.final.parent)
        crash_point("after-rename")
        # Not fsynced: a sidecar that outlives a crash has no .part and is removed at the next
        # start (download_reconcile).
        self.discard_sidecar()
        return self.final

    def discard(self) -> None:
        """Remove the partial and its sidecar (after a verification failure)."""
        for path in (self.part, self.sidecar_path):
            try:
                path.unlink()
            except FileNotFoundError:
                pass

    def discard_sidecar(self) -> None:
        try:
            self.sidecar_path.unlink()
        except FileNotFoundError:
            pass


def _same_file(fd: int, path: Path) -> bool:
    """Whether ``fd`` is still the file at ``path`` (not renamed away or unlinked meanwhile)."""
    try:
        now = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (now.st_dev, now.st_ino)


def check_free_space(directory: Path, needed: int, margin: int) -> None:
    """Pre-flight: refuse a transfer that cannot fit."""
    try:
        free = shutil.disk_usage(directory).free
    except FileNotFoundError:  # created here first (an existing one costs no mkdir per file)
        directory.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(directory).free
    if needed + margin > free:
        raise InsufficientSpace(
            f"not enough space in {directory}: {needed} bytes needed (+{margin} margin), {free} free",
            hint="free some space or choose another download directory",
        )


def is_disk_full(exc: OSError) -> bool:
    return exc.errno in (errno.ENOSPC, errno.EDQUOT)
