"""A test-only provider package ("orderfake") over the loopback ordering API in
``fakes/order_server.py``: a SceneSource and OrderingSource built the way a real provider package
is (``connect(wiring, spec)`` on the composition root's JSON clients), plugged into the provider
table only by the tests that need it (:func:`install`)."""

from __future__ import annotations

from typing import Any

from eoharvest.adapters.providers import table
from eoharvest.adapters.providers.table import ProviderSpec
from eoharvest.domain.providers import ProviderCapabilities

NAME = "orderfake"


def spec(rate: float | None = 40.0, *, cancel: bool = True) -> ProviderSpec:
    """The table entry: its base URL is the ``stac_url`` setting (point it at the fake)."""
    return ProviderSpec(
        name=NAME, kind=NAME, summary="loopback ordering API (tests only)", endpoints=("stac_url",),
        capabilities=ProviderCapabilities(needs_activation=True, ordering=True, order_rate=rate, order_cancel=cancel),
        platforms=("Sentinel-2",), connect_module="fakes.order_provider.connect",
    )  # fmt: skip


def install(monkeypatch: Any = None, **options: Any) -> ProviderSpec:
    """Add the entry to the provider table (undone by ``monkeypatch``, or for the process)."""
    entry = spec(**options)
    providers = tuple(p for p in table.PROVIDERS if p.name != NAME) + (entry,)
    if monkeypatch is not None:
        monkeypatch.setattr(table, "PROVIDERS", providers)
    else:
        table.PROVIDERS = providers
    return entry
