"""Fakes for searching and downloading: scene source, clock, credentials, vector reader, fetcher.

They record what happened (queries, activations, files written, peak concurrency) so tests
assert outcomes rather than calls.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from eoharvest.application.downloading import Downloader, SourceDownloader
from eoharvest.domain.errors import DownloadCancelled, InputError
from eoharvest.domain.footprint import Footprint
from eoharvest.domain.models import (
    Activation,
    DownloadDescriptor,
    DownloadResult,
    Scene,
    SearchPage,
)
from eoharvest.domain.ports import Credentials, VectorLayer
from eoharvest.domain.providers import ProviderCapabilities
from eoharvest.domain.query import SearchQuery

T0 = datetime(2019, 5, 11, 10, 30, tzinfo=timezone.utc)


def make_scene(
    scene_id: str,
    *,
    provider: str = "fake",
    platform: str = "Sentinel-2",
    cloud: float | None = None,
    product_key: str | None = None,
    acq_date: datetime = T0,
) -> Scene:
    """A small valid Scene (a 0.1 degree box near Markham, Ontario)."""
    return Scene(
        platformname=platform,
        scene_id=scene_id,
        footprint=Footprint.from_bbox(-79.4, 43.8, -79.3, 43.9),
        acq_date=acq_date,
        cloudcover_percentage=cloud,
        filenames=(f"{scene_id}.zip",),
        provider=provider,
        product_key=product_key,
    )


class FakeSceneSource:
    """An in-memory ``SceneSource``.

    ``pages`` are lists of scenes (only those of the queried platforms are returned); page ``i``
    is fetched with ref ``i`` (ref None is page 0) and points at ``i + 1`` unless ``next_refs``
    overrides it (``next_refs=[1, 1]`` is a page cycle).
    ``page_factory(ref) -> SearchPage`` replaces ``pages`` for endless or computed results.
    ``fail_on`` maps a ref to the exception its request raises. ``search_options`` are the keyword
    options the fake declares (others are refused by the API layer). ``ready_after`` maps a scene id
    to the number of ``activate`` calls that answer "not ready" first; ``refuse`` maps a scene id
    to the reason of a permanent refusal.
    """

    def __init__(
        self,
        pages: Sequence[Sequence[Scene]] = (),
        *,
        name: str = "fake",
        platforms: Sequence[str] = ("Sentinel-2", "Sentinel-1"),
        total: int | None = None,
        next_refs: Sequence[Any] | None = None,
        page_factory: Callable[[Any], SearchPage] | None = None,
        filters_cloud: bool = False,
        fail_on: dict[Any, Exception] | None = None,
        ready_after: dict[str, int] | None = None,
        refuse: dict[str, str] | None = None,
        retry_after: float | None = None,
        search_options: Iterable[str] = ("product_type", "productType", "page_size", "collections"),
    ) -> None:
        self.name = name
        self.pages = [list(p) for p in pages]
        self.platforms = tuple(platforms)
        self.total = total
        self.next_refs = list(next_refs) if next_refs is not None else None
        self.page_factory = page_factory
        self.capabilities = ProviderCapabilities(server_cloud_filter=filters_cloud, search_options=frozenset(search_options))
        self.fail_on = dict(fail_on or {})
        self.ready_after = dict(ready_after or {})
        self.refuse = dict(refuse or {})
        self.retry_after = retry_after
        self.queries: list[tuple[SearchQuery, Any]] = []
        self.activations: Counter[str] = Counter()
        self._lock = threading.Lock()

    def supported_platforms(self) -> Sequence[str]:
        return self.platforms

    def search_page(self, query: SearchQuery, ref: Any | None) -> SearchPage:
        self.queries.append((query, ref))
        if ref in self.fail_on:
            raise self.fail_on[ref]
        if self.page_factory is not None:
            return self.page_factory(ref)
        index = 0 if ref is None else int(ref)
        scenes = self.pages[index] if index < len(self.pages) else []
        # Like a real provider, answer only for the platforms asked for.
        scenes = [s for s in scenes if not query.platforms or s.platformname in query.platforms]
        if self.next_refs is not None:
            next_ref = self.next_refs[index] if index < len(self.next_refs) else None
        else:
            next_ref = index + 1 if index + 1 < len(self.pages) else None
        return SearchPage(tuple(scenes), total=self.total, next_ref=next_ref)

    def activate(self, scene: Scene) -> Activation:
        with self._lock:
            self.activations[scene.scene_id] += 1
            calls = self.activations[scene.scene_id]
        if scene.scene_id in self.refuse:
            return Activation(False, self.refuse[scene.scene_id], permanent=True)
        if calls <= self.ready_after.get(scene.scene_id, 0):
            return Activation(False, "offline, retrieval requested", retry_after=self.retry_after)
        return Activation(True)

    def download_descriptors(self, scene: Scene, assets: Sequence[str] | None = None) -> Sequence[DownloadDescriptor]:
        assert assets is None, "the fake declares no asset selection"
        names = scene.filenames or (f"{scene.scene_id}.zip",)
        return [DownloadDescriptor(f"https://fake.invalid/{n}", n) for n in names]

    @property
    def refs_requested(self) -> list[Any]:
        return [ref for _, ref in self.queries]


class FakeClock:
    """Manual time: ``sleep`` advances it at once and records the duration."""

    def __init__(self, start: datetime = T0) -> None:
        self._start = start
        self._elapsed = 0.0
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._elapsed)

    def monotonic(self) -> float:
        return self._elapsed

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self._elapsed += max(seconds, 0.0)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._elapsed += seconds

    @property
    def slept(self) -> float:
        return sum(self.sleeps)


class FakeCredentials:
    """A ``CredentialsProvider`` over a dict provider -> Credentials."""

    def __init__(self, entries: dict[str, Credentials] | None = None) -> None:
        self.entries = dict(entries or {})
        self.lookups: list[str] = []

    def get(self, provider: str) -> Credentials | None:
        self.lookups.append(provider)
        return self.entries.get(provider)

    def searched(self, provider: str) -> Sequence[str]:
        return [f"fake credentials store ({provider})"]


class FakeVectorReader:
    """A ``VectorReader`` over a dict path -> VectorLayer; unknown paths raise InputError."""

    def __init__(self, layers: dict[str, VectorLayer] | None = None) -> None:
        self.layers = dict(layers or {})
        self.reads: list[str] = []

    def read(self, path: str, layer: str | int | None = None) -> VectorLayer:
        self.reads.append(path)
        if path not in self.layers:
            raise InputError(f"cannot open vector file {path!r}")
        return self.layers[path]


class FakeFetcher:
    """A ``Fetcher`` writing each descriptor as a small file into ``outdir``.

    ``fail`` maps a scene id to the exception to raise; ``delay`` makes each fetch take that long
    (checking ``stopped_func`` every 10 ms, unless ``ignore_stop``). Records ``calls`` (scene ids),
    ``extra`` (the extra params of each call) and the peak number of concurrent fetches per
    provider in ``max_concurrent``.
    """

    def __init__(
        self,
        *,
        fail: dict[str, Exception] | None = None,
        delay: float = 0.0,
        ignore_stop: bool = False,
    ) -> None:
        self.fail = dict(fail or {})
        self.delay = delay
        self.ignore_stop = ignore_stop
        self.calls: list[str] = []
        self.extra: list[dict[str, Any]] = []
        self.cancelled: list[str] = []
        self.max_concurrent: Counter[str] = Counter()
        self._running: Counter[str] = Counter()
        self._lock = threading.Lock()

    def fetch(
        self,
        scene: Scene,
        descriptors: Sequence[DownloadDescriptor],
        outdir: str,
        *,
        overwrite: bool = False,
        stopped_func: Callable[[], bool] | None = None,
        **extra: Any,
    ) -> DownloadResult:
        with self._lock:
            self.calls.append(scene.scene_id)
            self.extra.append(extra)
            self._running[scene.provider] += 1
            peak = max(self.max_concurrent[scene.provider], self._running[scene.provider])
            self.max_concurrent[scene.provider] = peak
        try:
            self._wait(scene, stopped_func)
            if scene.scene_id in self.fail:
                raise self.fail[scene.scene_id]
            return _write_files(scene, [d.filename for d in descriptors], outdir, overwrite)
        finally:
            with self._lock:
                self._running[scene.provider] -= 1

    def _wait(self, scene: Scene, stopped_func: Callable[[], bool] | None) -> None:
        deadline = time.monotonic() + self.delay
        while time.monotonic() < deadline:
            if stopped_func is not None and not self.ignore_stop and stopped_func():
                with self._lock:
                    self.cancelled.append(scene.scene_id)
                raise DownloadCancelled(f"fetch of {scene.scene_id} stopped")
            time.sleep(min(0.01, max(deadline - time.monotonic(), 0)))


def _write_files(
    scene: Scene, names: Iterable[str], outdir: str, overwrite: bool
) -> DownloadResult:
    folder = Path(outdir)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    all_existed = True
    for name in names:
        target = folder / name
        if target.exists() and not overwrite:
            written.append(str(target))
            continue
        all_existed = False
        target.write_bytes(f"fake bytes of {scene.scene_id}\n".encode())
        written.append(str(target))
    return DownloadResult(written, scene, skipped=all_existed)


class FakeDownloader(Downloader):
    """A plain reference-style Downloader (bool ``activate()``) writing one file per scene.

    ``activate()`` returns False for the first ``ready_after`` calls. ``fetcher`` (a
    FakeFetcher) does the writing, so its failures, delays and records apply.
    """

    def __init__(self, scene: Scene, fetcher: FakeFetcher, *, ready_after: int = 0) -> None:
        super().__init__(scene.scene_id)
        self.scene = scene
        self.fetcher = fetcher
        self.ready_after = ready_after
        self.activate_calls = 0

    def activate(self) -> bool:
        self.activate_calls += 1
        return self.activate_calls > self.ready_after

    def download(
        self,
        outdir: str,
        overwrite: bool = False,
        skip_error: bool = False,
        stopped_func: Callable[[], bool] | None = None,
        **extra_params: Any,
    ) -> DownloadResult:
        descriptor = DownloadDescriptor("https://fake.invalid/x", f"{self.scene_id}.dat")
        return self.fetcher.fetch(
            self.scene, [descriptor], outdir, overwrite=overwrite, stopped_func=stopped_func,
            **extra_params,
        )


def bind_to_source(
    scenes: Iterable[Scene], source: FakeSceneSource, fetcher: FakeFetcher
) -> list[Scene]:
    """The scenes bound to ``SourceDownloader(source, scene, fetcher)``, as a SensorAPI would."""

    def factory(scene: Scene, **extra: Any) -> SourceDownloader:
        return SourceDownloader(source, scene, fetcher, **extra)

    return [scene.bind_downloader(factory) for scene in scenes]


def bind_fake_downloaders(
    scenes: Iterable[Scene], fetcher: FakeFetcher, *, ready_after: int = 0
) -> tuple[list[Scene], dict[str, FakeDownloader]]:
    """Scenes bound to one FakeDownloader each; returns the scenes and the downloaders by id."""
    made: dict[str, FakeDownloader] = {}

    def factory(scene: Scene, **extra: Any) -> FakeDownloader:
        made[scene.scene_id] = made.get(scene.scene_id) or FakeDownloader(
            scene, fetcher, ready_after=ready_after
        )
        return made[scene.scene_id]

    return [scene.bind_downloader(factory) for scene in scenes], made
