"""`verify`: re-hash the archive against the catalog and report (or repair) what drifted.

Files are checked against the SHA-256 recorded when they were downloaded, and the members of
extracted archives against the SHA-256 of the bytes their extraction wrote (catalog revision
0008), so a product kept only unpacked is re-hashed too."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

from eoharvest.application.download_plan import ARCHIVE_SUFFIXES
from eoharvest.domain.catalog_query import ExtractedMember, StoredFile, StoredMember
from eoharvest.domain.download_states import AVAILABLE, FAILED
from eoharvest.domain.errors import EoharvestError
from eoharvest.domain.ports import CatalogRepository


@dataclass
class VerifyReport:
    checked: int = 0
    ok: int = 0
    extracted: int = 0  # archives kept only unpacked (keep_archives = false): present, not re-hashable
    mismatched: list[StoredFile] = field(default_factory=list)
    missing: list[StoredFile] = field(default_factory=list)
    repaired: int = 0
    verified: list[StoredFile] = field(default_factory=list)  # re-hashed and matching
    refreshed: int = 0  # verified files whose on-disk identity --repair recorded again
    members_checked: int = 0
    members_ok: list[StoredMember] = field(default_factory=list)
    members_mismatched: list[StoredMember] = field(default_factory=list)
    members_missing: list[StoredMember] = field(default_factory=list)  # or no longer a regular file
    members_recorded: int = 0  # archives from before revision 0008 whose members --repair recorded
    members_unrecorded: list[tuple[StoredFile, str]] = field(default_factory=list)  # (archive, why not)

    @property
    def problems(self) -> list[StoredFile | StoredMember]:
        return [*self.mismatched, *self.missing, *self.members_mismatched, *self.members_missing]


def verify_catalog(
    catalog: CatalogRepository,
    product_key: str | None = None,
    *,
    kind_of: Callable[[str], str],
    sha256_of: Callable[[str], str],
) -> VerifyReport:
    """Check every file the catalog calls available (optionally of one product), then the
    recorded members of its extracted archives; see :func:`verify_files`."""
    report = verify_files(catalog.stored_files(product_key), kind_of=kind_of, sha256_of=sha256_of)
    for member in catalog.stored_members(product_key):
        report.members_checked += 1
        if kind_of(member.local_path) != "file":
            report.members_missing.append(member)
        elif sha256_of(member.local_path) == member.sha256:
            report.members_ok.append(member)
        else:
            report.members_mismatched.append(member)
    return report


def verify_files(
    stored: Iterable[StoredFile],
    *,
    kind_of: Callable[[str], str],
    sha256_of: Callable[[str], str],
) -> VerifyReport:
    """Compare every file with its recorded SHA-256. ``kind_of(path)`` is 'file', 'dir' or 'missing'."""
    report = VerifyReport()
    for item in stored:
        report.checked += 1
        kind = kind_of(item.local_path)
        if kind == "missing":
            report.missing.append(item)
        elif kind == "dir":
            report.extracted += 1
        elif sha256_of(item.local_path) == item.sha256:
            report.ok += 1
            report.verified.append(item)
        else:
            report.mismatched.append(item)
    return report


def repair(report: VerifyReport, catalog: CatalogRepository, *, remove: Callable[[str], None]) -> None:
    """Forget broken copies: the catalog marks them failed, so it stops calling them available
    and the next harvest or download fetches them again; corrupt files are deleted. Files whose
    bytes still match are marked available again, which records their size, modification time
    and inode as they are now (what `serve` compares before serving a file); so are members.

    A changed or missing member makes its archive's product incomplete: the member is deleted
    (so the next extraction can put the archive's bytes there instead of refusing to replace
    it) and its archive is marked failed, so the next download fetches and extracts it again."""
    for item in report.verified:
        catalog.set_file_state(item.file_id, AVAILABLE, local_path=item.local_path, sha256=item.sha256)
        report.refreshed += 1
    for member in report.members_ok:
        catalog.refresh_member(member.member_id)
        report.refreshed += 1
    changed: list[StoredFile | StoredMember] = [*report.mismatched, *report.members_mismatched]
    for broken in changed:
        remove(broken.local_path)
    failed: set[int] = set()
    for problem in report.problems:
        if problem.file_id in failed:
            continue
        failed.add(problem.file_id)
        catalog.set_file_state(problem.file_id, FAILED)
        report.repaired += 1


def record_members(
    report: VerifyReport,
    catalog: CatalogRepository,
    *,
    member_digests: Callable[[str], Mapping[str, tuple[int, str]]],
    kind_of: Callable[[str], str],
    sha256_of: Callable[[str], str],
) -> None:
    """Record the members of archives extracted before the catalog recorded members (revision
    0008), so `serve` can serve them: only for a kept archive whose bytes still match its
    SHA-256 (``report.verified``), and only when every file member is in the archive's folder
    with the archive's bytes (read from the archive itself, ``member_digests``). Anything else
    is left as it is and listed in ``report.members_unrecorded``."""
    recorded = {member.file_id for member in catalog.stored_members()}
    for archive in report.verified:
        if archive.file_id in recorded or not archive.name.lower().endswith(ARCHIVE_SUFFIXES):
            continue
        try:
            digests = member_digests(archive.local_path)
        except EoharvestError as exc:
            report.members_unrecorded.append((archive, str(exc)))
            continue
        folder = os.path.dirname(archive.local_path)
        members, why = [], ""
        for path, (size, sha256) in digests.items():
            local = os.path.join(folder, *path.split("/"))
            if kind_of(local) != "file":
                why = f"'{path}' is not in the product folder (not extracted?)"
            elif sha256_of(local) != sha256:
                why = f"'{path}' in the product folder differs from the archive's"
            if why:
                break
            members.append(ExtractedMember(path, local, size, sha256))
        if why or not members:
            report.members_unrecorded.append((archive, why or "the archive holds no files"))
            continue
        catalog.record_extraction(archive.file_id, local_path=archive.local_path, sha256=archive.sha256,
                                  members=members)  # fmt: skip
        report.members_recorded += 1
