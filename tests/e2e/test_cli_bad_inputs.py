"""Mistakes a user makes on the command line end with the documented exit code and one line that
names the value and what to do: never "internal error", a traceback, a file created by accident,
or a request sent before the local checks pass.

Run as a user runs them (subprocesses). Permission checks mean nothing to root, so as root each
command runs as ``nobody`` in a workspace that user owns (the permission tests are skipped when
that user cannot run this checkout).
"""

from __future__ import annotations

import functools
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from eoharvest.adapters.catalog import open_catalog
from fakes.stac_server import FakeStacServer

BIN = Path(sys.executable).with_name("eoharvest")
AOI = "-79.4,43.8,-79.3,43.9"
AS_ROOT = os.geteuid() == 0
NOBODY = 65534


@functools.cache
def as_nobody() -> bool:
    """Run the commands as ``nobody``: the tests run as root and that user can run this checkout
    (a clone under /root, mode 0700, is out of its reach)."""
    if not AS_ROOT:
        return False
    try:
        check = subprocess.run([str(BIN), "--version"], user=NOBODY, group=NOBODY, extra_groups=[],
                               capture_output=True, timeout=120)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return False
    return check.returncode == 0


@pytest.fixture
def unprivileged():
    """For tests of permissions, which mean nothing to root."""
    if AS_ROOT and not as_nobody():
        pytest.skip("running as root, and user nobody cannot run this checkout's eoharvest")


@pytest.fixture
def work():
    """A workspace the command's user owns (``nobody`` when the tests run as root)."""
    path = Path(tempfile.mkdtemp(prefix="eoharvest-bad-inputs-"))
    if as_nobody():
        os.chown(path, NOBODY, NOBODY)
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def owned(path: Path) -> Path:
    """Give ``path`` (made by the test) to the command's user."""
    if as_nobody():
        for p in (path, *path.rglob("*")) if path.is_dir() else (path,):
            os.chown(p, NOBODY, NOBODY)
    return path


def run(work: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 60):
    environ = {
        **{k: v for k, v in os.environ.items() if not k.startswith("EOHARVEST_")},
        "HOME": str(work), "XDG_CONFIG_HOME": str(work / "config"), "XDG_DATA_HOME": str(work / "data"),
        # Nothing may reach the network unless a test gives its own fake: a refused port.
        "EOHARVEST_STAC_URL": "http://127.0.0.1:9/v1", "EOHARVEST_MAX_RETRIES": "0",
        **(env or {}),
    }  # fmt: skip
    as_user = {"user": NOBODY, "group": NOBODY, "extra_groups": []} if as_nobody() else {}
    return subprocess.run([str(BIN), *args], env=environ, cwd=work, capture_output=True, text=True,
                          timeout=timeout, **as_user)  # fmt: skip


