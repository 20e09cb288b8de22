"""The provider table: one entry per provider, the only list of providers in eoharvest.

The CLI's ``--provider`` choices (``harvest``, ``download``, ``watch add``), the composition
root's ``source_for``, ``SENSOR_REGISTRY`` / ``AggregateSensorAPI`` and the netrc machines of
credentials are all derived from :data:`PROVIDERS`. Adding a provider means one entry here, one
package under ``adapters/providers/`` whose ``connect`` module has ``connect(wiring, spec, ...)``, and one
loopback fake under ``tests/fakes/`` (see docs/architecture.md).

A provider family whose public classes differ only by dataset (the USGS Landsat family:
``UsgsTm``, ``UsgsEtm``, ``UsgsOt``) is one entry with several ``public_classes``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Callable
from urllib.parse import urlsplit

import importlib
import inspect
from typing import TYPE_CHECKING

from eoharvest.adapters.providers.cmr.collections import ACCEPTED_OPTIONS as CMR_SEARCH_OPTIONS
from eoharvest.adapters.providers.cmr.collections import PLATFORMS as CMR_PLATFORMS
from eoharvest.adapters.providers.cmr.collections import PRODUCT_TYPES as CMR_PRODUCT_TYPES
from eoharvest.adapters.providers.copernicus.attributes import SEARCH_OPTIONS as COPERNICUS_SEARCH_OPTIONS
from eoharvest.adapters.providers.copernicus.collections import COLLECTIONS as COPERNICUS_COLLECTIONS
from eoharvest.adapters.providers.copernicus.collections import PRODUCT_TYPES as COPERNICUS_PRODUCT_TYPES
from eoharvest.adapters.providers.planet.item_types import PLATFORMS as PLANET_PLATFORMS
from eoharvest.adapters.providers.planet.item_types import PRODUCT_TYPES as PLANET_PRODUCT_TYPES
from eoharvest.adapters.providers.planet.item_types import SEARCH_OPTIONS as PLANET_SEARCH_OPTIONS
from eoharvest.adapters.providers.stac.collections import FLAVOURS as STAC_FLAVOURS
from eoharvest.adapters.providers.stac.options import SEARCH_OPTIONS as STAC_SEARCH_OPTIONS
from eoharvest.adapters.providers.usgs.datasets import PLATFORMS as USGS_PLATFORMS
from eoharvest.adapters.providers.usgs.datasets import PRODUCT_TYPES as USGS_PRODUCT_TYPES
from eoharvest.adapters.providers.usgs.datasets import SEARCH_OPTIONS as USGS_SEARCH_OPTIONS
from eoharvest.application.settings import Endpoints
from eoharvest.domain.errors import InputError
from eoharvest.domain.product_types import ProductTypeTable
from eoharvest.domain.providers import ProviderCapabilities

if TYPE_CHECKING:
    from eoharvest.adapters.providers.wiring import ProviderConnection, ProviderWiring


@dataclass(frozen=True)
class CredentialSpec:
    """Where a provider's secret is looked up: ``EOHARVEST_<KEY>_USERNAME``/``_PASSWORD`` (or
    ``_API_KEY``), then ``env_aliases``, the netrc machine of the ``login_endpoint`` setting's
    host, the keyring."""

    key: str
    login_endpoint: str
    #: keyword arguments of ``create_instance`` (SENSOR_REGISTRY) that carry the credentials
    kwargs: tuple[str, ...] = ()
    required_for_search: bool = False
    #: further environment variables, in order: (username variable, or None for a token alone,
    #: secret variable), e.g. the ones other tools of the provider's users already set
    env_aliases: tuple[tuple[str | None, str], ...] = ()


@dataclass(frozen=True)
class ProviderSpec:
    """One provider: its name, protocol family, endpoints, credentials, limits and features."""

    name: str
    #: protocol family: the package under adapters/providers/ whose ``connect.connect`` builds
    #: the source (imported only when a provider is connected, so listing providers stays cheap)
    kind: str
    summary: str
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
    #: the user vocabulary of product types mapped to the provider's own names, per platform
    #: (declared by the provider package: STAC collections, CDSE ``productType`` values)
    product_types: ProductTypeTable = field(default_factory=dict)
    #: the module whose ``connect`` builds the source; default
    #: ``eoharvest.adapters.providers.<kind>.connect`` (tests plug in loopback providers here)
    connect_module: str | None = None
    #: False for a source with no search (``links``): not offered by ``harvest`` or ``watch add``
    searchable: bool = True

    def connect_options(self) -> tuple[str, ...]:
        """The provider's own keyword options of ``connect`` (e.g. ``totp``), beyond the URL and
        credentials every provider takes."""
        module = importlib.import_module(self.connect_module or f"eoharvest.adapters.providers.{self.kind}.connect")
        parameters = inspect.signature(module.connect).parameters.values()
        return tuple(
            p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in ("url", "credentials")
        )

    def connect_with(self, wiring: ProviderWiring, **options: Any) -> ProviderConnection:
        """Build this provider's source on ``wiring`` (options: ``url``, credentials, ...)."""
        module = importlib.import_module(self.connect_module or f"eoharvest.adapters.providers.{self.kind}.connect")
        connect: Callable[..., ProviderConnection] = module.connect
        return connect(wiring, self, **options)


