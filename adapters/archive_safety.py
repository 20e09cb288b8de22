"""Names and archives from the network, vetted before anything is written.

Names: server file names, provider titles and archive members. Archives: ``inspect_archive``
reads only the member list (headers, central directory) and rejects hostile archives; the
integrity checks and the extraction live in ``eoharvest.adapters.archives``.

The name functions touch no filesystem. A local path is always built from the scene id or the
download descriptor; names from ``Content-Disposition``, a provider ``title`` or an archive are
data, validated here before they may become a single path component (or, for archive members, a
relative path inside a staging directory). See reliability-test-plan 4.1, 4.2 and B-36..B-50.
"""

from __future__ import annotations

import logging
import lzma
import os
import re
import stat
import struct
import tarfile
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from eoharvest.domain.errors import EoharvestError, IntegrityError, UnsafeArchive, UnsafeFilename
from eoharvest.domain.redaction import escape_control

log = logging.getLogger(__name__)

MAX_COMPONENT_BYTES = 255  # NAME_MAX on Linux ext4/xfs, and NTFS's 255 UTF-16 units roughly
MAX_PATH_BYTES = 4096  # PATH_MAX on Linux

# Windows refuses these as a name, also with any extension (``aux.zip``) and superscript digits.
_WINDOWS_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + [f"{p}{d}" for p in ("COM", "LPT") for d in "123456789\u00b9\u00b2\u00b3"]
)
# Characters Windows forbids in a name; ':' also covers drive letters and NTFS streams.
_WINDOWS_FORBIDDEN = frozenset('<>:"|?*')
_SEPARATORS = frozenset("/\\") | _WINDOWS_FORBIDDEN
_DRIVE = re.compile(r"^[A-Za-z]:")


