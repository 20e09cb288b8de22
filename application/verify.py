"""`verify`: re-hash the archive against the catalog and report (or repair) what drifted."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable

from eoharvest.domain.catalog_query import StoredFile
from eoharvest.domain.download_states import AVAILABLE, FAILED
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

    @property
    def problems(self) -> list[StoredFile]:
        return [*self.mismatched, *self.missing]


def verify_catalog(
    catalog: CatalogRepository,
    product_key: str | None = None,
    *,
    kind_of: Callable[[str], str],
    sha256_of: Callable[[str], str],
) -> VerifyReport:
    """Check every file the catalog calls available (optionally of one product); see :func:`verify_files`."""
    return verify_files(catalog.stored_files(product_key), kind_of=kind_of, sha256_of=sha256_of)


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
    and inode as they are now (what `serve` compares before serving a file)."""
    for item in report.verified:
        catalog.set_file_state(item.file_id, AVAILABLE, local_path=item.local_path, sha256=item.sha256)
        report.refreshed += 1
    for item in report.mismatched:
        remove(item.local_path)
    for item in report.problems:
        catalog.set_file_state(item.file_id, FAILED)
        report.repaired += 1
