"""An exclusive inter-process lock on a sidecar file, for creating and migrating the catalog.

The lock lives on ``<catalog>.lock``, never on the database file itself: POSIX locks are per
process, and opening then closing another descriptor on the database would drop SQLite's own.
"""

from __future__ import annotations

import fcntl
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from eoharvest.domain.errors import CatalogBusy


@contextmanager
def exclusive_lock(lock_path: Path, timeout: float = 60.0) -> Iterator[None]:
    """Hold ``flock(LOCK_EX)`` on ``lock_path``; CatalogBusy if not obtained within ``timeout``."""
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise CatalogBusy(
                        f"another process kept {str(lock_path)!r} locked for {timeout:g} s "
                        "while creating or migrating the catalog",
                        hint="wait for it to finish, or remove a stale process",
                    ) from None
                time.sleep(0.01)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
