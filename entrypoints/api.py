"""The public provider classes of the reference API, wired through the composition root.

Each class builds its own adapters with :func:`eoharvest.entrypoints.bootstrap.build` from the
user's settings (config file + ``EOHARVEST_*`` variables) unless ``settings`` is given.
Downloads are verified, resumable, and recorded in the catalog (``catalog=False`` to skip it).
``SENSOR_REGISTRY`` is derived from the provider table: every entry's ``public_classes``.
"""

from __future__ import annotations

import contextlib
import dataclasses
from typing import Any, Callable, Iterable, Iterator

from eoharvest.adapters.clock import SystemClock
from eoharvest.adapters.providers.links.source import NAME as LINKS
from eoharvest.adapters.providers.table import PROVIDERS, provider_names, spec_for
from eoharvest.adapters.providers.usgs.datasets import DATASETS as USGS_DATASETS
from eoharvest.application import downloading as _downloading
from eoharvest.application.aggregate import AggregateSensorAPI as _AggregateSensorAPI
from eoharvest.application.registry import SensorRegistry
from eoharvest.application.sensor_api import SourceBackedSensorAPI
from eoharvest.application.settings import Settings
from eoharvest.domain.models import Scene
from eoharvest.domain.ports import Clock, Credentials, Progress
from eoharvest.entrypoints.bootstrap import Services, build
from eoharvest.entrypoints.config import load_settings


