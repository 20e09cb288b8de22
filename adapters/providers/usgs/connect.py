"""Connects the provider: its SceneSource built on the composition root's wiring."""

from __future__ import annotations

from typing import TYPE_CHECKING

from eoharvest.adapters.providers.usgs import query as q
from eoharvest.adapters.providers.usgs.datasets import DATASETS
from eoharvest.adapters.providers.usgs.session import M2mSession
from eoharvest.adapters.providers.usgs.source import UsgsSource
from eoharvest.adapters.providers.wiring import ProviderConnection, ProviderWiring
from eoharvest.domain.budgets import REQUESTS, BudgetKey, account_digest
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
    dataset: str | None = None,
    page_size: int | None = None,
) -> ProviderConnection:
    """The M2M source: Landsat Collection 2 Level-2 of every dataset, or of ``dataset`` alone
    (``landsat_tm_c2_l2``, ``landsat_etm_c2_l2``, ``landsat_ot_c2_l2``). Searching and
    downloading both need an ERS username and an M2M application token (``token``, or the
    password of the credentials found)."""
    if url is not None:
        raise InputError(
            f"a URL ({url}) does not apply to provider {spec.name}",
            hint="set EOHARVEST_USGS_M2M_URL to use another M2M server",
        )
    if dataset is not None and dataset not in DATASETS:
        raise InputError(f"unknown USGS dataset {dataset!r}", hint=f"datasets: {', '.join(DATASETS)}")
    size = q.PAGE_SIZE if page_size is None else page_size
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= q.MAX_PAGE_SIZE:
        raise InputError(f"USGS page size {size!r} is out of range", hint=f"give 1 to {q.MAX_PAGE_SIZE}")
    if token is not None:
        credentials = Credentials(credentials.username if credentials else None, token, "arguments")
    if credentials is not None and not credentials.username:  # a token alone: the username from the settings
        stored = wiring.find_credentials("usgs").credentials
        credentials = Credentials(stored.username if stored else None, credentials.secret, credentials.source)
    found = wiring.find_credentials("usgs", credentials)
    missing = found.missing_message(spec.name)
    account = found.credentials
    if account is not None and not account.username:
        account, missing = None, f"no USGS username for the application token ({account.source})"
    (base,) = (wiring.endpoint(name) for name in spec.endpoints)
    digest = account_digest(account.username if account is not None else None)
    session = M2mSession(
        wiring.json_api(spec.name, base), base, account, clock=wiring.clock, missing=missing,
        in_flight=(wiring.budgets(), BudgetKey(spec.name, digest, REQUESTS)),
    )  # fmt: skip
    source = UsgsSource(
        session, name=spec.name, capabilities=spec.capabilities,
        datasets=(dataset,) if dataset else tuple(DATASETS), page_size=size, product_types=spec.product_types,
    )  # fmt: skip
    # Download URLs are pre-signed on other hosts: no credentials go there (download_auth None).
    return ProviderConnection(source, download_endpoint=base, close=session.close, account=digest)
