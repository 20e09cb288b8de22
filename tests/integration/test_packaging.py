"""Issue 11: eoharvest works from a wheel, a default editable install and the strict one.

The builds and installs run offline (``--no-index --no-build-isolation``) with the setuptools
and wheel from the ``test`` extra. Each install goes into a fresh venv made from the test venv's
base interpreter, so SQLite can still load mod_spatialite. The fresh venv sees the test venv's
dependencies through a ``.pth`` file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import zipfile
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory

import eoharvest.migrations
from eoharvest.adapters.catalog import migrate

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
VERSION = PYPROJECT["project"]["version"]
DIST_INFO = f"eoharvest-{VERSION}.dist-info"
TIMEOUT = 180  # seconds per build, install or command; each usually takes a few seconds


def _hermetic_env(home: Path) -> dict[str, str]:
    """No pip configuration, index or cache; no PYTHONPATH; config dirs of the test's own."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PIP_", "PYTHON", "EOHARVEST_", "VIRTUAL_ENV"))
    }
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_DATA_HOME=str(home / "data"),
        XDG_CACHE_HOME=str(home / "cache"),
        PIP_CONFIG_FILE=os.devnull,
        PIP_NO_INDEX="1",
        PIP_NO_CACHE_DIR="1",
        PIP_NO_INPUT="1",
        PIP_DISABLE_PIP_VERSION_CHECK="1",
    )
    return env


def _run(args: list[str | Path], env: dict[str, str], cwd: Path | None = None):
    result = subprocess.run(
        [str(arg) for arg in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 0, (
        f"{args} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
    )
    return result


def _source_copy(dest: Path) -> Path:
    """The repository as a fresh checkout would have it, plus any files not committed yet.

    The copy avoids stale setuptools output in build/ and leaves the repository untouched.
    """

    def ignore(folder: str, names: list[str]) -> set[str]:
        skipped = shutil.ignore_patterns(
            ".git", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", ".hypothesis"
        )(folder, names)
        venvs = {name for name in names if (Path(folder) / name / "pyvenv.cfg").exists()}
        return set(skipped) | venvs

    shutil.copytree(ROOT, dest, ignore=ignore)
    return dest


def _fresh_venv(path: Path, env: dict[str, str]) -> tuple[Path, Path]:
    """A venv on the test venv's base interpreter that also sees the test venv's packages."""
    base = getattr(sys, "_base_executable", sys.executable)
    _run([base, "-m", "venv", "--without-pip", path], env)
    python = path / "bin" / "python"
    site = Path(
        _run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], env)
        .stdout.strip()
    )
    ours = dict.fromkeys([sysconfig.get_path("purelib"), sysconfig.get_path("platlib")])
    (site / "zz_eoharvest_test_dependencies.pth").write_text("\n".join(ours) + "\n")
    return python, site


def _pip_install(python: Path, env: dict[str, str], *args: str | Path):
    # --ignore-installed: pip never considers the eoharvest of the test venv for uninstalling.
    return _run(
        [python, "-m", "pip", "install", "--no-deps", "--no-index", "--no-build-isolation",
         "--ignore-installed", *args],
        env,
    )  # fmt: skip


def _where_eoharvest_loads_from(python: Path, env: dict[str, str], cwd: Path) -> tuple[Path, Path]:
    code = "import eoharvest, eoharvest.migrations as m; print(eoharvest.__file__); print(m.__file__)"
    top, migrations = _run([python, "-c", code], env, cwd=cwd).stdout.split()
    return Path(top), Path(migrations)


def _catalog_stats_works(venv: Path, env: dict[str, str], workdir: Path) -> None:
    catalog = workdir / "c.db"
    # `catalog upgrade` creates the catalog through the installed Alembic migrations; `catalog
    # stats` is read-only and needs it to exist.
    _run([venv / "bin" / "eoharvest", "--catalog", catalog, "catalog", "upgrade"], env, cwd=workdir)
    assert catalog.is_file()
    result = _run([venv / "bin" / "eoharvest", "--catalog", catalog, "catalog", "stats"], env,
                  cwd=workdir)  # fmt: skip
    assert "scenes" in result.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("wheel")
    env = _hermetic_env(work)
    source = _source_copy(work / "src")
    _run([sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation",
          "--no-index", "-w", work / "dist"], env, cwd=source)  # fmt: skip
    (built,) = (work / "dist").glob("eoharvest-*.whl")
    return built


