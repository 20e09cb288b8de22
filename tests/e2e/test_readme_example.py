"""The README's library example runs as written (against a loopback STAC API)."""

import os
import re
import subprocess
import sys
from pathlib import Path

from fakes.stac_server import FakeStacServer

ROOT = Path(__file__).resolve().parents[2]


def readme_python_blocks():
    return re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)


def test_the_readme_library_example_searches_downloads_and_skips_on_a_second_run(tmp_path):
    (code,) = readme_python_blocks()
    script = tmp_path / "example.py"
    script.write_text(code)
    with FakeStacServer() as stac:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("EOHARVEST_")},
            "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "EOHARVEST_STAC_URL": stac.url, "EOHARVEST_CATALOG": str(tmp_path / "catalog.db"),
        }
        first = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                               capture_output=True, text=True, timeout=120)
        assert first.returncode == 0, first.stderr
        assert "matching scenes: 3" in first.stdout
        files = sorted((tmp_path / "eoharvest-data").rglob("visual.tif"))
        assert len(files) == 3
        hits = len(stac.asset_hits)
        second = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=120)
        assert second.returncode == 0, second.stderr
        assert second.stdout.count("(already had)") == 3
        assert len(stac.asset_hits) == hits