class _ProviderAPI(SourceBackedSensorAPI):
    """Common plumbing: build the Services, connect the provider, close them with the API."""

    provider_name: str
    _services: Services

    def _wire(
        self, settings: Settings | None, transport: Any, *, catalog: bool, progress: Progress | None, **connect: Any
    ) -> None:
        services = build(settings or load_settings(), transport=transport)
        self._services = services
        source = services.connect(self.provider_name, **connect)
        downloads = services.scene_downloads(use_catalog=catalog, progress=progress)
        # Orders live in the catalog: without it, products that need one are refused.
        orders = services.order_book() if catalog else None
        super().__init__(
            source,
            aoi_reader=services.vector_reader,
            downloader_factory=_downloading.source_downloader_factory(
                source, downloads, orders, services.download_budget(source.name)
            ),
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
    ``progress(file_name, bytes_done, total_or_None)`` is called as bytes arrive.
    """

    provider_name = "stac"
    PLATFORMS = spec_for("stac").platforms

    def __init__(
        self,
        url: str | None = None,
        *,
        settings: Settings | None = None,
        transport: Any = None,
        catalog: bool = True,
        name: str | None = None,
        progress: Progress | None = None,
    ) -> None:
        if name is not None:
            self.provider_name = name  # a provider-table entry: earth-search, planetary-computer, ...
            spec_for(name)
        self._wire(settings, transport, catalog=catalog, progress=progress, url=url)

    @classmethod
    def create_instance(cls, **kwargs: Any) -> StacAPI | None:
        """For SENSOR_REGISTRY: a STAC API joins an aggregate only when ``stac_url`` is given."""
        url = kwargs.get("stac_url")
        return cls(url) if url else None

    @classmethod
    def instance_keywords(cls) -> frozenset[str]:
        """The keywords :meth:`create_instance` takes."""
        return frozenset({"stac_url"})


class CredentialedAPI(_ProviderAPI):
    """A provider whose downloads (or searches) need an account: ``Cls(user, password)``.

    Without arguments the credentials come from ``EOHARVEST_<PROVIDER>_USERNAME``/``_PASSWORD``
    (``_API_KEY`` for key-based providers), the netrc entry of the provider's login host (mode
    0600) or the keyring. Other keyword arguments are the provider's own connection options.
    """

    def __init__(
        self,
        user: str | None = None,
        password: str | None = None,
        *,
        settings: Settings | None = None,
        transport: Any = None,
        catalog: bool = True,
        progress: Progress | None = None,
        **options: Any,
    ) -> None:
        explicit = Credentials(user, password, "arguments") if password else None
        self._wire(settings, transport, catalog=catalog, progress=progress, credentials=explicit, **options)

    @classmethod
    def create_instance(cls, **kwargs: Any) -> CredentialedAPI | None:
        """For SENSOR_REGISTRY: the credential keywords of the provider's table entry (e.g.
        ``copernicus_username``/``copernicus_password``); ``<provider>_<option>`` keywords are
        passed on as connection options (e.g. ``copernicus_totp``)."""
        spec = spec_for(cls.provider_name)
        assert spec.credentials is not None
        values = [kwargs.get(name) for name in spec.credentials.kwargs]
        if not values or not values[-1]:
            return None
        user = values[0] if len(values) > 1 else None
        prefix = f"{spec.credentials.key}_"
        options = {
            key[len(prefix):]: value for key, value in kwargs.items()
            if key in cls.instance_keywords() and key not in spec.credentials.kwargs and value is not None
        }  # fmt: skip
        return cls(user, values[-1], **options)

    @classmethod
    def instance_keywords(cls) -> frozenset[str]:
        """The keywords :meth:`create_instance` takes: the provider's credential keywords and
        ``<provider>_<option>`` for each connection option of its ``connect``."""
        spec = spec_for(cls.provider_name)
        assert spec.credentials is not None
        prefix = f"{spec.credentials.key}_"
        return frozenset(spec.credentials.kwargs) | {prefix + name for name in spec.connect_options()}


class Copernicus(CredentialedAPI):
    """Copernicus Data Space Ecosystem (OData catalogue, Keycloak tokens, zipper downloads).

    ``Copernicus(user, password, totp=None)``; without arguments the credentials come from
    ``EOHARVEST_COPERNICUS_USERNAME``/``_PASSWORD``, ``~/.netrc`` (machine
    identity.dataspace.copernicus.eu, mode 0600) or the keyring. Searching needs no account;
    downloading does. Products with ``Online: false`` cannot be ordered through CDSE's APIs:
    ``download_all`` reports them in ``summary.pending`` (a ``waiting`` order in the catalog) and
    a later run or the daemon downloads them once they are online. With ``catalog=False`` they
    are refused as not activatable.
    """

    provider_name = "copernicus"
    PLATFORMS = spec_for("copernicus").platforms


class Planet(CredentialedAPI):
    """Planet Data API v1 (PlanetScope, SkySat, RapidEye): ``Planet(api_key)``.

    Without ``api_key`` the key comes from ``EOHARVEST_PLANET_API_KEY``, ``PL_API_KEY``,
    ``PL_AUTH_API_KEY``, the netrc entry of api.planet.com, the keyring (service
    ``eoharvest-planet``) or the Planet CLI's ``~/.planet.json``; it is sent to the Data API only,
    never to the storage host downloads are redirected to. Platforms are ``PlanetScope``
    (``PSScene``), ``SkySat`` and ``RapidEye``; ``product_type`` picks item types (``SkySatScene``).
    Assets must be activated before they are downloaded: ``download_all(...,
    activation_wait=...)`` activates the item type's default asset (``ortho_analytic_4b_sr`` for
    PSScene) or the ``assets=[...]`` named, follows each activation as an order in the catalog
    (a later run never activates an asset again while it is activating) and downloads it once
    active, MD5-verified.
    """

    provider_name = "planet"
    PLATFORMS = spec_for("planet").platforms

    def __init__(
        self,
        api_key: str | None = None,
        *,
        settings: Settings | None = None,
        transport: Any = None,
        catalog: bool = True,
        progress: Progress | None = None,
        **options: Any,
    ) -> None:
        super().__init__(None, api_key, settings=settings, transport=transport, catalog=catalog, progress=progress,
                         **options)  # fmt: skip

    @classmethod
    def create_instance(cls, **kwargs: Any) -> Planet | None:
        """For SENSOR_REGISTRY: ``planet_api_key`` (reference API); ``planet_<option>`` keywords
        are passed on as connection options (e.g. ``planet_page_size``)."""
        key = kwargs.get("planet_api_key")
        if not key:
            return None
        options = {name[len("planet_"):]: value for name, value in kwargs.items()
                   if name in cls.instance_keywords() and name != "planet_api_key" and value is not None}  # fmt: skip
        return cls(key, **options)



class _Usgs(CredentialedAPI):
    """USGS EarthExplorer M2M: Landsat Collection 2 Level-2 (surface reflectance and temperature).

    ``UsgsOt(username, token)``: the second argument (``usgs_password`` in ``create_instance``,
    ``usgs_token`` accepted too) is an M2M *application token* created in the ERS profile, not
    the account password (USGS retired password login in 2025). Without arguments they come
    from ``EOHARVEST_USGS_USERNAME`` with ``EOHARVEST_USGS_PASSWORD`` or ``EOHARVEST_USGS_TOKEN``,
    ``~/.netrc`` (machine m2m.cr.usgs.gov, mode 0600) or the keyring. Searching needs them too.
    Every download is requested from USGS first (``download-request``, an order in the
    catalog) and fetched when ready: ``download_all(..., activation_wait=...)`` waits for it,
    and a later run or the daemon picks up what was still being prepared. ``assets=[...]``
    takes band files by their Earth Search names (``red``, ``nir08``, ``qa_pixel``,
    ``mtl.json``, ...) instead of the whole ``.tar`` bundle.
    """

    provider_name = "usgs"
    DATASET = ""

    def __init__(self, user: str | None = None, password: str | None = None, **options: Any) -> None:
        options.setdefault("dataset", self.DATASET)
        super().__init__(user, password, **options)

    @classmethod
    def create_instance(cls, **kwargs: Any) -> CredentialedAPI | None:
        """For SENSOR_REGISTRY: ``usgs_username`` with ``usgs_password`` (the application token)
        or its alias ``usgs_token``."""
        if kwargs.get("usgs_token") and not kwargs.get("usgs_password"):
            kwargs = {**kwargs, "usgs_password": kwargs["usgs_token"]}
        kwargs.pop("usgs_token", None)
        return super().create_instance(**kwargs)

    @classmethod
    def instance_keywords(cls) -> frozenset[str]:
        return (super().instance_keywords() - {"usgs_dataset"}) | {"usgs_token"}


class UsgsTm(_Usgs):
    __doc__ = "Landsat 4-5 TM, Collection 2 Level-2 (``landsat_tm_c2_l2``). " + (_Usgs.__doc__ or "")
    DATASET = "landsat_tm_c2_l2"
    PLATFORMS = USGS_DATASETS[DATASET]


class UsgsEtm(_Usgs):
    __doc__ = "Landsat 7 ETM+, Collection 2 Level-2 (``landsat_etm_c2_l2``). " + (_Usgs.__doc__ or "")
    DATASET = "landsat_etm_c2_l2"
    PLATFORMS = USGS_DATASETS[DATASET]


class UsgsOt(_Usgs):
    __doc__ = "Landsat 8-9 OLI/TIRS, Collection 2 Level-2 (``landsat_ot_c2_l2``). " + (_Usgs.__doc__ or "")
    DATASET = "landsat_ot_c2_l2"
    PLATFORMS = USGS_DATASETS[DATASET]


#: Public classes written out here; any other name in the table gets a generated class.
_WRITTEN = {cls.__name__: cls for cls in (StacAPI, Copernicus, UsgsTm, UsgsEtm, UsgsOt, Planet)}


def public_class(name: str) -> type[_ProviderAPI]:
    """The public class ``name`` of a provider-table entry (generated on first use)."""
    if name not in _WRITTEN:
        spec = next((s for s in PROVIDERS if name in s.public_classes), None)
        if spec is None:
            raise AttributeError(name)
        if spec.credentials is None:
            raise TypeError(f"{name}: only providers with credentials get a generated class")
        doc = f"{spec.summary}. {CredentialedAPI.__doc__}"
        attributes = {"provider_name": spec.name, "PLATFORMS": spec.platforms, "__doc__": doc, "__module__": __name__}
        _WRITTEN[name] = type(name, (CredentialedAPI,), attributes)
    return _WRITTEN[name]


def _registry() -> SensorRegistry:
    registry = SensorRegistry()
    for spec in PROVIDERS:
        for class_name in spec.public_classes:
            # a family of classes on one provider (USGS) registers each class by its name
            registry.register(public_class(class_name), spec.name if len(spec.public_classes) == 1 else class_name)
    return registry


SENSOR_REGISTRY = _registry()


class AggregateSensorAPI(_AggregateSensorAPI):
    """Queries every registered provider whose credentials are given (reference semantics) and
    merges the results, one scene per product across providers."""

    default_registry = SENSOR_REGISTRY


class _Binder:
    """Binds scenes that have no downloader yet, as they are pulled: a scene the user built from
    its download links (no provider) goes to the ``links`` provider (recorded in the catalog
    under that name), a scene of a table provider (e.g. read back from the catalog) to that
    provider's source. Services are built on first need and closed by :meth:`close`."""

    def __init__(self, settings: Settings | None, *, catalog: bool) -> None:
        self._settings = settings
        self._catalog = catalog
        self._services: Services | None = None
        self._factories: dict[str, Callable[..., Any]] = {}

    def __call__(self, scenes: Iterable[Scene]) -> Iterator[Scene]:
        for scene in scenes:
            yield self.bind(scene)

    def bind(self, scene: Scene) -> Scene:
        if scene.bound:
            return scene
        provider = scene.provider or (LINKS if scene.download_links else "")
        if provider not in provider_names():
            return scene  # download_all reports it as not bound to a provider
        if provider != scene.provider:
            scene = dataclasses.replace(scene, provider=provider)
        return scene.bind_downloader(self._factory(provider))

    def _factory(self, provider: str) -> Callable[..., Any]:
        if provider not in self._factories:
            if self._services is None:
                self._services = build(self._settings or load_settings())
            services = self._services
            downloads = services.scene_downloads(use_catalog=self._catalog)
            self._factories[provider] = services.downloader_factory(services.source_for(provider), downloads)
        return self._factories[provider]

    def close(self) -> None:
        if self._services is not None:
            self._services.close()
            self._services = None


