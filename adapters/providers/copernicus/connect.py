"""Connects the provider: its SceneSource built on the composition root's wiring."""


from __future__ import annotations

from typing import TYPE_CHECKING

from eoharvest.adapters.providers.copernicus.auth import shared_token_source
from eoharvest.adapters.providers.copernicus.errors import odata_error_hint
from eoharvest.adapters.providers.copernicus.source import CdseSource
from eoharvest.adapters.providers.wiring import ProviderConnection, ProviderWiring
from eoharvest.domain.budgets import account_digest
from eoharvest.domain.errors import InputError
from eoharvest.domain.ports import Credentials

if TYPE_CHECKING:
    from eoharvest.adapters.providers.table import ProviderSpec


def connect(
    wiring: ProviderWiring,
    spec: ProviderSpec,
    *,
    url: str | None = None,
    credentials: Credentials | None = None,
    totp: str | None = None,
) -> ProviderConnection:
    """The OData source. Searching needs no account; when credentials are found, downloads use
    the process-wide token source for them (one CDSE login per process)."""
    if url is not None:
        raise InputError(
            f"a URL ({url}) does not apply to provider {spec.name}",
            hint="set EOHARVEST_CDSE_ODATA_URL (and _DOWNLOAD_URL, _TOKEN_URL) to use another server",
        )
    odata_url, download_url, token_url = (wiring.endpoint(name) for name in spec.endpoints)
    found = wiring.find_credentials("copernicus", credentials)
    tokens = None
    if found.credentials is not None:
        token_api = wiring.json_api(spec.name, token_url, error_hint=odata_error_hint)
        tokens = shared_token_source(token_api, token_url, found.credentials, clock=wiring.clock, totp=totp)
    source = CdseSource(
        wiring.json_api(spec.name, odata_url, error_hint=odata_error_hint),
        odata_url=odata_url,
        download_url=download_url,
        tokens=tokens,
        missing_credentials=found.missing_message(spec.name),
        capabilities=spec.capabilities,
        product_types=spec.product_types,
    )
    # CDSE's limit of concurrent downloads is per account: its budget is named by the username.
    account = account_digest(found.credentials.username if found.credentials else None)
    return ProviderConnection(source, download_endpoint=download_url, download_auth=source.download_auth,
                              account=account)
