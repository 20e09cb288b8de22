"""Verify and extract downloaded scene archives (zip, tar, tar.gz, tar.bz2, tar.xz).

Order of work; the first two steps finish before any byte is extracted:
  1. ``inspect_archive`` (in ``eoharvest.adapters.archive_inspection``): the format by magic
     bytes, every member's name, type and declared size against ``ArchiveLimits`` (links,
     devices, setuid, traversal, duplicates, bombs, overlaps).
  2. ``verify_archive``: every member read to the end (CRC / compressed stream integrity), a
     plain tar's end-of-archive marker, expected members, and a SAFE manifest's file list and
     checksums.
  3. ``extract_archive``: into a staging directory next to the destination, then moved into
     place without replacing anything (``eoharvest.adapters.archive_placement``); on any failure
     the staging directory is removed and the destination is unchanged.

Policy: scene archives never need links, devices, FIFOs or setuid/setgid/sticky bits, so an
archive holding any of them is rejected whole rather than "cleaned". Modes, owners and times
stored in the archive are never applied.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import lzma
import os
import re
import shutil
import tarfile
import tempfile
import zipfile
import zlib
from pathlib import Path
from typing import IO, Iterable

from defusedxml import DefusedXmlException
from defusedxml import ElementTree as SafeET

from eoharvest.adapters.archive_inspection import (
    CORRUPT_ERRORS,
    ArchiveLimits,
    ArchiveMember,
    ArchiveReport,
    check_tar_entry,
    inspect_archive,
    is_root_entry,
    open_tar,
)
from eoharvest.adapters.archive_mtl import MTL_MEMBER, mtl_file_names
from eoharvest.adapters.archive_placement import place_tree
from eoharvest.domain.catalog_query import ExtractedMember
from eoharvest.domain.filenames import collision_key, validate_member_name
from eoharvest.domain.redaction import escape_control
from eoharvest.domain.errors import (
    EoharvestError,
    InputError,
    InsufficientSpace,
    IntegrityError,
    UnsafeArchive,
)

__all__ = [
    "ArchiveLimits",
    "ArchiveMember",
    "ArchiveReport",
    "extract_archive",
    "extract_members",
    "inspect_archive",
    "member_digests",
    "verify_archive",
]

log = logging.getLogger(__name__)

CHUNK = 1 << 20
_NO_SPACE = {errno.ENOSPC, errno.EDQUOT}
_MANIFEST = re.compile(r"^[^/]+\.(?:SAFE/manifest\.safe|SEN3/xfdumanifest\.xml)$", re.I)
_DIGESTS = {"MD5": "md5", "SHA256": "sha256", "SHA3256": "sha3_256"}
_HINT = "download the product again; if it recurs, report it to the provider"


def _corrupt(
    report: ArchiveReport, member: str | None, err: BaseException, *, after: str | None = None
) -> IntegrityError:
    where = f"member '{member}' of " if member else ""
    tail = f" after member '{after}'" if after and not member else ""
    return IntegrityError(
        f"{where}archive '{report.path}' is corrupt or truncated{tail}: {err}", hint=_HINT
    )


def _drain(
    src: IO[bytes], size: int, digest: hashlib._Hash | None, out: IO[bytes] | None = None
) -> int:
    """Read ``src`` to its end (at most ``size`` bytes), feeding ``digest`` and ``out``."""
    copied = 0
    for _ in range(size // CHUNK + 2):
        chunk = src.read(CHUNK)
        if not chunk:
            break
        copied += len(chunk)
        if copied > size:
            raise UnsafeArchive("a member holds more data than it declares", hint=_HINT)
        if digest is not None:
            digest.update(chunk)
        if out is not None:
            out.write(chunk)
    return copied


# --- verification --------------------------------------------------------------------------


def _manifest_checks(report: ArchiveReport, zf_or_tf) -> dict[str, tuple[str, str]]:
    """Check SAFE/SEN3 manifests against the member list; return {member: (algorithm, hex)}."""
    files = {m.name: m for m in report.members if not m.is_dir}
    checks: dict[str, tuple[str, str]] = {}
    for manifest in [m for m in report.members if _MANIFEST.match(m.name)][:4]:
        data = _read_small(report, zf_or_tf, manifest)
        base = manifest.name.split("/", 1)[0]
        missing = []
        for href, size, algorithm, expected in _manifest_entries(report, manifest.name, data):
            try:
                name = f"{base}/{validate_member_name(href)}"
            except UnsafeArchive as err:
                raise UnsafeArchive(
                    f"manifest '{manifest.name}' lists an unsafe path: {err.message}", hint=err.hint
                ) from None
            member = files.get(name)
            if member is None:
                missing.append(name)
            elif size is not None and size != member.size:
                raise IntegrityError(
                    f"member '{name}' of '{report.path}' has {member.size} bytes, "
                    f"manifest '{manifest.name}' says {size}",
                    hint=_HINT,
                )
            elif algorithm:
                checks[name] = (algorithm, expected)
        if missing:
            more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
            raise IntegrityError(
                f"'{missing[0]}'{more} listed in '{manifest.name}' missing from archive '{report.path}'",
                hint=_HINT,
            )
    _landsat_mtl_check(report, zf_or_tf, files)
    return checks


def _landsat_mtl_check(report: ArchiveReport, zf_or_tf, files) -> None:
    """A Landsat bundle must hold every file its ``*_MTL.txt``/``*_MTL.json`` names."""
    for mtl in [m for m in report.members if MTL_MEMBER.search(m.name)][:4]:
        folder = mtl.name.rsplit("/", 1)[0] + "/" if "/" in mtl.name else ""
        for listed in mtl_file_names(mtl.name, _read_small(report, zf_or_tf, mtl)):
            try:
                name = folder + validate_member_name(listed)
            except UnsafeArchive as err:
                raise UnsafeArchive(f"'{mtl.name}' lists an unsafe path: {err.message}", hint=err.hint) from None
            if name not in files:
                raise IntegrityError(
                    f"'{name}' listed in '{mtl.name}' is missing from archive '{report.path}'", hint=_HINT
                )


def _read_small(report: ArchiveReport, archive, member: ArchiveMember) -> bytes:
    if member.size > report.limits.max_manifest_size:
        raise UnsafeArchive(f"manifest '{member.name}' of '{report.path}' is too large ({member.size} bytes)")
    if isinstance(archive, zipfile.ZipFile):
        info = next(i for i in archive.infolist() if i.orig_filename == member.source)
        return archive.read(info)
    fh = archive.extractfile(member.source)
    return fh.read(member.size + 1) if fh else b""


def _local(tag: object) -> str:
    return str(tag).rsplit("}", 1)[-1]


def _manifest_entries(report: ArchiveReport, name: str, data: bytes):
    """(href, size, hashlib name or None, expected hex) for each byteStream of an XFDU manifest."""
    try:
        root = SafeET.fromstring(data, forbid_dtd=True)
    except DefusedXmlException as err:
        raise UnsafeArchive(f"manifest '{name}' of '{report.path}' uses forbidden XML: {err}") from None
    except SafeET.ParseError as err:
        raise IntegrityError(
            f"manifest '{name}' of '{report.path}' is not valid XML: {err}", hint=_HINT
        ) from None
    for stream in (el for el in root.iter() if _local(el.tag) == "byteStream"):
        location = next((c for c in stream if _local(c.tag) == "fileLocation"), None)
        if location is None or not location.get("href"):
            continue
        size = stream.get("size")
        checksum = next((c for c in stream if _local(c.tag) == "checksum"), None)
        algorithm = expected = None
        if checksum is not None and checksum.text:
            key = re.sub(r"[-_ ]", "", checksum.get("checksumName", "")).upper()
            algorithm, expected = _DIGESTS.get(key), checksum.text.strip().lower()
        yield location.get("href"), int(size) if size and size.isdigit() else None, algorithm, expected


def _check_digest(report: ArchiveReport, name: str, digest, checks) -> None:
    if digest is not None and digest.hexdigest() != checks[name][1]:
        raise IntegrityError(
            f"member '{name}' of '{report.path}' fails its {checks[name][0].upper()} checksum "
            "from the manifest",
            hint=_HINT,
        )


def _new_digest(name: str, checks):
    return hashlib.new(checks[name][0]) if name in checks else None


def _verify_zip(report: ArchiveReport) -> None:
    current = None
    try:
        with zipfile.ZipFile(report.path) as zf:
            checks = _manifest_checks(report, zf)
            infos = {info.orig_filename: info for info in zf.infolist()}
            for member in report.members:
                if member.is_dir:
                    continue
                current, digest = member.name, _new_digest(member.name, checks)
                with zf.open(infos[member.source]) as fh:  # zipfile checks the CRC at the end
                    got = _drain(fh, member.size, digest)
                if got != member.size:
                    raise IntegrityError(f"member '{current}' of '{report.path}' is short", hint=_HINT)
                _check_digest(report, current, digest, checks)
    except EoharvestError:
        raise
    except CORRUPT_ERRORS as err:
        raise _corrupt(report, current, err) from err


def _verify_tar(report: ArchiveReport) -> None:
    current = last = None
    try:
        with open_tar(report.path, report.kind) as tf:
            checks = _manifest_checks(report, tf)
        with open_tar(report.path, report.kind) as tf:
            for _ in range(report.entry_count + 1):
                info = tf.next()
                if info is None:
                    break
                current = info.name
                if info.isfile():
                    name = validate_member_name(info.name)
                    digest = _new_digest(name, checks)
                    fh = tf.extractfile(info)
                    if fh is None or _drain(fh, info.size, digest) != info.size:
                        raise IntegrityError(f"member '{name}' of '{report.path}' is short", hint=_HINT)
                    _check_digest(report, name, digest, checks)
                last, current = info.name, None
            # tarfile accepts a plain tar cut at a member boundary; the two zero blocks it must
            # end with are what tells a complete archive from a cut one.
            tf.fileobj.seek(tf.offset)
            if tf.fileobj.read(2 * tarfile.BLOCKSIZE) != bytes(2 * tarfile.BLOCKSIZE):
                after = f" after member '{last}'" if last else ""
                raise IntegrityError(
                    f"archive '{report.path}' is truncated{after}: no end-of-archive marker",
                    hint=_HINT,
                )
    except EoharvestError:
        raise
    except CORRUPT_ERRORS as err:
        raise _corrupt(report, current, err, after=last) from err


def verify_archive(
    path: str | os.PathLike[str],
    *,
    expected_members: Iterable[str] | None = None,
    limits: ArchiveLimits | None = None,
) -> ArchiveReport:
    """Inspect ``path``, then check it is complete and uncorrupted; return the report.

    Every member is read to its end (zip CRC, compressed-stream errors), a tar must end with its
    end-of-archive marker, each of ``expected_members`` (e.g. from a product file list) must be
    present, and a ``*.SAFE/manifest.safe`` (or ``*.SEN3/xfdumanifest.xml``) must list only
    present files whose MD5/SHA checksums match. Raises IntegrityError naming the member.
    """
    report = inspect_archive(path, limits)
    if expected_members is not None:
        present = {m.name for m in report.members if not m.is_dir}
        wanted = [validate_member_name(name) for name in expected_members]
        missing = [name for name in wanted if name not in present]
        if missing:
            raise IntegrityError(
                f"member '{missing[0]}' is missing from archive '{report.path}'"
                + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""),
                hint=_HINT,
            )
    if report.kind == "zip":
        _verify_zip(report)
    else:
        _verify_tar(report)
    return report


def member_digests(
    path: str | os.PathLike[str], *, limits: ArchiveLimits | None = None
) -> dict[str, tuple[int, str]]:
    """Inspect ``path`` and read every file member to its end: {member name: (size, SHA-256)}.

    What ``verify --repair`` compares a product folder with when the catalog has no member rows
    for its archive (extracted before catalog revision 0008)."""
    report = inspect_archive(path, limits)
    digests: dict[str, tuple[int, str]] = {}
    current = None
    try:
        if report.kind == "zip":
            with zipfile.ZipFile(report.path) as zf:
                infos = {info.orig_filename: info for info in zf.infolist()}
                for member in report.members:
                    if not member.is_dir:
                        current = member.name
                        with zf.open(infos[member.source]) as fh:
                            digests[member.name] = _digest(report, member.name, fh, member.size)
        else:
            with open_tar(report.path, report.kind) as tf:
                for _ in range(report.entry_count + 1):
                    info = tf.next()
                    if info is None:
                        break
                    if info.isfile():
                        current = validate_member_name(info.name)
                        fh = tf.extractfile(info)
                        if fh is None:
                            raise IntegrityError(f"member '{current}' of '{report.path}' cannot be read", hint=_HINT)
                        digests[current] = _digest(report, current, fh, info.size)
    except EoharvestError:
        raise
    except CORRUPT_ERRORS as err:
        raise _corrupt(report, current, err) from err
    return digests


def _digest(report: ArchiveReport, name: str, fh: IO[bytes], size: int) -> tuple[int, str]:
    digest = hashlib.sha256()
    if _drain(fh, size, digest) != size:
        raise IntegrityError(f"member '{name}' of '{report.path}' is short", hint=_HINT)
    return size, digest.hexdigest()


# --- extraction ----------------------------------------------------------------------------


def _contained(root: str, name: str) -> str:
    """The path of member ``name`` under ``root``, refusing anything that resolves outside it."""
    target = os.path.join(root, *name.split("/"))
    if not os.path.realpath(target).startswith(root + os.sep):
        raise UnsafeArchive(f"archive member '{name}' would be written outside the staging directory")
    return target


def _write_member(src: IO[bytes], target: str, size: int) -> str:
    """Create ``target`` (never overwriting) with exactly ``size`` bytes from ``src``; the
    SHA-256 of those bytes (what the catalog serves the member by)."""
    os.makedirs(os.path.dirname(target), exist_ok=True)
    digest = hashlib.sha256()
    try:
        with open(target, "xb") as out:
            written = _drain(src, size, digest, out)
    except OSError as err:
        if err.errno not in _NO_SPACE or isinstance(err, EoharvestError):
            raise
        free = shutil.disk_usage(os.path.dirname(target)).free
        raise InsufficientSpace(
            f"no space left writing '{target}' ({free} bytes free)",
            hint="free some space or choose another output directory, then retry",
        ) from err
    if written != size:
        raise IntegrityError(f"member '{target}' ended after {written} of {size} bytes", hint=_HINT)
    return digest.hexdigest()


def _extract_into(report: ArchiveReport, staging: Path) -> dict[str, str]:
    """Extract every member into ``staging``; {member name: SHA-256 of its bytes}."""
    root = os.path.realpath(staging)
    by_source = {m.source: m for m in report.members}
    digests: dict[str, str] = {}
    if report.kind == "zip":
        with zipfile.ZipFile(report.path) as zf:
            entries = [(info.orig_filename, info) for info in zf.infolist()]
            opener = zf.open
            _extract_entries(report, root, by_source, entries, opener, None, digests)
    else:
        with open_tar(report.path, report.kind) as tf:
            _extract_entries(report, root, by_source, None, tf.extractfile, tf, digests)
    return digests


def _extract_entries(report, root, by_source, entries, opener, tf, digests) -> None:
    for index in range(report.entry_count + 1):
        if tf is not None:
            info = tf.next()
            if info is None:
                return
            check_tar_entry(report.path, info)
            source = info.name
        else:
            if index == len(entries):
                return
            source, info = entries[index]
        member = by_source.get(source)
        if member is None:
            if is_root_entry(source):
                continue
            raise UnsafeArchive(f"archive '{report.path}' changed after it was inspected ('{source}')")
        target = _contained(root, member.name)
        if member.is_dir:
            os.makedirs(target, exist_ok=True)
            continue
        with opener(info) as src:
            digests[member.name] = _write_member(src, target, member.size)
    raise UnsafeArchive(f"archive '{report.path}' changed after it was inspected (more members)")


def _staging_parent(dest: Path, staging_parent, report: ArchiveReport) -> Path:
    """Where the staging directory goes: same filesystem as ``dest``, with room for the members."""
    parent = Path(staging_parent) if staging_parent is not None else dest
    if os.stat(parent).st_dev != os.stat(dest).st_dev:
        raise InputError(
            f"staging directory '{parent}' is not on the same filesystem as '{dest}'",
            hint="choose a staging directory on the destination's filesystem",
        )
    free = shutil.disk_usage(parent).free
    if report.total_size > free:
        raise InsufficientSpace(
            f"extracting '{report.path}' needs {report.total_size} bytes, '{parent}' has {free} free",
            hint="free some space or choose another output directory, then retry",
        )
    return parent


def _refuse_protected(report: ArchiveReport, tops: list[str], protected: Iterable[str]) -> None:
    """A top-level member named like one of ``protected`` (the archive itself, the product's
    other files) would take that file's place: refuse the archive before extracting a byte."""
    keys = {collision_key(name): name for name in protected}
    for top in tops:
        taken = keys.get(collision_key(top))
        if taken is not None:
            raise UnsafeArchive(
                f"archive '{report.path}' has a member '{escape_control(top)}' that would replace "
                f"the product's file '{escape_control(taken)}'; nothing was extracted",
                hint="the archive and that file are kept as they are; report the product to the provider",
            )


