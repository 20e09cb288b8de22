"""The layer rules and the packaging map are checked mechanically."""

import ast
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ["domain", "adapters", "application", "entrypoints", "migrations", "facade"]
# numpy is the array half of the shapely 2 API (get_coordinates and friends return arrays).
DOMAIN_ALLOWED_THIRD_PARTY = {"shapely", "pyproj", "numpy"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_domain_imports_only_the_standard_library_shapely_pyproj_and_itself():
    offenders = []
    for path in (ROOT / "domain").rglob("*.py"):
        for name in _imports(path):
            top = name.split(".")[0]
            if name.startswith("eoharvest.domain") or top in DOMAIN_ALLOWED_THIRD_PARTY:
                continue
            if top in sys.stdlib_module_names or top == "__future__":
                continue
            offenders.append(f"{path.relative_to(ROOT)}: {name}")
    assert offenders == []


def test_import_linter_contracts_hold():
    lint = Path(sys.executable).with_name("lint-imports")
    if not lint.exists():
        lint = shutil.which("lint-imports")
    assert lint, "import-linter is a test dependency; run scripts/setup.sh test"
    result = subprocess.run(
        [str(lint), str(ROOT / "pyproject.toml")],
        cwd=ROOT / "tests",  # not the repo root, so `domain` cannot shadow `eoharvest.domain`
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_package_folder_is_listed_in_pyproject():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapped = {Path(folder) for folder in config["package-dir"].values()}
    on_disk = {
        path.parent.relative_to(ROOT)
        for layer in LAYERS
        for path in (ROOT / layer).rglob("__init__.py")
    }
    assert on_disk == mapped
    assert set(config["packages"]) == set(config["package-dir"])


def test_the_install_exposes_the_layers_only_under_eoharvest():
    # A mapping such as `"eoharvest" = "."` would also install `domain` etc. as top-level
    # packages, and `import domain.models` would load a second copy of the module.
    for layer in ("domain", "adapters", "application", "entrypoints", "migrations"):
        result = subprocess.run(
            [sys.executable, "-c", f"import {layer}"],
            cwd=ROOT / "tests",
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "ModuleNotFoundError" in result.stderr, layer
