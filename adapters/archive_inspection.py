"""Archive inspection: the whole member list of a zip or tar vetted before any byte is extracted.

``inspect_archive`` reads only headers and the zip central directory. It rejects an archive
whole (``UnsafeArchive``) for links, devices, FIFOs, setuid/setgid/sticky bits, unsafe member
names, names that collide by case or Unicode form, too many members, a declared size or
compression ratio above ``ArchiveLimits``, and overlapping zip entries. Reading every member to
its end and extracting are in ``eoharvest.adapters.archives``.
"""

from __future__ import annotations

import lzma
import os
import stat
import struct
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from eoharvest.domain.filenames import collision_key, validate_member_name
from eoharvest.domain.errors import EoharvestError, IntegrityError, UnsafeArchive
from eoharvest.domain.redaction import escape_control

GiB = 1 << 30
MiB = 1 << 20
_SPECIAL_BITS = stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX
_ZIP_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
_TAR_MODES: dict[str, Literal["r:", "r:gz", "r:bz2", "r:xz"]] = {
    "tar": "r:", "tar.gz": "r:gz", "tar.bz2": "r:bz2", "tar.xz": "r:xz"
}
_ARCHIVE_HINT = "the archive was not extracted; report the product to the provider"
#: What the container and compression libraries raise on truncated or corrupt input.
CORRUPT_ERRORS = (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError)


@dataclass(frozen=True)
class ArchiveLimits:
    """Caps an archive must respect. Defaults fit Sentinel SAFE zips (0.5-8 GB, hundreds of
    members) and Landsat C2 tars (~1 GB, ~20 members), whose payloads are already compressed."""

    max_members: int = 10_000
    max_total_size: int = 64 * GiB
    max_ratio: float = 10.0
    #: the ratio cap applies once the declared total exceeds this (small XML-only archives
    #: legitimately compress well)
    ratio_min_size: int = 16 * MiB
    max_manifest_size: int = 16 * MiB


@dataclass(frozen=True)
class ArchiveMember:
    """One member: normalised relative ``name``, the ``source`` name as stored, declared size."""

    name: str
    source: str
    is_dir: bool
    size: int


@dataclass(frozen=True)
class ArchiveReport:
    """What ``inspect_archive`` found. ``entry_count`` includes skipped ``./`` root entries."""

    path: Path
    kind: str  # zip | tar | tar.gz | tar.bz2 | tar.xz
    members: tuple[ArchiveMember, ...]
    archive_size: int
    entry_count: int
    limits: ArchiveLimits

    @property
    def total_size(self) -> int:
        return sum(m.size for m in self.members)


def detect_kind(path: Path) -> str:
    """The archive format from its first bytes (never from the file name)."""
    with open(path, "rb") as fh:
        head = fh.read(512)
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if head[:2] == b"\x1f\x8b":
        return "tar.gz"
    if head[:3] == b"BZh":
        return "tar.bz2"
    if head[:6] == b"\xfd7zXZ\x00":
        return "tar.xz"
    if head[257:262] == b"ustar":
        return "tar"
    raise IntegrityError(
        f"'{path}' is not a zip or tar archive (starts with {head[:8]!r})",
        hint="download the product again; the server may have sent an error page",
    )


def open_tar(path: Path, kind: str) -> tarfile.TarFile:
    """Open a tar of ``kind`` (as ``detect_kind`` names it) for sequential reading."""
    return tarfile.open(path, _TAR_MODES[kind])


def is_root_entry(source: str) -> bool:
    """``./`` or ``.``: the archive root itself, which tar often lists and which is skipped."""
    return source.strip("/") in ("", ".")


def _unsafe(path: Path, message: str) -> UnsafeArchive:
    return UnsafeArchive(f"archive '{path}': {message}", hint=_ARCHIVE_HINT)


def check_tar_entry(path: Path, info: tarfile.TarInfo) -> None:
    """Only regular files and directories, without setuid/setgid/sticky bits, are allowed."""
    name = escape_control(info.name)
    kind = None
    if info.issym():
        kind = f"a symbolic link to '{escape_control(info.linkname)}'"
    elif info.islnk():
        kind = f"a hard link to '{escape_control(info.linkname)}'"
    elif info.ischr() or info.isblk():
        kind = "a device"
    elif info.isfifo():
        kind = "a FIFO"
    elif not (info.isfile() or info.isdir()):
        kind = f"an entry of type {info.type!r}"
    if kind:
        raise _unsafe(path, f"member '{name}' is {kind}; scene archives hold only files and directories")
    if info.mode & _SPECIAL_BITS:
        raise _unsafe(path, f"member '{name}' has setuid/setgid/sticky bits ({oct(info.mode)})")


def _check_zip_entry(path: Path, info: zipfile.ZipInfo) -> None:
    name = escape_control(info.orig_filename)
    mode = info.external_attr >> 16 if info.create_system == 3 else 0  # 3 = Unix
    if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise _unsafe(path, f"member '{name}' is a link or special file (mode {oct(mode)})")
    if mode & _SPECIAL_BITS:
        raise _unsafe(path, f"member '{name}' has setuid/setgid/sticky bits ({oct(mode)})")
    if info.flag_bits & 0x1:
        raise _unsafe(path, f"member '{name}' is encrypted")
    if info.compress_type not in _ZIP_METHODS:
        raise _unsafe(path, f"member '{name}' uses unsupported compression {info.compress_type}")


