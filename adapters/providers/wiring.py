"""What a provider package gets from the composition root, and what it gives back.

A provider's ``connect`` function builds its ``SceneSource`` from the root's shared pieces only:
JSON clients come from :meth:`ProviderWiring.json_api`, which applies the settings' retry
policy, timeouts, proxy and URL guard, so no provider builds an HTTP client of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

import httpx

from eoharvest.adapters.http.jsonapi import JsonApi
from eoharvest.application.settings import Settings
from eoharvest.domain.ports import Clock, Credentials, ProviderBudgets, SceneSource

ErrorHint = Callable[[int, object], "str | None"]


@dataclass(frozen=True)
class FoundCredentials:
    """The credentials found for a provider (None when there are none), and where we looked."""

    credentials: Credentials | None
    searched: Sequence[str]

    def missing_message(self, provider: str) -> str:
        return f"no credentials for {provider}: looked in " + "; ".join(self.searched)


class ProviderWiring(Protocol):
    """Implemented by the composition root (``entrypoints.bootstrap.Services``)."""

    settings: Settings
    clock: Clock

    def endpoint(self, setting: str) -> str:
        """The configured URL ``settings.endpoints.<setting>``."""
        ...

    def json_api(self, provider: str, endpoint: str, *, error_hint: ErrorHint | None = None) -> JsonApi:
        """A JSON client for ``endpoint`` with the settings' retry policy and URL guard."""
        ...

    def find_credentials(self, key: str, explicit: Credentials | None = None) -> FoundCredentials:
        """``explicit`` if given, else the environment, netrc and keyring entries for ``key``."""
        ...

    def budgets(self) -> ProviderBudgets:
        """The provider budgets (slots, rates) of this catalog's processes: in-process for a
        SpatiaLite catalog, shared by every process on a PostgreSQL one (domain/budgets.py)."""
        ...


@dataclass(frozen=True)
class ProviderConnection:
    """A connected provider: its source, and how its files are downloaded."""

    source: SceneSource
    #: the origin the download engine's URL guard is built for; None: no provider origin (the
    #: guard then allows private targets only when the settings do)
    download_endpoint: str | None
    #: credentials the download engine sends (origin-scoped), if the provider needs any
    download_auth: httpx.Auth | None = None
    #: ends the provider session (e.g. M2M ``logout``); called when the services close
    close: Callable[[], None] | None = None
    #: the account's name in provider budgets (``domain.budgets.account_digest`` of the
    #: username, or of the key for key-only accounts); "" without credentials
    account: str = ""
