"""T-06 for USGS: SIGKILL a run while M2M prepares its downloads, or right after M2M accepted a
download-request and before the catalog recorded it; the rerun follows the order by its label
and never sends a second download-request for the same products."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from fakes.usgs_server import UsgsFake, bundle_tar

from eoharvest.adapters.catalog import open_catalog
from eoharvest.domain.orders import OrderFilter

WORKER = Path(__file__).with_name("usgs_worker.py")
TESTS = Path(__file__).resolve().parents[1]
KEYS = ["LC08_L2SP_033032_20231008_02_T1", "LC08_L2SP_033032_20231024_02_T1"]


def start_worker(spec, *, crash_at=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("EOHARVEST_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), env.get("PYTHONPATH")]))
    if crash_at:
        env["EOHARVEST_CRASH_AT"] = crash_at
    return subprocess.Popen([sys.executable, str(WORKER), str(spec)], env=env, cwd=TESTS,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def spec_for(fake, tmp_path):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps({"url": fake.m2m_url, "username": fake.username, "token": fake.token,
                                "catalog": str(tmp_path / "catalog.db"), "outdir": str(tmp_path / "archive")}))  # fmt: skip
    return spec


def requested_entities(fake):
    return sorted(d["entityId"] for c in fake.calls("download-request") for d in c.body["downloads"])


def assert_complete(fake, tmp_path, out):
    assert json.loads(out.strip().splitlines()[-1]) == {"downloaded": KEYS, "failed": [], "pending": []}
    assert requested_entities(fake) == ["LC80330322023281LGN00", "LC80330322023297LGN00"], "a product was requested twice"
    for key, product in zip(KEYS, ("LC08_L2SP_033032_20231008_20231017_02_T1", "LC08_L2SP_033032_20231024_20231101_02_T1")):
        assert (tmp_path / "archive" / key / f"{product}.tar").read_bytes() == bundle_tar(product)
    assert [p for p in (tmp_path / "archive").rglob("*") if ".part" in p.name] == []
    with open_catalog(tmp_path / "catalog.db") as catalog:
        assert {o.state for o in catalog.find_orders(OrderFilter())} == {"downloaded"}


def test_t06_sigkill_while_usgs_prepares_then_the_rerun_requests_nothing_again(tmp_path):
    with UsgsFake(prepare_polls=10**6) as fake:
        spec = spec_for(fake, tmp_path)
        proc = start_worker(spec)
        deadline = time.monotonic() + 60
        while len(fake.calls("download-retrieve")) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()[1]
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        assert len(requested_entities(fake)) == 2
        with open_catalog(tmp_path / "catalog.db") as catalog:
            assert {o.state for o in catalog.find_orders(OrderFilter())} == {"pending"}
        fake.prepare_polls = 0  # USGS finished preparing while nothing ran
        proc = start_worker(spec)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert_complete(fake, tmp_path, out)


def test_t06_sigkill_after_usgs_accepted_the_request_then_the_rerun_finds_it_by_label(tmp_path):
    with UsgsFake(prepare_polls=0) as fake:
        spec = spec_for(fake, tmp_path)
        proc = start_worker(spec, crash_at="order-accepted")
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == -signal.SIGKILL, err
        accepted = {d.label for d in fake.downloads.values()}
        with open_catalog(tmp_path / "catalog.db") as catalog:
            stored = catalog.find_orders(OrderFilter())
        assert accepted and {o.state for o in stored} == {"intent"} and accepted <= {o.label for o in stored}
        proc = start_worker(spec)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert {c.body.get("label") for c in fake.calls("download-retrieve")} >= accepted  # looked up by label
        assert_complete(fake, tmp_path, out)
