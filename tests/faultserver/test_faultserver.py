"""The fault server itself: honest bytes, RFC 9110 ranges, tokens, records and shutdown."""
from __future__ import annotations

import hashlib
import socket
import threading
import time

import httpx
import pytest

from faultserver import Fault, FaultPlan, FaultServer
from faultserver.fixtures import (  # noqa: F401 - pytest finds fixtures by name
    fault_server,
    fault_server_factory,
    origin_pair,
    second_loopback_host,
    second_origin,
)
from faultserver.rawclient import raw_request

SIZE = 300_000


@pytest.fixture
def client():
    with httpx.Client(timeout=5) as http:
        yield http


@pytest.fixture
def served(fault_server: FaultServer) -> FaultServer:
    fault_server.add_file("scene.zip", SIZE)
    return fault_server


def test_full_download_matches_the_independently_computed_hashes(client, served):
    response = client.get(served.url("scene.zip"))
    assert response.status_code == 200
    assert hashlib.sha256(response.content).hexdigest() == served.expected_sha256("scene.zip")
    assert hashlib.md5(response.content).hexdigest() == served.expected_md5("scene.zip")
    assert response.headers["content-length"] == str(SIZE)
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["etag"].startswith('"v1-')
    assert response.headers["last-modified"].endswith("GMT")


def test_bodies_are_deterministic_and_differ_per_name_and_version(client, fault_server_factory):
    one, two = fault_server_factory(), fault_server_factory()
    for server in (one, two):
        server.add_file("a", 5000)
        server.add_file("b", 5000)
    assert client.get(one.url("a")).content == client.get(two.url("a")).content
    assert one.content("a") != one.content("b")
    before = one.content("a")
    one.bump_version("a")
    assert one.content("a") != before


def test_open_ended_range_returns_206_with_the_matching_tail(client, served):
    response = client.get(served.url("scene.zip"), headers={"Range": "bytes=1000-"})
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes 1000-{SIZE - 1}/{SIZE}"
    assert response.content == served.content("scene.zip", 1000)


def test_closed_range_crossing_block_boundaries_returns_exact_bytes(client, served):
    response = client.get(served.url("scene.zip"), headers={"Range": "bytes=65530-131080"})
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes 65530-131080/{SIZE}"
    assert response.content == served.content("scene.zip", 65530, 131081)


def test_range_end_past_the_size_is_clamped_and_suffix_ranges_work(client, served):
    too_far = {"Range": f"bytes={SIZE - 10}-{SIZE * 2}"}
    clamped = client.get(served.url("scene.zip"), headers=too_far)
    assert clamped.headers["content-range"] == f"bytes {SIZE - 10}-{SIZE - 1}/{SIZE}"
    suffix = client.get(served.url("scene.zip"), headers={"Range": "bytes=-7"})
    assert suffix.status_code == 206 and suffix.content == served.content("scene.zip", SIZE - 7)


def test_unsatisfiable_range_answers_416_with_the_complete_length(client, served):
    response = client.get(served.url("scene.zip"), headers={"Range": f"bytes={SIZE}-"})
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{SIZE}"


def test_if_range_with_the_current_etag_or_date_keeps_the_range(client, served):
    etag = served.etag("scene.zip")
    by_etag = client.get(served.url("scene.zip"), headers={"Range": "bytes=10-", "If-Range": etag})
    assert by_etag.status_code == 206
    date = by_etag.headers["last-modified"]
    by_date = client.get(served.url("scene.zip"), headers={"Range": "bytes=10-", "If-Range": date})
    assert by_date.status_code == 206


def test_if_range_with_a_stale_or_weak_etag_sends_the_full_new_body(client, served):
    old = served.etag("scene.zip")
    served.bump_version("scene.zip")
    for validator in (old, "W/" + served.etag("scene.zip")):
        response = client.get(served.url("scene.zip"),
                             headers={"Range": "bytes=10-", "If-Range": validator})
        assert response.status_code == 200
        assert "content-range" not in response.headers
        assert hashlib.sha256(response.content).hexdigest() == served.expected_sha256("scene.zip")
    assert served.etag("scene.zip") != old


def test_multiple_or_malformed_ranges_are_ignored_with_a_full_200(client, served):
    for spec in ("bytes=0-1,5-9", "bytes=9-3", "items=0-5"):
        response = client.get(served.url("scene.zip"), headers={"Range": spec})
        assert response.status_code == 200 and len(response.content) == SIZE


