"""Subprocess for the Planet kill -9 test: searches the loopback Planet fake through the planet
provider (key from EOHARVEST_PLANET_API_KEY) and downloads every item's default asset, with the
activations kept as orders in a SpatiaLite catalog. Not a test module. Usage:
planet_worker.py SPEC.json; prints one JSON line with the outcome."""

import json
import sys
from pathlib import Path

from eoharvest.application.downloading import download_all
from eoharvest.entrypoints.bootstrap import build
from eoharvest.entrypoints.config import load_settings


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    settings = load_settings({"planet_url": spec["url"], "catalog_path": spec["catalog"],
                              "download_dir": spec["outdir"]}, environ={})  # fmt: skip
    with build(settings) as services:
        source = services.connect("planet")
        scenes = list(services.sensor_api(source).scenes(platformname=["PSScene"], aoi=spec["aoi"]))
        summary = download_all(scenes, spec["outdir"], skip_error=True, clock=services.clock, activation_wait=0.1,
                               activation_timeout=60, **services.download_limits().as_params())  # fmt: skip
    print(json.dumps({"downloaded": sorted(r.scene.product_key for r in summary.results),
                      "failed": [f"{f.scene_id}: {f.error}" for f in summary.failures],
                      "pending": [p.scene.product_key for p in summary.pending]}), flush=True)


if __name__ == "__main__":
    main()
