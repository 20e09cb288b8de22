"""The imperative shell of a scene download: plan (application.download_plan), transfer, verify,
extract, and record every state change in the catalog (invariants I1 and I2).

Files land in ``<outdir>/<product key>/<file name>``, the same directory whichever provider
delivered them; the local name is built from the provider's descriptor and validated, never
taken from a Content-Disposition header.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any, Callable, Sequence

from eoharvest.adapters.archives import ArchiveLimits, extract_archive, verify_archive
from eoharvest.adapters.download_reconcile import reconcile_directory
from eoharvest.adapters.failpoints import crash_point
from eoharvest.adapters.http.hashing import file_digest
from eoharvest.adapters.http.transfer import FetchSpec, TransferEngine
from eoharvest.adapters.safe_names import safe_filename
from eoharvest.application.download_plan import ARCHIVE_SUFFIXES, AvailableFile, plan_scene
from eoharvest.domain.errors import DownloadCancelled, InsufficientSpace
from eoharvest.domain.models import DownloadDescriptor, DownloadResult, Scene
from eoharvest.domain.redaction import redact

log = logging.getLogger("eoharvest.download")

ARCHIVE_TYPES = ("application/zip", "application/x-zip-compressed", "application/x-tar", "application/gzip")

Progress = Callable[[str, int, "int | None"], None]


def is_archive(descriptor: DownloadDescriptor) -> bool:
    name = descriptor.filename.lower()
    media = (descriptor.media_type or "").split(";")[0].strip().lower()
    return name.endswith(ARCHIVE_SUFFIXES) or media in ARCHIVE_TYPES


class SceneDownloadExecutor:
    """Implements the application's ``Fetcher`` port for every provider.

    ``engine_for(provider)`` gives the transfer engine holding that provider's scoped
    credentials; ``catalog`` (optional) makes downloads dedup-aware and records their state.
    """

    def __init__(
        self,
        engine_for: Callable[[str], TransferEngine],
        catalog: Any = None,
        *,
        extract_archives: bool = True,
        keep_archives: bool = True,
        archive_limits: ArchiveLimits | None = None,
        progress: Progress | None = None,
    ) -> None:
        self.engine_for = engine_for
        self.catalog = catalog
        self.extract_archives = extract_archives
        self.keep_archives = keep_archives
        self.archive_limits = archive_limits
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
        stopped_func: Callable[[], bool] | None = None,
        skip_error: bool = False,
        progress: Progress | None = None,
        **extra: Any,
    ) -> DownloadResult:
        """Fetch ``descriptors`` of ``scene`` into ``<outdir>/<product key>/``.

        ``progress(file_name, bytes_done, total_or_None)`` is called as bytes arrive (it
        defaults to the executor's own callback)."""
        progress = progress or self.progress
        scene_dir = Path(outdir) / safe_filename(scene.product_key or scene.scene_id, what="product name")
        # One product at a time per directory: the same product found at two providers must
        # not be planned twice and fetched into the same files concurrently.
        with self._product_lock(scene_dir):
            return self._fetch_product(scene, descriptors, scene_dir, overwrite, stopped_func, progress)

    def _product_lock(self, scene_dir: Path) -> threading.Lock:
        with self._locks_guard:
            return self._product_locks.setdefault(str(scene_dir), threading.Lock())

    def _fetch_product(self, scene, descriptors, scene_dir, overwrite, stopped_func, progress):  # type: ignore[no-untyped-def]
        reconcile_directory(scene_dir)
        plan = plan_scene(scene, descriptors, self._available(scene), exists=os.path.exists, overwrite=overwrite)
        if plan.nothing_to_fetch and plan.reuse:
            log.info("%s is already in the archive: %s", scene.product_key, ", ".join(plan.reuse))
            return DownloadResult(plan.reuse, scene, skipped=True)
        if self.catalog is not None:
            self.catalog.upsert_scenes([scene])
        out_files: list[str] = list(plan.reuse)
        archives: list[str] = []
        for descriptor in plan.fetch:
            files, archive = self._fetch_one(scene, descriptor, scene_dir, overwrite, stopped_func, progress)
            out_files.extend(files)
            if archive:
                archives.append(archive)
        return DownloadResult(out_files, scene, archives or None)

    # -- one file ----------------------------------------------------------------------------
    def _fetch_one(self, scene, descriptor, scene_dir, overwrite, stopped, progress):  # type: ignore[no-untyped-def]
        name = safe_filename(descriptor.filename, what="file name from the provider")
        dest = scene_dir / name
        archive = self.extract_archives and is_archive(descriptor)
        file_id = self._record(scene, descriptor, name)
        self._state(file_id, "fetching")
        spec = FetchSpec(
            url=descriptor.url,
            dest=dest,
            size=descriptor.size,
            checksums=descriptor.checksums,
            media_type=descriptor.media_type,
            provider=scene.provider,
            refresh_url=descriptor.refresh_url,
        )
        validate = (lambda part: verify_archive(part, limits=self.archive_limits)) if archive else None
        try:
            outcome = self.engine_for(scene.provider).fetch(
                spec, overwrite=overwrite, stopped=stopped, progress=progress, validate=validate
            )
            sha256 = outcome.sha256 or file_digest(dest)
            files = [str(dest)]
            kept: str | None = None
            if archive:
                # The engine verified these bytes before the rename (validate); don't do it twice.
                extracted = extract_archive(dest, scene_dir, limits=self.archive_limits, overwrite=True, verified=True)
                files = [str(p) for p in extracted]
                if self.keep_archives:
                    kept = str(dest)
                else:
                    dest.unlink()
            local = kept or (files[0] if files else str(dest))
            self._state(file_id, "available", local_path=local, sha256=sha256)
            crash_point("after-commit")
            return files, kept
        except InsufficientSpace:
            self._state(file_id, "paused")
            raise
        except DownloadCancelled:
            self._state(file_id, "queued")
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
        return self.catalog.record_file(
            scene.provider,
            scene.scene_id,
            name,
            href=redact(descriptor.url),
            size=descriptor.size,
            checksum=descriptor.checksums[0] if descriptor.checksums else None,
        )

    def _state(self, file_id: int | None, state: str, **kw: Any) -> None:
        if self.catalog is not None and file_id is not None:
            self.catalog.set_file_state(file_id, state, **kw)
