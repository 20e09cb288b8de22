"""Directory fsyncs shared between files: a rename is durable once its directory has been
fsynced *after* it; every rename done before an fsync started is covered by that fsync. So
when several workers publish into one directory at once, one fsync serves them all (group
commit), and each caller still returns only once its own rename is durable."""

from __future__ import annotations

import os
import threading
from pathlib import Path


class _Directory:
    __slots__ = ("requested", "done", "running")

    def __init__(self) -> None:
        self.requested = 0  # tickets handed out (one per rename to make durable)
        self.done = 0  # tickets covered by a finished fsync
        self.running = False


class DirectorySync:
    """``sync(directory)`` after a rename in it: returns once an fsync of ``directory`` that
    started after the call has finished (its own, or one it joined)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._dirs: dict[str, _Directory] = {}
        self._durable_entries: set[str] = set()

    def sync_entry(self, folder: Path) -> None:
        """Make ``folder``'s own entry in its parent durable (a product folder created by this
        or an earlier download): once per folder per process, the parent's fsync shared."""
        key = os.fspath(folder)
        with self._cond:
            if key in self._durable_entries:
                return
        self.sync(folder.parent)
        with self._cond:
            self._durable_entries.add(key)

    def sync(self, directory: Path) -> None:
        key = os.fspath(directory)
        with self._cond:
            state = self._dirs.setdefault(key, _Directory())
            state.requested += 1
            ticket = state.requested
            while state.done < ticket:
                if state.running:
                    self._cond.wait()
                    continue
                # Lead one fsync covering every ticket handed out so far.
                state.running = True
                covered = state.requested
                self._cond.release()
                try:
                    fsync_dir(directory)
                except BaseException:
                    self._cond.acquire()
                    state.running = False
                    self._cond.notify_all()
                    raise
                self._cond.acquire()
                state.running = False
                state.done = max(state.done, covered)
                self._cond.notify_all()
            if not state.running and state.done == state.requested and self._dirs.get(key) is state:
                del self._dirs[key]  # nobody waits for it: forget the directory


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