class BulkDownloader(_downloading.BulkDownloader):
    __doc__ = (_downloading.BulkDownloader.__doc__ or "") + """
    Scenes without a downloader are bound here: one built from its download links (no provider)
    downloads them through the verified transfer engine without credentials, recorded in the
    catalog under provider ``links`` (``catalog=False``: not recorded); one of a known provider
    (e.g. read from the catalog) downloads through that provider. ``settings`` default to the
    user's (config file and ``EOHARVEST_*``).
    """

    def __init__(
        self,
        scenes: Iterable[Scene],
        scene_filter: Callable[[Scene], bool] | None = None,
        *,
        clock: Clock | None = None,
        settings: Settings | None = None,
        catalog: bool = True,
    ) -> None:
        super().__init__(scenes, scene_filter, clock=clock or SystemClock())
        self._settings = settings
        self._catalog = catalog

    @contextlib.contextmanager
    def _bound(self) -> Iterator[None]:
        binder = _Binder(self._settings, catalog=self._catalog)
        original = self.scenes
        self.scenes = binder(original)
        try:
            yield
        finally:
            self.scenes = original
            binder.close()

    def download_all(self, *args: Any, **kwargs: Any) -> _downloading.DownloadSummary:
        with self._bound():
            return super().download_all(*args, **kwargs)

    def download_all_async(self, *args: Any, **kwargs: Any) -> _downloading.DownloadSummary:
        with self._bound():
            return super().download_all_async(*args, **kwargs)


