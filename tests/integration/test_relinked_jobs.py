"""A daemon that takes over a queued job whose recorded link was masked (it carried a secret)
asks the provider for the file's link again: loopback Planetary Computer (tests/fakes/
planetary_server.py), whose blob host refuses unsigned links. Daemon A queues the file and
claims it, then dies; its lease runs out; daemon B, with only the catalog's masked link,
completes the file in the same pass. The SAS signature never reaches the catalog or the logs."""

from __future__ import annotations

import logging
import time
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import MetaData, select

from eoharvest.domain.catalog_location import CatalogUrl
from eoharvest.domain.redaction import MASK
from eoharvest.entrypoints.bootstrap import build
from eoharvest.entrypoints.config import load_settings
from eoharvest.entrypoints.daemon_queue import QueueSettings, SharedDaemon
from eoharvest.entrypoints.sync_wiring import ProviderSearches
from fakes.planetary_server import pc  # noqa: F401 - the fixture

LEASE = 0.3


@pytest.fixture(params=["spatialite", "postgis"])
def location(request, tmp_path):
    if request.param == "spatialite":
        return tmp_path / "catalog.db"
    return CatalogUrl(request.getfixturevalue("postgis_url"))


def daemon(pc, location, archive):
    settings = load_settings({"planetary_computer_url": f"{pc.base}/api/stac/v1",
                              "planetary_computer_sas_url": f"{pc.base}/api/sas/v1",
                              "catalog_path": location, "download_dir": archive}, environ={})  # fmt: skip
    services = build(settings)
    return services, SharedDaemon(services, QueueSettings(workers=1, lease_seconds=LEASE), queued_downloads=True)


def everything_stored(catalog) -> str:
    """Every value of every table of the catalog, as text."""
    tables = MetaData()
    tables.reflect(catalog.reader, only=lambda name, _: not name.startswith(("idx_", "spatial", "geometry", "sql")))
    with catalog.reader.connect() as conn:
        return "\n".join(repr(tuple(row)) for t in tables.sorted_tables for row in conn.execute(select(t)))


def test_a_taken_over_job_with_a_masked_link_is_linked_again_and_completed(pc, location, tmp_path, caplog):
    pc.refuse_first_token = False
    archive = tmp_path / "archive"
    services_a, a = daemon(pc, location, archive)
    services_b, b = daemon(pc, location, archive)
    try:
        caplog.set_level(logging.DEBUG)
        api = ProviderSearches(services_a, a.fetcher).api("planetary-computer")
        (scene,) = api.scenes(platformname="Sentinel-2", start_date="2019-01-01", end_date="2019-01-02")
        scene.downloader().download(str(archive), assets=["B04"])  # daemon A's pass queues the file
        catalog = services_b.catalog()
        job = a.queue.claim(a.identity.owner, LEASE)
        assert job is not None and job.asset == "B04"
        assert MASK in job.href and "CANARY" not in job.href  # the signed link was recorded masked
        # Daemon A is killed here: its lease runs out, B's heartbeat returns the job to the queue.
        time.sleep(LEASE + 0.1)
        b.workers.beat_once()
        deadline = time.monotonic() + 10
        while (taken := b.queue.claim(b.identity.owner, 30)) is None and time.monotonic() < deadline:
            time.sleep(0.1)  # the backoff after an expired lease
        assert taken is not None and taken.job_id == job.job_id and taken.attempt == 2
        b.workers.run(taken)
        assert b.workers.completed == 1 and b.workers.failed == 0
        (stored,) = catalog.stored_files(scene.product_key)
        served = urlsplit(pc.blob_requests[-1])
        assert parse_qs(served.query)["sig"] == ["CANARY-SIG-2"]  # B signed it again itself (A had token 1)
        with open(stored.local_path, "rb") as f:
            assert f.read() == pc.blob_bytes(served.path)
        assert "CANARY-SIG" not in everything_stored(catalog)
        assert not [r for r in caplog.records if "CANARY-SIG" in r.getMessage()]
    finally:
        services_a.close()
        services_b.close()
