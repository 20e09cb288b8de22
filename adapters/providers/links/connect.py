"""Connects the ``links`` provider: no endpoint, no credentials."""

from __future__ import annotations

from typing import TYPE_CHECKING

from eoharvest.adapters.providers.links.source import LinksSource
from eoharvest.adapters.providers.wiring import ProviderConnection, ProviderWiring
from eoharvest.domain.errors import InputError
from eoharvest.domain.ports import Credentials

if TYPE_CHECKING:
    from eoharvest.adapters.providers.table import ProviderSpec


def connect(
    wiring: ProviderWiring, spec: ProviderSpec, *, url: str | None = None, credentials: Credentials | None = None
) -> ProviderConnection:
    """The links source. Its downloads have no provider origin: the transfer engine's URL guard
    allows private targets only when the settings do (``[http] allow_private_targets``), and no
    credentials are ever sent."""
    if url is not None:
        raise InputError(f"a URL ({url}) does not apply to provider {spec.name}", hint="the scene's links are its URLs")
    if credentials is not None:
        raise InputError(f"provider {spec.name} takes no credentials", hint="links are fetched without credentials")
    return ProviderConnection(LinksSource(spec.capabilities), download_endpoint=None)
