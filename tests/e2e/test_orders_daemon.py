"""A CDSE product that is offline when a saved search first finds it is followed as a waiting
order and downloaded by the daemon pass after it comes online (daemon as a subprocess, CDSE on
loopback)."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

import fakes.copernicus_server as cdse_server
from fakes.copernicus_server import CdseFake

BIN = Path(sys.executable).with_name("eoharvest")
NAME = "S2B_MSIL2A_20240604T101559_N0510_R065_T32TMS_20240604T1201{:02d}.SAFE"
OFFLINE, ONLINE = "00000000-aaaa-bbbb-cccc-000000000001", "00000000-aaaa-bbbb-cccc-000000000002"


def safe_zip(product_id: str) -> bytes:
    name = NAME.format(int(product_id[-2:]))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        member = zipfile.ZipInfo(f"{name}/manifest.safe", date_time=(2024, 6, 4, 12, 0, 0))
        zf.writestr(member, f"<manifest id='{product_id}'/>")
    return buf.getvalue()


@pytest.fixture
def cdse(monkeypatch):
    monkeypatch.setattr(cdse_server, "product_bytes", lambda product_id, size: safe_zip(product_id))
    with CdseFake() as fake:
        for product_id, online in ((OFFLINE, False), (ONLINE, True)):
            fake.add_product(product_id, NAME.format(int(product_id[-2:])), len(safe_zip(product_id)), online=online)
        yield fake


@pytest.fixture
def env(cdse, tmp_path):
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("EOHARVEST_")},
        "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "EOHARVEST_CATALOG": str(tmp_path / "catalog.db"), "EOHARVEST_DOWNLOAD_DIR": str(tmp_path / "archive"),
        "EOHARVEST_CDSE_TOKEN_URL": cdse.token_url, "EOHARVEST_CDSE_ODATA_URL": cdse.odata_url,
        "EOHARVEST_CDSE_DOWNLOAD_URL": cdse.download_url,
        "EOHARVEST_COPERNICUS_USERNAME": cdse.username, "EOHARVEST_COPERNICUS_PASSWORD": cdse.password,
    }  # fmt: skip


def cli(env, *args):
    return subprocess.run([str(BIN), *args], env=env, capture_output=True, text=True, timeout=60)


def order_states(env):
    result = cli(env, "orders", "list", "--json")
    return {o["product_key"]: o["state"] for o in json.loads(result.stdout)} if result.returncode == 0 else {}


def wait_for(condition, timeout=40.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def test_an_offline_cdse_product_that_comes_online_is_downloaded_by_the_next_daemon_pass(cdse, env, tmp_path):
    added = cli(env, "watch", "add", "cdse", "--provider", "copernicus", "--aoi", "-79.4,43.8,-79.3,43.9",
                "--every", "2s", "--since", "2024-06-01")  # fmt: skip
    assert added.returncode == 0, added.stderr
    offline_key, online_key = NAME.format(1)[: -len(".SAFE")], NAME.format(2)[: -len(".SAFE")]
    archive = tmp_path / "archive"
    log = tmp_path / "daemon.log"
    with open(log, "w") as out:
        daemon = subprocess.Popen([str(BIN), "--log-level", "INFO", "daemon", "--refresh", "0.5"], env=env,
                                  stdout=out, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        assert wait_for(lambda: order_states(env) == {offline_key: "waiting"}
                        and (archive / online_key / f"{NAME.format(2)}.zip").exists()), log.read_text()
        status = json.loads(cli(env, "daemon", "status", "--json").stdout)
        assert status["orders"]["waiting"] == 1 and status["daemon_running"]
        # The offline product is a waiting order, not a failure: the passes succeed and the
        # watermark (publication time at CDSE) moves on.
        assert wait_for(lambda: json.loads(cli(env, "watch", "show", "cdse", "--json").stdout)["watermark"])
        shown = json.loads(cli(env, "watch", "show", "cdse", "--json").stdout)
        assert (shown["failures"], shown["watermark_kind"]) == (0, "published")
        assert not (archive / offline_key).exists()
        cdse.set_online(OFFLINE)
        assert wait_for(lambda: order_states(env) == {offline_key: "downloaded"}), log.read_text()
        assert (archive / offline_key / f"{NAME.format(1)}.zip").read_bytes() == safe_zip(OFFLINE)
        assert "orders: downloaded 1" in cli(env, "daemon", "status").stdout
    finally:
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
        code = daemon.wait(timeout=20)
    assert code == 0, log.read_text()
    assert "Traceback" not in log.read_text()
