"""Early writeback: written bytes start for the disk while the transfer goes on, so the fsync
before the rename finds little left to write, and dirty pages stay few.

Without it a 2 GiB download sits in the page cache until its final fsync, which then writes all
of it while nothing else happens; and every byte lands on a freshly allocated page. Here the
writer asks the kernel to start writing each range soon after it was written
(``sync_file_range(SYNC_FILE_RANGE_WRITE)``, which does not wait), waits for ranges a few blocks
back to be on disk, and (for files nobody reads back right away) drops those clean pages, so the
next writes reuse warm pages instead of growing the cache.

``sync_file_range`` makes no durability promise (no metadata, no disk cache flush): the fsync
before the rename is still what makes a file durable. Where the call does not exist (not Linux)
or the filesystem refuses it, writes are plain buffered writes, as before.
"""

from __future__ import annotations

import ctypes
import errno
import os
import sys

_WAIT_BEFORE, _WRITE, _WAIT_AFTER = 1, 2, 4

#: Written bytes are handed to the disk in ranges of this size.
KICK_BYTES = 2 << 20
#: How far behind the writing position the kernel may still be writing (the dirty window).
LAG_BYTES = 16 << 20


def _load_sync_file_range():  # type: ignore[no-untyped-def]
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


_sync_file_range = _load_sync_file_range()
_fadvise = getattr(os, "posix_fadvise", None)


class Writeback:
    """Follows one file's writes from ``offset`` on; call :meth:`written` after each write.

    ``drop_behind``: drop the pages once they are on disk (the file is not read again soon).
    An I/O error of the writeback (EIO, ENOSPC) is raised like a write error; a filesystem that
    does not support the call just turns it off for this file.
    """

    def __init__(self, fd: int, offset: int, *, drop_behind: bool, kick: int = KICK_BYTES, lag: int = LAG_BYTES) -> None:
        self._fd = fd
        self._position = self._kicked = self._settled = offset
        self._drop_behind = drop_behind and _fadvise is not None
        self._kick, self._lag = kick, lag
        self._active = _sync_file_range is not None

    def written(self, length: int) -> None:
        self._position += length
        if not self._active or self._position - self._kicked < self._kick:
            return
        self._call(self._kicked, self._position - self._kicked, _WRITE)
        self._kicked = self._position
        end = self._kicked - self._lag
        if end - self._settled >= self._kick:
            # Blocks until that range is on disk (the writer thread may wait; the reader does not).
            self._call(self._settled, end - self._settled, _WAIT_BEFORE | _WRITE | _WAIT_AFTER)
            if self._drop_behind and self._active:
                _fadvise(self._fd, self._settled, end - self._settled, os.POSIX_FADV_DONTNEED)  # type: ignore[misc]
            self._settled = end

    def _call(self, start: int, length: int, flags: int) -> None:
        if not self._active:
            return
        if _sync_file_range(self._fd, start, length, flags) == 0:  # type: ignore[misc]
            return
        code = ctypes.get_errno()
        if code in (errno.EINVAL, errno.ESPIPE, errno.ENOSYS, errno.EOPNOTSUPP):
            self._active = False  # e.g. a filesystem without it: the final fsync does it all
            return
        raise OSError(code, os.strerror(code))
