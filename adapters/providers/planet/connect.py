"""Connects the provider: its SceneSource built on the composition root's wiring."""

from __future__ import annotations

from typing import TYPE_CHECKING

from eoharvest.adapters.providers.planet.auth import PlanetKeyAuth, planet_cli_key, planet_cli_path
from eoharvest.adapters.providers.planet.errors import planet_error_hint
from eoharvest.adapters.providers.planet.filters import MAX_PAGE_SIZE
from eoharvest.adapters.providers.planet.source import PlanetSource
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
    page_size: int | None = None,
) -> ProviderConnection:
    """The Planet source. The API key comes from ``credentials`` (``Planet(api_key)``), then
    ``EOHARVEST_PLANET_API_KEY``, ``PL_API_KEY``, ``PL_AUTH_API_KEY``, the netrc entry of the
    Data API's host, the keyring (service ``eoharvest-planet``), then the Planet CLI's
    ``~/.planet.json``. It is sent to the Data API's origin only (see auth.py)."""
    if url is not None:
        raise InputError(f"a URL ({url}) does not apply to provider {spec.name}",
                         hint="set EOHARVEST_PLANET_URL to use another Data API server")  # fmt: skip
    base = wiring.endpoint(spec.endpoints[0]).rstrip("/")
    size = MAX_PAGE_SIZE if page_size is None else page_size
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_PAGE_SIZE:
        raise InputError(f"planet page size {size!r} is out of range", hint=f"give 1 to {MAX_PAGE_SIZE}")
    found = wiring.find_credentials("planet", credentials)
    key = found.credentials or planet_cli_key()
    missing = f"{found.missing_message(spec.name)}; {planet_cli_path()}"
    api = wiring.json_api(spec.name, base, error_hint=planet_error_hint)
    auth = PlanetKeyAuth(key.secret, [base]) if key is not None and key.secret else None
    api.auth = auth  # the search and activation requests carry the key; nothing else of wiring does
    # A Planet account is its API key: budgets are named by a salted digest of it.
    account = account_digest(key.secret if key is not None else None)
    source = PlanetSource(api, base_url=base, clock=wiring.clock, has_key=auth is not None,
                          missing_credentials=missing, page_size=size, capabilities=spec.capabilities,
                          budgets=wiring.budgets(), account=account)  # fmt: skip
    return ProviderConnection(source, download_endpoint=base, download_auth=auth, account=account)
