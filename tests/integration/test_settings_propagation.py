"""`[http] max_retries` reaches every HTTP client the composition root builds, with one meaning:
``max_retries`` retries = ``max_retries + 1`` attempts, for STAC search, CDSE search, CDSE token
requests, Planetary Computer signing and downloads alike."""

from collections import Counter
from dataclasses import replace

import httpx
import pytest

from eoharvest.adapters.credentials import LayeredCredentials
from eoharvest.application.settings import Endpoints, HttpSettings, Settings
from eoharvest.domain.errors import AuthError, EoharvestError, ProviderResponseError, RetryExhausted
from eoharvest.domain.models import DownloadDescriptor
from eoharvest.domain.ports import Credentials
from eoharvest.domain.query import SearchQuery
from eoharvest.entrypoints.bootstrap import build
from fakes import FakeClock

BASE = "http://127.0.0.1:9"
ENDPOINTS = Endpoints(
    stac_url=f"{BASE}/stac",
    planetary_computer_url=f"{BASE}/pc",
    planetary_computer_sas_url=f"{BASE}/sas",
    cdse_token_url=f"{BASE}/token",
    cdse_odata_url=f"{BASE}/odata",
    cdse_download_url=f"{BASE}/zipper",
    cdse_stac_url=f"{BASE}/cdse-stac",
)


class AlwaysUnavailable:
    """Answers 503 to everything and counts requests by first path segment."""

    def __init__(self):
        self.hits = Counter()

    def __call__(self, request):
        self.hits[request.url.path.strip("/").split("/")[0]] += 1
        return httpx.Response(503, headers={"Content-Type": "text/plain"}, text="busy")


def services_with(max_retries, tmp_path):
    server = AlwaysUnavailable()
    settings = Settings(
        catalog_path=tmp_path / "catalog.db",
        endpoints=ENDPOINTS,
        http=replace(HttpSettings(), max_retries=max_retries, allow_private_targets=True),
    )
    # A user per test: CDSE token sources are shared process-wide per (endpoint, user).
    store = LayeredCredentials(explicit={"copernicus": Credentials(f"u-{tmp_path.name}", "p")}, environ={}, home=tmp_path,
                               keyring_module=False)
    services = build(settings, transport=httpx.MockTransport(server), clock=FakeClock(), credentials=store)
    return services, server


def fails(call):
    with pytest.raises(EoharvestError) as info:
        call()
    assert isinstance(info.value, (RetryExhausted, ProviderResponseError, AuthError))


@pytest.mark.parametrize("max_retries", [0, 2])
def test_max_retries_means_the_same_attempt_count_for_every_client(max_retries, tmp_path):
    services, server = services_with(max_retries, tmp_path)
    attempts = max_retries + 1
    query = SearchQuery.create(platforms=("Sentinel-2",))
    with services:
        fails(lambda: services.connect("earth-search").search_page(query, None))
        fails(lambda: services.connect("copernicus").search_page(query, None))
        copernicus = services.connect("copernicus")
        fails(lambda: copernicus.tokens.access_token())
        pc = services.connect("planetary-computer")
        fails(lambda: pc.signer("https://account.blob.core.windows.net/container/item.tif"))
        descriptor = DownloadDescriptor(f"{BASE}/files/x.tif", "x.tif", size=10)
        fails(lambda: services.transfers().fetch("earth-search", descriptor, str(tmp_path / "x.tif")))
    assert server.hits == {"stac": attempts, "odata": attempts, "token": attempts, "sas": attempts,
                           "files": attempts}
    assert not (tmp_path / "x.tif").exists()


def test_download_limits_come_from_the_settings_capped_by_the_provider_table(tmp_path):
    services, _ = services_with(1, tmp_path)
    download = replace(services.settings.download, max_workers=7, per_provider_limit=6)
    services.settings = replace(services.settings, download=download)
    limits = services.download_limits()
    assert (limits.max_workers, limits.max_per_provider) == (7, 6)
    assert limits.provider_limits["copernicus"] == 4  # CDSE's own cap per account
    assert services.download_limits(workers=2).max_workers == 2


def test_every_sensor_api_of_one_process_shares_the_download_service(tmp_path):
    # One service means one set of per-product locks: the same product found at two providers
    # (a daemon pass runs searches of several providers in threads) is never fetched twice at once.
    services, _ = services_with(1, tmp_path)
    with services:
        earth = services.sensor_api(services.connect("earth-search"))
        cdse = services.sensor_api(services.connect("cdse-stac"))
        assert services.scene_downloads() is services.scene_downloads()
        assert earth.downloader_factory is not cdse.downloader_factory
        progress_service = services.scene_downloads(progress=lambda *a: None)
        assert progress_service is not services.scene_downloads()
