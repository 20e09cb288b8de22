"""eoharvest: search, download and catalog satellite imagery.

The public API follows the pci.downloaders design: a provider (``StacAPI``, ...) gives
``scenes(...)``, a lazily paginating :class:`SearchIterator`; each :class:`Scene` has a
``downloader()``; :func:`download_all` and :class:`BulkDownloader` fetch many scenes with
verification, resumption and de-duplication against the catalog.
"""

import importlib
from typing import Any

# Names are imported on first use (PEP 562), so `import eoharvest.adapters.http...` or the CLI
# do not pay for every provider and the catalog stack at start-up.
_EXPORTS = {
    "BulkDownloader": "eoharvest.entrypoints.api",
    "Downloader": "eoharvest.application.downloading",
    "DownloadSummary": "eoharvest.application.downloading",
    "download_all": "eoharvest.entrypoints.api",
    "Scenes": "eoharvest.application.sensor_api",
    "SearchIterator": "eoharvest.application.sensor_api",
    "SensorAPI": "eoharvest.application.sensor_api",
    "SensorWebAPI": "eoharvest.application.sensor_api",
    "Footprint": "eoharvest.domain.footprint",
    "Checksum": "eoharvest.domain.models",
    "DownloadResult": "eoharvest.domain.models",
    "FailedDownload": "eoharvest.domain.models",
    "Scene": "eoharvest.domain.models",
    "SearchQuery": "eoharvest.domain.query",
    "PendingOrder": "eoharvest.domain.orders",
    "SENSOR_REGISTRY": "eoharvest.entrypoints.api",
    "AggregateSensorAPI": "eoharvest.entrypoints.api",
    "Copernicus": "eoharvest.entrypoints.api",
    "StacAPI": "eoharvest.entrypoints.api",
    **{
        name: "eoharvest.domain.errors"
        for name in (
            "AuthError", "CatalogBusy", "CatalogError", "DownloadCancelled", "DownloadError",
            "EoharvestError", "InputError", "InsufficientSpace", "IntegrityError", "OrdersPending",
            "ProviderResponseError", "RetryExhausted", "TooSlow", "UnsafeArchive", "UnsafeContent",
            "UnsafeFilename", "UnsafeURL", "UnsupportedEnvironment",
        )
    },
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None and name[:1].isupper():
        # A public class of a provider-table entry (eoharvest.entrypoints.api builds it).
        from eoharvest.adapters.providers.table import PROVIDERS

        if any(name in spec.public_classes for spec in PROVIDERS):
            module = "eoharvest.entrypoints.api"
    if module is None:
        raise AttributeError(f"module 'eoharvest' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_EXPORTS))


__version__ = "0.1.0"

__all__ = sorted(_EXPORTS)
