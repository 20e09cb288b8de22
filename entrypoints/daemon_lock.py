"""One daemon per SpatiaLite catalog: an exclusive ``flock`` on ``<catalog>.daemon.lock`` for the lifetime
of the process. The kernel releases it when the process dies, SIGKILL included, so a crashed
daemon never leaves a stale lock behind. The file holds the owner's pid, for messages only.

The lock file is never the database file itself: POSIX locks are per process, and opening
then closing another descriptor on the database would drop SQLite's own locks.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

from eoharvest.domain.errors import DaemonAlreadyRunning

__all__ = ["DaemonAlreadyRunning", "DaemonLock", "daemon_holder", "daemon_lock_for", "holder", "lock_path"]


def lock_path(catalog_path: Path | str) -> Path:
    return Path(f"{catalog_path}.daemon.lock")


def _owner(path: Path) -> str:
    try:
        return path.read_text().strip() or "unknown"
    except OSError:
        return "unknown"


def _try_exclusive(fd: int, attempts: int = 20, pause: float = 0.05) -> bool:
    for attempt in range(attempts):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if attempt + 1 < attempts:
                time.sleep(pause)
    return False


class DaemonLock:
    """``with DaemonLock(catalog_path): ...``; raises DaemonAlreadyRunning if held elsewhere."""

    def __init__(self, catalog_path: Path | str) -> None:
        self.path = lock_path(catalog_path)
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)  # the daemon writes: it may create the folder
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if not _try_exclusive(fd):
            os.close(fd)
            raise DaemonAlreadyRunning(
                f"another eoharvest daemon (pid {_owner(self.path)}) already serves this catalog "
                f"(it holds {str(self.path)!r})",
                hint="stop it first, or point --catalog at another catalog; "
                "`eoharvest daemon status` shows what it is doing",
            )
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> DaemonLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def holder(catalog_path: Path | str) -> str | None:
    """The pid (as text) of the daemon holding the lock, or None when no daemon runs.

    Probes with a shared lock held for a moment only; a daemon starting in that moment retries
    for up to a second (see :func:`_try_exclusive`), so the probe never refuses it.
    """
    path = lock_path(catalog_path)
    if not path.exists():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _owner(path)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def daemon_lock_for(location: Path) -> DaemonLock:
    """The one-daemon-per-catalog lock of a SpatiaLite catalog. A PostgreSQL catalog has none:
    several daemons share it, coordinated by leases in the catalog (docs/daemon.md)."""
    return DaemonLock(location)


def daemon_holder(location: Path) -> str | None:
    """The pid of the daemon holding a SpatiaLite catalog's lock, or None."""
    return holder(location)
