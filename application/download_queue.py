"""Downloads through the catalog's queue: a pass enqueues one job per file instead of fetching.

:class:`QueueingFetcher` is a ``Fetcher`` (application/downloading.py): where the scene
download service would transfer a scene's files, it plans them the same way (dedup across
providers by product key: verified copies are reused) and queues a job for each file to
fetch. The daemons' workers (:mod:`eoharvest.application.queue_workers`) claim and fetch them.
The descriptors are also kept in this process (:class:`DescriptorCache`), so a job claimed by
the daemon that queued it uses the provider's own descriptor (a signed link's refresh
included); a job claimed elsewhere uses the link recorded in the catalog, or, when that link
was recorded masked (it carried a secret), asks the provider again (application/relink.py).
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Callable, Sequence

from eoharvest.application.download_plan import plan_scene
from eoharvest.domain.filenames import safe_filename
from eoharvest.domain.models import DownloadDescriptor, DownloadResult, Scene
from eoharvest.domain.ports import CatalogRepository, DownloadQueue
from eoharvest.domain.redaction import redact

log = logging.getLogger("eoharvest.queue")


class DescriptorCache:
    """The download descriptors this process queued, by file id (bounded: oldest dropped)."""

    def __init__(self, limit: int = 100_000) -> None:
        self._items: dict[int, DownloadDescriptor] = {}
        self._limit = limit
        self._lock = threading.Lock()

    def put(self, file_id: int, descriptor: DownloadDescriptor) -> None:
        with self._lock:
            self._items.pop(file_id, None)
            self._items[file_id] = descriptor
            while len(self._items) > self._limit:
                self._items.pop(next(iter(self._items)))

    def get(self, file_id: int) -> DownloadDescriptor | None:
        with self._lock:
            return self._items.get(file_id)


class QueueingFetcher:
    """A ``Fetcher`` that queues the scene's missing files as download jobs."""

    def __init__(self, catalog: CatalogRepository, queue: DownloadQueue, cache: DescriptorCache) -> None:
        self.catalog = catalog
        self.queue = queue
        self.cache = cache

    def fetch(
        self,
        scene: Scene,
        descriptors: Sequence[DownloadDescriptor],
        outdir: str,
        *,
        overwrite: bool = False,
        stopped_func: Callable[[], bool] | None = None,
        skip_error: bool = False,
    ) -> DownloadResult:
        """Queue the files the archive lacks; the result lists the verified files reused. A
        file already queued or being fetched (by any daemon) is not queued twice."""
        available = list(self.catalog.available_file_records(scene.product_key)) if scene.product_key else []
        plan = plan_scene(scene, descriptors, available, exists=os.path.exists)
        if plan.nothing_to_fetch and plan.reuse:
            return DownloadResult(list(plan.reuse), scene, skipped=True)
        if self.catalog.get_scene(scene.provider, scene.scene_id) is None:
            self.catalog.upsert_scenes([scene])
        # Every file is recorded before the first is queued: a worker that completes a file
        # judges its product (and order) complete from the file rows (OrderBook.settle), so
        # the rows of the files still to queue must already be there, not yet available.
        recorded: list[int] = []
        for descriptor in plan.fetch:
            name = safe_filename(descriptor.filename, what="file name from the provider")
            file_id = self.catalog.record_file(
                scene.provider, scene.scene_id, name, href=redact(descriptor.url), size=descriptor.size,
                checksum=descriptor.checksums[0] if descriptor.checksums else None, asset=descriptor.asset,
            )  # fmt: skip
            self.cache.put(file_id, descriptor)
            recorded.append(file_id)
        queued = sum(1 for file_id in recorded if self.queue.enqueue(file_id) is not None)
        log.info("%s: %d file(s) queued for download, %d already queued or running, %d reused",
                 scene.scene_id, queued, len(plan.fetch) - queued, len(plan.reuse))  # fmt: skip
        return DownloadResult(list(plan.reuse), scene, queued=len(plan.fetch))
