"""AggregateSensorAPI: one search over every provider the user has credentials for."""

from __future__ import annotations

import collections
import logging
import warnings
from typing import Any, ClassVar, Iterable, Iterator, Sequence

from eoharvest.application.registry import SensorRegistry
from eoharvest.application.sensor_api import PagedSearch, SensorAPI, check_limit, hybridmethod
from eoharvest.domain.errors import AuthError, InputError
from eoharvest.domain.models import Scene
from eoharvest.domain.platforms import canonical_platforms

logger = logging.getLogger("eoharvest")


def _union(groups: Iterable[Iterable[str]]) -> tuple[str, ...]:
    names: list[str] = []
    for group in groups:
        names.extend(n for n in group if n not in names)
    return tuple(names)


class MergedSearchIterator:
    """The scenes of several providers' searches, one provider after the other.

    A provider's first page is fetched only when the previous provider is exhausted (or when
    ``total`` is read). A scene whose ``product_key`` an earlier provider already yielded is
    dropped, so the first provider wins. ``failed_providers`` lists (provider, error) pairs skipped
    because ``skip_failed_providers`` was set. With ``limit``, iteration stops after that many
    scenes without fetching another page. :meth:`pages` hands the scenes out a provider page at a
    time.
    """

    def __init__(
        self, searches: list[tuple[str, Any]], *, skip_failed_providers: bool, limit: int | None = None
    ) -> None:
        self._searches = searches
        self._skip = skip_failed_providers
        self.limit = limit
        self.failed_providers: list[tuple[str, BaseException]] = []
        self._failed: set[int] = set()
        self.duplicates_dropped = 0
        self._buffer: collections.deque[Scene] = collections.deque()
        self._pages = self._generate()

    @property
    def total(self) -> int | None:
        """Sum of the providers' totals when every provider reports one, else None.

        The sum is taken before cross-provider de-duplication, so it can exceed what iteration
        yields. Reading it fetches each provider's first page.
        """
        totals: list[int | None] = []
        for index, (name, search) in enumerate(self._searches):
            if index in self._failed:
                continue
            try:
                totals.append(search.total)
            except Exception as exc:
                self._fail(index, name, exc)
        if any(t is None for t in totals):
            return None
        return sum(t for t in totals if t is not None)

    def __iter__(self) -> MergedSearchIterator:
        return self

    def __next__(self) -> Scene:
        while not self._buffer:
            self._buffer.extend(next(self._pages))
        return self._buffer.popleft().with_plain_raw()  # see SearchIterator.pages

    def pages(self) -> Iterator[list[Scene]]:
        """The remaining scenes, one list per provider page, fetched lazily (raw records as
        :meth:`SearchIterator.pages` hands them out)."""
        if self._buffer:
            rest = list(self._buffer)
            self._buffer.clear()
            yield rest
        yield from self._pages

    def _fail(self, index: int, name: str, exc: Exception) -> None:
        if not self._skip:
            raise exc
        logger.warning("provider %s failed and is skipped: %s", name, exc)
        self._failed.add(index)
        self.failed_providers.append((name, exc))

    def _generate(self) -> Iterator[list[Scene]]:
        first_provider: dict[str | None, int] = {}
        left = self.limit
        for index, (name, search) in enumerate(self._searches):
            if index in self._failed:
                continue
            try:
                for page in _pages_of(search):
                    fresh: list[Scene] = []
                    for scene in page:
                        if left is not None and len(fresh) >= left:
                            break
                        if first_provider.setdefault(scene.product_key, index) != index:
                            self.duplicates_dropped += 1
                            continue
                        fresh.append(scene)
                    if left is not None:
                        left -= len(fresh)
                    yield fresh
                    if left == 0:
                        return
            except Exception as exc:
                self._fail(index, name, exc)


def _warn_unused(registry: SensorRegistry, kwargs: dict[str, Any]) -> None:
    """Warn (names only, never values) about keywords no registered provider takes: a misspelt
    credential would otherwise leave its provider out of every search without a word."""
    known = registry.known_keywords()
    if known is None:
        return
    unused = sorted(set(kwargs) - known)
    if unused:
        warnings.warn(
            f"AggregateSensorAPI: no registered provider takes {', '.join(unused)}; ignored "
            f"(the registered providers take: {', '.join(sorted(known | {'skip_failed_providers'}))})",
            UserWarning,
            stacklevel=3,
        )


