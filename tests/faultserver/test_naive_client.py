"""The fault mix bites: a naive resuming client ends up with corrupt files it calls complete."""
from __future__ import annotations

import hashlib

from faultserver import FaultPlan
from faultserver.fixtures import fault_server_factory  # noqa: F401 - fixture
from faultserver.naive_client import naive_download_all

RANGE_TORTURE = ("reset", "ignore_range", "bad_offset", "silent_offset", "etag_change")


def test_naive_client_reports_corrupt_files_as_complete_under_range_faults(
    fault_server_factory, tmp_path  # noqa: F811
):
    # As in T-03: 0.1 each = 50% of ranged responses are faulty, drawn only on ranged
    # requests (the naive client always sends Range, from bytes=0- on).
    plan = FaultPlan(seed=1, rates={kind: 0.1 for kind in RANGE_TORTURE},
                     only_ranged=set(RANGE_TORTURE))
    server = fault_server_factory(plan=plan)
    names = [f"scene-{i:02d}.bin" for i in range(30)]
    for i, name in enumerate(names):
        server.add_file(name, 16 * 1024 + i * 4099)

    reported = naive_download_all(server.origin, names, tmp_path)

    def corrupt(name: str) -> bool:
        digest = hashlib.sha256((tmp_path / name).read_bytes()).hexdigest()
        return digest != server.expected_sha256(name)

    silently_corrupt = [n for n in names if reported[n] and corrupt(n)]
    assert len(silently_corrupt) >= 1, server.stats()
    faults = server.stats()["faults"]
    assert faults.get("reset", 0) >= 1
    assert set(faults) - {"reset"}, "no range fault fired: the mix is too weak"
