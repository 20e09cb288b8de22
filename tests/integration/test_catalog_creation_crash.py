"""T-06 for the catalog itself: a process killed at any step of creating the catalog leaves
either no catalog or a whole one, and the next run creates or opens it; a file that is not an
eoharvest catalog is still refused and left unchanged (adapters/catalog/creation.py)."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from integration.catalog_creation_worker import STEPS

from eoharvest.adapters.catalog import migrate, open_catalog
from eoharvest.domain.errors import CatalogError

WORKER = Path(__file__).with_name("catalog_creation_worker.py")
TESTS = Path(__file__).resolve().parents[1]


def start_worker(path: Path, step: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EOHARVEST_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), env.get("PYTHONPATH")]))
    return subprocess.Popen([sys.executable, str(WORKER), str(path), step], env=env, cwd=TESTS,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip


def assert_whole_catalog(path: Path) -> None:
    with open_catalog(path) as catalog:  # opens (creating it if the crash left none) and migrates
        assert catalog.count() == 0
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [(migrate.head_revision(),)]
    db.close()
    leftovers = sorted(p.name for p in path.parent.iterdir() if ".creating" in p.name)
    assert leftovers == [], "a crashed creation's building file is still there"


@pytest.mark.parametrize("step", STEPS)
def test_t06_killed_at_each_step_of_creating_the_catalog_the_next_run_opens_a_whole_catalog(tmp_path, step):
    path = tmp_path / "catalog.db"
    proc = start_worker(path, step)
    out, err = proc.communicate(timeout=120)  # a hang guard
    assert proc.returncode == -signal.SIGKILL, err  # it did reach that step and die there
    assert "opened" not in out
    if path.exists():  # only ever a whole catalog at the final name, never part of one
        with sqlite3.connect(path) as db:
            tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"alembic_version", "scenes"} <= tables, f"{step}: a partial catalog at the final name"
    assert_whole_catalog(path)


@pytest.mark.parametrize("trial", range(3))
def test_t06_killed_at_a_random_moment_while_creating_the_catalog_the_next_run_opens_it(tmp_path, trial):
    path = tmp_path / "catalog.db"
    proc = start_worker(path, "none")
    # No sleep as the synchroniser here: the worker's own start-up is the random part; the kill
    # lands somewhere in interpreter start-up, the imports or the creation (any is a valid trial).
    try:
        proc.wait(timeout=random.Random(1881 + trial).uniform(0.5, 2.5))
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=120)
    assert proc.returncode in (0, -signal.SIGKILL)
    assert_whole_catalog(path)


def test_an_empty_file_or_a_database_without_tables_becomes_a_catalog(tmp_path):
    empty = tmp_path / "empty.db"
    empty.touch()
    assert_whole_catalog(empty)
    header_only = tmp_path / "header.db"
    with sqlite3.connect(header_only) as db:
        db.execute("PRAGMA journal_mode = WAL")  # writes the header: an SQLite file with no table
    assert header_only.stat().st_size > 0
    assert_whole_catalog(header_only)


@pytest.mark.parametrize("tables", [
    ["CREATE TABLE notes (body TEXT)", "INSERT INTO notes VALUES ('mine')"],
    ["CREATE TABLE alembic_version (version_num TEXT)"],  # not ours without the catalog's tables
    ["CREATE TABLE spatial_ref_sys (srid INTEGER)"],
])  # fmt: skip
def test_a_non_empty_foreign_sqlite_file_is_still_refused_and_left_unchanged(tmp_path, tables):
    path = tmp_path / "catalog.db"
    with sqlite3.connect(path) as db:
        for statement in tables:
            db.execute(statement)
    db.close()
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    with pytest.raises(CatalogError, match="not an eoharvest catalog"):
        open_catalog(path)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in tmp_path.iterdir()) in (["catalog.db"], ["catalog.db", "catalog.db.lock"])