def extract_archive(
    path: str | os.PathLike[str],
    dest_dir: str | os.PathLike[str],
    *,
    limits: ArchiveLimits | None = None,
    expected_members: Iterable[str] | None = None,
    staging_parent: str | os.PathLike[str] | None = None,
    verified: bool = False,
    protected: Iterable[str] = (),
) -> list[Path]:
    """Safely extract ``path`` into ``dest_dir``; return the extracted file paths in archive order.

    Inspects and verifies first (see ``verify_archive``; with ``verified=True``, because the
    caller just ran ``verify_archive`` on these bytes, only the cheap inspection is repeated and
    the member CRCs are still checked while extracting), refuses a top-level member named like
    one of ``protected`` (names in ``dest_dir`` that belong to something else, such as the
    archive itself), checks free space, extracts into a fresh ``.staging-*`` directory in
    ``staging_parent`` (default: ``dest_dir``, which must be on the same filesystem), creating
    every file with ``open(..., 'xb')`` after a containment check, then moves the result into
    ``dest_dir`` without replacing anything (:mod:`eoharvest.adapters.archive_placement`): a file
    already there with the member's bytes is kept, anything else in the way is UnsafeArchive.
    On any failure the staging directory is removed and ``dest_dir`` is left as it was; a full
    disk raises InsufficientSpace.
    """
    extracted = extract_members(path, dest_dir, limits=limits, expected_members=expected_members,
                                staging_parent=staging_parent, verified=verified, protected=protected)  # fmt: skip
    return [Path(m.local_path) for m in extracted]


