"""Connects the provider: its SceneSource built on the composition root's wiring."""

from __future__ import annotations

from typing import TYPE_CHECKING

from eoharvest.adapters.providers.cmr.catalogue import CollectionCatalogue
from eoharvest.adapters.providers.cmr.earthdata import EarthdataAuth
from eoharvest.adapters.providers.cmr.login import EarthdataLogin
from eoharvest.adapters.providers.cmr.errors import cmr_error_hint, login_error_hint
from eoharvest.adapters.providers.cmr.query import MAX_PAGE_SIZE
from eoharvest.adapters.providers.cmr.source import CmrSource
from eoharvest.adapters.providers.wiring import ProviderConnection, ProviderWiring
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
    token: str | None = None,
    page_size: int | None = None,
) -> ProviderConnection:
    """The CMR source. Searching needs no account and never sends a token; downloads use the
    Earthdata Login credentials found (a username/password, or a ``token`` alone)."""
    if url is not None:
        raise InputError(
            f"a URL ({url}) does not apply to provider {spec.name}",
            hint="set EOHARVEST_CMR_URL (and EOHARVEST_EARTHDATA_LOGIN_URL) to use another server",
        )
    cmr_url, login_url = (wiring.endpoint(name) for name in spec.endpoints)
    size = page_size if page_size is not None else wiring.settings.search.cmr_page_size
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_PAGE_SIZE:
        raise InputError(f"CMR page size {size!r} is out of range",
                         hint=f"set [search] cmr_page_size (EOHARVEST_CMR_PAGE_SIZE) from 1 to {MAX_PAGE_SIZE}")  # fmt: skip
    if token is not None and credentials is None:
        credentials = Credentials(None, token, "arguments")
    found = wiring.find_credentials("cmr", credentials)
    login = None
    if found.credentials is not None:
        login_api = wiring.json_api(spec.name, login_url, error_hint=login_error_hint)
        login = EarthdataLogin(login_api, login_url, found.credentials, clock=wiring.clock)
    auth = EarthdataAuth(login, login_url, missing=found.missing_message(spec.name))
    api = wiring.json_api(spec.name, cmr_url, error_hint=cmr_error_hint)
    source = CmrSource(
        api, CollectionCatalogue(api, cmr_url), cmr_url=cmr_url, auth=auth, page_size=size,
        capabilities=spec.capabilities,
    )  # fmt: skip
    return ProviderConnection(source, download_endpoint=cmr_url, download_auth=auth)
