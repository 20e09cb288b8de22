"""The ``FileTransfer`` and ``ArchiveHandler`` adapters behind the application's scene download.

``ProviderTransfers`` holds one ``TransferEngine`` per provider (each with that provider's URL
guard and origin-scoped credentials) and turns a download descriptor into a fetch;
``SafeArchives`` verifies and unpacks product archives with the configured limits.
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Callable, Mapping, Sequence

from eoharvest.adapters.archives import ArchiveLimits, extract_members, member_digests, verify_archive
from eoharvest.adapters.download_reconcile import reconcile_directory
from eoharvest.adapters.flocks import held_folder
from eoharvest.adapters.http.hashing import file_digest
from eoharvest.adapters.http.partfile import LOCK_WAIT
from eoharvest.adapters.http.transfer import FetchSpec, TransferEngine
from eoharvest.domain.catalog_query import ExtractedMember
from eoharvest.domain.models import DownloadDescriptor
from eoharvest.domain.ports import Progress, TransferResult


class ProviderTransfers:
    """``FileTransfer`` over per-provider engines; ``make_engine(provider)`` builds a missing one."""

    def __init__(self, make_engine: Callable[[str], TransferEngine]) -> None:
        self._make_engine = make_engine
        self._engines: dict[str, TransferEngine] = {}
        self._lock = threading.Lock()

    def engine(self, provider: str) -> TransferEngine:
        with self._lock:
            if provider not in self._engines:
                self._engines[provider] = self._make_engine(provider)
            return self._engines[provider]

    def hold_directory(
        self, directory: str, stopped: Callable[[], bool] | None = None, *, shared: bool = False
    ) -> AbstractContextManager[bool]:
        return held_folder(Path(directory), stopped=stopped or (lambda: False), timeout=LOCK_WAIT, shared=shared)

    def prepare_directory(self, directory: str) -> None:
        reconcile_directory(Path(directory))

    def fetch(
        self,
        provider: str,
        descriptor: DownloadDescriptor,
        dest: str,
        *,
        overwrite: bool = False,
        stopped: Callable[[], bool] | None = None,
        progress: Progress | None = None,
        validate: Callable[[str], None] | None = None,
    ) -> TransferResult:
        spec = FetchSpec(
            url=descriptor.url,
            dest=Path(dest),
            size=descriptor.size,
            checksums=descriptor.checksums,
            media_type=descriptor.media_type,
            provider=provider,
            refresh_url=descriptor.refresh_url,
        )
        check = (lambda part: validate(str(part))) if validate is not None else None
        outcome = self.engine(provider).fetch(spec, overwrite=overwrite, stopped=stopped, progress=progress, validate=check)
        return TransferResult(
            str(outcome.path), outcome.sha256 or file_digest(outcome.path), existing=outcome.skipped,
            transferred=outcome.received,
        )


class SafeArchives:
    """``ArchiveHandler``: structural checks (CRCs, tar completeness, SAFE manifests) and an
    extraction that keeps every member inside the product folder and replaces nothing there."""

    def __init__(self, limits: ArchiveLimits | None = None) -> None:
        self.limits = limits

    def verify(self, path: str) -> None:
        verify_archive(path, limits=self.limits)

    def member_digests(self, path: str) -> Mapping[str, tuple[int, str]]:
        return member_digests(path, limits=self.limits)

    def extract(self, archive: str, into: str, *, protected: Sequence[str] = ()) -> Sequence[ExtractedMember]:
        # Called only for archives that verify() accepted before their rename into place.
        return extract_members(archive, into, limits=self.limits, verified=True, protected=protected)
