"""One incremental pass of a saved search: search the window after the watermark (minus the
overlap), upsert, download what the archive lacks, then commit the new watermark.

The watermark is the newest publication time seen where the provider can search by it
(``publication_time_filter``), else the newest acquisition time (domain/watch.py). Products
that are offline become ``waiting`` orders (reported pending, not failed), so they never hold
the watermark back; later passes follow them until they are downloaded.

Nothing here talks to the network or the database directly: scenes come from a
:class:`SearchOpener`, state goes through the ``CatalogRepository`` port. The state is written
once, after the pass, so a pass interrupted anywhere (crash, SIGKILL, cancel) leaves the old
watermark in place and the next pass searches the same window again: upserts are idempotent
and downloads skip verified files and resume partial ones, so nothing is lost or duplicated.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Iterable, Iterator, Mapping, Protocol, Sequence

from eoharvest.application.downloading import download_all
from eoharvest.application.harvest import HarvestReport, harvest
from eoharvest.application.sensor_api import PagedSearch
from eoharvest.domain.errors import DownloadCancelled, EoharvestError
from eoharvest.domain.models import Scene
from eoharvest.domain.orders import OPEN_STATES, OrderFilter, assets_of, selection_of
from eoharvest.domain.ports import CatalogRepository, Clock
from eoharvest.domain.watch import (
    ACQUIRED,
    PUBLISHED,
    SavedSearch,
    SearchState,
    SearchWindow,
    WatchDefinition,
    backoff_delay,
    next_watermark,
    search_window,
)

log = logging.getLogger("eoharvest.sync")



class SearchOpener(Protocol):
    """Turns a saved search and a window into scenes (a provider search, lazily paged)."""

    def __call__(self, definition: WatchDefinition, window: SearchWindow) -> Iterable[Scene]:
        ...


#: Which time a saved search's watermark follows (``ACQUIRED`` or ``PUBLISHED``).
WatermarkKind = Callable[[WatchDefinition], str]


def acquisition_only(definition: WatchDefinition) -> str:
    """The ``WatermarkKind`` of a provider that cannot search by publication time."""
    return ACQUIRED


@dataclass(frozen=True)
class SyncOptions:
    """Where downloads go and how many run at once."""

    outdir: str
    max_workers: int = 4
    max_per_provider: int = 4
    #: per-provider caps below ``max_per_provider`` (from the provider table's entries)
    provider_limits: Mapping[str, int] = field(default_factory=dict)
    use_threads: bool = True
    #: orders are polled from this many seconds on (with backoff) while a pass runs; what is not
    #: ready after ``activation_timeout`` is left for the next pass
    activation_wait: float = 30.0
    activation_timeout: float = 600.0

    def download_params(self, definition: WatchDefinition) -> dict[str, Any]:
        params: dict[str, Any] = {
            "max_workers": self.max_workers,
            "max_per_provider": self.max_per_provider,
            "provider_limits": dict(self.provider_limits),
            "activation_wait": self.activation_wait,
            "activation_timeout": self.activation_timeout,
            "order": definition.order,
        }
        if definition.assets:
            params["assets"] = list(definition.assets)
        return params


@dataclass(frozen=True)
class PassResult:
    """What one committed pass did, and the state it committed."""

    report: HarvestReport
    window: SearchWindow
    state: SearchState
    failed_errors: tuple[BaseException, ...] = ()


def load_saved_searches(catalog: CatalogRepository) -> dict[str, SavedSearch]:
    """Every readable saved search with its definition and state (default state if never run).

    A definition that no longer parses (edited by hand, written by another version) is skipped
    with an error in the log; it must not stop every other search."""
    states = catalog.search_states()
    enabled = catalog.search_enabled()
    searches: dict[str, SavedSearch] = {}
    for name, query in catalog.saved_searches().items():
        try:
            definition = WatchDefinition.from_json(query)
        except (EoharvestError, KeyError, TypeError, ValueError) as exc:
            log.error("saved search %r cannot be read and is skipped: %s", name, exc)
            continue
        searches[name] = SavedSearch(name, definition, enabled.get(name, True), states.get(name, SearchState()))
    return searches


def run_pass(
    search: SavedSearch,
    *,
    catalog: CatalogRepository,
    open_search: SearchOpener,
    clock: Clock,
    options: SyncOptions,
    cancel_requested: Callable[[], bool] = lambda: False,
    bind: Callable[[Scene], Scene] | None = None,
    watermark_kind: WatermarkKind = acquisition_only,
) -> PassResult:
    """Run one pass and commit its state. Raises on search/catalog errors (nothing committed)
    and :class:`DownloadCancelled` when ``cancel_requested()`` turns true (nothing committed).

    With ``bind`` (which gives a scene read from the catalog its downloader), the pass also
    follows the provider's open orders outside its window: pending orders are polled, waiting
    products re-checked, and whatever is ready is downloaded."""
    definition, state = search.definition, search.state
    kind = watermark_kind(definition)
    window = search_window(definition, state, kind)
    times: dict[str, datetime | None] = {}

    def remember(scene: Scene) -> None:
        times[scene.scene_id] = scene.published if kind == PUBLISHED else scene.acq_date

    log.info("pass %s: searching %s %s", search.name, definition.provider, _describe(window))
    scenes = _until_cancelled(open_search(definition, window), cancel_requested)
    report = harvest(
        scenes, catalog, outdir=options.outdir, download=definition.download, use_threads=options.use_threads,
        cancel_requested=cancel_requested, clock=clock, on_scene=remember, **options.download_params(definition),
    )  # fmt: skip
    if cancel_requested():
        raise DownloadCancelled(f"pass of {search.name} cancelled")
    if report.search_error is not None:
        # What the search delivered is catalogued (and downloaded), but the window was not
        # searched to its end: commit nothing, so the next pass searches it again.
        raise report.search_error
    # Pending products (orders, offline ones waiting) are not failures: they are followed as
    # orders by later passes, so they do not hold the watermark back.
    failed_times = [times.get(f.scene_id) for f in report.failures]
    if bind is not None and definition.download:
        follow_orders(report, catalog, definition, bind, set(times), clock=clock, options=options,
                      cancel_requested=cancel_requested)  # fmt: skip
        if cancel_requested():
            raise DownloadCancelled(f"pass of {search.name} cancelled")
    if kind == PUBLISHED and times and all(t is None for t in times.values()):
        log.warning("pass %s: %s declares a publication-time filter but its scenes carry no publication "
                    "time; the watermark cannot advance", search.name, definition.provider)  # fmt: skip
    # A watermark of the other kind carries over (see search_window): publication time is
    # never earlier than acquisition time.
    watermark = next_watermark(state.watermark, times.values(), failed_times)
    now = clock.now()
    if report.failures:
        first = report.failures[0]
        message = f"{len(report.failures)} download(s) failed; first: {first.scene_id}: {first.error}"
        retry = now + backoff_delay(definition.every, state.failures + 1)
        new_state = state.failed(now, message, retry, watermark=watermark, watermark_kind=kind)
    else:
        new_state = state.succeeded(now, definition.every, watermark, report.found, report.new, report.downloaded,
                                    watermark_kind=kind, queued=report.queued)  # fmt: skip
    catalog.put_search_state(search.name, new_state)  # the commit point of the pass
    log.info(
        "pass %s: found %d, new %d, downloaded %d, queued %d, already had %d, failed %d; watermark %s",
        search.name, report.found, report.new, report.downloaded, report.queued, report.already_had, report.failed,
        watermark.isoformat() if watermark else None,
        extra={"search": search.name, "counts": {
            "found": report.found, "new": report.new, "downloaded": report.downloaded, "queued": report.queued,
            "already_had": report.already_had, "failed": report.failed}},
    )  # fmt: skip
    return PassResult(report, window, new_state, tuple(f.error for f in report.failures))


def _describe(window: SearchWindow) -> str:
    def iso(value: datetime | None) -> str:
        return value.isoformat() if value else "the beginning"

    text = f"acquired from {iso(window.start)}" + (f" to {window.end.isoformat()}" if window.end else "")
    if window.kind == PUBLISHED:
        text += f", published since {iso(window.published_since)}"
    return text


def follow_orders(
    report: HarvestReport,
    catalog: CatalogRepository,
    definition: WatchDefinition,
    bind: Callable[[Scene], Scene],
    in_window: set[str],
    *,
    clock: Clock,
    options: SyncOptions,
    cancel_requested: Callable[[], bool],
) -> None:
    """Poll and download the open orders of the search's provider that this pass's window did
    not cover (one bulk run per asset selection), adding the outcome to ``report``."""
    window_selection = selection_of(definition.assets)
    groups: dict[str, list[Scene]] = {}
    for order in catalog.find_orders(OrderFilter(providers=(definition.provider,), states=OPEN_STATES)):
        if order.key.selection == window_selection and order.scene_id in in_window:
            continue  # the window's own download already checked it
        scene = catalog.get_scene(order.key.provider, order.scene_id)
        if scene is None:
            log.warning("order %s: its scene %s is not in the catalog; skipped", order.id, order.scene_id)
            continue
        groups.setdefault(order.key.selection, []).append(bind(scene))
    for selection, scenes in groups.items():
        log.info("following %d open order(s) of %s (%s)", len(scenes), definition.provider, selection)
        params = options.download_params(definition)
        assets = assets_of(selection)
        params.pop("assets", None)
        if assets is not None:
            params["assets"] = list(assets)
        summary = download_all(scenes, options.outdir, skip_error=True, use_threads=options.use_threads,
                               cancel_requested=cancel_requested, clock=clock, **params)  # fmt: skip
        report.results.extend(summary.results)
        report.failures.extend(summary.failures)
        report.pending.extend(summary.pending)
        skipped = sum(1 for r in summary.results if r.skipped)
        queued = sum(1 for r in summary.results if r.queued and not r.skipped)
        report.already_had += skipped
        report.queued += queued
        report.downloaded += len(summary.results) - skipped - queued
        report.failed += len(summary.failures)


def _until_cancelled(scenes: Iterable[Scene], cancel_requested: Callable[[], bool]) -> Iterable[Scene]:
    """The search phase honours cancellation between pages (fetched lazily) and scenes; a paged
    search stays paged, so each page is catalogued before the next is requested."""
    if isinstance(scenes, PagedSearch):
        return _CancellablePages(scenes, cancel_requested)
    return _scenes_until_cancelled(scenes, cancel_requested)


def _scenes_until_cancelled(scenes: Iterable[Scene], cancel_requested: Callable[[], bool]) -> Iterator[Scene]:
    for scene in scenes:
        if cancel_requested():
            raise DownloadCancelled("search cancelled")
        yield scene


class _CancellablePages:
    def __init__(self, search: PagedSearch, cancel_requested: Callable[[], bool]) -> None:
        self._search = search
        self._cancel_requested = cancel_requested

    def pages(self) -> Iterator[Sequence[Scene]]:
        for page in self._search.pages():
            if self._cancel_requested():
                raise DownloadCancelled("search cancelled")
            yield page

    def __iter__(self) -> Iterator[Scene]:
        for page in self.pages():
            yield from page
