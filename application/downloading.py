"""Downloading scenes (reference API): Downloader, BulkDownloader and download_all.

``download_all`` / ``BulkDownloader`` return a :class:`DownloadSummary` ``(results, failures)``
with ``pending`` (orders not ready yet). Waiting (activation polling, idle ticks) goes through an injected ``Clock``; cancellation is
polled at least every :data:`POLL_INTERVAL` seconds.
"""

from __future__ import annotations

import abc
import logging
from contextlib import nullcontext
from typing import Any, Callable, Iterable, Mapping, NamedTuple, Protocol, Sequence

from eoharvest.application.budgets import DownloadBudget
from eoharvest.application.bulk import BulkRun, RunOptions
from eoharvest.domain.errors import DownloadCancelled, InputError
from eoharvest.domain.models import (
    Activation,
    DownloadDescriptor,
    DownloadResult,
    FailedDownload,
    Scene,
    transfer_totals,
)
from eoharvest.domain.orders import PendingOrder
from eoharvest.domain.ports import Clock, OrderingSource, SceneSource

logger = logging.getLogger("eoharvest")

DEFAULT_MAX_WORKERS = 4
#: Concurrent downloads per provider (CDSE allows 4 per account); override per provider with
#: the ``provider_limits`` extra parameter.
DEFAULT_MAX_PER_PROVIDER = 4
#: How long an offline scene may take to become ready before it fails (seconds).
DEFAULT_ACTIVATION_TIMEOUT = 3600.0


class Fetcher(Protocol):
    """Writes a scene's files into ``outdir`` (transfer, verification, extraction); implemented
    by :class:`eoharvest.application.scene_download.SceneDownloadService`."""

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
        """Fetch every descriptor; raise DownloadCancelled soon after ``stopped_func()`` is True."""
        ...


#: The extra download parameters ``SourceDownloader`` understands: ``assets`` (names), and
#: ``order`` (False: place no new orders; products that need one are left pending).
DOWNLOAD_PARAMS = frozenset({"assets", "order"})


class Downloader(abc.ABC):
    """Downloads one scene (reference API: ``Downloader(scene_id)``)."""

    def __init__(self, scene_id: str) -> None:
        self.scene_id = scene_id

    @abc.abstractmethod
    def activate(self) -> bool:
        """Start the activation process if the scene needs it.

        Return False if the scene is not (yet) ready to download, True otherwise. Calling it again
        checks again; it never blocks waiting for activation.
        """

    def check_activation(self) -> Activation:
        """Like :meth:`activate`, with the reason, a suggested retry delay and permanence."""
        return Activation(ready=bool(self.activate()))

    def prepare(self, *, overwrite: bool = False, **extra_params: Any) -> Activation:
        """What bulk downloads call before :meth:`download`, with the download's parameters
        (``assets``, ``order``). By default :meth:`check_activation`."""
        return self.check_activation()

    @abc.abstractmethod
    def download(
        self,
        outdir: str,
        overwrite: bool = False,
        skip_error: bool = False,
        stopped_func: Callable[[], bool] | None = None,
        **extra_params: Any,
    ) -> DownloadResult:
        """Download the scene into directory ``outdir`` and return a :class:`DownloadResult`.

        Existing files are skipped unless ``overwrite``. ``stopped_func`` (no arguments) is called
        periodically; once it returns True the download stops with :class:`DownloadCancelled`.
        Failures raise. ``skip_error`` is passed to the transfer, which may use it to go on past a
        failed optional file; skipping whole failed scenes is done by :func:`download_all`.
        ``extra_params`` are implementation-specific.
        """