def one_error_line(result) -> str:
    """The single "eoharvest: error:" line of ``result`` (and no traceback, no internal error)."""
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("eoharvest: error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def new_catalog(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open_catalog(path):
        pass
    for leftover in path.parent.glob(path.name + "-*"):
        leftover.unlink()
    return owned(path)


# -- --catalog values ------------------------------------------------------------------------------
@pytest.mark.parametrize("location", ["mysql://host/db", "s3://bucket/catalog.db", "http://user:s3cret-pw@example.org/c.db"])
def test_a_catalog_url_of_a_back_end_eoharvest_lacks_is_refused_and_creates_nothing(work, location):
    for args in (("harvest", "--aoi", AOI, "--no-download"), ("catalog", "stats"), ("watch", "add", "s2", "--aoi", AOI)):
        result = run(work, "--catalog", location, *args)
        assert result.returncode == 9, result.stderr
        line = one_error_line(result)
        assert "catalogs are not supported; only file paths are" in line and "--catalog" in line
        assert location.split("://")[0] + "://" in line
        assert "s3cret-pw" not in result.stderr  # a password in the URL is masked
    assert sorted(p.name for p in work.iterdir()) == []  # no "mysql:" folder, no catalog file


# A postgresql:// URL selects the PostGIS catalog (tests/e2e/test_postgis_cli.py); here the server
# is unreachable (loopback port 1): exit 9 naming it, the password masked, no file created.
@pytest.mark.parametrize("location", ["postgresql://user@127.0.0.1:1/db", "postgresql://user:s3cret-pw@127.0.0.1:1/db"])
def test_a_postgresql_catalog_that_cannot_be_reached_is_a_catalog_error_and_creates_nothing(work, location):
    for args in (("harvest", "--aoi", AOI, "--no-download"), ("catalog", "stats"), ("watch", "add", "s2", "--aoi", AOI)):
        result = run(work, "--catalog", location, *args)
        assert result.returncode == 9, result.stderr
        assert "cannot open the PostgreSQL catalog postgresql://user" in one_error_line(result)
        assert "s3cret-pw" not in result.stderr
    assert sorted(p.name for p in work.iterdir()) == []  # no "postgresql:" folder, no catalog file


def test_the_config_files_catalog_path_goes_through_the_same_check(work):
    config = work / "config.toml"
    config.write_text('catalog_path = "mysql://user@host/db"\n')
    owned(config)
    result = run(work, "--config", str(config), "catalog", "stats")
    assert result.returncode == 9 and "mysql:// catalogs are not supported" in one_error_line(result)
    env = run(work, "catalog", "stats", env={"EOHARVEST_CATALOG": "postgresql://user@127.0.0.1:1/db"})
    assert env.returncode == 9 and "cannot open the PostgreSQL catalog" in one_error_line(env)
    assert sorted(p.name for p in work.iterdir()) == ["config.toml"]


def test_an_sqlite_url_names_the_same_file_as_its_path(work):
    new_catalog(work / "cat.db")
    result = run(work, "--catalog", "sqlite:///cat.db", "catalog", "stats")
    assert result.returncode == 0, result.stderr
    assert "scenes    0" in result.stdout


@pytest.mark.parametrize("args", [("catalog", "stats"), ("harvest", "--aoi", AOI, "--no-download"),
                                  ("watch", "add", "s2", "--aoi", AOI)], ids=lambda a: " ".join(a[:2]))
def test_a_device_as_catalog_is_refused_not_read_as_an_empty_catalog(work, args):
    result = run(work, "--catalog", "/dev/zero", *args)
    assert result.returncode == 9, result.stderr
    line = one_error_line(result)
    assert "'/dev/zero' is not an eoharvest catalog" in line and "character device" in line


def test_a_read_only_catalog_serves_reading_commands_and_refuses_writing_ones(unprivileged, work):
    catalog = new_catalog(work / "ro" / "catalog.db")
    before = catalog.read_bytes()
    catalog.chmod(0o444)
    owned(catalog.parent).chmod(0o555)  # a read-only folder too: SQLite cannot make its -shm
    try:
        for args in (("catalog", "stats"), ("catalog", "query", "--format", "csv"), ("watch", "list")):
            result = run(work, "--catalog", str(catalog), *args)
            assert result.returncode == 0, (args, result.stderr)
        for args in (("watch", "add", "s2", "--aoi", AOI), ("harvest", "--aoi", AOI, "--no-download"),
                     ("catalog", "upgrade")):  # fmt: skip
            result = run(work, "--catalog", str(catalog), *args)
            assert result.returncode == 9, (args, result.stderr)
            line = one_error_line(result)
            assert f"the catalog '{catalog}' is read-only for this user" in line and "write permission" in line
        assert catalog.read_bytes() == before
        assert sorted(p.name for p in catalog.parent.iterdir()) == ["catalog.db", "catalog.db.lock"]
    finally:
        catalog.parent.chmod(0o755)


def test_a_read_only_catalog_in_a_writable_folder_is_refused_for_writing_too(unprivileged, work):
    catalog = new_catalog(work / "catalog.db")
    catalog.chmod(0o444)
    result = run(work, "--catalog", str(catalog), "watch", "add", "s2", "--aoi", AOI)
    assert result.returncode == 9 and "is read-only for this user" in one_error_line(result)
    assert run(work, "--catalog", str(catalog), "watch", "list").returncode == 0


@pytest.mark.parametrize("name", ["catalog.db", "sub/catalog.db"])
def test_a_catalog_in_a_folder_the_user_cannot_write_is_refused_before_anything_is_made(unprivileged, work, name):
    closed = work / "closed"
    closed.mkdir()
    closed.chmod(0o555)
    try:
        result = run(work, "--catalog", str(closed / name), "watch", "add", "s2", "--aoi", AOI)
        assert result.returncode == 9, result.stderr
        line = one_error_line(result)
        assert f"cannot write in the folder '{closed}'" in line and "--catalog" in line
        assert list(closed.iterdir()) == []
    finally:
        closed.chmod(0o755)


# -- --outdir and --stac-url ----------------------------------------------------------------------
@pytest.mark.parametrize("command", ["harvest", "download"])
def test_an_unwritable_outdir_fails_once_before_any_request(unprivileged, work, command):
    closed = work / "closed"
    closed.mkdir()
    closed.chmod(0o555)
    try:
        with FakeStacServer() as stac:
            args = ["--aoi", AOI, "--limit", "3"] if command == "harvest" else ["--limit", "3"]
            result = run(work, "--catalog", str(work / "catalog.db"), command, *args, "--outdir", str(closed / "archive"),
                         env={"EOHARVEST_STAC_URL": stac.url, "EOHARVEST_ALLOW_PRIVATE_TARGETS": "true"})
            assert stac.requests == [] and stac.asset_hits == []  # not even the search
    finally:
        closed.chmod(0o755)
    assert result.returncode == 2, result.stderr
    line = one_error_line(result)
    assert f"--outdir '{closed / 'archive'}' is not writable: Permission denied" in line
    assert "Errno" not in result.stderr and "failed" not in result.stdout


def test_an_outdir_that_is_a_file_is_named(work):
    (work / "file").write_text("x")
    result = run(work, "--catalog", str(work / "catalog.db"), "harvest", "--aoi", AOI, "--outdir", str(work / "file"))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"Invalid value for '--outdir': Directory '{work / 'file'}' is a file" in result.stderr  # click's check


@pytest.mark.parametrize("url", ["http://[::1", "http://host:port/v1", "ftp://example.org/stac", "example.org/v1"])
def test_a_malformed_stac_url_is_an_input_error_naming_it(work, url):
    result = run(work, "--catalog", str(work / "catalog.db"), "harvest", "--provider", "stac", "--stac-url", url,
                 "--aoi", AOI, "--no-download")
    assert result.returncode == 2, result.stderr
    line = one_error_line(result)
    assert f"--stac-url '{url}'" in line and "http(s) URL" in line


def test_a_malformed_endpoint_setting_is_named_at_start(work):
    result = run(work, "catalog", "stats", env={"EOHARVEST_STAC_URL": "http://[::1"})
    assert result.returncode == 2
    assert "setting stac_url 'http://[::1' is not a valid URL" in one_error_line(result)


def test_the_workspace_is_really_closed_to_the_user(unprivileged, work):
    """Guards the tests above: a folder with mode 0555 refuses this user's files."""
    closed = work / "closed"
    closed.mkdir()
    closed.chmod(0o555)
    try:
        result = run(work, "watch", "list")  # any command: proves the user can run eoharvest here
        assert result.returncode in (0, 9)
        probe = subprocess.run(["touch", str(closed / "x")], capture_output=True,
                               **({"user": NOBODY, "group": NOBODY} if as_nobody() else {}))  # fmt: skip
        assert probe.returncode != 0
        assert stat.S_IMODE(closed.stat().st_mode) == 0o555
    finally:
        closed.chmod(0o755)


# -- the reliability plan's bad inputs that still leaked warnings or tracebacks ---------------------
def test_b03_an_unclosed_ring_in_a_geojson_file_is_one_error_line_without_ogr_warnings(work):
    aoi = work / "unclosed.geojson"
    aoi.write_text('{"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1]]]}')
    owned(aoi)
    result = run(work, "--catalog", str(work / "catalog.db"), "harvest", "--aoi", str(aoi), "--no-download")
    assert result.returncode == 2
    assert "a polygon ring is not closed" in one_error_line(result)
    assert result.stderr.strip().count("\n") == 0, result.stderr  # no RuntimeWarning lines from pyogrio


def test_b10_nan_in_wkt_is_one_error_line_without_numpy_warnings(work):
    result = run(work, "--catalog", str(work / "catalog.db"), "harvest", "--aoi", "POLYGON((0 0, NaN 0, 1 1, 0 0))",
                 "--no-download")
    assert result.returncode == 2
    assert "not a finite number" in one_error_line(result)
    assert "RuntimeWarning" not in result.stderr and result.stderr.strip().count("\n") == 0, result.stderr


@pytest.mark.parametrize("output", ["/proc/no-such-folder/out.geojson", "/proc/out.geojson"])
def test_an_export_path_that_cannot_be_written_is_an_input_error(work, output):
    new_catalog(work / "catalog.db")
    result = run(work, "--catalog", str(work / "catalog.db"), "catalog", "export", "--format", "geojson", "-o", output)
    assert result.returncode == 2, result.stderr
    assert f"-o '{output}'" in one_error_line(result)


def test_an_unknown_product_type_is_one_input_error_not_a_search_that_stopped(work):
    with FakeStacServer() as stac:
        result = run(work, "--catalog", str(work / "catalog.db"), "harvest", "--aoi", AOI, "--product-type", "XYZ",
                     "--no-download", env={"EOHARVEST_STAC_URL": stac.url})
    assert result.returncode == 2
    assert "has no product type 'XYZ'" in one_error_line(result)
    assert "the search stopped" not in result.stderr
