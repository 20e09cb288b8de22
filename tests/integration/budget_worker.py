"""Subprocess for the shared provider budget tests (test_shared_budgets.py). Not a test module.

Usage: budget_worker.py SPEC.json. Prints ``ready`` once connected, waits for the file
``spec["go"]`` (so every process starts at once), does its part, prints one JSON line.
Modes: ``slots`` (threads hold a slot around each ``GET /hold``), ``hold`` (holds every slot
until killed), ``pace`` (``GET /tick`` after each pace), ``cdse`` (download_all through the
composition root against the CDSE fake), ``usgs`` (M2M searches through the composition root).
"""

import json
import sys
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import httpx

from eoharvest.adapters.catalog.postgis_budget import PostgresBudgets
from eoharvest.application.budgets import LocalBudgets
from eoharvest.adapters.clock import SystemClock
from eoharvest.domain.budgets import BudgetKey
from eoharvest.domain.catalog_location import CatalogUrl

DEADLINE = 120.0  # hang guard of every wait here


def budgets_of(spec):
    if spec.get("local"):
        return LocalBudgets(SystemClock())
    return PostgresBudgets(CatalogUrl(spec["catalog"]))


def wait_for_go(spec):
    print("ready", flush=True)
    go, until = Path(spec["go"]), time.monotonic() + DEADLINE
    while not go.exists():
        if time.monotonic() > until:
            raise SystemExit("no go signal")
        time.sleep(0.01)


def slots(spec):
    budgets, key = budgets_of(spec), BudgetKey(*spec["key"])
    done, errors = [], []

    def work():
        with httpx.Client(trust_env=False, timeout=30) as client:
            for _ in range(spec["rounds"]):
                try:
                    with budgets.slot(key, spec["limit"]):
                        client.get(spec["server"] + "/hold").raise_for_status()
                    done.append(1)
                except Exception as exc:  # noqa: BLE001 - reported to the test
                    errors.append(repr(exc))

    with budgets.slot(key, spec["limit"]):  # connected before the start
        pass
    wait_for_go(spec)
    threads = [threading.Thread(target=work) for _ in range(spec["threads"])]
    for t in threads:
        t.start()
    for t in threads:
        t.join(DEADLINE)
    budgets.close()
    return {"done": len(done), "errors": errors}


def hold(spec):
    budgets, key = budgets_of(spec), BudgetKey(*spec["key"])
    with ExitStack() as stack:
        for _ in range(spec["limit"]):
            stack.enter_context(budgets.slot(key, spec["limit"]))
        print("held", flush=True)
        time.sleep(DEADLINE)  # killed by the test long before
    return {}


def pace(spec):
    budgets, key = budgets_of(spec), BudgetKey(*spec["key"])
    released = []
    with httpx.Client(trust_env=False, timeout=30) as client:
        wait_for_go(spec)
        for _ in range(spec["calls"]):
            budgets.pace(key, spec["rate"])
            released.append(time.monotonic())
            client.get(spec["server"] + "/tick").raise_for_status()
    budgets.close()
    return {"released": released}


def cdse(spec):
    from eoharvest.adapters.credentials import LayeredCredentials
    from eoharvest.adapters.providers.table import netrc_hosts
    from eoharvest.application.downloading import download_all
    from eoharvest.application.settings import DownloadSettings, Endpoints, Settings
    from eoharvest.domain.ports import Credentials
    from eoharvest.entrypoints.bootstrap import build

    settings = Settings(
        endpoints=Endpoints(cdse_token_url=spec["token_url"], cdse_odata_url=spec["odata_url"],
                            cdse_download_url=spec["download_url"]),
        catalog_path=CatalogUrl(spec["catalog"]), download=DownloadSettings(directory=Path(spec["outdir"])),
    )
    store = LayeredCredentials(explicit={"copernicus": Credentials(spec["username"], spec["password"])}, environ={},
                               hosts=netrc_hosts(settings.endpoints), home=Path(spec["outdir"]), keyring_module=False)
    with build(settings, credentials=store) as services:
        services.catalog()
        source = services.connect("copernicus")
        wait_for_go(spec)
        scenes = services.sensor_api(source).scenes(platformname="Sentinel-2", start_date=spec["start"],
                                                    end_date=spec["end"])
        summary = download_all(scenes, spec["outdir"], skip_error=True, clock=services.clock,
                               **services.download_limits(spec["workers"]).as_params())
    return {"downloaded": sorted(r.scene.scene_id for r in summary.results),
            "failed": [f"{f.scene_id}: {f.error}" for f in summary.failures]}


def usgs(spec):
    from eoharvest.adapters.credentials import LayeredCredentials
    from eoharvest.application.settings import Endpoints, Settings
    from eoharvest.domain.ports import Credentials
    from eoharvest.entrypoints.bootstrap import build

    settings = Settings(endpoints=Endpoints(usgs_m2m_url=spec["url"]), catalog_path=CatalogUrl(spec["catalog"]))
    store = LayeredCredentials(explicit={"usgs": Credentials(spec["username"], spec["token"])}, environ={},
                               hosts={}, home=Path(spec["home"]), keyring_module=False)
    found = 0
    with build(settings, credentials=store) as services:
        source = services.connect("usgs")
        api = services.sensor_api(source)
        wait_for_go(spec)
        for _ in range(spec["searches"]):
            found += len(list(api.scenes(platformname="Landsat-8", aoi="-104.5,40.0,-104.0,40.5")))
    return {"found": found}


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    outcome = globals()[spec["mode"]](spec)
    print(json.dumps(outcome), flush=True)


if __name__ == "__main__":
    main()
