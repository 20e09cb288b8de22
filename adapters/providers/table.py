"""The provider table: one entry per provider, the only list of providers in eoharvest.

The CLI's ``--provider`` choices (``harvest``, ``download``, ``watch add``), the composition
root's ``source_for``, ``SENSOR_REGISTRY`` / ``AggregateSensorAPI`` and the netrc machines of
credentials are all derived from :data:`PROVIDERS`. Adding a provider means one entry here, one
package under ``adapters/providers/`` with a ``connect(wiring, spec, ...)`` function, and one
loopback fake under ``tests/fakes/`` (see docs/architecture.md).

A provider family whose public classes differ only by dataset (the USGS Landsat family:
``UsgsTm``, ``UsgsEtm``, ``UsgsOt``) is one entry with several ``public_classes``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from eoharvest.adapters.providers import copernicus, stac
from eoharvest.adapters.providers.wiring import ProviderConnection, ProviderWiring
from eoharvest.domain.errors import InputError
from eoharvest.domain.providers import ProviderCapabilities

Connect = Callable[..., ProviderConnection]


@dataclass(frozen=True)
class CredentialSpec:
    """Where a provider's secret is looked up: ``EOHARVEST_<KEY>_USERNAME``/``_PASSWORD`` (or
    ``_API_KEY``), the netrc machine of the ``login_endpoint`` setting's host, the keyring."""

    key: str
    login_endpoint: str
    #: keyword arguments of ``create_instance`` (SENSOR_REGISTRY) that carry the credentials
    kwargs: tuple[str, ...] = ()
    required_for_search: bool = False


@dataclass(frozen=True)
class ProviderSpec:
    """One provider: its name, protocol family, endpoints, credentials, limits and features."""

    name: str
    #: protocol family: the package whose ``connect`` builds the source
    kind: str
    summary: str
    connect: Connect
    #: ``Settings.endpoints`` field names; the first is the search endpoint
    endpoints: tuple[str, ...]
    capabilities: ProviderCapabilities
    credentials: CredentialSpec | None = None
    #: STAC server flavour (collection names per platform); None: guessed from the URL
    flavour: str | None = None
    #: the provider's own cap on parallel downloads per account (None: the settings' limit)
    max_concurrent_downloads: int | None = None
    #: names of the public ``eoharvest`` classes built on this provider (``SENSOR_REGISTRY``)
    public_classes: tuple[str, ...] = ()
    #: searches need ``--stac-url`` (the URL setting is only a default)
    takes_url: bool = False
    platforms: tuple[str, ...] = ()

    def connect_with(self, wiring: ProviderWiring, **options: Any) -> ProviderConnection:
        return self.connect(wiring, self, **options)


# Cloud filtering on a STAC server depends on its conformance classes: each page says so.
_STAC = ProviderCapabilities(asset_selection=True)

PROVIDERS: tuple[ProviderSpec, ...] = (
    ProviderSpec(
        name="earth-search", kind="stac", summary="Element 84 Earth Search (STAC, no account)",
        connect=stac.connect, endpoints=("stac_url",), capabilities=_STAC, flavour="earth-search",
        platforms=stac.platforms("earth-search"),
    ),
    ProviderSpec(
        name="planetary-computer", kind="stac", summary="Microsoft Planetary Computer (STAC, signed links)",
        connect=stac.connect, endpoints=("planetary_computer_url", "planetary_computer_sas_url"),
        capabilities=_STAC, flavour="planetary-computer", platforms=stac.platforms("planetary-computer"),
    ),
    ProviderSpec(
        name="cdse-stac", kind="stac", summary="Copernicus Data Space STAC",
        connect=stac.connect, endpoints=("cdse_stac_url",), capabilities=_STAC, flavour="cdse-stac",
        platforms=stac.platforms("cdse-stac"),
    ),
    ProviderSpec(
        name="copernicus", kind="copernicus", summary="Copernicus Data Space OData (downloads need an account)",
        connect=copernicus.connect,
        endpoints=("cdse_odata_url", "cdse_download_url", "cdse_token_url"),
        capabilities=ProviderCapabilities(server_cloud_filter=True, publication_time_filter=True),
        credentials=CredentialSpec("copernicus", "cdse_token_url", ("copernicus_username", "copernicus_password")),
        # CDSE: a 5th parallel download of one account gets 429 "Max session number exceeded"
        max_concurrent_downloads=4,
        public_classes=("Copernicus",),
        platforms=copernicus.platforms(),
    ),
    ProviderSpec(
        name="stac", kind="stac", summary="any STAC API given with --stac-url",
        connect=stac.connect, endpoints=("stac_url",), capabilities=_STAC, takes_url=True,
        public_classes=("StacAPI",), platforms=stac.platforms("generic"),
    ),
)

#: Netrc machines of providers that are not built yet but whose credentials can already be
#: stored (their endpoints are settings); each moves into PROVIDERS with its package.
PLANNED_CREDENTIALS: tuple[CredentialSpec, ...] = (
    CredentialSpec("cmr", "earthdata_login_url"),
    CredentialSpec("usgs", "usgs_m2m_url"),
    CredentialSpec("planet", "planet_url"),
)


def provider_names() -> tuple[str, ...]:
    """Every provider name, in table order (the CLI's ``--provider`` choices)."""
    return tuple(spec.name for spec in PROVIDERS)


def spec_for(name: str) -> ProviderSpec:
    """The table entry named ``name``; an InputError lists the known names."""
    for spec in PROVIDERS:
        if spec.name == name:
            return spec
    raise InputError(f"no provider named {name!r}", hint=f"known providers: {', '.join(provider_names())}")


def credential_specs() -> tuple[CredentialSpec, ...]:
    """Every provider's credential lookup (built and planned providers)."""
    return tuple(s.credentials for s in PROVIDERS if s.credentials) + PLANNED_CREDENTIALS