def test_head_reports_headers_without_a_body_and_ignores_range(client, served):
    response = client.head(served.url("scene.zip"), headers={"Range": "bytes=5-"})
    assert response.status_code == 200
    assert response.headers["content-length"] == str(SIZE)
    assert response.content == b""


def test_a_server_can_listen_on_ipv6_loopback(client, fault_server_factory):
    try:
        server = fault_server_factory(host="::1")
    except OSError:
        pytest.skip("no IPv6 loopback here")
    server.add_file("a", 10)
    assert server.origin.startswith("http://[::1]:")
    assert client.get(server.url("a")).content == server.content("a")


def test_unknown_files_are_404(client, fault_server):
    assert client.get(fault_server.url("missing.zip")).status_code == 404


def test_a_two_gib_file_is_served_by_range_without_materialising_it(client, fault_server):
    size = 2 * 1024**3
    fault_server.add_file("huge.bin", size)
    start = size - 100
    response = client.get(fault_server.url("huge.bin"), headers={"Range": f"bytes={start}-"})
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes {start}-{size - 1}/{size}"
    assert response.content == fault_server.content("huge.bin", start)


def test_files_require_a_fresh_bearer_token_when_auth_is_on(fault_server_factory):
    server = fault_server_factory(require_auth=True, token_ttl=0.5)
    server.add_file("a", 100)
    with httpx.Client() as client:
        assert client.get(server.url("a")).status_code == 401
        token = client.post(server.origin + "/token", data={"password": "CANARY-PW-1"}).json()
        assert token["token_type"] == "Bearer" and token["expires_in"] == 0.5
        bearer = {"Authorization": f"Bearer {token['access_token']}"}
        assert client.get(server.url("a"), headers=bearer).status_code == 200
        time.sleep(0.6)
        expired = client.get(server.url("a"), headers=bearer)
    assert expired.status_code == 401
    assert "invalid_token" in expired.headers["www-authenticate"]
    assert [r.auth for r in server.requests_for("a")] == ["missing", "ok", "expired"]
    assert server.stats()["tokens_issued"] == 1
    assert server.canary_hits("CANARY-PW-1") == 1
    assert server.canary_hits(token["access_token"]) == 2


def test_token_endpoint_can_be_scripted_to_refuse(client, fault_server):
    fault_server.script("/token", ["auth_expire"])
    assert client.post(fault_server.origin + "/token").status_code == 401
    assert client.post(fault_server.origin + "/token").status_code == 200


def test_the_log_records_headers_credentials_and_timing(client, served):
    headers = {"Range": "bytes=0-9", "X-Auth-Token": "CANARY-TOKEN-x", "Cookie": "s=CANARY-C"}
    before = time.monotonic()
    client.get(served.url("scene.zip") + "?apikey=CANARY-Q", headers=headers)
    assert served.wait_idle()  # the client may see the last byte before the record is final
    (record,) = served.requests_for("scene.zip")
    assert record.method == "GET" and record.status == 206 and record.range == "bytes=0-9"
    assert record.bytes_sent == 10 and before <= record.received <= record.completed
    assert record.credentials == {"X-Auth-Token": "CANARY-TOKEN-x", "Cookie": "s=CANARY-C"}
    for secret in ("CANARY-TOKEN-x", "CANARY-C", "CANARY-Q"):
        assert served.canary_hits(secret) == 1
    assert served.canary_hits("CANARY-NEVER-SENT") == 0


def test_stats_endpoint_and_method_count_faults_per_kind(client, served):
    served.script("scene.zip", ["r503", "truncate@10", "ok"])
    for _ in range(3):
        try:
            client.get(served.url("scene.zip"))
        except httpx.TransportError:
            pass
    over_http = client.get(served.origin + "/__stats").json()
    assert over_http["faults"] == {"r503": 1, "truncate": 1}
    assert over_http["status"] == {"503": 1, "200": 2}
    assert served.stats()["faults"] == over_http["faults"]
    assert over_http["requests"] == 3  # /__stats itself is not logged