class SourceDownloader(Downloader):
    """A :class:`Downloader` asking a ``SceneSource`` what to fetch and a ``Fetcher`` to fetch it.

    ``extra_params`` given here are defaults for every call. With ``orders`` (the catalog's
    order book) a source that declares ``capabilities.ordering`` gets its products ordered:
    :meth:`activate` places or finds the order and says whether the product is ready, and
    :meth:`download` fetches the ready order's files, then records the order as downloaded
    (unless the fetcher only queued them: then the queue worker that verifies the last one does).
    With ``budget`` (the provider account's concurrent-download budget, shared by every process
    on a PostgreSQL catalog) the transfer holds one of its slots.
    """

    def __init__(
        self,
        source: SceneSource,
        scene: Scene,
        fetcher: Fetcher,
        orders: Orders | None = None,
        *,
        budget: DownloadBudget | None = None,
        **extra_params: Any,
    ) -> None:
        super().__init__(scene.scene_id)
        _refuse_unknown(extra_params)  # scene.downloader(asset=...) fails here, not at download()
        self.source = source
        self.scene = scene
        self.fetcher = fetcher
        self.orders = orders
        self.budget = budget
        self.extra_params = extra_params

    def _ordering(self) -> OrderingSource | None:
        if self.orders is None or not self.source.capabilities.ordering:
            return None
        if not isinstance(self.source, OrderingSource):
            raise InputError(f"{self.source.name} declares ordering but cannot place orders")
        return self.source

    def prepare(self, *, overwrite: bool = False, **extra_params: Any) -> Activation:
        params = {**self.extra_params, **extra_params}
        _refuse_unknown(params)
        ordering = self._ordering()
        if ordering is None or self.orders is None:
            activation = self.source.activate(self.scene)
        else:
            place = params.get("order", True)
            if not isinstance(place, bool):
                raise InputError(f"order {place!r} must be True or False")
            assets = _asset_names(params.get("assets"))
            activation = self.orders.check(ordering, self.scene, assets, place=place, overwrite=overwrite)
        if not activation.ready:
            logger.info("scene %s is not ready: %s", self.scene_id, activation.reason or "no reason given")
        return activation

    def check_activation(self) -> Activation:
        return self.prepare()

    def activate(self) -> bool:
        return self.check_activation().ready

    def download(
        self,
        outdir: str,
        overwrite: bool = False,
        skip_error: bool = False,
        stopped_func: Callable[[], bool] | None = None,
        **extra_params: Any,
    ) -> DownloadResult:
        if stopped_func is not None and stopped_func():
            raise DownloadCancelled(f"download of {self.scene_id} cancelled")
        params = {**self.extra_params, **extra_params}
        _refuse_unknown(params)
        assets = params.get("assets")
        ordering = self._ordering()
        ordered = None
        if ordering is not None and self.orders is not None:
            ordered = self.orders.files(ordering, self.scene, _asset_names(assets), overwrite=overwrite)
        descriptors = list(ordered if ordered is not None else self._descriptors(assets))
        with self.budget.hold(stopped_func) if self.budget is not None else nullcontext():
            result = self.fetcher.fetch(
                self.scene,
                descriptors,
                str(outdir),
                overwrite=overwrite,
                stopped_func=stopped_func,
                skip_error=skip_error,
            )
        if ordered is not None and self.orders is not None and ordering is not None and not result.queued:
            # Files handed to the download queue are not in the archive yet: the order stays
            # ready until a queue worker verifies the last of them (OrderBook.settle).
            self.orders.downloaded(ordering, self.scene, _asset_names(assets))
        return result

    def _descriptors(self, assets: object) -> Sequence[DownloadDescriptor]:
        """The source's files; ``assets`` (asset names) only for sources that declare them."""
        if assets is None:
            return self.source.download_descriptors(self.scene)
        if not self.source.capabilities.asset_selection:
            raise InputError(
                f"{self.scene.provider or 'this provider'} delivers whole products; "
                f"asset selection {assets!r} is not supported",
                hint="leave out assets/--assets for this provider",
            )
        return self.source.download_descriptors(self.scene, assets=_asset_names(assets))


def _asset_names(assets: object) -> list[str] | None:
    if assets is None:
        return None
    if isinstance(assets, str):
        return [assets]
    if isinstance(assets, (list, tuple, set, frozenset)) and all(isinstance(a, str) for a in assets):
        return list(assets)
    raise InputError(f"assets {assets!r} must be a list of asset names", hint="e.g. assets=['visual', 'B04']")


class Orders(Protocol):
    """The order book (:class:`eoharvest.application.orders.OrderBook`) as downloaders use it."""

    def check(
        self, source: OrderingSource, scene: Scene, assets: Sequence[str] | None, *, place: bool, overwrite: bool
    ) -> Activation:
        """Place, find or poll the order; whether the product can be downloaded now."""
        ...

    def files(
        self, source: OrderingSource, scene: Scene, assets: Sequence[str] | None, *, overwrite: bool
    ) -> Sequence[DownloadDescriptor] | None:
        """The files of the ready order, or None when the product needed no order."""
        ...

    def downloaded(self, source: OrderingSource, scene: Scene, assets: Sequence[str] | None) -> None:
        """Record that the order's files are in the archive (not called when they were only
        queued for download)."""
        ...


#: The extra parameters ``download_all`` / ``BulkDownloader`` use themselves.
ORCHESTRATION_PARAMS = frozenset(
    {"max_workers", "max_per_provider", "provider_limits", "activation_wait", "activation_timeout"}
)