def extract_members(
    path: str | os.PathLike[str],
    dest_dir: str | os.PathLike[str],
    *,
    limits: ArchiveLimits | None = None,
    expected_members: Iterable[str] | None = None,
    staging_parent: str | os.PathLike[str] | None = None,
    verified: bool = False,
    protected: Iterable[str] = (),
) -> list[ExtractedMember]:
    """:func:`extract_archive`, answering each extracted file with its path relative to
    ``dest_dir``, its size and the SHA-256 of the bytes written (hashed while extracting: the
    catalog serves members by it). A file that was already in place with the member's bytes is
    kept, so its digest is the member's too."""
    if verified and expected_members is None:
        report = inspect_archive(path, limits)
    else:
        report = verify_archive(path, expected_members=expected_members, limits=limits)
    dest = Path(dest_dir)
    tops = list(dict.fromkeys(m.name.split("/", 1)[0] for m in report.members))
    _refuse_protected(report, tops, protected)
    created = not dest.exists()
    dest.mkdir(parents=True, exist_ok=True)
    staging = None
    try:
        parent = _staging_parent(dest, staging_parent, report)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=parent))
        digests = _extract_into(report, staging)
        place_tree(staging, dest, report.members, report.path)
    except BaseException as err:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        if created:
            with contextlib.suppress(OSError):
                dest.rmdir()  # this call made it; now empty again
        if isinstance(err, (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, lzma.LZMAError)):
            raise _corrupt(report, None, err) from err
        raise
    shutil.rmtree(staging, ignore_errors=True)
    log.debug("extracted %d members of '%s' into '%s'", len(report.members), report.path, dest)
    return [
        ExtractedMember(m.name, str(dest.joinpath(*m.name.split("/"))), m.size, digests[m.name])
        for m in report.members
        if not m.is_dir
    ]
