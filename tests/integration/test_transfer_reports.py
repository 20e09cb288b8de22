"""Honest byte counts (issue 18 item 4): a run reports the bytes it transferred and, separately,
the bytes its scenes now take in the archive; a resumed file counts only the rest."""

from __future__ import annotations

import json
import random

import httpx
import pytest

from eoharvest.adapters.http.guard import UrlGuard
from eoharvest.adapters.http.transfer import TransferEngine, TransferLimits
from eoharvest.adapters.transfers import ProviderTransfers, SafeArchives
from eoharvest.application.downloading import DownloadSummary
from eoharvest.application.harvest import HarvestReport
from eoharvest.application.scene_download import SceneDownloadService
from eoharvest.domain.errors import RetryExhausted
from eoharvest.domain.models import Checksum, DownloadDescriptor
from eoharvest.domain.retry import RetryPolicy
from eoharvest.entrypoints.cli_report import print_report
from fakes import make_scene
from faultserver.fixtures import fault_server, fault_server_factory  # noqa: F401

SIZE = 5_040_000
CUT = 3_000_000


def service(client, attempts):
    engine = TransferEngine(client, guard=UrlGuard(allow_private=True),
                            policy=RetryPolicy(max_attempts=attempts, base_delay=0.001), limits=TransferLimits(),
                            rng=random.Random(3))
    return SceneDownloadService(ProviderTransfers(lambda provider: engine), SafeArchives())


def descriptor(server, name):
    return DownloadDescriptor(server.url(name), name, size=SIZE,
                              checksums=(Checksum("sha256", server.expected_sha256(name), "test"),))


@pytest.fixture
def resumed(fault_server, tmp_path):
    """A 5,040,000-byte file cut at 3,000,000 bytes in a first run, then completed by a second."""
    fault_server.add_file("big.bin", SIZE)
    fault_server.script("big.bin", [f"truncate@{CUT}"])
    scene = make_scene("S1", provider="test", product_key="P1")
    with httpx.Client(timeout=10) as client:
        with pytest.raises(RetryExhausted):
            service(client, attempts=1).fetch(scene, [descriptor(fault_server, "big.bin")], str(tmp_path))
        assert (tmp_path / "P1" / "big.bin.part").stat().st_size == CUT
        result = service(client, attempts=2).fetch(scene, [descriptor(fault_server, "big.bin")], str(tmp_path))
        again = service(client, attempts=2).fetch(scene, [descriptor(fault_server, "big.bin")], str(tmp_path))
    assert fault_server.requests_for("big.bin")[-1].header("Range") == f"bytes={CUT}-"
    return result, again


def test_a_resumed_file_reports_only_the_rest_as_transferred_and_its_whole_size_as_in_the_archive(resumed):
    result, _again = resumed
    assert result.bytes_transferred == SIZE - CUT
    assert result.bytes_in_archive == SIZE


def test_a_file_already_there_transfers_nothing_and_still_counts_in_the_archive(resumed):
    _result, again = resumed
    assert again.bytes_transferred == 0 and again.bytes_in_archive == SIZE


def test_summaries_add_up_both_counts_once_per_product(resumed):
    result, again = resumed
    summary = DownloadSummary([result, again], [])
    assert (summary.bytes_transferred, summary.bytes_in_archive) == (SIZE - CUT, SIZE)


def test_the_cli_summary_prints_both_counts_in_json_and_in_the_table(resumed, tmp_path, capsys):
    result, _again = resumed
    report = HarvestReport(found=1, downloaded=1, results=[result])
    print_report(report, tmp_path, as_json=True, catalog="c.db", title="harvest")
    data = json.loads(capsys.readouterr().out)
    assert data["bytes_transferred"] == 2_040_000 and data["bytes_in_archive"] == 5_040_000
    assert "bytes" not in data  # the old ambiguous key counted whole scenes
    print_report(report, tmp_path, as_json=False, catalog="c.db", title="harvest")
    table = capsys.readouterr().out
    assert "transferred in this run: 2,040,000 bytes" in table
    assert "these scenes in the archive: 5,040,000 bytes" in table