def check_download_params(params: Mapping[str, Any]) -> None:
    """Refuse (InputError) a parameter neither ``download_all`` nor a downloader understands,
    e.g. before a harvest searches and catalogues anything."""
    _refuse_unknown({k: v for k, v in params.items() if k not in ORCHESTRATION_PARAMS})


def _refuse_unknown(params: Mapping[str, Any]) -> None:
    unknown = sorted(set(params) - DOWNLOAD_PARAMS)
    if unknown:
        raise InputError(
            f"unknown download parameter(s): {', '.join(unknown)}",
            hint="known: assets, order, and for download_all also max_workers, max_per_provider, "
            "provider_limits, activation_wait, activation_timeout",
        )


def source_downloader_factory(
    source: SceneSource, fetcher: Fetcher, orders: Orders | None = None, budget: DownloadBudget | None = None
) -> Callable[..., SourceDownloader]:
    """A ``downloader_factory`` for ``SourceBackedSensorAPI``: ``factory(scene, **extra)``."""

    def factory(scene: Scene, **extra_params: Any) -> SourceDownloader:
        return SourceDownloader(source, scene, fetcher, orders, budget=budget, **extra_params)

    return factory


class _SummaryFields(NamedTuple):
    results: list[DownloadResult]
    failures: list[FailedDownload]


class DownloadSummary(_SummaryFields):
    """What a bulk download did: ``results`` (DownloadResult, in completion order, including
    scenes skipped because their files existed) and ``failures`` (FailedDownload, only with
    ``skip_error``). Unpacks as ``results, failures = download_all(...)``.

    ``pending`` (PendingOrder) lists scenes whose order was not ready by ``activation_timeout``
    or that wait for the provider (not failures: their orders are kept in the catalog and the
    next run or the daemon downloads them).
    """

    pending: list[PendingOrder]

    def __new__(
        cls, results: list[DownloadResult], failures: list[FailedDownload], pending: list[PendingOrder] | None = None
    ) -> DownloadSummary:
        summary = super().__new__(cls, results, failures)
        summary.pending = [] if pending is None else pending
        return summary

    @property
    def ok(self) -> bool:
        """True when no scene failed (pending orders are not failures)."""
        return not self.failures

    @property
    def bytes_transferred(self) -> int:
        """Bytes this run received over the network for the downloaded scenes."""
        return transfer_totals(self.results)[0]

    @property
    def bytes_in_archive(self) -> int:
        """Bytes the downloaded (and already present) scenes take on disk now."""
        return transfer_totals(self.results)[1]


def _default_cancel_requested() -> bool:
    return False


