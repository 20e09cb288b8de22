"""`verify`: re-hash the archive against the catalog and report (or repair) what drifted."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Protocol


class VerifiableFile(Protocol):
    file_id: int
    product_key: str
    name: str
    local_path: str
    sha256: str


@dataclass
class VerifyReport:
    checked: int = 0
    ok: int = 0
    extracted: int = 0  # products kept only as extracted directories: present, not re-hashable
    mismatched: list[VerifiableFile] = field(default_factory=list)
    missing: list[VerifiableFile] = field(default_factory=list)
    repaired: int = 0

    @property
    def problems(self) -> list[VerifiableFile]:
        return [*self.mismatched, *self.missing]


def verify_files(
    stored: Iterable[VerifiableFile],
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
        else:
            report.mismatched.append(item)
    return report


def repair(report: VerifyReport, *, mark_failed: Callable[[int], None], remove: Callable[[str], None]) -> None:
    """Forget broken copies: the catalog stops calling them available (so the next harvest or
    download fetches them again) and corrupt files are deleted."""
    for item in report.mismatched:
        remove(item.local_path)
    for item in report.problems:
        mark_failed(item.file_id)
        report.repaired += 1
