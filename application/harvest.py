"""The main job: search any provider, record every result in the catalog, download what the
archive does not have yet (dedup-aware), verify it, and report what happened."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Sequence

from eoharvest.application.downloading import download_all
from eoharvest.domain.models import DownloadResult, FailedDownload, Scene
from eoharvest.domain.orders import PendingOrder
from eoharvest.domain.ports import CatalogRepository, Clock

log = logging.getLogger("eoharvest.harvest")

CATALOG_BATCH = 200


@dataclass
class HarvestReport:
    """Counts for the summary table; ``results`` and ``failures`` for details."""

    found: int = 0
    new: int = 0
    already_had: int = 0
    downloaded: int = 0
    failed: int = 0
    total_reported: int | None = None
    seconds: float = 0.0
    results: list[DownloadResult] = field(default_factory=list)
    failures: list[FailedDownload] = field(default_factory=list)
    #: ordered products not ready yet (not failures; the next run or the daemon takes them)
    pending: list[PendingOrder] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def _batched(items: Iterable[Scene], size: int) -> Iterator[list[Scene]]:
    batch: list[Scene] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def harvest(
    search: Any,
    catalog: CatalogRepository,
    *,
    outdir: str,
    download: bool = True,
    limit: int | None = None,
    overwrite: bool = False,
    use_threads: bool = True,
    cancel_requested: Callable[[], bool] | None = None,
    clock: Clock,
    on_scene: Callable[[Scene], None] | None = None,
    **download_params: Any,
) -> HarvestReport:
    """Run one harvest over ``search`` (a SearchIterator from ``api.scenes(...)``).

    Every scene found is upserted into ``catalog`` (in batches, one short transaction each)
    before anything is downloaded, so the catalog records the search even if downloads fail.
    Downloads skip products already verified in the archive; failures are collected, not fatal.
    """
    started = clock.monotonic()
    report = HarvestReport()
    scenes: list[Scene] = []
    report.total_reported = getattr(search, "total", None)
    for batch in _batched(_limited(search, limit), CATALOG_BATCH):
        report.new += catalog.upsert_scenes(batch)
        report.found += len(batch)
        scenes.extend(batch)
        if on_scene:
            for scene in batch:
                on_scene(scene)
    log.info("found %d scene(s), %d new to the catalog", report.found, report.new)
    if download and scenes:
        summary = download_all(
            scenes,
            outdir,
            overwrite=overwrite,
            skip_error=True,
            use_threads=use_threads,
            cancel_requested=cancel_requested,
            clock=clock,
            **download_params,
        )
        report.results = list(summary.results)
        report.failures = list(summary.failures)
        report.pending = list(summary.pending)
        report.already_had = sum(1 for r in summary.results if r.skipped)
        report.downloaded = len(summary.results) - report.already_had
        report.failed = len(summary.failures)
    report.seconds = clock.monotonic() - started
    return report


def _limited(scenes: Iterable[Scene], limit: int | None) -> Iterator[Scene]:
    for index, scene in enumerate(scenes):
        if limit is not None and index >= limit:
            return
        yield scene


def downloaded_paths(report: HarvestReport) -> Sequence[str]:
    return [path for result in report.results if not result.skipped for path in result.out_files]