# Cloud filtering on a STAC server depends on its conformance classes: each page says so.
_STAC = ProviderCapabilities(asset_selection=True, search_options=STAC_SEARCH_OPTIONS)
# Earth Search (stac-server) filters every item property with the Query extension, and its items
# carry `updated`: saved searches follow publication time there. Other STAC servers are not
# known to index `updated` (a filter on a missing property would match nothing).
_STAC_PUBLICATION = replace(_STAC, publication_time_filter=True)

PROVIDERS: tuple[ProviderSpec, ...] = (
    ProviderSpec(
        name="earth-search", kind="stac", summary="Element 84 Earth Search (STAC, no account)",
        endpoints=("stac_url",), capabilities=_STAC_PUBLICATION, flavour="earth-search",
        platforms=tuple(STAC_FLAVOURS["earth-search"]), product_types=STAC_FLAVOURS["earth-search"],
    ),
    ProviderSpec(
        name="planetary-computer", kind="stac", summary="Microsoft Planetary Computer (STAC, signed links)",
        endpoints=("planetary_computer_url", "planetary_computer_sas_url"),
        capabilities=_STAC, flavour="planetary-computer", platforms=tuple(STAC_FLAVOURS["planetary-computer"]),
        product_types=STAC_FLAVOURS["planetary-computer"],
    ),
    ProviderSpec(
        name="cdse-stac", kind="stac", summary="Copernicus Data Space STAC",
        endpoints=("cdse_stac_url",), capabilities=_STAC, flavour="cdse-stac",
        platforms=tuple(STAC_FLAVOURS["cdse-stac"]), product_types=STAC_FLAVOURS["cdse-stac"],
    ),
    ProviderSpec(
        name="copernicus", kind="copernicus", summary="Copernicus Data Space OData (downloads need an account)",
        endpoints=("cdse_odata_url", "cdse_download_url", "cdse_token_url"),
        # Offline products cannot be ordered through CDSE's APIs: they are followed as waiting
        # orders and downloaded once online.
        capabilities=ProviderCapabilities(
            server_cloud_filter=True, publication_time_filter=True, needs_activation=True, ordering=True,
            search_options=COPERNICUS_SEARCH_OPTIONS,
        ),
        credentials=CredentialSpec("copernicus", "cdse_token_url", ("copernicus_username", "copernicus_password")),
        # CDSE: a 5th parallel download of one account gets 429 "Max session number exceeded"
        max_concurrent_downloads=4,
        public_classes=("Copernicus",),
        platforms=tuple(COPERNICUS_COLLECTIONS), product_types=COPERNICUS_PRODUCT_TYPES,
    ),
    ProviderSpec(
        name="cmr", kind="cmr", summary="NASA CMR: HLS, MODIS, VIIRS, Sentinel-1 at ASF (downloads need an Earthdata Login)",
        endpoints=("cmr_url", "earthdata_login_url"),
        # publication time: CMR's updated_since (the granule's revision date)
        capabilities=ProviderCapabilities(asset_selection=True, needs_activation=False, publication_time_filter=True,
                                          search_options=frozenset(CMR_SEARCH_OPTIONS)),
        credentials=CredentialSpec(
            "cmr", "earthdata_login_url", ("cmr_username", "cmr_password"),
            # what earthaccess users already have set
            env_aliases=((None, "EOHARVEST_CMR_TOKEN"), ("EARTHDATA_USERNAME", "EARTHDATA_PASSWORD"), (None, "EARTHDATA_TOKEN")),
        ),
        public_classes=("CMR",),
        platforms=CMR_PLATFORMS,
        product_types=CMR_PRODUCT_TYPES,
    ),
    ProviderSpec(
        name="usgs", kind="usgs", summary="USGS M2M: Landsat 4-9 Collection 2 Level-2 (needs an ERS account with M2M access)",
        endpoints=("usgs_m2m_url",),
        # Every download is a download-request followed by download-retrieve: an order. M2M takes
        # one request at a time per account (the session serialises them; order_rate spaces them).
        capabilities=ProviderCapabilities(
            asset_selection=True, needs_activation=True, ordering=True, order_cancel=True, order_rate=2.0,
            server_cloud_filter=True, publication_time_filter=True, search_options=USGS_SEARCH_OPTIONS,
        ),
        # usgs_password carries the M2M application token (password login was retired in 2025)
        credentials=CredentialSpec(
            "usgs", "usgs_m2m_url", ("usgs_username", "usgs_password"), required_for_search=True,
            env_aliases=(("EOHARVEST_USGS_USERNAME", "EOHARVEST_USGS_TOKEN"),),
        ),
        public_classes=("UsgsTm", "UsgsEtm", "UsgsOt"),
        platforms=USGS_PLATFORMS,
        product_types=USGS_PRODUCT_TYPES,
    ),
    ProviderSpec(
        name="stac", kind="stac", summary="any STAC API given with --stac-url",
        endpoints=("stac_url",), capabilities=_STAC, takes_url=True,
        public_classes=("StacAPI",), platforms=tuple(STAC_FLAVOURS["generic"]),
        # a guess until the server's own collection list confirms it (stac/collections.py)
        product_types=STAC_FLAVOURS["generic"],
    ),
    # Planet Data API: assets are activated (an order per item and asset selection) before
    # they can be downloaded; activations are limited to 5 requests per second per API key.
    ProviderSpec(
        name="planet", kind="planet", summary="Planet Data API: PlanetScope, SkySat, RapidEye (API key; assets are activated)",
        endpoints=("planet_url",),
        capabilities=ProviderCapabilities(
            asset_selection=True, needs_activation=True, ordering=True, order_rate=5.0, server_cloud_filter=True,
            publication_time_filter=True, search_options=PLANET_SEARCH_OPTIONS,
        ),
        credentials=CredentialSpec(
            "planet", "planet_url", ("planet_api_key",), required_for_search=True,
            # what the Planet CLI and SDK users already have set
            env_aliases=((None, "PL_API_KEY"), (None, "PL_AUTH_API_KEY")),
        ),
        public_classes=("Planet",),
        platforms=PLANET_PLATFORMS, product_types=PLANET_PRODUCT_TYPES,
    ),
    # Scenes built from their own download links (Scene(..., download_links, filenames)): no
    # search, no endpoint, no credentials; downloads through the generic transfer engine.
    ProviderSpec(
        name="links", kind="links", summary="scenes built from their download links (downloads only)",
        endpoints=(), capabilities=ProviderCapabilities(), searchable=False,
    ),
)

