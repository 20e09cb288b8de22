"""`eoharvest catalog copy`: SpatiaLite -> PostGIS -> SpatiaLite keeps everything; an interrupted
copy is completed by running it again; rows already in the target are never overwritten."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from fakes import catalog_scene
from shapely.geometry import Polygon

from eoharvest.adapters.catalog import open_catalog
from eoharvest.adapters.catalog.postgis import open_postgis_catalog
from eoharvest.domain.catalog_location import CatalogUrl
from eoharvest.domain import orders as o
from eoharvest.domain.catalog_query import CatalogFilter
from eoharvest.domain.footprint import Footprint
from eoharvest.domain.watch import SearchState
from eoharvest.entrypoints.cli import main

BIN = Path(sys.executable).with_name("eoharvest")
N = 10_000
T0 = datetime(2023, 1, 1, tzinfo=timezone.utc)
# A footprint crossing the antimeridian, as a provider sends it (cut in two by from_provider).
ANTIMERIDIAN = Footprint.from_provider(Polygon([(179, -18), (181, -18), (181, -15), (179, -15)]))


def populate(repo) -> None:
    rng = random.Random(24)
    scenes = []
    for i in range(N):
        lon, lat = rng.uniform(-170, 170), rng.uniform(-60, 70)
        scenes.append(catalog_scene(f"s{i}", footprint=Footprint.from_bbox(lon, lat, lon + 1, lat + 1),
                                    when=T0 + timedelta(hours=i), cloud=None if i % 9 == 0 else rng.uniform(0, 100),
                                    product_key=f"P{i // 2}", raw={"i": i}))  # fmt: skip
    scenes.append(catalog_scene("fiji", footprint=ANTIMERIDIAN, when=T0))
    repo.upsert_scenes(scenes, seen_at=T0)
    for i in range(0, N, 50):
        file_id = repo.record_file("cdse", f"s{i}", "a.zip", size=i, href=f"https://example.test/{i}")
        if i % 100 == 0:
            repo.set_file_state(file_id, "available", local_path=f"/archive/s{i}/a.zip", sha256=f"{i:064x}")
    _extracted(repo, "s50")
    repo.save_search("alps", {"platforms": ["Sentinel-2"], "every": "1h"})
    repo.save_search("baltic", {"platforms": ["Sentinel-1"]})
    repo.put_search_state("alps", SearchState(watermark=T0, last_run_at=T0, failures=2, last_error="HTTP 503"))
    stored = repo.create_order(o.new_intent(o.OrderKey("usgs", "P1", "*"), "s1", now=T0, owner="h:1", claimed_until=T0))
    repo.update_order(o.apply_status(stored, o.OrderStatus(o.REQUESTED, remote_id="r-1"), T0))


def _extracted(repo, scene_id) -> None:
    """An archive whose members were recorded when it was extracted (written as the catalog
    saw them: the members' rows are what the copy must carry, not the files)."""
    from sqlalchemy import insert

    from eoharvest.adapters.catalog.tables import archive_members

    file_id = repo.record_file("cdse", scene_id, "b.zip", size=3)
    repo.set_file_state(file_id, "available", local_path=f"/archive/{scene_id}", sha256="ab" * 32)
    with repo.writer.begin() as conn:
        conn.execute(insert(archive_members), [
            {"file_id": file_id, "path": f"X.SAFE/m{k}.jp2", "local_path": f"/archive/{scene_id}/X.SAFE/m{k}.jp2",
             "size": k, "sha256": f"{k:064x}", "mtime_ns": 10**18 + k, "inode": 1000 + k, "verified_at": T0.replace(tzinfo=None)}
            for k in range(3)
        ])  # fmt: skip


def members(repo) -> list:
    from sqlalchemy import select

    from eoharvest.adapters.catalog.tables import archive_members

    with repo.reader.connect() as conn:
        rows = conn.execute(select(*[c for c in archive_members.columns if c.name not in ("id", "file_id")])
                            .order_by(archive_members.c.path)).all()  # fmt: skip
    return [tuple(r) for r in rows]


def snapshot(repo) -> dict:
    every = CatalogFilter(distinct_products=False)
    records = [(r.scene, r.download_state, r.first_seen, r.last_seen, r.local_paths) for r in repo.query(every)]
    orders = [(x.key, x.state, x.remote_id, x.label, x.version, x.created_at) for x in repo.find_orders(o.OrderFilter())]
    stored = [(f.provider, f.scene_id, f.product_key, f.name, f.local_path, f.sha256) for f in repo.stored_files()]
    return {
        "records": records,
        "stored": stored,
        "members": [(m.product_key, m.path, m.sha256) for m in repo.stored_members()] + members(repo),
        "searches": repo.saved_searches(),
        "states": repo.search_states(),
        "orders": orders,
        "stats": repo.stats(),
        "fiji": [r.scene.scene_id for r in repo.query(CatalogFilter(aoi=Footprint.from_bbox(-179.9, -17, -179.5, -16)))],
    }


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    path = tmp_path_factory.mktemp("copy") / "source.db"
    with open_catalog(path) as repo:
        populate(repo)
        expected = snapshot(repo)
    return path, expected


def copy(src, dst, *extra):
    return main(["catalog", "copy", "--from", str(src), "--to", str(dst), *extra])


def test_a_10k_scene_catalog_round_trips_spatialite_postgis_spatialite(source, postgis_url, tmp_path, capsys):
    path, expected = source
    assert copy(f"sqlite:///{path}", postgis_url, "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["complete"] and report["tables"]["scenes"] == {"source": N + 1, "copied": N + 1, "already_present": 0}
    assert report["tables"]["files"]["copied"] == N // 50 + 1 and report["tables"]["orders"]["copied"] == 1
    assert report["tables"]["archive_members"] == {"source": 3, "copied": 3, "already_present": 0}
    with open_postgis_catalog(CatalogUrl(postgis_url), read_only=True) as pg:
        assert snapshot(pg) == expected
        assert expected["fiji"] == ["fiji"]
    back = tmp_path / "back.db"
    assert copy(postgis_url, back) == 0
    with open_catalog(back, read_only=True) as lite:
        assert snapshot(lite) == expected


def test_copying_again_changes_nothing_and_keeps_what_the_target_has(source, postgis_url, capsys):
    path, expected = source
    with open_postgis_catalog(CatalogUrl(postgis_url)) as pg:
        # The target already knows scene s5 with other values: the copy must not overwrite them.
        pg.upsert_scenes([catalog_scene("s5", cloud=77.0, product_key="P2")], seen_at=T0)
    assert copy(path, postgis_url, "--json") == 0
    first = json.loads(capsys.readouterr().out)["tables"]
    assert first["scenes"] == {"source": N + 1, "copied": N, "already_present": 1}
    assert copy(path, postgis_url, "--json") == 0
    again = json.loads(capsys.readouterr().out)["tables"]
    assert all(t["copied"] == 0 and t["already_present"] == t["source"] for t in again.values())
    with open_postgis_catalog(CatalogUrl(postgis_url), read_only=True) as pg:
        assert pg.get_scene("cdse", "s5").cloudcover_percentage == 77.0
        assert pg.count() == N + 1


def test_a_copy_killed_half_way_is_completed_by_running_it_again(source, postgis_url, tmp_path):
    path, expected = source
    env = {**os.environ, "EOHARVEST_CRASH_AT": "copy-scenes-3", "HOME": str(tmp_path)}
    killed = subprocess.run([str(BIN), "catalog", "copy", "--from", str(path), "--to", postgis_url],
                            env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    with open_postgis_catalog(CatalogUrl(postgis_url), read_only=True) as pg:
        assert pg.count() == 3 * 2_000  # whole chunks only
    env.pop("EOHARVEST_CRASH_AT")
    done = subprocess.run([str(BIN), "catalog", "copy", "--from", str(path), "--to", postgis_url, "--json"],
                          env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["tables"]["scenes"] == {"source": N + 1, "copied": N + 1 - 6_000, "already_present": 6_000}
    with open_postgis_catalog(CatalogUrl(postgis_url), read_only=True) as pg:
        assert snapshot(pg) == expected


@pytest.mark.parametrize("src, dst, code, message", [
    ("{path}", "{path}", 2, "are the same catalog"),
    ("{path}", "sqlite:///{path}", 2, "are the same catalog"),  # path is absolute: sqlite:////...
    ("{path}", "mysql://h/db", 9, "mysql:// catalogs are not supported"),
    ("{path}", "postgresql://h:12x/db", 9, "port of the catalog URL"),
    ("{path}", "postgresql://host", 9, "names no database"),
])  # fmt: skip
def test_bad_locations_are_refused_naming_the_value(source, src, dst, code, message, capsys):
    path, _ = source
    assert copy(src.format(path=path), dst.format(path=path)) == code  # sqlite:////abs/path: the same file
    assert message in capsys.readouterr().err


def test_a_password_in_the_url_is_never_printed(source, postgis_cluster, capsys):
    from pgcluster import SECRET_ROLE

    path, _ = source
    url = postgis_cluster.url(postgis_cluster.new_database(), user=SECRET_ROLE, password="canary-copy-wrong-31")
    assert copy(path, url) == 9
    out, err = capsys.readouterr()
    assert "canary-copy-wrong-31" not in out + err
    assert "visible to other users in the process list" in err and "PGPASSWORD" in err
