"""The public provider classes of the reference API, wired through the composition root.

Each class builds its own adapters with :func:`eoharvest.entrypoints.bootstrap.build` from the
user's settings (config file + ``EOHARVEST_*`` variables) unless ``settings`` is given.
Downloads are verified, resumable, and recorded in the catalog (``catalog=False`` to skip it).
"""

from __future__ import annotations

from typing import Any

from eoharvest.adapters.providers.cdse_query import COLLECTIONS as CDSE_COLLECTIONS
from eoharvest.adapters.providers.stac_collections import FLAVOURS
from eoharvest.application.aggregate import AggregateSensorAPI as _AggregateSensorAPI
from eoharvest.application.registry import SensorRegistry
from eoharvest.application.sensor_api import SourceBackedSensorAPI
from eoharvest.application.settings import Settings
from eoharvest.domain.ports import SceneSource
from eoharvest.entrypoints.bootstrap import Services, build
from eoharvest.entrypoints.config import load_settings


class _ProviderAPI(SourceBackedSensorAPI):
    """Common plumbing: own the Services, close them with the API."""

    _services: Services

    def _wire(self, services: Services, source: SceneSource, *, catalog: bool) -> None:
        self._services = services
        super().__init__(
            source,
            aoi_reader=services.vector_reader,
            downloader_factory=services.downloader_factory(source, use_catalog=catalog),
        )

    def close(self) -> None:
        """Close network connections and the catalog."""
        self._services.close()

    def __enter__(self) -> _ProviderAPI:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class StacAPI(_ProviderAPI):
    """Any STAC API with item search; by default Earth Search, which needs no credentials.

    ``StacAPI()`` uses the configured ``stac_url``; ``StacAPI("https://.../v1")`` another server.
    Planetary Computer asset links are signed automatically. ``download(assets=[...])`` (or
    ``download_all(..., assets=[...])``) picks assets; by default every data asset is fetched.
    """

    provider_name = "stac"
    PLATFORMS = tuple(FLAVOURS["earth-search"])

    def __init__(
        self,
        url: str | None = None,
        *,
        settings: Settings | None = None,
        transport: Any = None,
        catalog: bool = True,
        name: str | None = None,
    ) -> None:
        services = build(settings or load_settings(), transport=transport)
        self._wire(services, services.stac_source(url, name=name), catalog=catalog)

    @classmethod
    def create_instance(cls, **kwargs: Any) -> StacAPI | None:
        """For SENSOR_REGISTRY: a STAC API joins an aggregate only when ``stac_url`` is given."""
        url = kwargs.get("stac_url")
        return cls(url) if url else None


class Copernicus(_ProviderAPI):
    """Copernicus Data Space Ecosystem (OData catalogue, Keycloak tokens, zipper downloads).

    ``Copernicus(user, password)``; without arguments the credentials come from
    ``EOHARVEST_COPERNICUS_USERNAME``/``_PASSWORD``, ``~/.netrc`` (machine
    identity.dataspace.copernicus.eu, mode 0600) or the keyring. Searching needs no account;
    downloading does. Products with ``Online: false`` cannot be ordered through OData and are
    reported as not activatable instead of being polled forever.
    """

    provider_name = "copernicus"
    PLATFORMS = tuple(CDSE_COLLECTIONS)

    def __init__(
        self,
        user: str | None = None,
        password: str | None = None,
        *,
        totp: str | None = None,
        settings: Settings | None = None,
        transport: Any = None,
        catalog: bool = True,
    ) -> None:
        services = build(settings or load_settings(), transport=transport)
        self._wire(services, services.copernicus_source(user, password, totp=totp), catalog=catalog)

    @classmethod
    def create_instance(cls, **kwargs: Any) -> Copernicus | None:
        """For SENSOR_REGISTRY: keywords ``copernicus_username`` and ``copernicus_password``."""
        user, password = kwargs.get("copernicus_username"), kwargs.get("copernicus_password")
        if not (user and password):
            return None
        return cls(user, password, totp=kwargs.get("copernicus_totp"))


SENSOR_REGISTRY = SensorRegistry()
SENSOR_REGISTRY.register(Copernicus, "copernicus")
SENSOR_REGISTRY.register(StacAPI, "stac")


class AggregateSensorAPI(_AggregateSensorAPI):
    """Queries every registered provider whose credentials are given (reference semantics) and
    merges the results, one scene per product across providers."""

    default_registry = SENSOR_REGISTRY
