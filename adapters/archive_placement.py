"""Moving a staged extraction into the product folder without ever replacing anything.

What is not there yet is renamed into place (a whole top-level folder at once when it is new).
An existing file that already holds the member's bytes is left as it is, so extracting the same
archive again changes nothing; any other existing entry at a member's path (other bytes, a
folder where a file goes, a file where a folder goes, a link) is a clash, and clashes are found
before anything moves. Files are placed with ``link(2)``, which fails instead of replacing when
the name appeared meanwhile (another process extracting too), so a file that arrives between
the check and the move is not replaced either. If placing fails, what this call placed is taken
back and the folder is as it was.
"""

from __future__ import annotations

import errno
import filecmp
import logging
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from eoharvest.adapters.archive_inspection import ArchiveMember
from eoharvest.domain.errors import UnsafeArchive
from eoharvest.domain.redaction import escape_control

log = logging.getLogger(__name__)

#: link(2) errors that mean "this filesystem has no hard links" (FAT, some FUSE mounts).
_NO_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS}
_HINT = "nothing was extracted and the archive is kept; move that entry away (or delete it) and run again"


@dataclass
class _Placed:
    files: list[Path] = field(default_factory=list)
    trees: list[tuple[Path, Path]] = field(default_factory=list)  # (where it went, where it came from)


def _kind(path: Path) -> str | None:
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return None
    if stat.S_ISLNK(mode):
        return "link"
    return "dir" if stat.S_ISDIR(mode) else "file" if stat.S_ISREG(mode) else "special"


def _clash(archive: Path, member: str, target: Path, why: str) -> UnsafeArchive:
    return UnsafeArchive(
        f"member '{escape_control(member)}' of archive '{archive}' would replace '{target}', which {why}",
        hint=_HINT,
    )


def check_clashes(staging: Path, dest: Path, members: Sequence[ArchiveMember], archive: Path) -> None:
    """Raise UnsafeArchive for the first member whose path in ``dest`` holds something else."""
    for member in members:
        parts = member.name.split("/")
        for depth in range(1, len(parts)):
            ancestor = dest.joinpath(*parts[:depth])
            kind = _kind(ancestor)
            if kind not in (None, "dir"):
                raise _clash(archive, member.name, ancestor, f"is a {kind} where the archive has a folder")
        target = dest.joinpath(*parts)
        kind = _kind(target)
        if kind is None:
            continue
        if member.is_dir:
            if kind != "dir":
                raise _clash(archive, member.name, target, f"is a {kind} where the archive has a folder")
        elif kind != "file":
            raise _clash(archive, member.name, target, f"is a {kind}, not a file")
        elif not filecmp.cmp(staging.joinpath(*parts), target, shallow=False):
            raise _clash(archive, member.name, target, "holds other bytes")


def place_tree(staging: Path, dest: Path, members: Sequence[ArchiveMember], archive: Path) -> None:
    """Move the extraction in ``staging`` into ``dest`` (see the module docstring)."""
    check_clashes(staging, dest, members, archive)
    placed = _Placed()
    try:
        for top in dict.fromkeys(m.name.split("/", 1)[0] for m in members):
            _place(staging / top, dest / top, top, placed, archive)
    except BaseException:
        _take_back(placed)
        raise


def _place(src: Path, dst: Path, name: str, placed: _Placed, archive: Path) -> None:
    if src.is_dir():
        if _kind(dst) is None:
            try:
                os.rename(src, dst)  # a new folder: in one step
                placed.trees.append((dst, src))
                return
            except OSError as err:
                if err.errno not in (errno.EEXIST, errno.ENOTEMPTY, errno.ENOTDIR):
                    raise
        if _kind(dst) != "dir":
            raise _clash(archive, name, dst, "appeared while extracting")
        for child in sorted(src.iterdir()):
            _place(child, dst / child.name, f"{name}/{child.name}", placed, archive)
        return
    try:
        os.link(src, dst)
        placed.files.append(dst)
        return
    except FileExistsError:
        pass
    except OSError as err:
        if err.errno not in _NO_LINKS:
            raise
        if _kind(dst) is None:
            os.rename(src, dst)  # no hard links here: a tiny window remains, checked just before
            placed.files.append(dst)
            return
    if _kind(dst) != "file" or not filecmp.cmp(src, dst, shallow=False):
        raise _clash(archive, name, dst, "appeared while extracting")


def _take_back(placed: _Placed) -> None:
    for path in reversed(placed.files):
        try:
            path.unlink()
        except OSError:
            log.error("could not remove '%s' after a failed extraction", path)
    for where, origin in reversed(placed.trees):
        try:
            os.rename(where, origin)
        except OSError:
            log.error("could not take back '%s' after a failed extraction", where)
