"""The reference query API: SensorAPI, SensorWebAPI, Scenes pages and the paginating SearchIterator.

A search goes ``api.scenes(...)`` -> validated :class:`SearchQuery` -> :class:`SearchIterator`,
which asks the API for one page at a time (``query_page(query, ref)``) only as iteration proceeds.
:class:`SourceBackedSensorAPI` is the concrete API over a ``domain.ports.SceneSource`` adapter.
"""

from __future__ import annotations

import abc
import collections
import dataclasses
import functools
import hashlib
import inspect
import logging
import types
from typing import Any, Callable, ClassVar, Iterable, Iterator, Protocol, Sequence, runtime_checkable

from eoharvest.application.seen_keys import SeenKeys
from eoharvest.domain.aoi import parse_aoi
from eoharvest.domain.errors import InputError, ProviderResponseError
from eoharvest.domain.footprint import Footprint
from eoharvest.domain.models import Scene, SearchPage
from eoharvest.domain.platforms import canonical_platform, canonical_platforms
from eoharvest.domain.ports import SceneSource, VectorReader
from eoharvest.domain.providers import PUBLISHED_SINCE
from eoharvest.domain.query import SearchQuery

logger = logging.getLogger("eoharvest")

#: Hard bound on the pages one search may fetch (a provider whose ``next`` never ends stops here).
DEFAULT_MAX_PAGES = 10_000
#: Keyword options of ``scenes()`` every API takes (handled here, not by the provider).
COMMON_SEARCH_OPTIONS = frozenset({"limit", "max_pages"})


class hybridmethod:  # noqa: N801 - named like classmethod/staticmethod
    """A method bound to the instance when called on one, else to the class.

    ``supported_platformnames()`` is a class-level call in the reference API, but an API built
    over an adapter only knows its platforms once it has the adapter.
    """

    def __init__(self, func: Callable[..., Any]) -> None:
        self.func = func
        functools.update_wrapper(self, func)  # type: ignore[arg-type]

    def __get__(self, obj: Any, objtype: type | None = None) -> Callable[..., Any]:
        return types.MethodType(self.func, objtype if obj is None else obj)


class Scenes:
    """One page of search results (reference API: ``Scenes(raw_scenes)``).

    Iterate over it to get :class:`Scene` objects. ``total()`` is the provider's count of all
    matching scenes (None when it does not say); ``get_next_ref(prev_ref)`` is the reference
    (page number, offset, URL, ...) that fetches the next page, or None on the last page.
    """

    def __init__(
        self, raw_scenes: Iterable[Scene], *, total: int | None = None, next_ref: Any = None
    ) -> None:
        self._scenes = tuple(raw_scenes)
        self._total = total
        self._next_ref = next_ref

    @classmethod
    def from_page(cls, page: SearchPage) -> Scenes:
        """Wrap a domain :class:`SearchPage` as returned by a ``SceneSource``."""
        return cls(page.scenes, total=page.total, next_ref=page.next_ref)

    def total(self) -> int | None:
        """Total number of scenes from the query, if obtainable, or None otherwise."""
        return self._total

    def get_next_ref(self, prev_ref: Any) -> Any:
        """The reference that fetches the page after this one (``prev_ref`` fetched this one)."""
        return self._next_ref

    def __iter__(self) -> Iterator[Scene]:
        return iter(self._scenes)

    def __len__(self) -> int:
        return len(self._scenes)


def _hashable(ref: Any) -> Any:
    try:
        hash(ref)
    except TypeError:
        return ("repr", repr(ref))
    return ref


class SceneSearch(Protocol):
    """What ``SensorAPI.scenes`` returns: scenes, lazily, and the provider's count if known."""

    @property
    def total(self) -> int | None: ...

    def __iter__(self) -> Iterator[Scene]: ...

    def __next__(self) -> Scene: ...


@runtime_checkable
class PagedSearch(Protocol):
    """A search that also hands out its scenes a provider page at a time (``pages()``)."""

    def pages(self) -> Iterator[Sequence[Scene]]: ...