def download_all(
    scenes: Iterable[Scene],
    outdir: str,
    overwrite: bool = False,
    skip_error: bool = False,
    scene_filter: Callable[[Scene], bool] | None = None,
    use_threads: bool = True,
    cancel_requested: Callable[[], bool] | None = None,
    *,
    clock: Clock | None = None,
    settings: Settings | None = None,
    catalog: bool = True,
    **extra_params: Any,
) -> _downloading.DownloadSummary:
    binder = _Binder(settings, catalog=catalog)
    try:
        return _downloading.download_all(
            binder(scenes), outdir, overwrite, skip_error, scene_filter, use_threads, cancel_requested,
            clock=clock or SystemClock(), **extra_params,
        )  # fmt: skip
    finally:
        binder.close()


download_all.__doc__ = (_downloading.download_all.__doc__ or "") + """
    A scene built by the user from its download links (``Scene(platform, scene_id, footprint,
    acq_date, cloud, download_links, filenames, raw)``, no provider) is downloaded through the
    verified transfer engine (resume, size and checksum checks when the scene gives them, atomic
    rename, retries) without credentials to any host, and recorded in the catalog under provider
    ``links`` (``catalog=False``: not recorded). Private and loopback hosts are refused unless
    ``[http] allow_private_targets`` is set. A scene of a known provider read back from the
    catalog downloads through that provider. ``settings`` default to the user's.
    """


def __getattr__(name: str) -> Any:
    # Generated public classes (provider-table entries without a written-out class).
    try:
        return public_class(name)
    except (AttributeError, TypeError):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