def test_a_second_origin_records_credentials_it_should_never_see(origin_pair):
    primary, foreign = origin_pair
    assert foreign.host != primary.host or foreign.port != primary.port
    primary.add_file("a", 10)
    foreign.add_file("a", 10)
    primary.script("a", ["redirect"])
    secret = {"Authorization": "Bearer CANARY-TOKEN-leak"}
    with httpx.Client(follow_redirects=False) as client:
        first = client.get(primary.url("a"), headers=secret)
        client.get(first.headers["location"], headers=secret)  # a careless manual follow
    assert foreign.canary_hits("CANARY-TOKEN-leak") == 1
    assert [r.credentials for r in foreign.credential_requests()] == [secret]


def test_an_alias_serves_the_same_files_under_another_loopback_host(client, fault_server):
    alias = fault_server.alias(second_loopback_host(), port=0)
    fault_server.add_file("a", 10)
    fault_server.script("a", [Fault("redirect", params={"to": alias, "status": 307})])
    first = client.get(fault_server.url("a"))
    assert first.headers["location"] == alias + "/files/a"
    second = client.get(first.headers["location"], headers={"Cookie": "CANARY-COOKIE"})
    assert second.content == fault_server.content("a")
    assert [r.origin for r in fault_server.requests_for("a")] == [fault_server.origin, alias]
    assert fault_server.canary_hits("CANARY-COOKIE", origin=alias) == 1
    assert fault_server.canary_hits("CANARY-COOKIE", origin=fault_server.origin) == 0


def test_same_seed_gives_the_same_fault_sequence_and_another_seed_does_not():
    rates = {"reset": 0.2, "truncate": 0.2, "bad_offset": 0.2}

    def sequence(seed: int, ranged: bool = True) -> list[str | None]:
        plan = FaultPlan(seed, rates)
        draws = [plan.draw(f"/files/f{i}", n, ranged) for i in range(20) for n in range(5)]
        return [d.kind if d else None for d in draws]

    assert sequence(7) == sequence(7)
    assert sequence(7) != sequence(8)
    assert "bad_offset" in sequence(7)
    assert "bad_offset" not in sequence(7, ranged=False)  # range-only faults need Range


def test_same_seed_gives_the_same_faults_on_two_servers(client, fault_server_factory):
    logs = []
    for _ in range(2):
        server = fault_server_factory(plan=FaultPlan(3, {"r503": 0.3, "html200": 0.3}))
        server.add_file("a", 100)
        for _ in range(20):
            client.get(server.url("a"))
        logs.append([(r.status, r.fault) for r in server.requests_for("a")])
    assert logs[0] == logs[1]
    assert {fault for _, fault in logs[0]} == {None, "r503", "html200"}


def test_max_consecutive_forces_an_honest_answer():
    plan = FaultPlan(1, {"reset": 1.0}, max_consecutive=2)
    assert plan.draw("/files/a", 0, False, streak=1) is not None
    assert plan.draw("/files/a", 0, False, streak=2) is None


def test_bad_specs_and_plans_are_refused_early():
    with pytest.raises(ValueError):
        Fault.parse("explode@3")
    with pytest.raises(ValueError):
        FaultPlan(1, {"reset": 0.7, "truncate": 0.7})
    with pytest.raises(ValueError):
        FaultServer(host="192.0.2.1")


def test_stop_returns_promptly_with_a_stalled_client_connected():
    server = FaultServer().start()
    server.add_file("a", SIZE)
    server.script("a", ["stall@10:seconds=60"])
    result = {}
    reader = threading.Thread(
        target=lambda: result.update(r=raw_request("127.0.0.1", server.port, "/files/a",
                                                   timeout=5, max_seconds=5)))
    # ``idle`` is connected but never sends a request: its handler blocks in recv.
    with socket.create_connection(("127.0.0.1", server.port), timeout=2) as idle:
        reader.start()
        deadline = time.monotonic() + 30  # a hang guard
        while time.monotonic() < deadline:  # wait until the handler is parked in its stall
            if any(r.bytes_sent == 10 for r in server.requests_for("a")):
                break
            time.sleep(0.01)
        started = time.monotonic()
        server.stop()
        elapsed = time.monotonic() - started
        reader.join(5)
        assert idle.recv(1) == b""  # the server closed it too
    assert elapsed < 15  # far below the 60 s stall: stop() did not wait for its handler
    assert len(result["r"].body) == 10
    assert result["r"].eof or result["r"].error is not None
