"""Offline CDSE products as waiting orders, against the loopback CDSE: noted, reported pending at
once, re-checked with ``GET Products(<Id>)`` and downloaded once online."""

from __future__ import annotations

import io
import zipfile

import pytest

from eoharvest import Copernicus, download_all
from eoharvest.adapters.catalog import open_catalog
from eoharvest.domain.orders import OrderFilter
from eoharvest.entrypoints.config import load_settings
import fakes.copernicus_server as cdse_server
from fakes.copernicus_server import CdseFake

NAME = "S2B_MSIL2A_20240604T101559_N0510_R065_T32TMS_20240604T1201{:02d}.SAFE"
AOI = (-79.4, 43.8, -79.3, 43.9)


def safe_zip(product_id: str) -> bytes:
    name = NAME.format(int(product_id[-2:]))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        member = zipfile.ZipInfo(f"{name}/manifest.safe", date_time=(2024, 6, 4, 12, 0, 0))  # same bytes every call
        zf.writestr(member, f"<manifest id='{product_id}'/>")
    return buf.getvalue()


@pytest.fixture
def cdse(monkeypatch):
    monkeypatch.setattr(cdse_server, "product_bytes", lambda product_id, size: safe_zip(product_id))
    with CdseFake() as fake:
        for i, online in ((1, False), (2, True)):
            product_id = f"00000000-aaaa-bbbb-cccc-0000000000{i:02d}"
            fake.add_product(product_id, NAME.format(i), len(safe_zip(product_id)), online=online)
        yield fake


def api_for(fake, tmp_path, **kw):
    settings = load_settings({"cdse_token_url": fake.token_url, "cdse_odata_url": fake.odata_url,
                              "cdse_download_url": fake.download_url, "catalog_path": tmp_path / "catalog.db"},
                             environ={})  # fmt: skip
    return Copernicus(fake.username, fake.password, settings=settings, **kw)


def run(fake, tmp_path):
    with api_for(fake, tmp_path) as api:
        scenes = list(api.scenes(platformname="S2", aoi=AOI, start_date="2024-06-01", end_date="2024-06-10"))
        return download_all(scenes, str(tmp_path / "archive"), activation_wait=1, activation_timeout=600)


def orders(tmp_path):
    with open_catalog(tmp_path / "catalog.db") as catalog:
        return {o.key.product_key: o for o in catalog.find_orders(OrderFilter())}


def test_an_offline_product_is_a_waiting_order_reported_pending_at_once_and_fetched_when_online(cdse, tmp_path):
    first = run(cdse, tmp_path)
    offline = NAME.format(1)[: -len(".SAFE")]
    assert [r.scene.product_key for r in first.results] == [NAME.format(2)[: -len(".SAFE")]]
    assert first.failures == [] and [(p.scene.product_key, p.state) for p in first.pending] == [(offline, "waiting")]
    assert "Copernicus Browser / Data Workspace" in first.pending[0].reason
    assert {key: o.state for key, o in orders(tmp_path).items()} == {offline: "waiting"}
    served = len(cdse.download_auth)
    second = run(cdse, tmp_path)  # still offline: checked, not downloaded
    assert [p.state for p in second.pending] == ["waiting"] and len(cdse.download_auth) == served
    assert any("/Products(00000000-aaaa-bbbb-cccc-000000000001)" in r for r in cdse.catalogue_requests)
    cdse.set_online("00000000-aaaa-bbbb-cccc-000000000001")
    third = run(cdse, tmp_path)
    assert third.pending == [] and [r.scene.product_key for r in third.results if not r.skipped] == [offline]
    assert orders(tmp_path)[offline].state == "downloaded" and orders(tmp_path)[offline].polls == 2
    with open_catalog(tmp_path / "catalog.db") as catalog:
        assert len(catalog.available_files(offline)) == 1


def test_a_product_removed_from_the_catalogue_fails_its_waiting_order(cdse, tmp_path):
    run(cdse, tmp_path)
    cdse.products[:] = [p for p in cdse.products if p["Online"]]
    with api_for(cdse, tmp_path) as api, open_catalog(tmp_path / "catalog.db") as catalog:
        [order] = catalog.find_orders(OrderFilter())
        scene = catalog.get_scene("copernicus", order.scene_id)
        summary = download_all([scene.bind_downloader(api.downloader_factory)], str(tmp_path / "archive"),
                               skip_error=True)  # fmt: skip
    assert "no longer in the CDSE catalogue" in str(summary.failures[0].error)
    assert orders(tmp_path)[order.key.product_key].state == "failed"


def test_without_the_catalog_an_offline_product_is_refused_as_before(cdse, tmp_path):
    with api_for(cdse, tmp_path, catalog=False) as api:
        scenes = list(api.scenes(platformname="S2", aoi=AOI, start_date="2024-06-01", end_date="2024-06-10"))
        summary = download_all(scenes, str(tmp_path / "archive"), skip_error=True)
    assert summary.pending == [] and "Online: false" in str(summary.failures[0].error)