def _shown(value: str, limit: int = 120) -> str:
    """The value as it may appear in a message or log line: escaped and bounded."""
    text = escape_control(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _control_char(name: str) -> str | None:
    """The first character that ``escape_control`` would alter (NUL, newline, ESC, ...)."""
    for ch in name:
        if not (ch.isprintable() or ch == " "):
            return ch
    return None


def _too_long(component: str) -> bool:
    return len(component.encode("utf-8", "surrogatepass")) > MAX_COMPONENT_BYTES


def _filename_problem(name: str) -> str | None:
    """Why ``name`` cannot be a single local path component, or None when it can."""
    if not name:
        return "it is empty"
    if name in (".", ".."):
        return "it names a directory, not a file"
    bad = _control_char(name)
    if bad is not None:
        return f"it contains the control character {escape_control(bad)}"
    if "/" in name or "\\" in name:
        return "it contains a path separator"
    if _DRIVE.match(name):
        return "it starts with a drive letter"
    forbidden = sorted(set(name) & _WINDOWS_FORBIDDEN)
    if forbidden:
        return f"it contains {''.join(forbidden)!r}, which Windows forbids"
    if name.endswith((".", " ")):
        return "it ends with a dot or a space, which Windows silently drops"
    if name.split(".", 1)[0].rstrip(" ").upper() in _WINDOWS_RESERVED:
        return "it is a reserved device name on Windows"
    if _too_long(name):
        return f"it is longer than {MAX_COMPONENT_BYTES} bytes in UTF-8"
    return None


def safe_filename(name: str, *, what: str = "file name") -> str:
    """Return ``name`` unchanged if it is safe as one local path component.

    Raises UnsafeFilename for empty, ``.``/``..``, separators, drive letters, control characters
    or ANSI escapes, Windows reserved names or forbidden characters, a trailing dot or space,
    or more than 255 UTF-8 bytes.
    """
    if not isinstance(name, str):
        raise UnsafeFilename(f"{what} {name!r} is not text", hint="report this provider response")
    problem = _filename_problem(name)
    if problem:
        raise UnsafeFilename(
            f"unsafe {what} '{_shown(name)}': {problem}",
            hint="eoharvest names files after the scene id; report the provider's value if it recurs",
        )
    return name


def sanitize_title(title: str, *, pattern: re.Pattern[str] | None = None) -> str:
    """A provider ``title`` made into a file name: separators become ``_``, then it is validated.

    Control characters are not replaced but rejected (they indicate a hostile or broken value).
    With ``pattern`` (the provider's scene-id pattern), the result must match it in full.
    """
    cleaned = "".join("_" if ch in _SEPARATORS else ch for ch in title).strip(" ")
    name = safe_filename(cleaned, what="title")
    if pattern is not None and not pattern.fullmatch(name):
        raise UnsafeFilename(
            f"title '{_shown(title)}' does not look like a scene id of this provider",
            hint="report this provider response",
        )
    return name


# RFC 6266 parameters: token or quoted-string values, ';'-separated.
_CD_PARAM = re.compile(r';\s*([!#$%&\'*+.^_`|~0-9A-Za-z-]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)')
_CD_QUOTED_ESCAPE = re.compile(r'\\(["\\])')
_EXT_VALUE = re.compile(r"^([A-Za-z0-9!#$%&+^_`{}~-]+)'[^']*'(.*)$", re.S)


def _cd_filename(header: str) -> str | None:
    """The raw file name offered by a Content-Disposition header (``filename*`` preferred)."""
    plain = extended = None
    for match in _CD_PARAM.finditer(header[:8192]):
        key, value = match.group(1).lower(), match.group(2).strip()
        if key == "filename*":
            ext = _EXT_VALUE.match(value)
            if ext and ext.group(1).lower() in ("utf-8", "iso-8859-1"):
                try:
                    extended = unquote(ext.group(2), encoding=ext.group(1), errors="strict")
                except (UnicodeDecodeError, LookupError):
                    extended = None
        elif key == "filename":
            if value.startswith('"') and value.endswith('"') and len(value) >= 2:
                # Only \" and \\ are unescaped; any other backslash stays and is rejected later.
                value = _CD_QUOTED_ESCAPE.sub(r"\1", value[1:-1])
            plain = value
    return extended if extended is not None else plain


def filename_from_content_disposition(header: str | None, expected: str | None) -> str | None:
    """The server's file name from ``Content-Disposition``, as a hint only; never a path.

    The local file name is always built from the scene id / download descriptor. This parses
    ``filename=`` and RFC 5987 ``filename*=UTF-8''...`` (percent-decoded), and returns the name
    only when it is a safe single component and equals ``expected`` (when ``expected`` is None
    it is only validated). Otherwise a warning with the escaped value is logged and None is
    returned, so callers can flag a mismatch but cannot be steered to another path.
    """
    if not header:
        return None
    offered = _cd_filename(header)
    if offered is None:
        return None
    try:
        name = safe_filename(offered, what="Content-Disposition file name")
    except UnsafeFilename as err:
        log.warning("ignoring the server's file name: %s", err.message)
        return None
    if expected is not None and name != expected:
        log.warning(
            "ignoring the server's file name '%s': expected '%s'", _shown(name), _shown(expected)
        )
        return None
    return name


def validate_member_name(name: str) -> str:
    """Return the normalised relative path of an archive member, or raise UnsafeArchive.

    Rejects absolute paths, ``..`` components, backslashes, drive letters or ':', NUL and other
    control characters, components over 255 bytes and paths over 4096 bytes. ``.`` and empty
    components (``./a``, ``a//b``) and a trailing ``/`` are dropped from the result.
    """
    problem = None
    parts: list[str] = []
    if not isinstance(name, str) or not name:
        problem = "it is empty"
    elif (bad := _control_char(name)) is not None:
        problem = f"it contains the control character {escape_control(bad)}"
    elif "\\" in name:
        problem = "it contains a backslash"
    elif name.startswith("/"):
        problem = "it is an absolute path"
    elif _DRIVE.match(name) or ":" in name:
        problem = "it contains a drive letter or ':'"
    elif len(name.encode("utf-8", "surrogatepass")) > MAX_PATH_BYTES:
        problem = f"it is longer than {MAX_PATH_BYTES} bytes"
    else:
        parts = [p for p in name.split("/") if p not in ("", ".")]
        if ".." in parts:
            problem = "it contains a '..' component"
        elif any(_too_long(p) for p in parts):
            problem = f"a component is longer than {MAX_COMPONENT_BYTES} bytes in UTF-8"
        elif not parts:
            problem = "it names no file"
    if problem:
        raise UnsafeArchive(
            f"unsafe archive member '{_shown(str(name))}': {problem}",
            hint="the archive was not extracted; report the product to the provider",
        )
    return "/".join(parts)


def collision_key(path: str) -> str:
    """The key under which two member paths collide on case-insensitive or normalising filesystems."""
    return unicodedata.normalize("NFC", path).casefold()


# --- archive inspection: the whole member list, before any byte is extracted ---------------

GiB = 1 << 30
MiB = 1 << 20
_SPECIAL_BITS = stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX
_ZIP_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
TAR_MODES = {"tar": "r:", "tar.gz": "r:gz", "tar.bz2": "r:bz2", "tar.xz": "r:xz"}
_ARCHIVE_HINT = "the archive was not extracted; report the product to the provider"


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
    with tarfile.open(path, TAR_MODES[kind]) as tf:
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
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError) as err:
        last = collector.members[-1].name if collector.members else None
        after = f" after member '{escape_control(last)}'" if last else ""
        raise IntegrityError(
            f"archive '{path}' is corrupt or truncated{after}: {err}",
            hint="download the product again",
        ) from err
    return ArchiveReport(path, kind, tuple(collector.members), size, collector.entries, limits)
