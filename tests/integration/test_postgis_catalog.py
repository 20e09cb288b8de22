"""The catalog on PostgreSQL/PostGIS answers as SpatiaLite does, and opens, locks and fails safely."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest
from catalog_samples import AOIS, filters, sample_scenes
from fakes import catalog_scene
from hypothesis import HealthCheck, given, settings
from pgcluster import SECRET_PASSWORD, SECRET_ROLE
from sqlalchemy import text

from eoharvest.adapters.catalog import fast_query, open_catalog, postgis, postgis_query
from eoharvest.adapters.catalog.postgis import open_postgis_catalog
from eoharvest.domain.catalog_location import CatalogUrl
from eoharvest.domain import orders as o
from eoharvest.domain.catalog_query import CatalogFilter
from eoharvest.domain.errors import CatalogBusy, CatalogError
from eoharvest.domain.footprint import Footprint
from eoharvest.domain.redaction import SECRETS

SEEN = datetime(2024, 12, 1, tzinfo=timezone.utc)


def _populate(repo, scenes) -> None:
    repo.upsert_scenes(scenes, seen_at=SEEN)
    repo.upsert_scenes([catalog_scene("s3", provider="cdse", cloud=1.0)], seen_at=SEEN)  # an update
    for k, state in enumerate(["queued", "fetching", "available", "available", "failed", "paused", "queued"]):
        stored = next(s for s in scenes if s.scene_id == f"s{k * 7}")
        for name in ("a.zip", "b.zip"):
            file_id = repo.record_file(stored.provider, stored.scene_id, name, size=10)
            if state == "available":
                repo.set_file_state(file_id, "available", local_path=f"/d/{stored.scene_id}/{name}", sha256="ab" * 32)
            elif name == "a.zip":
                repo.set_file_state(file_id, state)
            elif k % 2:
                repo.set_file_state(file_id, "failed" if state != "failed" else "queued")


def _scenes():
    # Mixed case: a byte-order sort puts "Zeta" before "alpha"; a language collation would not.
    extra = [catalog_scene(name, provider=provider, platform=platform, product_key=name)
             for name, provider, platform in (("Zeta", "USGS", "landsat-9"), ("alpha", "cdse", "Sentinel-2"),
                                              ("_under", "earth-search", "Sentinel-1"))]  # fmt: skip
    return sample_scenes() + extra


@pytest.fixture(scope="module")
def both(tmp_path_factory, postgis_cluster):
    """The same scenes and files in SpatiaLite and in PostGIS (an ICU en-US database, whose own
    collation would sort text differently from SQLite)."""
    lite = open_catalog(tmp_path_factory.mktemp("lite") / "c.db")
    pg = open_postgis_catalog(CatalogUrl(postgis_cluster.url(postgis_cluster.new_database(icu_locale="en-US"))))
    scenes = _scenes()
    for repo in (lite, pg):
        _populate(repo, scenes)
    yield lite, pg
    lite.close()
    pg.close()


def _full(records):
    return [(r.scene, dict(r.scene.raw), r.download_state, r.first_seen, r.last_seen, r.local_paths) for r in records]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(criteria=filters)
def test_postgis_answers_every_query_exactly_as_spatialite(both, criteria):
    lite, pg = both
    assert _full(pg.query(criteria)) == _full(lite.query(criteria))


@pytest.mark.parametrize("sort", ["provider", "platform", "scene_id", "product_key"])
def test_text_sorts_by_code_point_on_both_back_ends(both, sort):
    lite, pg = both
    for descending in (False, True):
        criteria = CatalogFilter.create(sort=sort, descending=descending, distinct_products=False)
        got = [r.scene.scene_id for r in pg.query(criteria)]
        assert got == [r.scene.scene_id for r in lite.query(criteria)]
    assert pg.stats() == lite.stats()


def test_the_spatialite_fast_path_is_never_used_on_postgresql(both, monkeypatch):
    _, pg = both

    def refuse(*args, **kwargs):
        raise AssertionError("fast_query used on PostgreSQL")

    monkeypatch.setattr(fast_query, "query", refuse)
    assert pg.query(CatalogFilter.create(aoi=AOIS[1]))
    sql = str(postgis_query.statement(CatalogFilter.create(aoi=AOIS[4])).compile(pg.reader))
    assert "idx_scenes_footprint" not in sql and "&&" in sql


def test_an_antimeridian_aoi_probes_the_gist_index_once_per_part(both):
    _, pg = both
    antimeridian = AOIS[4]
    assert len(antimeridian.part_bboxes) == 2
    stmt = postgis_query.statement(CatalogFilter.create(aoi=antimeridian))
    with pg.reader.connect() as conn:
        conn.exec_driver_sql("SET enable_seqscan = off")  # tiny table: make the planner show its index plan
        compiled = stmt.compile(conn)
        plan = "\n".join(r[0] for r in conn.exec_driver_sql(f"EXPLAIN {compiled}", compiled.params))
    assert plan.count("Index Cond: (footprint && ") == 2, plan
    assert "idx_scenes_footprint" in plan
    found = {r.scene.scene_id for r in pg.query(CatalogFilter.create(aoi=antimeridian))}
    assert found == {"fiji"}


def test_a_database_with_other_tables_is_refused_and_left_unchanged(postgis_cluster):
    name = postgis_cluster.new_database()
    postgis_cluster.sql(name, "CREATE TABLE invoices (id int)")
    with pytest.raises(CatalogError, match="not an eoharvest catalog.*invoices.*left unchanged") as err:
        open_postgis_catalog(CatalogUrl(postgis_cluster.url(name)))
    assert err.value.exit_code == 9
    with open_postgis_catalog(CatalogUrl(postgis_cluster.url(name)), migrate=False) as repo, repo.reader.connect() as conn:
        tables = {r[0] for r in conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))}
    assert tables == {"invoices", "spatial_ref_sys"}


def test_read_only_needs_an_existing_catalog_and_never_writes(postgis_url):
    with pytest.raises(CatalogError, match="no catalog in .* yet"):
        open_postgis_catalog(CatalogUrl(postgis_url), read_only=True)
    with open_postgis_catalog(CatalogUrl(postgis_url)) as repo:
        repo.upsert_scenes([catalog_scene("a")])
    with open_postgis_catalog(CatalogUrl(postgis_url), read_only=True) as reader:
        assert reader.count() == 1
        with pytest.raises(Exception, match="read-only transaction"):
            reader.upsert_scenes([catalog_scene("b")])
        assert reader.count() == 1


def test_a_catalog_from_a_newer_eoharvest_is_refused(postgis_url):
    with open_postgis_catalog(CatalogUrl(postgis_url)) as repo, repo.writer.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    for read_only in (False, True):
        with pytest.raises(CatalogError, match="newer than this eoharvest"):
            open_postgis_catalog(CatalogUrl(postgis_url), read_only=read_only)


def test_postgis_is_added_to_a_new_database_when_the_user_may(postgis_cluster):
    name = postgis_cluster.new_database(postgis=False)
    with open_postgis_catalog(CatalogUrl(postgis_cluster.url(name))) as repo:
        assert repo.created and repo.upsert_scenes([catalog_scene("a")]) == 1


def test_two_processes_creating_one_catalog_at_once_both_get_it_migrated_once(postgis_url):
    results, errors = [], []

    def run():
        try:
            with open_postgis_catalog(CatalogUrl(postgis_url)) as repo:
                results.append(repo.created)
        except Exception as exc:  # pragma: no cover - the assertion below shows it
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert errors == [] and sorted(results) == [False, False, False, True]


def test_a_wrong_password_is_a_catalog_error_that_never_shows_it(postgis_cluster):
    wrong = "canary-wrong-pw-77aa"
    url = CatalogUrl(postgis_cluster.url("postgres", user=SECRET_ROLE, password=wrong))
    with pytest.raises(CatalogError) as err:
        open_postgis_catalog(url)
    message = f"{err.value} {err.value.hint}"
    assert wrong not in message and "***" in message and "PGPASSWORD" in message
    assert wrong in SECRETS.values()  # registered, so logs mask it too


def test_passwords_come_from_pgpassword_or_a_password_file(postgis_cluster, monkeypatch, tmp_path):
    name = postgis_cluster.new_database()
    url = CatalogUrl(postgis_cluster.url(name, user=SECRET_ROLE))
    monkeypatch.setenv("PGPASSWORD", SECRET_PASSWORD)
    with open_postgis_catalog(url) as repo:
        assert repo.upsert_scenes([catalog_scene("a")]) == 1
    monkeypatch.delenv("PGPASSWORD")
    passfile = tmp_path / "pgpass"
    passfile.write_text(f"127.0.0.1:{postgis_cluster.port}:*:{SECRET_ROLE}:{SECRET_PASSWORD}\n")
    passfile.chmod(0o600)
    monkeypatch.setenv("PGPASSFILE", str(passfile))
    with open_postgis_catalog(url, read_only=True) as repo:
        assert repo.count() == 1
    assert SECRET_PASSWORD not in str(url) + repr(url) + repr(repo)


def test_an_unreachable_server_is_a_catalog_error_naming_the_redacted_url(postgis_cluster):
    port = postgis_cluster.port + 1 if postgis_cluster.port < 65535 else 1
    url = CatalogUrl(f"postgresql://bob:canary-unreach-pw@127.0.0.1:{port}/nowhere")
    with pytest.raises(CatalogError) as err:
        open_postgis_catalog(url)
    assert "canary-unreach-pw" not in str(err.value) and "bob:***@127.0.0.1" in str(err.value)


@pytest.mark.parametrize("size", [1, 2_000], ids=["row-by-row", "copy"])
def test_a_writer_kept_waiting_past_the_lock_timeout_gets_catalog_busy(postgis_url, monkeypatch, size):
    monkeypatch.setattr(postgis, "LOCK_TIMEOUT_S", 1)
    batch = [catalog_scene(f"b{i}") for i in range(size)]
    with open_postgis_catalog(CatalogUrl(postgis_url)) as repo, repo.writer.connect() as holder:
        repo.upsert_scenes([catalog_scene("a")])
        holder.begin()
        holder.execute(text("LOCK TABLE scenes IN EXCLUSIVE MODE"))
        with pytest.raises(CatalogBusy, match="locked by another writer"):
            repo.upsert_scenes(batch)
        holder.rollback()
        assert repo.upsert_scenes(batch) == size and repo.count() == size + 1


def test_a_large_batch_goes_through_copy_and_upserts_like_single_rows(postgis_url):
    with open_postgis_catalog(CatalogUrl(postgis_url)) as repo:
        assert repo.upsert_scenes([catalog_scene("s0", cloud=50.0)], seen_at=SEEN) == 1
        batch = [catalog_scene(f"s{i}", cloud=float(i % 100)) for i in range(3_000)]
        assert repo.upsert_scenes(batch + batch[:10]) == 2_999  # s0 was there; repeats count once
        again = repo.get_scene("cdse", "s0")
        assert again.cloudcover_percentage == 0.0 and again.footprint == batch[0].footprint
        [record] = repo.query(CatalogFilter(where=None, distinct_products=False, limit=1))
        assert record.first_seen == SEEN  # an update keeps first_seen
        assert repo.count() == 3_000


def test_two_processes_racing_to_create_one_order_have_exactly_one_winner(postgis_url):
    key = o.OrderKey("usgs", "P1", "*")
    now = datetime(2025, 3, 1, tzinfo=timezone.utc)
    repos = [open_postgis_catalog(CatalogUrl(postgis_url)) for _ in range(4)]
    barrier, won = threading.Barrier(len(repos)), []

    def create(repo):
        barrier.wait()
        won.append(repo.create_order(o.new_intent(key, "scene-P1", now=now, owner="h:1", claimed_until=now)))

    threads = [threading.Thread(target=create, args=(r,)) for r in repos]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sum(1 for w in won if w is not None) == 1 and len(won) == 4
    stored = repos[0].get_order(key)
    assert repos[0].update_order(o.apply_status(stored, o.OrderStatus(o.REQUESTED, remote_id="1"), now))
    assert repos[1].update_order(o.apply_status(stored, o.OrderStatus(o.REQUESTED, remote_id="2"), now)) is None
    for repo in repos:
        repo.close()


def test_footprints_are_stored_with_a_gist_index_and_srid_4326(postgis_url):
    with open_postgis_catalog(CatalogUrl(postgis_url)) as repo, repo.reader.connect() as conn:
        repo.upsert_scenes([catalog_scene("a", footprint=Footprint.from_bbox(1, 2, 3, 4))])
        index = conn.execute(text("SELECT indexdef FROM pg_indexes WHERE indexname = 'idx_scenes_footprint'")).scalar()
        assert "USING gist (footprint)" in index
        assert conn.execute(text("SELECT Find_SRID('public', 'scenes', 'footprint')")).scalar() == 4326
        assert conn.execute(text("SELECT GeometryType(footprint) FROM scenes")).scalar() == "MULTIPOLYGON"


def _health(repo) -> dict:
    with repo.reader.connect() as conn:
        return {
            "rows": conn.execute(text("SELECT count(*) FROM scenes")).scalar(),
            "gist": conn.execute(text("SELECT count(*) FROM pg_indexes WHERE indexname = 'idx_scenes_footprint' "
                                      "AND indexdef LIKE '%USING gist (footprint)%'")).scalar(),  # fmt: skip
            "invalid_fks": conn.execute(text("SELECT count(*) FROM files WHERE scene_pk NOT IN (SELECT id FROM scenes)")).scalar(),
        }


def test_t15_every_migration_goes_down_and_up_on_a_populated_postgis_catalog(postgis_url):
    from alembic.script import ScriptDirectory

    from eoharvest.adapters.catalog import migrate

    n = 10_000
    scenes = [catalog_scene(f"s{i}", footprint=Footprint.from_bbox(i % 340 - 170, i % 120 - 60, i % 340 - 169, i % 120 - 59))
              for i in range(n)]  # fmt: skip
    with open_postgis_catalog(CatalogUrl(postgis_url)) as repo:
        assert repo.upsert_scenes(scenes) == n
        repo.record_file("cdse", "s1", "a.zip")
        assert _health(repo) == {"rows": n, "gist": 1, "invalid_fks": 0}
        for rev in ScriptDirectory.from_config(migrate.alembic_config()).walk_revisions():  # newest first
            target = rev.down_revision or "base"
            migrate.downgrade(repo.writer, target)
            if target == "base":
                with repo.reader.connect() as conn:
                    tables = {r[0] for r in conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))}
                assert tables <= {"alembic_version", "spatial_ref_sys"}
            migrate.upgrade(repo.writer, rev.revision)
            if target == "base":
                assert repo.upsert_scenes(scenes) == n
                repo.record_file("cdse", "s1", "a.zip")
            assert _health(repo) == {"rows": n, "gist": 1, "invalid_fks": 0}
        migrate.upgrade(repo.writer)
        assert _health(repo) == {"rows": n, "gist": 1, "invalid_fks": 0}
        with repo.reader.connect() as conn:
            assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == migrate.head_revision()
