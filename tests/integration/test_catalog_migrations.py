"""T-15: every Alembic revision down and up again on a populated catalog keeps it consistent."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

from alembic.script import ScriptDirectory
from fakes import catalog_scene
from sqlalchemy import inspect, text

from eoharvest.adapters.catalog import migrate, open_catalog
from eoharvest.domain.footprint import Footprint

N = 10_000


def populate(repo) -> None:
    rng = random.Random(15)
    t0 = datetime(2023, 1, 1, tzinfo=timezone.utc)
    scenes = []
    for i in range(N):
        lon, lat = rng.uniform(-170, 170), rng.uniform(-60, 70)
        scenes.append(catalog_scene(f"s{i}", footprint=Footprint.from_bbox(lon, lat, lon + 1, lat + 1),
                                    when=t0 + timedelta(hours=i), cloud=rng.uniform(0, 100)))  # fmt: skip
    assert repo.upsert_scenes(scenes) == N


def health(repo) -> dict:
    with repo.reader.connect() as conn:
        rows = conn.execute(text("SELECT count(*) FROM scenes")).scalar()
        return {
            "rows": rows,
            "rtree_rows": conn.execute(text("SELECT count(*) FROM idx_scenes_footprint")).scalar(),
            "index_ok": conn.execute(text("SELECT CheckSpatialIndex('scenes', 'footprint')")).scalar(),
            "integrity": conn.execute(text("PRAGMA integrity_check")).scalar(),
            "fk_problems": conn.execute(text("PRAGMA foreign_key_check")).all(),
        }


def test_migrations_go_down_and_up_on_a_populated_catalog_and_stay_consistent(tmp_path):  # T-15
    with open_catalog(tmp_path / "c.db") as repo:
        populate(repo)
        assert health(repo) == {"rows": N, "rtree_rows": N, "index_ok": 1, "integrity": "ok", "fk_problems": []}
        revisions = list(ScriptDirectory.from_config(migrate.alembic_config()).walk_revisions())
        for rev in revisions:  # newest first
            target = rev.down_revision or "base"
            migrate.downgrade(repo.writer, target)
            if target == "base":
                # Nothing of ours is left behind: no orphan geometry registration or R*Tree.
                with repo.reader.connect() as conn:
                    tables = set(inspect(conn).get_table_names())
                    assert not {"scenes", "files", "searches", "download_jobs"} & tables
                    assert not any(t.startswith("idx_scenes_footprint") for t in tables)
                    assert conn.execute(text("SELECT count(*) FROM geometry_columns")).scalar() == 0
            migrate.upgrade(repo.writer, rev.revision)
            if target == "base":
                populate(repo)
            assert health(repo) == {"rows": N, "rtree_rows": N, "index_ok": 1, "integrity": "ok", "fk_problems": []}
        migrate.upgrade(repo.writer)  # already at head: a no-op that keeps everything
        assert health(repo)["rows"] == N


def test_reopening_a_catalog_at_head_changes_nothing(tmp_path):
    with open_catalog(tmp_path / "c.db") as repo:
        repo.upsert_scenes([catalog_scene("a")])
    with open_catalog(tmp_path / "c.db") as repo:
        assert (repo.created, repo.count()) == (False, 1)
        with repo.reader.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == migrate.head_revision()
