"""T-06 for Planet: SIGKILL a process after Planet accepted an activation but before the catalog
recorded it; the rerun finds the asset activating (or active) and never activates it again."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from fakes.planet_server import PSSCENE_AOI, PlanetFake

from eoharvest.adapters.catalog import open_catalog
from eoharvest.domain.orders import OrderFilter

WORKER = Path(__file__).with_name("planet_worker.py")
TESTS = Path(__file__).resolve().parents[1]


def run_worker(spec, key, *, crash_at=None, timeout=120):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EOHARVEST_", "PL_"))}
    env.update(PYTHONPATH=os.pathsep.join(filter(None, [str(TESTS), env.get("PYTHONPATH")])),
               EOHARVEST_PLANET_API_KEY=key, HOME=str(Path(spec).parent))  # fmt: skip
    if crash_at:
        env["EOHARVEST_CRASH_AT"] = crash_at
    proc = subprocess.run([sys.executable, str(WORKER), str(spec)], env=env, cwd=TESTS, capture_output=True,
                          text=True, timeout=timeout)  # fmt: skip
    return proc.returncode, proc.stdout, proc.stderr


def test_t06_kill_after_planet_accepted_an_activation_then_the_rerun_never_activates_it_again(tmp_path):
    with PlanetFake(activation_polls=3) as fake:
        ids = fake.add_psscene(3)
        spec = tmp_path / "spec.json"
        spec.write_text(json.dumps({"url": fake.url, "catalog": str(tmp_path / "catalog.db"),
                                    "outdir": str(tmp_path / "archive"), "aoi": PSSCENE_AOI}))  # fmt: skip
        code, _, err = run_worker(spec, fake.api_key, crash_at="order-accepted")
        assert code == -signal.SIGKILL, err
        accepted = dict(fake.activations)
        assert len(accepted) == 1, "killed right after the first activation Planet accepted"
        with open_catalog(tmp_path / "catalog.db") as catalog:
            stored = catalog.find_orders(OrderFilter(providers=("planet",)))
        # The catalog holds intents only, none recorded as placed: exactly the crash window.
        assert {o.state for o in stored} == {"intent"} and all(o.owner for o in stored)
        (item, _), = accepted
        assert f"PSScene_{item}" in {o.key.product_key for o in stored}
        code, out, err = run_worker(spec, fake.api_key)
        assert code == 0, err
        items = sorted(["20220125_075509_67_1061", *ids])
        assert json.loads(out.strip().splitlines()[-1]) == {
            "downloaded": [f"PSScene_{i}" for i in items], "failed": [], "pending": []}
        asset = "ortho_analytic_4b_sr"
        assert dict(fake.activations) == {(i, asset): 1 for i in items}, "an asset was activated twice"
        assert dict(fake.activation_requests) == {(i, asset): 1 for i in items}, "an activation was requested twice"
        for item in items:
            path = tmp_path / "archive" / f"PSScene_{item}" / f"{item}_{asset}.tif"
            assert hashlib.md5(path.read_bytes()).hexdigest() == hashlib.md5(fake.asset(item, asset).data).hexdigest()
        assert not any(".part" in p.name for p in (tmp_path / "archive").rglob("*"))
    with open_catalog(tmp_path / "catalog.db") as catalog:
        assert {o.state for o in catalog.find_orders(OrderFilter())} == {"downloaded"}
    assert fake.api_key not in (tmp_path / "catalog.db").read_bytes().decode("latin-1")
    assert all("Authorization" not in h for h in fake.storage_headers) and fake.storage_headers