def _warn_unconsumed(registry: SensorRegistry, kwargs: dict[str, Any], instances: list[SensorAPI]) -> None:
    """Warn when a provider's keywords were given but the provider was not created (e.g. a
    username without its password): its searches would be missing without a word."""
    for name, cls in registry.items():
        declared = getattr(cls, "instance_keywords", None)
        if not callable(declared):
            continue
        takes = frozenset(declared())
        given = sorted(k for k in takes if kwargs.get(k) is not None)
        if given and not any(isinstance(instance, cls) for instance in instances):
            warnings.warn(
                f"AggregateSensorAPI: {', '.join(given)} given, but provider {name} was not created "
                f"(it takes {', '.join(sorted(takes))}); it is left out of the searches",
                UserWarning,
                stacklevel=3,
            )


def _pages_of(search: Any) -> Iterator[Sequence[Scene]]:
    if isinstance(search, PagedSearch):
        return search.pages()
    return ([scene] for scene in search)


class AggregateSensorAPI(SensorAPI):
    """Searches every registered provider for which ``kwargs`` hold credentials.

    ``AggregateSensorAPI(registry, **kwargs)`` stores ``kwargs`` and passes them to
    ``registry.create_instances``; ``eoharvest.AggregateSensorAPI`` uses the default registry.
    Providers are searched in registration order; a product found by several is yielded once,
    from the first. A provider that fails raises, unless ``skip_failed_providers=True`` (given
    here or to ``scenes()``), in which case it is logged, listed in the iterator's
    ``failed_providers`` and the others continue.
    """

    #: The registry used when none is passed (set by the entrypoints layer's subclass).
    default_registry: ClassVar[SensorRegistry | None] = None

    def __init__(self, registry: SensorRegistry | None = None, **kwargs: Any) -> None:
        registry = registry if registry is not None else type(self).default_registry
        if registry is None:
            raise InputError(
                "AggregateSensorAPI needs a sensor registry",
                hint="use eoharvest.AggregateSensorAPI, or pass registry=SensorRegistry(...)",
            )
        self.skip_failed_providers = bool(kwargs.pop("skip_failed_providers", False))
        self.registry = registry
        self.kwargs = dict(kwargs)
        _warn_unused(registry, kwargs)
        self.instances: list[SensorAPI] = registry.create_instances(**kwargs)
        _warn_unconsumed(registry, kwargs, self.instances)

    def close(self) -> None:
        """Close every aggregated API that can be closed (network connections, catalogs)."""
        for instance in self.instances:
            close = getattr(instance, "close", None)
            if callable(close):
                close()

    def __enter__(self) -> AggregateSensorAPI:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @hybridmethod
    def supported_platformnames(self_or_cls: Any) -> tuple[str, ...]:  # type: ignore[override]  # noqa: N805
        """The union of the platforms of every aggregated API (or registered class)."""
        if isinstance(self_or_cls, type):
            registry: SensorRegistry | None = getattr(self_or_cls, "default_registry")
            return _union(c.supported_platformnames() for c in registry or ())
        return _union(i.supported_platformnames() for i in self_or_cls.instances)

    def scenes(
        self,
        platformname: str | Iterable[str] | None = None,
        aoi: Any = None,
        start_date: Any = None,
        end_date: Any = None,
        cloud_min: Any = None,
        cloud_max: Any = None,
        **kwargs: Any,
    ) -> MergedSearchIterator:
        """An iterator over the matching scenes of every provider (see :meth:`SensorAPI.scenes`).

        Each provider is asked only for the requested platforms it supports; a name no provider
        supports raises :class:`InputError` listing the union. ``kwargs`` go to every provider.
        """
        skip = bool(kwargs.pop("skip_failed_providers", self.skip_failed_providers))
        limit = check_limit(kwargs.get("limit"))  # each provider stops there too
        if not self.instances:
            raise AuthError(
                "no sensor API could be created: credentials are missing for every provider",
                hint="pass e.g. copernicus_username/copernicus_password, cmr_username/"
                "cmr_password, usgs_username/usgs_password or planet_api_key",
            )
        wanted = canonical_platforms(platformname, self.supported_platformnames())
        searches: list[tuple[str, Any]] = []
        for instance in self.instances:
            supported = instance.supported_platformnames()
            mine = [p for p in wanted if p in supported]
            if not mine:
                continue
            name = str(getattr(instance, "name", type(instance).__name__))
            # Searches are lazy, so creating them all now only validates the inputs.
            search = instance.scenes(
                list(mine), aoi, start_date, end_date, cloud_min, cloud_max, **kwargs
            )
            searches.append((name, search))
        return MergedSearchIterator(searches, skip_failed_providers=skip, limit=limit)
