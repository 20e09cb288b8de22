"""Which commands may create, migrate or write the catalog: run as a user runs them (subprocesses).

Read-only commands (`catalog query/stats/export`, `daemon status`, `watch list/show`, `verify`
without `--repair`) never create, migrate or take the write lock; no command changes a database
that is not an eoharvest catalog.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from eoharvest.adapters.catalog import migrate, open_catalog

BIN = Path(sys.executable).with_name("eoharvest")
AOI = "-79.4,43.8,-79.3,43.9"

READ_ONLY = [
    ("catalog", "stats"),
    ("catalog", "query", "--format", "csv"),
    ("catalog", "export", "--format", "geojson", "-o", "out.geojson"),
    ("daemon", "status"),
    ("watch", "list"),
    ("watch", "show", "s2"),
    ("verify",),
]
WRITING = [
    ("watch", "add", "s2", "--aoi", AOI),
    ("harvest", "--aoi", AOI, "--no-download"),
    ("verify", "--repair"),
]


@pytest.fixture
def env(tmp_path):
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("EOHARVEST_")},
        "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        # Nothing may reach the network: a refused loopback port if a command tried to search.
        "EOHARVEST_STAC_URL": "http://127.0.0.1:9/v1",
        "EOHARVEST_DOWNLOAD_DIR": str(tmp_path / "archive"),
    }  # fmt: skip


def cli(env, catalog, *args, cwd=None, timeout=60):
    return subprocess.run([str(BIN), "--catalog", str(catalog), *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)  # fmt: skip


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def foreign_database(path: Path) -> Path:
    """Another application's SQLite file, in rollback-journal mode as most applications leave it."""
    connection = sqlite3.connect(path)
    connection.executescript(
        "CREATE TABLE contacts (id INTEGER PRIMARY KEY, name TEXT);"
        "CREATE INDEX contacts_name ON contacts (name);"
        "INSERT INTO contacts (name) VALUES ('Ada'), ('Grace');"
    )
    connection.commit()
    connection.close()
    return path


@pytest.mark.parametrize("args", READ_ONLY + WRITING, ids=lambda a: " ".join(a[:2]))
def test_no_command_turns_another_applications_sqlite_file_into_a_catalog(env, tmp_path, args):
    other = foreign_database(tmp_path / "other.db")
    before = sha256(other)
    result = cli(env, other, *args, cwd=tmp_path)
    assert result.returncode == 9, result.stderr
    assert f"'{other}' is not an eoharvest catalog" in result.stderr and "contacts" in result.stderr
    assert "--catalog" in result.stderr  # what to do about it
    assert "Traceback" not in result.stderr
    assert sha256(other) == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("other.db")) == ["other.db"]
    with sqlite3.connect(other) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def test_a_file_that_is_not_a_database_is_refused_and_left_alone(env, tmp_path):
    notes = tmp_path / "notes.db"
    notes.write_bytes(b"these are my notes, not a database\n" * 200)
    before = sha256(notes)
    for args in (("catalog", "stats"), ("watch", "add", "s2", "--aoi", AOI)):
        result = cli(env, notes, *args)
        assert result.returncode == 9 and "is not an eoharvest catalog" in result.stderr, result.stderr
    assert sha256(notes) == before


@pytest.mark.parametrize("args", READ_ONLY, ids=lambda a: " ".join(a[:2]))
def test_read_only_commands_on_a_missing_catalog_create_nothing_and_say_so(env, tmp_path, args):
    missing = tmp_path / "catalog.db"
    result = cli(env, missing, *args, cwd=tmp_path)
    assert result.returncode == 9, result.stderr
    assert f"there is no catalog at '{missing}' yet" in result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_catalog_folder_that_does_not_exist_is_an_error_except_for_commands_that_write(env, tmp_path):
    catalog = tmp_path / "no" / "such" / "folder" / "catalog.db"
    result = cli(env, catalog, "catalog", "stats")
    assert result.returncode == 9
    assert f"the folder '{catalog.parent}' does not exist" in result.stderr
    assert not (tmp_path / "no").exists()
    created = cli(env, catalog, "watch", "add", "s2", "--aoi", AOI)
    assert created.returncode == 0, created.stderr
    assert cli(env, catalog, "watch", "list").returncode == 0


def test_read_only_commands_refuse_an_older_catalog_without_migrating_it_until_catalog_upgrade(env, tmp_path):
    path = tmp_path / "catalog.db"
    with open_catalog(path) as repo:
        migrate.downgrade(repo.writer, "0001")
    for args in READ_ONLY[:2]:
        result = cli(env, path, *args, cwd=tmp_path)
        assert result.returncode == 9, result.stderr
        assert "schema revision '0001', older than this eoharvest's" in result.stderr
        assert "eoharvest catalog upgrade" in result.stderr
    with open_catalog(path, read_only=False, migrate=False) as repo, repo.reader.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0001"
    upgraded = cli(env, path, "catalog", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert json.loads(cli(env, path, "catalog", "stats", "--json").stdout)["scenes"] == 0


def test_read_only_commands_run_while_another_process_holds_the_write_lock(env, tmp_path):
    path = tmp_path / "catalog.db"
    assert cli(env, path, "watch", "add", "s2", "--aoi", AOI).returncode == 0
    with open_catalog(path) as repo, repo.writer.begin() as conn:  # BEGIN IMMEDIATE, held
        conn.execute(text("UPDATE searches SET enabled = enabled"))
        for args in (("catalog", "stats", "--json"), ("watch", "list", "--json"), ("verify", "--json")):
            # The write lock is held for longer than this timeout: only a reader finishes in time.
            result = cli(env, path, *args, cwd=tmp_path, timeout=20)
            assert result.returncode == 0, result.stderr
        assert [s["name"] for s in json.loads(cli(env, path, "watch", "list", "--json").stdout)] == ["s2"]