class SearchIterator:
    """Paginating iterator over the scenes of one search (reference API: ``SearchIterator(query)``).

    ``query`` is called as ``query(ref)`` and returns a :class:`Scenes` page (or a
    :class:`SearchPage`); ``ref`` is None for the first page, then each page's next reference.
    Pages are fetched only as iteration proceeds. The iterator:

    * stops when a page has no next reference;
    * stops after ``limit`` scenes (when given) without fetching another page; a ``query`` that
      takes a ``size`` keyword is called as ``query(ref, size=n)`` with ``n`` the scenes still
      wanted, so it can ask the provider for a page no larger than that;
    * drops a scene already yielded (same ``(provider, scene_id)``), e.g. when results shift
      between pages; ``duplicates_dropped`` counts them;
    * raises :class:`ProviderResponseError` when a next reference repeats one already used (a page
      cycle) or when more than ``max_pages`` pages would be needed.

    Iterate it for scenes, or call :meth:`pages` for the same scenes a page at a time (what a
    harvest commits to the catalog as each page arrives). Like any iterator it runs once; call
    ``scenes()`` again to search again.
    """

    def __init__(
        self,
        query: Callable[..., Scenes | SearchPage],
        *,
        max_pages: int = DEFAULT_MAX_PAGES,
        limit: int | None = None,
    ) -> None:
        if max_pages < 1:
            raise ValueError(f"max_pages must be at least 1, got {max_pages}")
        self._query = query
        self._sized = _takes_size(query)
        self.max_pages = max_pages
        self.limit = check_limit(limit)
        self.pages_fetched = 0
        self.duplicates_dropped = 0
        self.yielded = 0
        self._first: Scenes | None = None
        self._buffer: collections.deque[Scene] = collections.deque()
        self._pages = self._generate()

    @property
    def total(self) -> int | None:
        """Total number of scenes, if the provider reports it, or None otherwise.

        Reading it before iterating fetches the first page (iteration then reuses that page).
        The count is the provider's: it includes scenes the iterator later drops as duplicates,
        and it is not capped by ``limit``.
        """
        return self._first_page().total()

    def __iter__(self) -> SearchIterator:
        return self

    def __next__(self) -> Scene:
        while not self._buffer:
            self._buffer.extend(next(self._pages))
        return self._buffer.popleft().with_plain_raw()

    def pages(self) -> Iterator[list[Scene]]:
        """The remaining scenes, one list per provider page (possibly empty), fetched lazily.

        A page is fetched only when the previous list has been handed out, so whatever the
        caller did with it (e.g. committed it to a catalog) is done before the next request.
        A scene's ``raw`` may be a read-only mapping that decodes the provider's record on first
        use (STAC items: stored in the catalog as received, never decoded by a catalog-only
        harvest); ``scene.with_plain_raw()`` makes it a dict, as iterating the search does.
        """
        if self._buffer:
            rest = list(self._buffer)
            self._buffer.clear()
            yield rest
        yield from self._pages

    def _remaining(self) -> int | None:
        return None if self.limit is None else self.limit - self.yielded

    def _fetch(self, ref: Any) -> Scenes:
        self.pages_fetched += 1
        remaining = self._remaining()
        if self._sized and remaining is not None:
            page = self._query(ref, size=remaining)
        else:
            page = self._query(ref)
        return Scenes.from_page(page) if isinstance(page, SearchPage) else page

    def _first_page(self) -> Scenes:
        if self._first is None:
            self._first = self._fetch(None)
        return self._first

    def _generate(self) -> Iterator[list[Scene]]:
        seen = SeenKeys(_KEY_BYTES)
        used_refs: set[Any] = set()
        ref: Any = None
        if self._remaining() == 0:
            return
        page = self._first_page()
        # Keep only the count of the first page: its scenes must not live as long as the search.
        self._first = Scenes((), total=page.total())
        while True:
            fresh: list[Scene] = []
            remaining = self._remaining()
            for scene in page:
                if remaining is not None and len(fresh) >= remaining:
                    break
                if not seen.add(_identity_key(scene)):
                    self.duplicates_dropped += 1
                    continue
                fresh.append(scene)
            self.yielded += len(fresh)
            yield fresh
            if self._remaining() == 0:
                return  # the limit is reached: no request for a page nobody wants
            next_ref = page.get_next_ref(ref)
            if next_ref is None:
                if self.duplicates_dropped:
                    logger.debug("search dropped %d duplicate scenes", self.duplicates_dropped)
                return
            key = _hashable(next_ref)
            if key in used_refs:
                raise ProviderResponseError(
                    f"the provider's next page {str(next_ref)[:200]!r} repeats an earlier page "
                    f"(page cycle after {self.pages_fetched} pages)",
                    hint="results so far are complete up to the cycle; report it to the provider",
                )
            if self.pages_fetched >= self.max_pages:
                raise ProviderResponseError(
                    f"the search needs more than {self.max_pages} pages",
                    hint="narrow the date range or area, or raise max_pages",
                )
            used_refs.add(key)
            ref = next_ref
            page = self._fetch(ref)


_KEY_BYTES = 16


