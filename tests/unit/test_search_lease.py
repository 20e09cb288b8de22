"""One pass of a saved search at a time: the pass's lease, over the in-memory catalog."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
from fakes import FakeClock, InMemoryCatalog, catalog_scene

from eoharvest.application.search_lease import PassLease
from eoharvest.application.sync import SyncOptions
from eoharvest.application.sync_service import SyncService
from eoharvest.domain.watch import WatchDefinition

T0 = datetime(2025, 8, 1, 13, tzinfo=timezone.utc)
AOI = {"type": "Polygon", "coordinates": [[[10, 45], [11, 45], [11, 46], [10, 46], [10, 45]]]}


class Holder:
    def __init__(self, name: str, gone: tuple[str, ...] = ()) -> None:
        self.name, self.gone = name, gone

    def is_gone(self, holder: str) -> bool:
        return holder in self.gone


class Provider:
    def __init__(self, scenes=("a", "b")):
        self.calls = 0
        self.scenes = scenes
        self.between = lambda: None  # what happens between the first and the second scene

    def __call__(self, definition, start):
        self.calls += 1
        for i, scene_id in enumerate(self.scenes):
            if i == 1:
                self.between()
            yield catalog_scene(scene_id, when=T0, provider="earth-search")


def save(catalog, name="s2"):
    definition = WatchDefinition(provider="earth-search", platforms=("Sentinel-2",), aoi=AOI,
                                 every=timedelta(hours=1), download=False)  # fmt: skip
    catalog.save_search(name, definition.to_json())


def service(catalog, provider, holder, tmp_path, clock=None, **kw):
    return SyncService(catalog, provider, clock=clock or FakeClock(T0 + timedelta(days=3)),
                       options=SyncOptions(outdir=str(tmp_path)), holder=holder, **kw)  # fmt: skip


def test_a_scheduled_pass_is_skipped_while_another_process_runs_the_same_search(tmp_path):
    catalog, provider = InMemoryCatalog(), Provider()
    save(catalog)
    assert catalog.take_search_lease("s2", "watch-run@host:7", 60)
    outcome = service(catalog, provider, Holder("daemon@host:1"), tmp_path).run_scheduled("s2")
    assert outcome.status == "skipped" and "another pass of s2 is running: watch-run@host:7" in outcome.detail
    assert provider.calls == 0 and catalog.count() == 0 and "s2" not in catalog.search_states()
    assert catalog.search_lease("s2").owner == "watch-run@host:7"  # left alone


def test_watch_run_waits_for_the_running_pass_then_runs_its_own_and_releases_the_lease(tmp_path):
    catalog, provider = InMemoryCatalog(), Provider()
    save(catalog)
    assert catalog.take_search_lease("s2", "daemon@host:1", 60)

    class OtherPassEnds(FakeClock):
        def sleep(self, seconds):
            super().sleep(seconds)
            if len(self.sleeps) == 3:  # the daemon's pass ends while we wait
                catalog.release_search_lease("s2", "daemon@host:1")

    clock = OtherPassEnds(T0 + timedelta(days=3))
    outcome = service(catalog, provider, Holder("cli@host:2"), tmp_path, clock=clock).run_now("s2")
    assert outcome.status == "ok" and provider.calls == 1 and len(clock.sleeps) == 3
    assert catalog.search_lease("s2") is None


def test_waiting_for_another_pass_ends_when_cancelled(tmp_path):
    catalog, provider = InMemoryCatalog(), Provider()
    save(catalog)
    assert catalog.take_search_lease("s2", "daemon@host:1", 60)
    calls = iter([False, False, True])
    outcome = service(catalog, provider, Holder("cli@host:2"), tmp_path).run_now("s2", lambda: next(calls))
    assert outcome.status == "cancelled" and provider.calls == 0


def test_the_lease_of_a_holder_known_to_be_gone_is_taken_over_at_once(tmp_path):
    catalog, provider = InMemoryCatalog(), Provider()
    save(catalog)
    assert catalog.take_search_lease("s2", "daemon@host:1", 3600)  # then kill -9
    holder = Holder("daemon@host:9", gone=("daemon@host:1",))
    assert service(catalog, provider, holder, tmp_path).run_scheduled("s2").status == "ok"
    assert provider.calls == 1 and catalog.search_lease("s2") is None


def test_a_pass_is_released_even_when_it_fails(tmp_path):
    catalog = InMemoryCatalog()
    save(catalog)

    def broken(definition, start):
        raise RuntimeError("the provider exploded")

    outcome = service(catalog, broken, Holder("daemon@host:1"), tmp_path).run_scheduled("s2")
    assert outcome.status == "failed" and catalog.search_lease("s2") is None
    assert catalog.take_search_lease("s2", "cli@host:2", 60)


def test_a_pass_whose_lease_was_taken_over_stops_and_commits_nothing(tmp_path):
    catalog, provider = InMemoryCatalog(), Provider()
    save(catalog)
    holder = Holder("daemon@host:1")

    def stolen():  # e.g. this process stalled past the lease's expiry and another took it
        assert catalog.take_search_lease("s2", "daemon@other:5", 60, replacing=holder.name)
        time.sleep(0.3)  # several heartbeats: the next one finds the lease gone

    provider.between = stolen
    outcome = service(catalog, provider, holder, tmp_path, renew_every=0.05).run_now("s2")
    assert outcome.status == "cancelled" and "took over" in outcome.detail
    assert "s2" not in catalog.search_states()  # the window is searched again by the new holder
    assert catalog.search_lease("s2").owner == "daemon@other:5"  # not released by the loser


def test_the_heartbeat_renews_the_lease_while_a_pass_runs(tmp_path):
    catalog = InMemoryCatalog()
    save(catalog)
    lease = PassLease(catalog, "s2", Holder("daemon@host:1"), seconds=0.3, renew_every=0.05)
    assert lease.try_take()
    with lease:
        first = catalog.search_lease("s2").expires_at
        time.sleep(0.5)  # longer than the lease lasts: only renewals keep it
        assert not catalog.take_search_lease("s2", "cli@host:2", 60)
        assert catalog.search_lease("s2").expires_at > first
    assert catalog.search_lease("s2") is None and not lease.lost


@pytest.mark.parametrize("gone", [True, False])
def test_a_local_process_is_gone_only_when_its_pid_no_longer_exists(gone):
    import os
    import socket
    import subprocess
    import sys

    from eoharvest.adapters.processes import LocalProcess

    me = LocalProcess()
    host = socket.gethostname()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        if gone:
            child.kill()
            child.wait(timeout=10)
        assert me.is_gone(f"{host}:{child.pid}/abc123") is gone
    finally:
        child.kill()
        child.wait(timeout=10)
    assert me.is_gone(f"another-host:{child.pid}/abc123") is False  # not ours to judge
    assert me.is_gone(me.name) is False and me.is_gone(f"{host}:{os.getpid()}/other") is False
