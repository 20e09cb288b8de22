"""Subprocess for the orders kill -9 tests: searches the loopback ordering API through the
test-only provider and downloads everything with orders kept in a SpatiaLite catalog. Not a
test module. Usage: order_worker.py SPEC.json; prints one JSON line with the outcome."""

import json
import sys
from pathlib import Path

from fakes import order_provider

from eoharvest.application.downloading import download_all
from eoharvest.entrypoints.bootstrap import build
from eoharvest.entrypoints.config import load_settings


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    order_provider.install()
    settings = load_settings({"stac_url": spec["url"], "catalog_path": spec["catalog"],
                              "download_dir": spec["outdir"]}, environ={})
    with build(settings) as services:
        source = services.connect(order_provider.NAME)
        scenes = list(services.sensor_api(source).scenes(platformname=["Sentinel-2"], aoi=(-79.4, 43.8, -79.3, 43.9)))
        summary = download_all(scenes, spec["outdir"], skip_error=True, clock=services.clock, activation_wait=0.1,
                               activation_timeout=spec.get("activation_timeout", 60),
                               **services.download_limits().as_params())
    print(json.dumps({"downloaded": sorted(r.scene.product_key for r in summary.results),
                      "failed": [f"{f.scene_id}: {f.error}" for f in summary.failures],
                      "pending": [p.scene.product_key for p in summary.pending]}), flush=True)


if __name__ == "__main__":
    main()
