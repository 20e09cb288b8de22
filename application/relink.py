"""Fresh links for a queued file whose recorded link cannot be used.

A daemon that queues a file keeps the provider's descriptor in memory; the catalog records the
link masked when it carried a secret (a signed query such as Planetary Computer's SAS ``sig``,
a token), and a daemon that claims the job elsewhere (a take-over after a crash, or simply
another daemon's worker) has only that. :class:`Relinker` asks the file's provider again, keyed
by what the job records (provider, scene, file name and asset): a STAC source signs its assets
again, a provider with an account gets its credentials as request headers from its transfer
engine, and a ready order's files are asked of the order again (Planet's location refresh
included). What it returns lives in memory only: nothing is written back to the catalog.
"""

from __future__ import annotations

import logging
from typing import Callable, Sequence

from eoharvest.application.orders import OrderBook
from eoharvest.domain.filenames import safe_filename
from eoharvest.domain.jobs import ClaimedJob
from eoharvest.domain.models import DownloadDescriptor, Scene
from eoharvest.domain.ports import CatalogRepository, OrderingSource, SceneSource
from eoharvest.domain.redaction import MASK

log = logging.getLogger("eoharvest.queue")


def needs_relink(href: str | None) -> bool:
    """The recorded link cannot be fetched as it is: none was recorded, or it was masked."""
    return not href or MASK in href


class Relinker:
    """``relink(job)``: the provider's descriptor of the job's file now, or None when the
    provider no longer lists it. ``source_for(provider)`` is the composition root's source of
    a catalogued provider; ``orders`` finds the files of ready orders."""

    def __init__(self, catalog: Callable[[], CatalogRepository], source_for: Callable[[str], SceneSource],
                 orders: OrderBook | None = None) -> None:  # fmt: skip
        self._catalog = catalog
        self._source_for = source_for
        self._orders = orders

    def __call__(self, job: ClaimedJob) -> DownloadDescriptor | None:
        scene = self._catalog().get_scene(job.provider, job.scene_id)
        if scene is None:
            return None
        source = self._source_for(job.provider)
        for descriptor in self._descriptors(source, scene, job.asset):
            if safe_filename(descriptor.filename, what="file name from the provider") == job.name:
                log.info("job %d: %s linked again by %s", job.job_id, job.name, job.provider)
                return descriptor
        return None

    def _descriptors(self, source: SceneSource, scene: Scene, asset: str | None) -> Sequence[DownloadDescriptor]:
        if self._orders is not None and source.capabilities.ordering and isinstance(source, OrderingSource):
            ordered = self._orders.ready_descriptors(source, scene)
            if ordered:
                return ordered
        wanted = [asset] if asset and source.capabilities.asset_selection else None
        return source.download_descriptors(scene, wanted)
