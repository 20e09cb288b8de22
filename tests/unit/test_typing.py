"""`mypy --strict` holds for the domain and the application layer (services and ports)."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_domain_and_application_pass_mypy_strict(tmp_path):
    mypy = Path(sys.executable).with_name("mypy")
    if not mypy.exists():
        mypy = shutil.which("mypy")
    assert mypy, "mypy is a test dependency; run scripts/setup.sh test"
    # Run outside the repository so the bare layer folders cannot shadow the installed package.
    result = subprocess.run(
        [str(mypy), "--strict", "--no-error-summary", "--cache-dir", str(tmp_path / "cache"),
         "-p", "eoharvest.domain", "-p", "eoharvest.application"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
