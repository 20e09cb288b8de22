"""Settings are data: one frozen dataclass, loaded once at the edge (entrypoints/config.py).

Every provider endpoint is a setting so the same code can be pointed at another server
(a mirror, a test server on loopback). Secrets are not settings: they come from the
credentials provider.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Mapping

from eoharvest.domain.catalog_location import CatalogLocation, CatalogUrl

__all__ = ["CatalogLocation", "CatalogUrl"]  # re-exported: adapters import settings from here



@dataclass(frozen=True)
class Endpoints:
    """Base URLs of every provider API eoharvest talks to."""

    stac_url: str = "https://earth-search.aws.element84.com/v1"
    planetary_computer_url: str = "https://planetarycomputer.microsoft.com/api/stac/v1"
    planetary_computer_sas_url: str = "https://planetarycomputer.microsoft.com/api/sas/v1"
    cdse_token_url: str = (
        "https://identity.dataspace.copernicus.eu/auth/realms/CDSE/protocol/openid-connect/token"
    )
    cdse_odata_url: str = "https://catalogue.dataspace.copernicus.eu/odata/v1"
    cdse_download_url: str = "https://download.dataspace.copernicus.eu/odata/v1"
    cdse_stac_url: str = "https://stac.dataspace.copernicus.eu/v1"
    cmr_url: str = "https://cmr.earthdata.nasa.gov/search"
    earthdata_login_url: str = "https://urs.earthdata.nasa.gov"
    usgs_m2m_url: str = "https://m2m.cr.usgs.gov/api/api/json/stable"
    planet_url: str = "https://api.planet.com/data/v1"


@dataclass(frozen=True)
class HttpSettings:
    """Timeouts and limits for every HTTP exchange."""

    connect_timeout: float = 20.0
    read_timeout: float = 60.0
    max_retries: int = 5
    retry_max_seconds: float = 900.0
    retry_after_cap: float = 900.0
    #: a download slower than this many bytes/s over a whole throughput_window is cut off
    min_throughput_bytes: int = 1024
    throughput_window: float = 20.0
    #: seconds one file may lose to failed attempts (stalls, trickles, refused connections,
    #: backoff) before it fails; the rest of the run goes on. Waits a server asks for with
    #: Retry-After are not counted (retry_max_seconds bounds them).
    failure_budget: float = 60.0
    #: a download host failing this many times in a row within host_failure_window seconds
    #: gets no requests for host_pause seconds (0: never paused); other hosts go on
    host_pause_after_failures: int = 5
    host_failure_window: float = 60.0
    host_pause: float = 60.0
    max_redirects: int = 10
    # Loopback/private download targets handed out by a provider whose endpoint is public are
    # refused; a provider configured on loopback or a LAN may hand them out.
    allow_private_targets: bool = False
    ca_bundle: str | None = None
    # A proxy for every request (EOHARVEST_PROXY). HTTPS_PROXY and .netrc are deliberately not
    # picked up implicitly (trust_env=False), so credentials never travel by accident.
    proxy: str | None = None


@dataclass(frozen=True)
class DownloadSettings:
    directory: Path = Path("eoharvest-data")
    max_workers: int = 4
    per_provider_limit: int = 4
    keep_archives: bool = True
    #: must stay free on the archive's filesystem: checked before and while a file is written
    free_space_margin_bytes: int = 512 * 1024 * 1024
    #: the most a file whose size the provider's metadata does not give may grow to; a transfer
    #: past it is stopped and its partial removed (an endless or hostile body)
    max_unknown_size_bytes: int = 50 * 1024**3
    #: concurrent downloads of one provider account, by provider name (``{links = 4}``): held
    #: across every daemon and run of a PostgreSQL catalog, per process on SpatiaLite. Sets a
    #: budget where the provider table declares none and can only lower a declared one (CDSE: 4).
    provider_budgets: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class SearchSettings:
    """How providers page through search results."""

    # NASA CMR granules per page (CMR allows 1..2000; fewer pages, each a larger answer).
    cmr_page_size: int = 2000


@dataclass(frozen=True)
class Settings:
    """Everything configurable. Build with :func:`eoharvest.entrypoints.config.load_settings`."""

    #: a SpatiaLite file, or a PostgreSQL/PostGIS database given as a ``postgresql://`` URL
    catalog_path: Path | CatalogUrl = Path("catalog.db")
    config_file: Path | None = None
    log_level: str = "WARNING"
    log_json: bool = False
    endpoints: Endpoints = field(default_factory=Endpoints)
    http: HttpSettings = field(default_factory=HttpSettings)
    download: DownloadSettings = field(default_factory=DownloadSettings)
    search: SearchSettings = field(default_factory=SearchSettings)

    def as_dict(self) -> dict[str, Any]:
        """A plain nested dict (for `eoharvest config show`); holds no secrets by design."""
        result: dict[str, Any] = _to_dict(self)
        return result


def _to_dict(obj: Any) -> Any:
    if hasattr(obj, "__dataclass_fields__"):
        return {f.name: _to_dict(getattr(obj, f.name)) for f in fields(obj)}
    if isinstance(obj, (Path, CatalogUrl)):
        return str(obj)  # a CatalogUrl prints without its password
    if isinstance(obj, Mapping):
        return {k: _to_dict(v) for k, v in obj.items()}
    return obj
