"""Loopback HTTP fault-injection server for download-engine tests (stdlib only).

Typical use::

    with FaultServer(plan=FaultPlan(seed=1, rates={"reset": 0.3})) as server:
        url = server.add_file("S2A_x.zip", 4 << 20)
        server.script("S2A_x.zip", ["truncate@1000", "ok", "r503:retry_after=1"])
        ...  # download url, then compare with server.expected_sha256("S2A_x.zip")
        server.wait_idle()
        server.stats()["faults"], server.requests_for("S2A_x.zip")

Fault kinds (``KINDS``): reset, truncate, stall, drip, short_body, ignore_range,
bad_offset, silent_offset, etag_change, r429, r503, html200, json_not_ready, redirect,
auth_expire.  Fixtures live in ``faultserver.fixtures``; a mutant "naive" downloader in
``faultserver.naive_client``; a byte-exact raw client in ``faultserver.rawclient``.
"""
from faultserver.faults import KINDS, RANGE_FAULTS, Fault, FaultPlan
from faultserver.records import RequestLog, RequestRecord, is_credential_header
from faultserver.server import FaultServer

__all__ = [
    "KINDS",
    "RANGE_FAULTS",
    "Fault",
    "FaultPlan",
    "FaultServer",
    "RequestLog",
    "RequestRecord",
    "is_credential_header",
]
