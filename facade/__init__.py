"""eoharvest: search, download and catalog satellite imagery.

The public API follows the pci.downloaders design: a provider (``StacAPI``, ...) gives
``scenes(...)``, a lazily paginating :class:`SearchIterator`; each :class:`Scene` has a
``downloader()``; :func:`download_all` and :class:`BulkDownloader` fetch many scenes with
verification, resumption and de-duplication against the catalog.
"""

from eoharvest.application.downloading import (
    BulkDownloader,
    Downloader,
    DownloadSummary,
    download_all,
)
from eoharvest.application.sensor_api import Scenes, SearchIterator, SensorAPI, SensorWebAPI
from eoharvest.domain.errors import (
    AuthError,
    CatalogBusy,
    CatalogError,
    DownloadCancelled,
    DownloadError,
    EoharvestError,
    InputError,
    InsufficientSpace,
    IntegrityError,
    ProviderResponseError,
    RetryExhausted,
    TooSlow,
    UnsafeArchive,
    UnsafeContent,
    UnsafeFilename,
    UnsafeURL,
    UnsupportedEnvironment,
)
from eoharvest.domain.footprint import Footprint
from eoharvest.domain.models import Checksum, DownloadResult, FailedDownload, Scene
from eoharvest.domain.query import SearchQuery
from eoharvest.entrypoints.api import SENSOR_REGISTRY, AggregateSensorAPI, Copernicus, StacAPI

__version__ = "0.1.0"

__all__ = [
    "AggregateSensorAPI",
    "AuthError",
    "BulkDownloader",
    "CatalogBusy",
    "CatalogError",
    "Checksum",
    "Copernicus",
    "DownloadCancelled",
    "DownloadError",
    "DownloadResult",
    "DownloadSummary",
    "Downloader",
    "EoharvestError",
    "FailedDownload",
    "Footprint",
    "InputError",
    "InsufficientSpace",
    "IntegrityError",
    "ProviderResponseError",
    "RetryExhausted",
    "SENSOR_REGISTRY",
    "Scene",
    "Scenes",
    "SearchIterator",
    "SearchQuery",
    "SensorAPI",
    "SensorWebAPI",
    "StacAPI",
    "TooSlow",
    "UnsafeArchive",
    "UnsafeContent",
    "UnsafeFilename",
    "UnsafeURL",
    "UnsupportedEnvironment",
    "download_all",
]
