"""Subprocess for the USGS kill -9 tests: searches the loopback M2M fake through ``UsgsOt`` and
downloads everything with orders kept in a SpatiaLite catalog. Not a test module.
Usage: usgs_worker.py SPEC.json; prints one JSON line with the outcome."""

import json
import sys
from pathlib import Path

from eoharvest import UsgsOt, download_all
from eoharvest.entrypoints.config import load_settings


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    settings = load_settings({"usgs_m2m_url": spec["url"], "catalog_path": spec["catalog"],
                              "download_dir": spec["outdir"]}, environ={})  # fmt: skip
    with UsgsOt(spec["username"], spec["token"], settings=settings) as api:
        scenes = list(api.scenes(platformname="Landsat-8", aoi="-104.5,40.0,-104.0,40.5"))
        summary = download_all(scenes, spec["outdir"], skip_error=True, settings=settings, activation_wait=0.1,
                               activation_timeout=spec.get("activation_timeout", 60))  # fmt: skip
    print(json.dumps({"downloaded": sorted(r.scene.product_key for r in summary.results),
                      "failed": [f"{f.scene_id}: {f.error}" for f in summary.failures],
                      "pending": [p.scene.product_key for p in summary.pending]}), flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
