"""The one composition root: builds adapters from Settings and wires them into services.

CLI, daemon, the public API classes and tests all call :func:`build`; nothing else constructs
adapters, and nothing is constructed at import time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from eoharvest.adapters.vector_files import OgrVectorReader
from eoharvest.application.clock import SystemClock
from eoharvest.application.settings import Settings
from eoharvest.domain.ports import Clock, VectorReader


@dataclass
class Services:
    """What the entrypoints use. Opened resources are closed by :meth:`close`."""

    settings: Settings
    clock: Clock
    vector_reader: VectorReader
    transport: Any = None
    _catalog: Any = field(default=None, repr=False)
    _closers: list[Callable[[], None]] = field(default_factory=list, repr=False)

    def catalog(self) -> Any:
        """The catalog repository, opened (and migrated) on first use."""
        if self._catalog is None:
            from eoharvest.adapters.catalog import open_catalog

            self._catalog = open_catalog(self.settings.catalog_path)
            self._closers.append(self._catalog.close)
        return self._catalog

    def close(self) -> None:
        while self._closers:
            self._closers.pop()()

    def __enter__(self) -> Services:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def build(
    settings: Settings,
    *,
    transport: Any = None,
    clock: Clock | None = None,
    vector_reader: VectorReader | None = None,
) -> Services:
    """Wire everything for ``settings``. ``transport`` (an httpx transport) lets tests route all
    HTTP traffic to loopback fakes or an ``httpx.MockTransport``."""
    return Services(
        settings=settings,
        clock=clock or SystemClock(),
        vector_reader=vector_reader or OgrVectorReader(),
        transport=transport,
    )
