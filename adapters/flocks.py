"""Waiting for an exclusive ``flock`` that another eoharvest process holds.

Downloads share work across processes through ``flock``: one process fetches a file (the lock
on its ``.part``) or a product (the lock on its folder) while the others wait and then find the
work done. Waiting is therefore normal, not a failure: it lasts as long as the holder works
(the kernel releases the lock when the holder exits, even after ``kill -9``), ends at once when
the caller is cancelled, and only a holder stuck for ``timeout`` seconds is an error.
"""

from __future__ import annotations

import fcntl
import logging
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from eoharvest.domain.errors import DownloadCancelled, TransferError

log = logging.getLogger("eoharvest.transfer")

#: Polling starts fast (a reconciliation probe holds a lock for microseconds) and slows down.
FIRST_POLL = 0.01
MAX_POLL = 0.5


def wait_for_lock(
    fd: int, *, what: str, stopped: Callable[[], bool], timeout: float, sleep: Callable[[float], None] = time.sleep,
    shared: bool = False,
) -> bool:
    """Take ``flock(LOCK_EX)`` (``LOCK_SH`` when ``shared``) on ``fd``; returns True when another
    process held it first.

    Raises DownloadCancelled when ``stopped()`` turns true while waiting, TransferError when the
    lock is still held after ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    pause = FIRST_POLL
    waited = False
    while True:
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
            return waited
        except BlockingIOError:
            pass
        if not waited:
            log.info("%s is being downloaded by another worker or eoharvest process; waiting for it", what)
            waited = True
        if stopped():
            raise DownloadCancelled(f"cancelled while waiting for another process to finish {what}")
        if time.monotonic() >= deadline:
            raise TransferError(
                f"{what} is still being downloaded by another eoharvest process after {timeout:.0f} s",
                hint="check that process (it may be stuck), or run the same command again later",
            )
        sleep(pause)
        pause = min(pause * 2, MAX_POLL)


@contextmanager
def held_folder(folder: Path, *, stopped: Callable[[], bool], timeout: float, shared: bool = False) -> Iterator[bool]:
    """Hold ``flock`` on the folder itself (no lock file is added to it); yields whether another
    process held it first. Separate opens conflict even within one process, so threads exclude
    each other as well. A folder this call created is removed again if it is left empty.

    ``shared``: holders of the shared lock (queue workers, each fetching one file under the lock
    of its ``.part``) may write in the folder together, and exclude every exclusive holder (a
    whole product's download, which plans the folder as a whole). A shared holder leaves the
    folder in place: another shared holder may be about to write in it."""
    deadline = time.monotonic() + timeout
    waited = False
    while True:
        created = not folder.is_dir()
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            left = max(0.0, deadline - time.monotonic())
            waited = wait_for_lock(fd, what=f"{folder.name}/", stopped=stopped, timeout=left, shared=shared) or waited
        except BaseException:
            os.close(fd)
            raise
        if _same_inode(fd, folder):
            break
        os.close(fd)  # the holder removed the (empty) folder meanwhile: lock the new one
        waited = True
    try:
        yield waited
    finally:
        if created and not shared:
            try:
                folder.rmdir()  # only succeeds when empty; waiters notice the inode is gone
            except OSError:
                pass
        os.close(fd)  # closing drops the lock


def _same_inode(fd: int, path: Path) -> bool:
    try:
        now = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (now.st_dev, now.st_ino)
