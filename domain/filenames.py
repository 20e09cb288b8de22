"""Names from the network, vetted before they may become a local path.

Two kinds of name: a single path component (``safe_filename``: a product directory, a file
name from a provider's download descriptor) and the relative path of an archive member
(``validate_member_name``, with ``collision_key`` for names that would merge on case-insensitive
or normalising filesystems). Nothing here touches the filesystem; a name that fails is rejected
with its value shown escaped, never repaired. These are domain rules: the application
checks product and file names before a download, and archive inspection
(``eoharvest.adapters.archive_inspection``) applies the member rules to a whole member list.
"""

from __future__ import annotations

import re
import unicodedata

from eoharvest.domain.errors import UnsafeArchive, UnsafeFilename
from eoharvest.domain.redaction import escape_control

MAX_COMPONENT_BYTES = 255  # NAME_MAX on Linux ext4/xfs, and NTFS's 255 UTF-16 units roughly
MAX_PATH_BYTES = 4096  # PATH_MAX on Linux

# Windows refuses these as a name, also with any extension (``aux.zip``) and superscript digits.
_WINDOWS_RESERVED = frozenset(
    ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"]
    + [f"{p}{d}" for p in ("COM", "LPT") for d in "123456789\u00b9\u00b2\u00b3"]
)
# Characters Windows forbids in a name; ':' also covers drive letters and NTFS streams.
_WINDOWS_FORBIDDEN = frozenset('<>:"|?*')
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
