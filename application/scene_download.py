"""The dedup-aware download of one scene: plan, record, transfer, verify, extract, record.

This is the use case behind ``scene.downloader().download(...)``. It talks to the world only
through ports: a ``FileTransfer`` moves bytes (resumable, verified, renamed into place), an
``ArchiveHandler`` checks and unpacks product archives, and the optional ``CatalogRepository``
makes downloads dedup-aware and records every state change. Files land in
``<outdir>/<product key>/<file name>``, the same folder whichever provider delivered them.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from eoharvest.application.download_plan import is_archive, plan_scene
from eoharvest.domain.catalog_query import AvailableFile
from eoharvest.domain.errors import (
    AuthError,
    DownloadCancelled,
    EoharvestError,
    HostPaused,
    InsufficientSpace,
    UnsafeFilename,
)
from eoharvest.domain.filenames import safe_filename
from eoharvest.domain.models import DownloadDescriptor, DownloadResult, Scene
from eoharvest.domain.ports import ArchiveHandler, CatalogRepository, FileTransfer, Progress
from eoharvest.domain.redaction import redact

log = logging.getLogger("eoharvest.download")

Stopped = Callable[[], bool]


@dataclass(frozen=True)
class _Fetched:
    files: list[str]
    archive: str | None
    transferred: int


class SceneDownloadService:
    """Implements the application's ``Fetcher`` port for every provider.

    ``progress`` (given at construction) is told about bytes as they arrive. ``open_catalog``
    is called when the first download starts (a search-only session never opens the catalog);
    without it downloads still verify and resume, but do not know what the archive already has.
    """

    def __init__(
        self,
        transfer: FileTransfer,
        archives: ArchiveHandler,
        open_catalog: Callable[[], CatalogRepository] | None = None,
        *,
        extract_archives: bool = True,
        keep_archives: bool = True,
        progress: Progress | None = None,
    ) -> None:
        self.transfer = transfer
        self.archives = archives
        self._open_catalog = open_catalog
        self.catalog: CatalogRepository | None = None
        self.extract_archives = extract_archives
        self.keep_archives = keep_archives
        self.progress = progress
        self._locks_guard = threading.Lock()
        self._product_locks: dict[str, threading.Lock] = {}

    def fetch(
        self,
        scene: Scene,
        descriptors: Sequence[DownloadDescriptor],
        outdir: str,
        *,
        overwrite: bool = False,
        stopped_func: Stopped | None = None,
        skip_error: bool = False,
    ) -> DownloadResult:
        """Fetch ``descriptors`` of ``scene`` into ``<outdir>/<product key>/``.

        With ``skip_error`` a file that fails does not stop the scene's other files: they are
        fetched, verified and recorded, and the first failure is raised afterwards (so the scene
        is still reported as failed). Cancellation, a full disk and refused credentials always
        stop at once.
        """
        scene_dir = Path(outdir) / safe_filename(scene.product_key or scene.scene_id, what="product name")
        # One product at a time per directory: the same product found at two providers must
        # not be planned twice and fetched into the same files concurrently.
        with self._locks_guard:
            if self.catalog is None and self._open_catalog is not None:
                self.catalog = self._open_catalog()
        with self._product_lock(scene_dir):
            # Across processes too: a second harvest of the same product waits for the first,
            # then plans again and finds the files verified in the catalog.
            with self.transfer.hold_directory(str(scene_dir), stopped_func):
                return self._fetch_product(scene, descriptors, scene_dir, overwrite, stopped_func, skip_error)

    def _product_lock(self, scene_dir: Path) -> threading.Lock:
        with self._locks_guard:
            return self._product_locks.setdefault(str(scene_dir), threading.Lock())

    def _fetch_product(
        self,
        scene: Scene,
        descriptors: Sequence[DownloadDescriptor],
        scene_dir: Path,
        overwrite: bool,
        stopped: Stopped | None,
        skip_error: bool,
    ) -> DownloadResult:
        self.transfer.prepare_directory(str(scene_dir))
        available = self._available(scene)
        plan = plan_scene(scene, descriptors, available, exists=os.path.exists, overwrite=overwrite)
        if plan.nothing_to_fetch and plan.reuse:
            log.info("%s is already in the archive: %s", scene.product_key, ", ".join(plan.reuse))
            return DownloadResult(list(plan.reuse), scene, skipped=True, bytes_in_archive=_disk_size(plan.reuse))
        out_files: list[str] = list(plan.reuse)
        archives: list[str] = []
        transferred = 0
        first_error: EoharvestError | Exception | None = None
        protected = _product_files(descriptors, available, scene_dir)
        for index, descriptor in enumerate(plan.fetch):
            try:
                fetched = self._fetch_one(scene, descriptor, scene_dir, overwrite, stopped, protected)
            except (DownloadCancelled, InsufficientSpace, AuthError, HostPaused):
                raise  # the scene's other files would fail the same way
            except Exception as exc:
                if not skip_error:
                    raise
                first_error = first_error or exc
                remaining = len(plan.fetch) - index - 1
                if remaining:
                    log.warning("%s: %s failed (%s); fetching the scene's %d other file(s)",
                                scene.scene_id, descriptor.filename, exc, remaining)
                continue
            out_files.extend(fetched.files)
            transferred += fetched.transferred
            if fetched.archive:
                archives.append(fetched.archive)
        if first_error is not None:
            raise first_error
        return DownloadResult(
            out_files, scene, archives or None, bytes_transferred=transferred,
            bytes_in_archive=_disk_size([*out_files, *archives]),
        )

    def _fetch_one(
        self,
        scene: Scene,
        descriptor: DownloadDescriptor,
        scene_dir: Path,
        overwrite: bool,
        stopped: Stopped | None,
        protected: Sequence[str],
    ) -> _Fetched:
        name = safe_filename(descriptor.filename, what="file name from the provider")
        dest = scene_dir / name
        archive = self.extract_archives and is_archive(descriptor)
        file_id = self._record(scene, descriptor, name)
        self._state(file_id, "fetching")
        try:
            result = self.transfer.fetch(
                scene.provider, descriptor, str(dest), overwrite=overwrite, stopped=stopped,
                progress=self.progress, validate=self.archives.verify if archive else None,
            )
            files = [result.path]
            kept: str | None = None
            local = result.path
            if not archive:
                self._state(file_id, "available", local_path=local, sha256=result.sha256)
                return _Fetched(files, kept, result.transferred)
            # The transfer verified these bytes before the rename (validate); extract only,
            # never over the archive itself or the product's other files.
            members = list(self.archives.extract(result.path, str(scene_dir), protected=protected))
            files = [member.local_path for member in members]
            if self.keep_archives:
                kept = result.path
            else:
                os.unlink(result.path)
                # The archive's verified copy is the unpacked product folder (its hash is the
                # archive's): the planner reuses it, `verify` re-hashes its recorded members.
                local = str(scene_dir)
            if self.catalog is not None and file_id is not None:
                # available and its members recorded (hash, identity) in one transaction
                self.catalog.record_extraction(file_id, local_path=local, sha256=result.sha256, members=members)
            return _Fetched(files, kept, result.transferred)
        except InsufficientSpace:
            self._state(file_id, "paused")
            raise
        except (DownloadCancelled, HostPaused):
            self._state(file_id, "queued")  # not tried (or stopped): nothing is wrong with the file
            raise
        except Exception:
            self._state(file_id, "failed")
            raise

    # -- catalog bookkeeping (all optional: the API works without a catalog) ------------------
    def _available(self, scene: Scene) -> list[AvailableFile]:
        if self.catalog is None or not scene.product_key:
            return []
        return list(self.catalog.available_file_records(scene.product_key))

    def _record(self, scene: Scene, descriptor: DownloadDescriptor, name: str) -> int | None:
        if self.catalog is None:
            return None
        # The scene row was written when it was found (harvest, daemon) or read from the
        # catalog (download); a scene that only the public API has seen is recorded here.
        if self.catalog.get_scene(scene.provider, scene.scene_id) is None:
            self.catalog.upsert_scenes([scene])
        return self.catalog.record_file(
            scene.provider,
            scene.scene_id,
            name,
            href=redact(descriptor.url),
            size=descriptor.size,
            checksum=descriptor.checksums[0] if descriptor.checksums else None,
            asset=descriptor.asset,
        )

    def _state(self, file_id: int | None, state: str, *, local_path: str | None = None, sha256: str | None = None) -> None:
        if self.catalog is not None and file_id is not None:
            self.catalog.set_file_state(file_id, state, local_path=local_path, sha256=sha256)


def _product_files(
    descriptors: Sequence[DownloadDescriptor], available: Sequence[AvailableFile], scene_dir: Path
) -> tuple[str, ...]:
    """Names in the product folder that an archive's members must never take: every file of
    this product, asked for now or verified before by any provider (the archive's own included)."""
    names = {Path(f.path).name for f in available if Path(f.path).parent == scene_dir}
    for descriptor in descriptors:
        try:
            names.add(safe_filename(descriptor.filename, what="file name from the provider"))
        except UnsafeFilename:
            pass  # refused when its turn comes; it is never written
    return tuple(sorted(names))


def _disk_size(paths: Sequence[str]) -> int:
    """Bytes of ``paths`` on disk now, each counted once (a folder: the files under it)."""
    total = 0
    seen: set[str] = set()
    for path in paths:
        if path in seen:
            continue
        seen.add(path)
        if os.path.isdir(path):
            for root, _dirs, names in os.walk(path):
                total += sum(_file_size(os.path.join(root, n)) for n in names)
        else:
            total += _file_size(path)
    return total


def _file_size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0
