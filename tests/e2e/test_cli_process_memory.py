"""A real `eoharvest harvest` process records every scene without loading GDAL beside SpatiaLite
(~65 MiB), and the read-only commands then answer from that catalog in their own processes."""

import json
import os
import subprocess
import sys

from fakes.copernicus_server import CdseFake

RUN = """
import json, sys
from eoharvest.entrypoints.cli import main
code = main(json.loads(sys.argv[1]))
loaded = sorted(m for m in ('pyogrio', 'sqlalchemy', 'alembic') if m in sys.modules)
print(json.dumps({"code": code, "loaded": loaded}), file=sys.stderr)
"""


def run_cli(args, env):
    proc = subprocess.run([sys.executable, "-c", RUN, json.dumps(args)], capture_output=True, text=True,
                          env=env, timeout=300)  # fmt: skip
    result = json.loads(proc.stderr.strip().splitlines()[-1])
    return result["code"], result["loaded"], proc.stdout


def test_harvest_then_stats_and_geojson_in_their_own_processes(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("EOHARVEST_")}
    catalog = tmp_path / "catalog.db"
    env.update(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "config"), EOHARVEST_MAX_RETRIES="0",
               EOHARVEST_CATALOG=str(catalog), EOHARVEST_DOWNLOAD_DIR=str(tmp_path / "archive"))  # fmt: skip
    with CdseFake(recorded_pages=True) as fake:
        env["EOHARVEST_CDSE_ODATA_URL"] = fake.odata_url
        code, loaded, out = run_cli(["harvest", "--provider", "copernicus", "--platform", "Sentinel-1",
                                     "--aoi", "-180,-90,180,90", "--no-download", "--json"], env)  # fmt: skip
    assert code == 0, out
    found = json.loads(out)["new_in_catalog"]
    assert found > 20
    assert "pyogrio" not in loaded and "sqlalchemy" in loaded  # GDAL never loaded; the catalog was written
    code, loaded, out = run_cli(["catalog", "stats", "--json"], env)
    assert (code, loaded, json.loads(out)["scenes"]) == (0, [], found)
    code, loaded, out = run_cli(["catalog", "query", "--format", "geojson", "--all-providers", "--limit", "1000"], env)
    assert (code, loaded, len(json.loads(out)["features"])) == (0, [], found)
