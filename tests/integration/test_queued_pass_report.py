"""A daemon pass on a shared catalog hands its downloads to the queue: it reports those scenes
as queued, never as downloaded (in its state, `watch show --json`, and its log line, text and
JSON), and a later pass finds the files the workers completed as already had."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta, timezone

import pytest
from fakes import FakeClock, FakeSceneSource, make_scene

from eoharvest.adapters.catalog.job_queue import CatalogJobQueue
from eoharvest.application.download_queue import DescriptorCache, QueueingFetcher
from eoharvest.application.downloading import SourceDownloader
from eoharvest.application.sync import SyncOptions
from eoharvest.application.sync_service import SyncService
from eoharvest.domain.watch import WatchDefinition
from eoharvest.entrypoints.logs import JsonFormatter

T0 = datetime(2025, 8, 1, 13, tzinfo=timezone.utc)
AOI = {"type": "Polygon", "coordinates": [[[-80, 43], [-79, 43], [-79, 44], [-80, 44], [-80, 43]]]}


@pytest.fixture
def catalog(sql_catalog):
    return sql_catalog


def test_a_pass_that_queues_its_downloads_reports_them_queued_not_downloaded(catalog, tmp_path, caplog):
    source = FakeSceneSource()
    queue = CatalogJobQueue(catalog, retry_base=timedelta(0))
    fetcher = QueueingFetcher(catalog, queue, DescriptorCache())
    window = [make_scene(f"S{i}", acq_date=T0 + timedelta(days=i)) for i in range(3)]

    def bind(scene):
        return scene.bind_downloader(lambda s, **extra: SourceDownloader(source, s, fetcher, None, **extra))

    options = SyncOptions(outdir=str(tmp_path / "archive"), use_threads=False)
    service = SyncService(catalog, lambda definition, w: [bind(s) for s in window], clock=FakeClock(T0 + timedelta(days=9)),
                          options=options)  # fmt: skip
    catalog.save_search("s", WatchDefinition("fake", ("Sentinel-2",), AOI, timedelta(hours=1)).to_json())
    with caplog.at_level(logging.INFO, logger="eoharvest.sync"):
        first = service.run_now("s")
    report = first.result.report
    assert first.status == "ok"
    assert (report.found, report.downloaded, report.queued, report.already_had) == (3, 0, 3, 0)
    assert queue.counts() == {"queued": 3}
    state = catalog.search_states()["s"]
    assert (state.last_downloaded, state.last_queued) == (0, 3)
    line = next(r for r in caplog.records if r.getMessage().startswith("pass s: found"))
    assert "downloaded 0, queued 3" in line.getMessage()
    assert json.loads(JsonFormatter().format(line))["counts"] == {
        "found": 3, "new": 3, "downloaded": 0, "queued": 3, "already_had": 0, "failed": 0}  # fmt: skip
    # The workers complete the files; the next pass has them.
    while (job := queue.claim("worker", 30)) is not None:
        path = tmp_path / "archive" / job.product_key / job.name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
        assert queue.complete(job, str(path), "ab" * 32, 1)
    second = service.run_now("s").result.report
    assert (second.downloaded, second.queued, second.already_had) == (0, 0, 3)
    assert catalog.search_states()["s"].last_queued == 0


def test_the_summary_shows_queued_scenes_in_json_and_in_the_table(tmp_path, capsys):
    from eoharvest.application.harvest import HarvestReport
    from eoharvest.entrypoints.cli_report import print_report

    report = HarvestReport(found=4, new=4, downloaded=1, queued=3)
    print_report(report, tmp_path, as_json=True, catalog="c", title="pass")
    data = json.loads(capsys.readouterr().out)
    assert (data["downloaded"], data["queued"]) == (1, 3)

    def header():
        return next(line for line in capsys.readouterr().out.splitlines() if "found" in line)

    print_report(report, tmp_path, as_json=False, catalog="c", title="pass")
    assert "queued" in header()
    print_report(HarvestReport(found=1, downloaded=1), tmp_path, as_json=False, catalog="c", title="run")
    assert "queued" not in header()  # a run that queues nothing keeps its table
