"""The daemon schedules enabled saved searches only, and follows `watch disable` / `enable`
at its next refresh (the scheduler is never started: only its job list is read)."""

from datetime import timedelta

from fakes import FakeClock, InMemoryCatalog

from eoharvest.application.sync import SyncOptions
from eoharvest.application.sync_service import SyncService
from eoharvest.domain.watch import WatchDefinition
from eoharvest.entrypoints.daemon import SyncDaemon

AOI = {"type": "Polygon", "coordinates": [[[10, 45], [11, 45], [11, 46], [10, 46], [10, 45]]]}


def test_a_disabled_search_leaves_the_schedule_at_the_next_refresh_and_enable_brings_it_back(tmp_path):
    catalog = InMemoryCatalog()
    for name in ("one", "two"):
        catalog.save_search(name, WatchDefinition("earth-search", ("Sentinel-2",), AOI, timedelta(hours=1)).to_json())
    service = SyncService(catalog, lambda definition, window: [], clock=FakeClock(), options=SyncOptions(outdir=str(tmp_path)))
    daemon = SyncDaemon(service)
    daemon.refresh()
    assert sorted(job.name for job in daemon.scheduler.get_jobs()) == ["one", "two"]
    catalog.set_search_enabled("two", False)
    daemon.refresh()
    assert [job.name for job in daemon.scheduler.get_jobs()] == ["one"]
    service.enable("two")
    daemon.refresh()
    assert sorted(job.name for job in daemon.scheduler.get_jobs()) == ["one", "two"]
