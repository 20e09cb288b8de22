"""The main job: search any provider, record every result in the catalog, download what the
archive does not have yet (dedup-aware), verify it, and report what happened."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator, Sequence

from eoharvest.application.downloading import check_download_params, download_all
from eoharvest.application.page_writer import PageWriter
from eoharvest.application.sensor_api import PagedSearch, check_limit
from eoharvest.domain.errors import DownloadCancelled, EoharvestError, InputError
from eoharvest.domain.models import DownloadResult, FailedDownload, Scene, transfer_totals
from eoharvest.domain.orders import PendingOrder
from eoharvest.domain.ports import CatalogRepository, Clock

log = logging.getLogger("eoharvest.harvest")

#: Scenes per catalog transaction when the search cannot say where its pages end.
CATALOG_BATCH = 200


@dataclass
class HarvestReport:
    """Counts for the summary table; ``results`` and ``failures`` for details.

    ``search_error`` is the error that stopped the search early (None when it ran to the end):
    everything found before it is counted, catalogued and downloaded all the same.
    """

    found: int = 0
    new: int = 0
    already_had: int = 0
    downloaded: int = 0
    #: scenes whose files went to the download queue (a daemon on a PostgreSQL catalog)
    queued: int = 0
    failed: int = 0
    total_reported: int | None = None
    seconds: float = 0.0
    results: list[DownloadResult] = field(default_factory=list)
    failures: list[FailedDownload] = field(default_factory=list)
    #: ordered products not ready yet (not failures; the next run or the daemon takes them)
    pending: list[PendingOrder] = field(default_factory=list)
    search_error: EoharvestError | None = None

    @property
    def ok(self) -> bool:
        return not self.failures and self.search_error is None

    @property
    def bytes_transferred(self) -> int:
        """Bytes this run received over the network (a resumed file: only the rest)."""
        return transfer_totals(self.results)[0]

    @property
    def bytes_in_archive(self) -> int:
        """Bytes the run's scenes (downloaded or already there) take on disk now."""
        return transfer_totals(self.results)[1]


def harvest(
    search: Iterable[Scene],
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
    check_first_page: Callable[[Sequence[Scene]], None] | None = None,
    **download_params: Any,
) -> HarvestReport:
    """Run one harvest over ``search`` (a SearchIterator from ``api.scenes(...)``, or any
    iterable of scenes).

    Every page of scenes is upserted into ``catalog`` (one short transaction) as it arrives, in a
    background thread while the next page is fetched (page k is committed before page k + 2 is
    requested), so what was received is recorded even if a later page, the process or the
    downloads fail. A search that fails part-way (an ``EoharvestError`` other than a
    cancellation) ends the search phase: the report carries it as ``search_error`` and the scenes
    found before it are still downloaded. A catalog error is raised, and so is an InputError
    before the first scene (the query itself is wrong, e.g. an unknown product type). Without ``download`` no
    scene is kept in memory beyond its page. ``limit`` stops after that many scenes without
    fetching another page. Downloads skip products already verified in the archive; failures
    are collected, not fatal. ``check_first_page`` sees the first page with scenes once it is
    handed to the catalog, before anything else is fetched or downloaded (e.g. that the asset names asked
    for exist); what it raises ends the harvest.

    ``cancel_requested`` is asked between pages and by the downloads; once it is true the
    harvest raises DownloadCancelled carrying the report so far as ``report`` (partial files
    are kept for the next run).
    """
    if limit is not None:
        check_limit(limit)
    check_download_params(download_params)  # before anything is searched or catalogued
    started = clock.monotonic()
    report = HarvestReport()
    kept: list[Scene] = []
    stopped = False
    with PageWriter(catalog) as writer:
        pages: Iterator[Sequence[Scene]] | None = None
        while True:
            if cancel_requested is not None and cancel_requested():
                stopped = True
                break
            try:
                if pages is None:
                    report.total_reported = getattr(search, "total", None)  # fetches the first page
                    pages = _pages(search, limit)
                page = next(pages)
            except StopIteration:
                break
            except DownloadCancelled:
                raise
            except EoharvestError as exc:
                if isinstance(exc, InputError) and not report.found:
                    raise  # the query itself is wrong (a product type the provider lacks): one error line
                report.search_error = exc
                log.error("the search stopped after %d scene(s): %s", report.found, exc)
                break
            if not page:
                continue
            writer.put(page)
            if check_first_page is not None and not report.found:
                check_first_page(page)
            report.found += len(page)
            if download:  # these reach the caller (report.results): raw as a dict
                kept.extend(scene.with_plain_raw() for scene in page)
            if on_scene:
                for scene in page:
                    on_scene(scene)
    report.new = writer.new
    log.info("found %d scene(s), %d new to the catalog", report.found, report.new)
    if stopped:
        raise _cancelled(report, clock, started, f"harvest stopped after {report.found} scene(s) were found")
    if download and kept:
        try:
            summary = download_all(
                kept,
                outdir,
                overwrite=overwrite,
                skip_error=True,
                use_threads=use_threads,
                cancel_requested=cancel_requested,
                clock=clock,
                **download_params,
            )
        except DownloadCancelled as exc:
            _count(report, getattr(exc, "summary", None))
            raise _cancelled(report, clock, started, str(exc)) from None
        _count(report, summary)
    report.seconds = clock.monotonic() - started
    return report


def _count(report: HarvestReport, summary: Any) -> None:
    """The downloads' outcome (a DownloadSummary, possibly of a cancelled run) into ``report``."""
    if summary is None:
        return
    report.results = list(summary.results)
    report.failures = list(summary.failures)
    report.pending = list(summary.pending)
    report.already_had = sum(1 for r in summary.results if r.skipped)
    report.queued = sum(1 for r in summary.results if r.queued and not r.skipped)
    report.downloaded = len(summary.results) - report.already_had - report.queued
    report.failed = len(summary.failures)


def _cancelled(report: HarvestReport, clock: Clock, started: float, message: str) -> DownloadCancelled:
    report.seconds = clock.monotonic() - started
    error = DownloadCancelled(message)
    error.report = report  # type: ignore[attr-defined]
    return error


def _pages(search: Iterable[Scene], limit: int | None) -> Iterator[Sequence[Scene]]:
    """The search's own pages when it has them, else batches; never more than ``limit`` scenes
    and never a request for scene ``limit + 1``."""
    if isinstance(search, PagedSearch):
        left = limit
        for page in search.pages():
            if left is not None:
                page = list(page)[:left]
                left -= len(page)
            yield page
            if left == 0:
                return
        return
    batch: list[Scene] = []
    scenes = iter(search)
    while limit is None or limit > 0:
        try:
            scene = next(scenes)
        except StopIteration:
            break
        except Exception:
            if batch:
                yield batch  # what arrived before the failure is still recorded
            raise
        batch.append(scene)
        if limit is not None:
            limit -= 1
        if len(batch) >= CATALOG_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def downloaded_paths(report: HarvestReport) -> Sequence[str]:
    return [path for result in report.results if not result.skipped for path in result.out_files]