# -- the Alembic configuration -------------------------------------------------------------------


def test_the_alembic_script_location_is_the_migrations_folder_on_disk():
    location = Path(migrate.alembic_config().get_main_option("script_location"))
    assert location.is_dir()
    assert (location / "env.py").is_file()
    assert location == Path(eoharvest.migrations.__file__).resolve().parent
    assert ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()


def test_a_percent_sign_in_the_migrations_path_survives_config_interpolation(tmp_path, monkeypatch):
    location = tmp_path / "100% eo" / "migrations"
    shutil.copytree(migrate.SCRIPT_LOCATION, location, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(migrate, "SCRIPT_LOCATION", location)
    config = migrate.alembic_config()
    assert config.get_main_option("script_location") == str(location)
    assert ScriptDirectory.from_config(config).get_current_head() == migrate.head_revision()


# -- the wheel (`pip install .`) --------------------------------------------------------------------


@pytest.mark.slow
def test_the_wheel_holds_every_module_migration_and_marker_and_nothing_else(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        license_text = archive.read(f"{DIST_INFO}/licenses/LICENSE")
        metadata = archive.read(f"{DIST_INFO}/METADATA").decode()

    # Only the package and its metadata at the top: no tests/, bench/, scripts/ or bare layers.
    assert {name.split("/")[0] for name in names} == {"eoharvest", DIST_INFO}

    for revision in (ROOT / "migrations" / "versions").glob("*.py"):
        assert f"eoharvest/migrations/versions/{revision.name}" in names
    for needed in ("migrations/env.py", "migrations/script.py.mako", "py.typed"):
        assert f"eoharvest/{needed}" in names
    # the STAC export validates against these offline
    for schema in (ROOT / "adapters" / "catalog" / "schemas").glob("*.json"):
        assert f"eoharvest/adapters/catalog/schemas/{schema.name}" in names

    # Every module of every mapped package folder ships, and no other module does.
    setuptools = PYPROJECT["tool"]["setuptools"]
    expected = {
        f"{package.replace('.', '/')}/{module.name}"
        for package in setuptools["packages"]
        for module in (ROOT / setuptools["package-dir"][package]).glob("*.py")
    }
    assert {name for name in names if name.endswith(".py")} == expected

    assert license_text == (ROOT / "LICENSE").read_bytes()
    assert "Apache License" in license_text.decode()
    assert "License-Expression: Apache-2.0" in metadata
    assert "License-File: LICENSE" in metadata


@pytest.mark.slow
def test_an_installed_wheel_runs_catalog_commands(wheel, tmp_path):
    env = _hermetic_env(tmp_path)
    python, site = _fresh_venv(tmp_path / "venv", env)
    _pip_install(python, env, wheel)

    top, migrations = _where_eoharvest_loads_from(python, env, cwd=tmp_path)
    assert top == site / "eoharvest" / "__init__.py"
    assert migrations == site / "eoharvest" / "migrations" / "__init__.py"
    _catalog_stats_works(tmp_path / "venv", env, tmp_path)


# -- a default, non-strict editable install (`pip install -e .`) --------------------------------


@pytest.mark.slow
def test_a_default_editable_install_runs_catalog_commands(tmp_path):
    env = _hermetic_env(tmp_path)
    python, site = _fresh_venv(tmp_path / "venv", env)
    _pip_install(python, env, "-e", ROOT)

    # The lenient mode serves the mapped folders through an import hook, not a link tree.
    assert list(site.glob("__editable___eoharvest_*_finder.py"))
    top, migrations = _where_eoharvest_loads_from(python, env, cwd=tmp_path)
    assert top == ROOT / "facade" / "__init__.py"
    assert migrations == ROOT / "migrations" / "__init__.py"
    _catalog_stats_works(tmp_path / "venv", env, tmp_path)
