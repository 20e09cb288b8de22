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


def test_revision_0003_adds_search_leases_and_going_back_to_0002_keeps_the_searches(tmp_path):
    with open_catalog(tmp_path / "c.db") as repo:
        repo.save_search("alps", {"platforms": ["Sentinel-2"]})
        assert repo.take_search_lease("alps", "daemon@host:1", 60)
        migrate.downgrade(repo.writer, "0002")
        with repo.reader.connect() as conn:
            assert "search_lease" not in inspect(conn).get_table_names()
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0002"
        assert list(repo.saved_searches()) == ["alps"]
        migrate.upgrade(repo.writer, "0003")
        assert repo.search_lease("alps") is None  # leases are not kept across a downgrade
        assert repo.take_search_lease("alps", "cli@host:2", 60)
        with repo.reader.connect() as conn:
            columns = {c["name"]: c for c in inspect(conn).get_columns("search_lease")}
            assert set(columns) == {"search_id", "owner", "acquired_at", "expires_at"}
            assert not any(c["nullable"] for c in columns.values() if c["name"] != "search_id")
            [fk] = inspect(conn).get_foreign_keys("search_lease")
            assert (fk["referred_table"], fk["options"].get("ondelete")) == ("searches", "CASCADE")