class BulkDownloader:
    """Bulk download of ``scenes`` (any iterable, e.g. a SearchIterator, consumed lazily).

    Only scenes for which ``scene_filter(scene)`` is true are downloaded (all when None). Each
    scene's ``downloader()`` is activated first; a scene that is not ready is re-checked every
    ``activation_wait`` seconds (or the provider's suggested delay) until it is, for at most
    ``activation_timeout`` seconds (extra parameter, default 3600); a permanent refusal fails it at
    once. Other scenes proceed meanwhile.

    Providers that take orders (``capabilities.ordering``: the product must be ordered or
    activated first) have every product ordered before downloads start; orders are kept in the
    catalog, polled with backoff (``activation_wait``, then 1.5 times longer each time) within
    the provider's declared request rate, and each product is downloaded as soon as its order is
    ready. An order still not ready at ``activation_timeout`` is reported in
    ``summary.pending``, not as a failure, and so is a product the provider cannot order for us
    (e.g. an offline CDSE product): the next run or the daemon picks them up. ``order=False``
    places no new orders (products that need one are reported pending).

    Without ``skip_error`` the first failure stops everything and raises
    ``DownloadError(scene_id, msg)`` chained from the cause. With it, failures are collected as
    ``FailedDownload(scene_id, exc_info)`` of the original error. ``cancel_requested()`` is polled
    at least every 0.2 s (from the calling thread only) and also stops running downloads through
    their ``stopped_func``; :class:`DownloadCancelled` is then raised within a second. Raised
    errors carry the partial :class:`DownloadSummary` as ``.summary``.

    Extra parameters used here: ``max_workers`` (threads, default 4), ``max_per_provider``
    (concurrent downloads per ``scene.provider``, default 4), ``provider_limits`` (dict provider
    -> limit), ``activation_timeout``; all others (``assets``, ``order``) go to the downloader.
    """

    def __init__(
        self,
        scenes: Iterable[Scene],
        scene_filter: Callable[[Scene], bool] | None = None,
        *,
        clock: Clock,
    ) -> None:
        self.scenes = scenes
        self.scene_filter = scene_filter
        self.clock = clock

    def download_all(
        self,
        outdir: str,
        overwrite: bool = False,
        skip_error: bool = False,
        activation_wait: float = 2,
        cancel_requested: Callable[[], bool] = _default_cancel_requested,
        **extra_params: Any,
    ) -> DownloadSummary:
        """Download the scenes one at a time in the calling thread (see the class docstring)."""
        return self._run(outdir, overwrite, skip_error, activation_wait, cancel_requested,
                         extra_params, threaded=False)

    def download_all_async(
        self,
        outdir: str,
        overwrite: bool = False,
        skip_error: bool = False,
        cancel_requested: Callable[[], bool] = _default_cancel_requested,
        **extra_params: Any,
    ) -> DownloadSummary:
        """Download the scenes with a thread pool: activation checks and downloads run in threads.

        ``activation_wait`` may be given as an extra parameter (default 2 seconds).
        """
        activation_wait = extra_params.pop("activation_wait", 2)
        return self._run(outdir, overwrite, skip_error, activation_wait, cancel_requested,
                         extra_params, threaded=True)

    def _run(
        self,
        outdir: str,
        overwrite: bool,
        skip_error: bool,
        activation_wait: float,
        cancel_requested: Callable[[], bool] | None,
        extra: dict[str, Any],
        *,
        threaded: bool,
    ) -> DownloadSummary:
        limits = dict(extra.pop("provider_limits", None) or {})
        options = RunOptions(
            outdir=str(outdir),
            overwrite=overwrite,
            skip_error=skip_error,
            activation_wait=_number(activation_wait, "activation_wait", 0),
            activation_timeout=_pop(extra, "activation_timeout", DEFAULT_ACTIVATION_TIMEOUT, 0),
            max_workers=int(_pop(extra, "max_workers", DEFAULT_MAX_WORKERS, 1)),
            max_per_provider=int(_pop(extra, "max_per_provider", DEFAULT_MAX_PER_PROVIDER, 1)),
            provider_limits={
                str(k): int(_number(v, f"provider_limits[{k!r}]", 1)) for k, v in limits.items()
            },
            download_params=extra,
        )
        _refuse_unknown(extra)  # before any download starts
        summary = DownloadSummary([], [])
        run = BulkRun(
            self.scenes,
            self.scene_filter,
            options,
            summary=summary,
            clock=self.clock,
            cancel_requested=cancel_requested or _default_cancel_requested,
            threaded=threaded,
        )
        run.run()
        return summary


def _pop(extra: dict[str, Any], name: str, default: float, minimum: float) -> float:
    return _number(extra.pop(name, default), name, minimum)


def _number(value: Any, name: str, minimum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= minimum:
        raise InputError(f"{name} {value!r} must be a number >= {minimum:g}")
    return float(value)


def download_all(
    scenes: Iterable[Scene],
    outdir: str,
    overwrite: bool = False,
    skip_error: bool = False,
    scene_filter: Callable[[Scene], bool] | None = None,
    use_threads: bool = True,
    cancel_requested: Callable[[], bool] | None = None,
    *,
    clock: Clock,
    **extra_params: Any,
) -> DownloadSummary:
    """Download all the scenes into ``outdir`` and return ``DownloadSummary(results, failures)``.

    With ``use_threads`` (default) scenes are downloaded by a thread pool
    (:meth:`BulkDownloader.download_all_async`), else one at a time in this thread
    (:meth:`BulkDownloader.download_all`). See :class:`BulkDownloader` for ``skip_error``,
    ``scene_filter``, ``cancel_requested``, activation waits and the extra parameters.
    """
    bulk = BulkDownloader(scenes, scene_filter, clock=clock)
    cancel = cancel_requested or _default_cancel_requested
    if use_threads:
        return bulk.download_all_async(outdir, overwrite, skip_error, cancel, **extra_params)
    return bulk.download_all(
        outdir,
        overwrite,
        skip_error,
        extra_params.pop("activation_wait", 2),
        cancel,
        **extra_params,
    )


__all__ = [
    "BulkDownloader",
    "DownloadSummary",
    "Downloader",
    "Fetcher",
    "Orders",
    "SourceDownloader",
    "download_all",
    "source_downloader_factory",
]
