"""Saved-search passes over the real wiring (provider table, sources, catalog) against loopback
providers, with a clock the test controls: the publication-time watermark finds late
publications, offline products do not hold the watermark, and a search's own STAC URL is used."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime, timedelta, timezone
from urllib.parse import unquote

import pytest
from fakes import FakeClock
from fakes.stac_growing import GrowingStacServer

import fakes.copernicus_server as cdse_server
from eoharvest.domain.watch import WatchDefinition, parse_interval
from eoharvest.entrypoints.bootstrap import build
from eoharvest.entrypoints.config import load_settings
from eoharvest.entrypoints.sync_wiring import sync_service
from fakes.copernicus_server import CdseFake

NAME = "S2B_MSIL2A_202406{day:02d}T101559_N0510_R065_T32TMS_202406{day:02d}T1201{n:02d}.SAFE"
AOI = {"type": "Polygon", "coordinates": [[[-79.4, 43.8], [-79.3, 43.8], [-79.3, 43.9], [-79.4, 43.9], [-79.4, 43.8]]]}
NOW = datetime(2024, 6, 6, 12, tzinfo=timezone.utc)


def safe_zip(product_id: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(zipfile.ZipInfo(f"p{product_id[-2:]}.SAFE/manifest.safe", date_time=(2024, 6, 4, 12, 0, 0)),
                    f"<manifest id='{product_id}'/>")  # fmt: skip
    return buf.getvalue()


@pytest.fixture
def cdse(monkeypatch):
    monkeypatch.setattr(cdse_server, "product_bytes", lambda product_id, size: safe_zip(product_id))
    with CdseFake() as fake:
        monkeypatch.setenv("EOHARVEST_COPERNICUS_USERNAME", fake.username)
        monkeypatch.setenv("EOHARVEST_COPERNICUS_PASSWORD", fake.password)
        yield fake


def add(fake, n, day, published_day, *, online=True):
    product_id = f"00000000-aaaa-bbbb-cccc-0000000000{n:02d}"
    name = NAME.format(day=day, n=n)
    fake.add_product(product_id, name, len(safe_zip(product_id)), online=online,
                     start=f"2024-06-{day:02d}T10:15:59.024000Z", published=f"2024-06-{published_day:02d}T15:00:00.000000Z")  # fmt: skip
    return product_id, name[: -len(".SAFE")]


@pytest.fixture
def services_for(tmp_path):
    built = []

    def make(clock, **endpoints):
        settings = load_settings({"catalog_path": tmp_path / "catalog.db", "download_dir": tmp_path / "archive",
                                  **endpoints}, environ={})  # fmt: skip
        built.append(build(settings, clock=clock))
        return built[-1]

    yield make
    for services in built:
        services.close()


@pytest.fixture
def cdse_services(cdse, services_for):
    return lambda clock: services_for(clock, cdse_token_url=cdse.token_url, cdse_odata_url=cdse.odata_url,
                                      cdse_download_url=cdse.download_url)  # fmt: skip


def save(services, name, **fields):
    values = {"provider": "copernicus", "platforms": ("Sentinel-2",), "aoi": AOI, "every": parse_interval("1h"),
              "since": datetime(2024, 6, 1, tzinfo=timezone.utc), **fields}  # fmt: skip
    services.catalog().save_search(name, WatchDefinition(**values).to_json())


def filters(fake):
    return [unquote(r) for r in fake.catalogue_requests if "/Products?" in r]


def test_a_cdse_scene_published_five_days_after_its_acquisition_is_found_by_the_next_pass(cdse, cdse_services):
    clock = FakeClock(NOW)
    add(cdse, 1, 4, 4)
    services = cdse_services(clock)
    save(services, "cdse", download=False)
    service = sync_service(services)
    first = service.run_now("cdse")
    assert first.status == "ok" and first.result.report.new == 1
    state = services.catalog().search_states()["cdse"]
    assert (state.watermark, state.watermark_kind) == (datetime(2024, 6, 4, 15, tzinfo=timezone.utc), "published")
    # Acquired on 1 June, published 5 days later (a reprocessed baseline, say): older than the
    # newest acquisition minus the overlap, so an acquisition window (from 2 June) misses it.
    _, late = add(cdse, 2, 1, 6)
    clock.advance(2 * 86400)
    second = service.run_now("cdse")
    assert second.status == "ok" and second.result.report.new == 1
    assert services.catalog().get_scene("copernicus", late) is not None
    assert "PublicationDate ge 2024-06-02T15:00:00.000000Z" in filters(cdse)[-1]
    assert "ContentDate/Start ge 2024-06-01T00:00:00.000000Z" in filters(cdse)[-1]  # the search's own start
    assert services.catalog().search_states()["cdse"].watermark == datetime(2024, 6, 6, 15, tzinfo=timezone.utc)


def test_an_offline_product_does_not_hold_the_watermark_and_is_downloaded_when_it_comes_online(cdse, cdse_services, tmp_path):
    clock = FakeClock(NOW)
    offline_id, offline = add(cdse, 1, 3, 3, online=False)
    _, online = add(cdse, 2, 4, 4)
    services = cdse_services(clock)
    save(services, "cdse")
    service = sync_service(services)
    first = service.run_now("cdse")
    assert first.status == "ok" and [p.scene.product_key for p in first.result.report.pending] == [offline]
    state = services.catalog().search_states()["cdse"]
    assert (state.failures, state.watermark) == (0, datetime(2024, 6, 4, 15, tzinfo=timezone.utc))
    assert (tmp_path / "archive" / online).is_dir() and not (tmp_path / "archive" / offline).exists()
    _, newer = add(cdse, 3, 6, 6)
    clock.advance(86400)
    second = service.run_now("cdse")  # still offline: checked again, still waiting
    assert second.status == "ok" and [p.state for p in second.result.report.pending] == ["waiting"]
    assert services.catalog().search_states()["cdse"].watermark == datetime(2024, 6, 6, 15, tzinfo=timezone.utc)
    cdse.set_online(offline_id)
    clock.advance(86400)
    third = service.run_now("cdse")  # outside the window now: followed as a waiting order
    assert third.status == "ok" and third.result.report.pending == []
    assert (tmp_path / "archive" / offline).is_dir()
    assert len(services.catalog().available_files(offline)) == 1


def test_a_saved_search_runs_against_its_own_stac_url_not_the_configured_one(services_for):
    clock = FakeClock(datetime(2025, 8, 10, tzinfo=timezone.utc))
    with GrowingStacServer() as configured, GrowingStacServer() as own:
        own.publish(1)
        configured.publish(2)
        services = services_for(clock, stac_url=configured.url)
        save(services, "own", provider="stac", stac_url=own.url, since=None, download=False)
        outcome = sync_service(services).run_now("own")
        assert outcome.status == "ok" and outcome.result.report.new == 1
        assert len(own.searches) == 1 and configured.searches == []
        state = services.catalog().search_states()["own"]
        assert state.watermark_kind == "acquired"  # a STAC server not known to filter on `updated`
