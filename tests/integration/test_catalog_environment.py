"""Where and how the SpatiaLite catalog can run: B-57, B-58, GIS tools, library load order."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import types

import pytest
from fakes import catalog_scene
from sqlalchemy import text

from eoharvest.adapters.catalog import open_catalog
from eoharvest.adapters.catalog.spatialite import load_spatialite, sqlite_module
from eoharvest.domain.errors import CatalogError, UnsupportedEnvironment


def test_a_catalog_on_nfs_is_refused_because_wal_needs_a_local_filesystem(tmp_path):  # B-57
    mounts = tmp_path / "mounts"
    mounts.write_text(
        "/dev/sda1 / ext4 rw 0 0\n"
        f"server:/export {tmp_path}/share nfs4 rw,relatime 0 0\n"
        f"//nas/eo {tmp_path}/smb cifs rw 0 0\n"
        f"/dev/sdb1 {tmp_path}/share/local ext4 rw 0 0\n"
    )
    for where in ("share/c.db", "share/deeper/c.db", "smb/c.db"):
        with pytest.raises(UnsupportedEnvironment) as caught:
            open_catalog(tmp_path / where, mounts_file=mounts)
        assert caught.value.exit_code == 10
        assert "WAL needs a local filesystem" in str(caught.value)
        assert not (tmp_path / where).exists()
    with open_catalog(tmp_path / "share" / "local" / "c.db", mounts_file=mounts) as repo:
        assert repo.count() == 0


def test_a_missing_mod_spatialite_names_the_fix(tmp_path, monkeypatch):  # B-58
    monkeypatch.setenv("SPATIALITE_LIBRARY_PATH", str(tmp_path / "no_such_mod_spatialite"))
    with pytest.raises(UnsupportedEnvironment) as caught:
        open_catalog(tmp_path / "c.db")
    assert caught.value.exit_code == 10
    message = str(caught.value)
    assert "SpatiaLite" in message and "pysqlite3-binary" in message
    assert "apt-get install libsqlite3-mod-spatialite" in message


def test_an_interpreter_without_extension_loading_names_the_fix(monkeypatch):  # B-58
    crippled = types.ModuleType("sqlite3")
    crippled.Connection = type("Connection", (), {})  # no enable_load_extension
    monkeypatch.setitem(sys.modules, "sqlite3", crippled)
    monkeypatch.setitem(sys.modules, "pysqlite3", None)  # and no pysqlite3-binary either
    with pytest.raises(UnsupportedEnvironment) as caught:
        sqlite_module()
    assert caught.value.exit_code == 10
    assert "cannot load extensions" in str(caught.value) and "/usr/bin/python3" in str(caught.value)
    with pytest.raises(UnsupportedEnvironment, match="pysqlite3-binary"):
        load_spatialite(object())


def test_a_catalog_from_a_newer_eoharvest_is_refused(tmp_path):
    path = tmp_path / "c.db"
    with open_catalog(path) as repo, repo.writer.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    with pytest.raises(CatalogError) as caught:
        open_catalog(path)
    assert caught.value.exit_code == 9
    assert "newer than this eoharvest" in str(caught.value) and "9999_future" in str(caught.value)


def test_a_directory_is_not_a_catalog(tmp_path):
    with pytest.raises(CatalogError, match="is a directory"):
        open_catalog(tmp_path)


def test_the_footprint_is_a_registered_multipolygon_column_with_a_valid_spatial_index(tmp_path):
    with open_catalog(tmp_path / "c.db") as repo:
        repo.upsert_scenes([catalog_scene("a")])
        with repo.reader.connect() as conn:
            column = conn.execute(
                text("SELECT geometry_type, srid, spatial_index_enabled FROM geometry_columns "
                     "WHERE f_table_name = 'scenes' AND f_geometry_column = 'footprint'")
            ).one()  # fmt: skip
            assert tuple(column) == (6, 4326, 1)  # 6 = MULTIPOLYGON XY
            assert conn.execute(text("SELECT CheckSpatialIndex('scenes', 'footprint')")).scalar() == 1
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert conn.execute(text("PRAGMA busy_timeout")).scalar() >= 30000


@pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="gdal-bin (ogrinfo) is not installed")
def test_ogrinfo_sees_the_scenes_layer_as_multipolygons_in_epsg_4326(tmp_path):
    path = tmp_path / "c.db"
    with open_catalog(path) as repo:
        repo.upsert_scenes([catalog_scene("a"), catalog_scene("b", bbox=(-5, 40, -4, 41))])
    out = subprocess.run(
        ["ogrinfo", "-so", str(path), "scenes"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert "Layer name: scenes" in out
    assert "Geometry: Multi Polygon" in out
    assert "Feature Count: 2" in out
    assert 'ID["EPSG",4326]' in out or "EPSG:4326" in out
    assert "Extent: (-5.000000, 40.000000) - (11.000000, 46.000000)" in out


def test_geo_libraries_still_work_after_the_catalog_loaded_spatialite(tmp_path):
    """mod_spatialite is loaded RTLD_GLOBAL; the wheels' GEOS/PROJ must be bound first."""
    script = textwrap.dedent(
        f"""
        from eoharvest.adapters.catalog import open_catalog
        repo = open_catalog({str(tmp_path / "c.db")!r})
        import numpy as np, pyogrio, pyogrio.raw, pyproj, shapely
        g = shapely.box(0, 0, 1, 1)
        assert len(shapely.to_wkb(g)) == 93
        x, y = pyproj.Transformer.from_crs(4326, 3857, always_xy=True).transform(10, 50)
        assert round(x) == 1113195
        path = {str(tmp_path / "t.gpkg")!r}
        pyogrio.raw.write(path, np.array([shapely.to_wkb(g)], dtype=object), [np.array([1])], ["n"],
                          driver="GPKG", geometry_type="Polygon", crs="EPSG:4326")
        assert len(pyogrio.raw.read(path)[2]) == 1
        repo.close()
        print("ok")
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "ok"


def test_a_catalog_opened_read_only_answers_queries_but_refuses_every_write(tmp_path):
    path = tmp_path / "c.db"
    with open_catalog(path) as repo:
        repo.upsert_scenes([catalog_scene("a")])
    before = path.read_bytes()
    with open_catalog(path, read_only=True) as repo:
        assert (repo.read_only, repo.count(), repo.get_scene("cdse", "a").scene_id) == (True, 1, "a")
        assert repo.stats().scenes == 1
        with pytest.raises(Exception, match="readonly database"):
            repo.upsert_scenes([catalog_scene("b")])
    assert path.read_bytes() == before
    assert not (tmp_path / "c.db.lock").stat().st_size  # the migration lock file is only ever empty


def test_a_non_empty_database_of_another_application_is_never_opened_as_a_catalog(tmp_path):
    import sqlite3

    path = tmp_path / "other.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)")
        connection.execute("INSERT INTO alembic_version VALUES ('0002')")  # another Alembic user
    before = path.read_bytes()
    for read_only in (False, True):
        with pytest.raises(CatalogError, match="is not an eoharvest catalog: a database with other tables"):
            open_catalog(path, read_only=read_only)
    assert path.read_bytes() == before
    assert not (tmp_path / "other.db.lock").exists()