#: Netrc machines of providers that are not built yet but whose credentials can already be
#: stored (their endpoints are settings); each moves into PROVIDERS with its package.
PLANNED_CREDENTIALS: tuple[CredentialSpec, ...] = ()


def provider_names(*, searchable: bool = False) -> tuple[str, ...]:
    """Every provider name, in table order (the CLI's ``--provider`` choices); with
    ``searchable``, only those with a search (``harvest``, ``watch add``)."""
    return tuple(spec.name for spec in PROVIDERS if spec.searchable or not searchable)


def spec_for(name: str) -> ProviderSpec:
    """The table entry named ``name``; an InputError lists the known names."""
    for spec in PROVIDERS:
        if spec.name == name:
            return spec
    raise InputError(f"no provider named {name!r}", hint=f"known providers: {', '.join(provider_names())}")


def credential_specs() -> tuple[CredentialSpec, ...]:
    """Every provider's credential lookup (built and planned providers)."""
    return tuple(s.credentials for s in PROVIDERS if s.credentials) + PLANNED_CREDENTIALS




def env_aliases() -> dict[str, tuple[tuple[str | None, str], ...]]:
    """Each credentials key's further environment variables (see ``CredentialSpec.env_aliases``)."""
    return {c.key: c.env_aliases for c in credential_specs() if c.env_aliases}


def netrc_hosts(endpoints: Endpoints) -> dict[str, str]:
    """Each credentials key's netrc machine: the host of its configured login endpoint."""
    return {c.key: urlsplit(getattr(endpoints, c.login_endpoint)).hostname or "" for c in credential_specs()}
