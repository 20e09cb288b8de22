"""Subprocess for the kill -9 tests: downloads files from a fault server into a SpatiaLite-catalogued
archive. Not a test module. Usage: download_worker.py SPEC.json"""

import json
import sys
import time
from pathlib import Path

import httpx

from eoharvest.adapters.catalog import open_catalog
from eoharvest.adapters.transfers import ProviderTransfers, SafeArchives
from eoharvest.application.scene_download import SceneDownloadService
from eoharvest.adapters.http.guard import UrlGuard
from eoharvest.adapters.http.transfer import TransferEngine
from eoharvest.domain.models import Checksum, DownloadDescriptor, Scene
from eoharvest.domain.retry import RetryPolicy


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    client = httpx.Client(timeout=5.0)
    engine = TransferEngine(client, guard=UrlGuard(allow_private=True),
                            policy=RetryPolicy(max_attempts=20, base_delay=0.01, max_delay=0.05))

    def throttle(name, done, total):
        time.sleep(spec["sleep_per_chunk"])

    with open_catalog(Path(spec["catalog"])) as catalog:
        executor = SceneDownloadService(ProviderTransfers(lambda provider: engine), SafeArchives(), lambda: catalog,
                                        progress=throttle)
        for f in spec["files"]:
            scene = Scene("Test", f["product"], None, None, None, provider="fault", product_key=f["product"])
            descriptor = DownloadDescriptor(f["url"], f["name"], size=f["size"],
                                            checksums=(Checksum("sha256", f["sha256"], "harness"),))
            executor.fetch(scene, [descriptor], spec["outdir"])
    client.close()
    print("done", flush=True)


if __name__ == "__main__":
    main()