class _Collector:
    """Accumulates members, enforcing the limits and collision rules as each one arrives."""

    def __init__(self, path: Path, limits: ArchiveLimits, archive_size: int) -> None:
        self.path, self.limits, self.archive_size = path, limits, archive_size
        self.members: list[ArchiveMember] = []
        self.entries = 0
        self.total = 0
        self._claims: dict[str, tuple[str, bool]] = {}

    def add(self, source: str, is_dir: bool, size: int) -> None:
        self.entries += 1
        if self.entries > self.limits.max_members:
            raise _unsafe(self.path, f"more than {self.limits.max_members} members")
        if is_dir and is_root_entry(source):
            return
        name = validate_member_name(source)
        parts = name.split("/")
        for depth in range(1, len(parts)):
            self._claim("/".join(parts[:depth]), True)
        self._claim(name, is_dir)
        self.total += size
        if self.total > self.limits.max_total_size:
            raise _unsafe(
                self.path, f"declares more than {self.limits.max_total_size} bytes uncompressed"
            )
        if self.total > self.limits.ratio_min_size and self.total > self.limits.max_ratio * self.archive_size:
            raise _unsafe(
                self.path,
                f"declares {self.total} bytes from {self.archive_size} "
                f"(ratio above {self.limits.max_ratio:g}:1): likely a decompression bomb",
            )
        self.members.append(ArchiveMember(name, source, is_dir, size))

    def _claim(self, name: str, is_dir: bool) -> None:
        key = collision_key(name)
        prior = self._claims.get(key)
        if prior is None:
            self._claims[key] = (name, is_dir)
            return
        if prior[0] != name:
            raise _unsafe(
                self.path,
                f"members '{escape_control(prior[0])}' and '{escape_control(name)}' differ only "
                "in case or Unicode form (they would merge on some filesystems)",
            )
        if not (prior[1] and is_dir):  # the same directory may be listed or implied repeatedly
            raise _unsafe(self.path, f"member '{escape_control(name)}' appears more than once")


def _check_zip_layout(path: Path, zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo]) -> None:
    """Each entry's local header and data must lie apart from every other and before the
    central directory: overlapping entries are how "quoted overlap" bombs (CVE-2024-0450) work,
    and the Python here predates zipfile's own check."""
    end = getattr(zf, "start_dir", None) or path.stat().st_size
    spans: list[tuple[int, int, str]] = []
    with open(path, "rb") as fh:
        for info in infos:
            fh.seek(info.header_offset)
            header = fh.read(30)
            if len(header) < 30 or header[:4] != b"PK\x03\x04":
                raise IntegrityError(
                    f"member '{escape_control(info.filename)}' of '{path}' has no local header",
                    hint="download the product again",
                )
            flags, = struct.unpack("<H", header[6:8])
            name_len, extra_len = struct.unpack("<HH", header[26:30])
            local = fh.read(name_len).decode("utf-8" if flags & 0x800 else "cp437", "replace")
            if local != info.orig_filename:
                raise _unsafe(path, f"member '{escape_control(info.filename)}' has another name "
                              f"in its local header ('{escape_control(local)}')")
            start = info.header_offset
            spans.append((start, start + 30 + name_len + extra_len + info.compress_size, info.filename))
    spans.sort()
    for (_, stop, name), (start, _, following) in zip(spans, spans[1:] + [(end, end, "")]):
        if stop > start:
            other = f"member '{escape_control(following)}'" if following else "the central directory"
            raise _unsafe(path, f"member '{escape_control(name)}' overlaps {other}")


def _inspect_zip(path: Path, collector: _Collector) -> None:
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        if len(infos) > collector.limits.max_members:
            raise _unsafe(path, f"more than {collector.limits.max_members} members")
        for info in infos:
            _check_zip_entry(path, info)
            # orig_filename: zipfile cuts ``filename`` at a NUL, which would hide it from us.
            collector.add(info.orig_filename, info.is_dir(), info.file_size)
        _check_zip_layout(path, zf, infos)


def _inspect_tar(path: Path, kind: str, collector: _Collector) -> None:
    with open_tar(path, kind) as tf:
        for _ in range(collector.limits.max_members + 1):
            info = tf.next()  # reads one header; a member's data is skipped only on the next call
            if info is None:
                return
            check_tar_entry(path, info)
            collector.add(info.name, info.isdir(), info.size if info.isfile() else 0)


def inspect_archive(path: str | os.PathLike[str], limits: ArchiveLimits | None = None) -> ArchiveReport:
    """List and vet every member of the archive at ``path`` without extracting anything.

    Detects zip / tar / tar.gz / tar.bz2 / tar.xz by magic bytes. Raises UnsafeArchive for links,
    devices, FIFOs, setuid/setgid/sticky bits, unsafe names (``validate_member_name``), names
    colliding by case or Unicode form, more than ``limits.max_members`` members, a declared total
    above ``limits.max_total_size`` or a ratio above ``limits.max_ratio``, and overlapping zip
    entries; IntegrityError when the archive cannot be read.
    """
    limits = limits or ArchiveLimits()
    path = Path(path)
    size = path.stat().st_size
    kind = detect_kind(path)
    collector = _Collector(path, limits, size)
    try:
        if kind == "zip":
            _inspect_zip(path, collector)
        else:
            _inspect_tar(path, kind, collector)
    except EoharvestError:
        raise
    except CORRUPT_ERRORS as err:
        last = collector.members[-1].name if collector.members else None
        after = f" after member '{escape_control(last)}'" if last else ""
        raise IntegrityError(
            f"archive '{path}' is corrupt or truncated{after}: {err}",
            hint="download the product again",
        ) from err
    return ArchiveReport(path, kind, tuple(collector.members), size, collector.entries, limits)
