"""Connects the test-only ordering provider on the composition root's wiring."""

from __future__ import annotations

from typing import Any

from fakes.order_provider.source import OrderApiSource

from eoharvest.adapters.providers.wiring import ProviderConnection, ProviderWiring


def connect(wiring: ProviderWiring, spec: Any, *, url: str | None = None) -> ProviderConnection:
    base = (url or wiring.endpoint(spec.endpoints[0])).rstrip("/")
    source = OrderApiSource(wiring.json_api(spec.name, base), base, name=spec.name, capabilities=spec.capabilities)
    return ProviderConnection(source, download_endpoint=base)