def _identity_key(scene: Scene) -> bytes:
    """A 16-byte digest of ``(provider, scene_id)``: what the duplicate check remembers per scene
    (in a :class:`SeenKeys`, ~20 bytes per scene: its memory grows with the number of results)."""
    provider, scene_id = scene.identity
    return hashlib.blake2b(f"{len(provider)}:{provider}{scene_id}".encode(), digest_size=_KEY_BYTES).digest()


def _takes_size(query: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(query).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "size" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def check_limit(limit: Any) -> int | None:
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InputError(f"limit {limit!r} must be a whole number of scenes >= 1", hint="or leave it out for no limit")
    return limit


class SensorAPI(abc.ABC):
    """An API to query for scenes, which can then be downloaded (reference abstract base class)."""

    #: Canonical platform names a subclass supports, when they are known without an instance.
    PLATFORMS: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def supported_platformnames(cls) -> tuple[str, ...]:
        """The canonical names of all the platforms supported by this API."""
        return tuple(cls.PLATFORMS)

    @abc.abstractmethod
    def scenes(
        self,
        platformname: str | Iterable[str] | None = None,
        aoi: Any = None,
        start_date: Any = None,
        end_date: Any = None,
        cloud_min: Any = None,
        cloud_max: Any = None,
        **kwargs: Any,
    ) -> SceneSearch:
        """An iterator over the scenes that meet the criteria.

        ``platformname`` is one name or a list (any case, aliases such as ``"S2"`` accepted; None
        means every supported platform). ``aoi`` is a WKT string, a GeoJSON string or object, or
        anything ``__geo_interface__``-compatible (lon/lat). ``start_date``/``end_date`` are
        datetimes (naive ones are taken as UTC), dates or ISO 8601 strings; a bare end date
        includes that whole day. ``cloud_min``/``cloud_max`` bound the cloud cover percentage
        (0-100). ``kwargs`` are implementation-specific query options. Invalid values raise
        :class:`InputError` here, before anything is fetched.
        """


class SensorWebAPI(SensorAPI):
    """Base class for sensor APIs over a RESTful web API.

    Subclasses implement :meth:`query_page`; this class validates the user's values into a
    :class:`SearchQuery` and paginates. Set ``aoi_reader`` (a ``VectorReader``) to accept vector
    file paths as AOI.
    """

    aoi_reader: VectorReader | None = None
    max_pages: int = DEFAULT_MAX_PAGES

    def search_options(self) -> frozenset[str] | None:
        """The keyword options :meth:`scenes` takes besides platforms, AOI, dates, cloud range,
        ``limit`` and ``max_pages``; None (the default for subclasses) passes any keyword on to
        :meth:`query_page`, which must then check them itself."""
        return None

    def _label(self) -> str:
        return type(self).__name__

    def platformname(self, in_platformname: str) -> str:
        """The canonical spelling of ``in_platformname`` (any case or alias) for this API.

        Raises :class:`InputError` listing the supported names when this API does not have it.
        """
        return canonical_platform(in_platformname, self.supported_platformnames())

    def build_query(
        self,
        platformname: str | Iterable[str] | None = None,
        aoi: Any = None,
        start_date: Any = None,
        end_date: Any = None,
        cloud_min: Any = None,
        cloud_max: Any = None,
        **kwargs: Any,
    ) -> SearchQuery:
        """Validate the values of :meth:`scenes` into a :class:`SearchQuery` (InputError if bad).

        A keyword option the API does not declare (:meth:`search_options`) is refused, naming it
        and listing the ones it takes, instead of being ignored.
        """
        accepted = self.search_options()
        if accepted is not None:
            unknown = sorted(set(kwargs) - accepted)
            if unknown:
                raise InputError(
                    f"{self._label()} does not take the search option(s) {', '.join(unknown)}",
                    hint=f"it takes: {', '.join(sorted(accepted | COMMON_SEARCH_OPTIONS))}",
                )
        platforms = canonical_platforms(platformname, self.supported_platformnames())
        footprint: Footprint | None = None
        if aoi is not None:
            # parse_aoi already logs its warnings on the "eoharvest.aoi" logger.
            footprint = parse_aoi(aoi, reader=self.aoi_reader).footprint
        return SearchQuery.create(
            platforms=platforms,
            aoi=footprint,
            start_date=start_date,
            end_date=end_date,
            cloud_min=cloud_min,
            cloud_max=cloud_max,
            **kwargs,
        )

    @abc.abstractmethod
    def query_page(self, query: SearchQuery, ref: Any) -> Scenes:
        """Fetch one page of results; ``ref`` is None first, then the previous page's next ref."""

    def query(
        self,
        platformname: str | Iterable[str] | None = None,
        aoi: Any = None,
        start_date: Any = None,
        end_date: Any = None,
        cloud_min: Any = None,
        cloud_max: Any = None,
        *,
        ref: Any = None,
        **kwargs: Any,
    ) -> Scenes:
        """Perform one query and return the :class:`Scenes` page.

        ``ref`` selects the page (None: the first; then ``page.get_next_ref(ref)``). See
        :meth:`scenes` for the other parameters, and prefer it: it validates once and paginates.
        """
        return self.query_page(
            self.build_query(
                platformname, aoi, start_date, end_date, cloud_min, cloud_max, **kwargs
            ),
            ref,
        )

    def scenes(
        self,
        platformname: str | Iterable[str] | None = None,
        aoi: Any = None,
        start_date: Any = None,
        end_date: Any = None,
        cloud_min: Any = None,
        cloud_max: Any = None,
        **kwargs: Any,
    ) -> SearchIterator:
        """An iterator over the scenes that meet the criteria (see :meth:`SensorAPI.scenes`).

        Values are validated now; pages are fetched as you iterate. ``max_pages`` (keyword) bounds
        the number of pages; ``limit`` (keyword) stops after that many scenes, and no request
        asks the provider for more scenes than are still wanted.
        """
        max_pages = kwargs.pop("max_pages", self.max_pages)
        limit = kwargs.pop("limit", None)
        query = self.build_query(
            platformname, aoi, start_date, end_date, cloud_min, cloud_max, **kwargs
        )
        return SearchIterator(
            functools.partial(self._sized_page, query), max_pages=max_pages, limit=limit
        )

    def _sized_page(self, query: SearchQuery, ref: Any, size: int | None = None) -> Scenes:
        return self.query_page(query if size is None else query.at_most(size), ref)


class SourceBackedSensorAPI(SensorWebAPI):
    """A :class:`SensorWebAPI` over a ``SceneSource`` adapter (one per provider).

    ``downloader_factory(scene, **extra_params)`` builds the Downloader that
    ``scene.downloader()`` returns for the scenes this API yields. When the source does not filter
    cloud cover itself (neither ``page.cloud_filtered`` nor ``source.capabilities.server_cloud_filter``), ``total`` is
    None, because the provider's count includes scenes dropped here. Scenes outside the cloud range
    are always dropped here (scenes without a cloud value, such as SAR, are kept).
    """

    def __init__(
        self,
        source: SceneSource,
        *,
        aoi_reader: VectorReader | None = None,
        downloader_factory: Callable[..., Any] | None = None,
    ) -> None:
        self.source = source
        self.aoi_reader = aoi_reader
        self.downloader_factory = downloader_factory

    @property
    def name(self) -> str:
        """The provider name of the underlying source."""
        return self.source.name

    # A classmethod in the base class; here also callable on an instance (see hybridmethod).
    @hybridmethod
    def supported_platformnames(self_or_cls: Any) -> tuple[str, ...]:  # type: ignore[override]  # noqa: N805
        """The canonical names of the platforms this API (its source) supports."""
        if isinstance(self_or_cls, type):
            return tuple(getattr(self_or_cls, "PLATFORMS"))
        return tuple(self_or_cls.source.supported_platforms())

    def search_options(self) -> frozenset[str] | None:
        """What the source's provider declares it honours (``capabilities.search_options``, and
        ``published_since`` where it declares ``publication_time_filter``)."""
        capabilities = self.source.capabilities
        if capabilities.publication_time_filter:
            return capabilities.search_options | {PUBLISHED_SINCE}
        return capabilities.search_options

    def _label(self) -> str:
        return f"provider {self.source.name!r}"

    def query_page(self, query: SearchQuery, ref: Any) -> Scenes:
        page = self.source.search_page(query, ref)
        scenes: Iterable[Scene] = page.scenes
        total = page.total
        if query.has_cloud_filter:
            # Always re-checked here: servers have ignored filters they did not declare.
            scenes = [s for s in scenes if query.cloud_accepts(s.cloudcover_percentage)]
            if not (page.cloud_filtered or self.source.capabilities.server_cloud_filter):
                total = None
        return Scenes(
            [self._prepare(scene) for scene in scenes], total=total, next_ref=page.next_ref
        )

    def _prepare(self, scene: Scene) -> Scene:
        if not scene.provider:
            scene = dataclasses.replace(scene, provider=self.source.name)
        if self.downloader_factory is not None:
            scene = scene.bind_downloader(self.downloader_factory)
        return scene
