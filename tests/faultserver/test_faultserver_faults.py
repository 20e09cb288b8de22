"""Each fault kind, observed from the client side (raw sockets and httpx)."""
from __future__ import annotations

import json
import time
from email.utils import parsedate_to_datetime

import httpx
import pytest

from faultserver import RANGE_FAULTS, Fault, FaultPlan
from faultserver.fixtures import (  # noqa: F401 - pytest finds fixtures by name
    fault_server,
    fault_server_factory,
    origin_pair,
    second_origin,
)
from faultserver.rawclient import raw_request

SIZE = 200_000
NAME = "scene.zip"


@pytest.fixture
def served(fault_server):
    fault_server.add_file(NAME, SIZE)
    return fault_server


@pytest.fixture
def client():
    with httpx.Client(timeout=5) as http:
        yield http


def fetch(server, headers=None, **kwargs):
    return raw_request("127.0.0.1", server.port, server.path(NAME), headers, **kwargs)


def test_reset_aborts_with_a_real_rst_after_the_given_offset(served):
    served.script(NAME, ["reset@50000"])
    response = fetch(served)
    assert isinstance(response.error, ConnectionResetError)
    assert response.body == served.content(NAME, 0, 50000)
    assert served.stats()["faults"] == {"reset": 1}


def test_reset_surfaces_in_httpx_as_a_transport_error(served, client):
    served.script(NAME, ["reset@1000"])
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        client.get(served.url(NAME))


def test_truncate_closes_cleanly_before_content_length(served, client):
    served.script(NAME, ["truncate@1234", "truncate@99"])
    response = fetch(served)
    assert response.error is None and response.eof
    assert response.declared_length == SIZE and response.body == served.content(NAME, 0, 1234)
    with pytest.raises(httpx.RemoteProtocolError):
        client.get(served.url(NAME))


def test_stall_trips_a_short_read_timeout_quickly(served):
    served.script(NAME, ["stall@500:seconds=30"])
    received = bytearray()
    started = time.monotonic()
    with httpx.Client(timeout=httpx.Timeout(5, read=0.3)) as client:
        with pytest.raises(httpx.ReadTimeout):
            with client.stream("GET", served.url(NAME)) as response:
                for chunk in response.iter_raw():
                    received += chunk
    assert time.monotonic() - started < 10  # far below the 30 s stall
    assert bytes(received) == served.content(NAME, 0, 500)


def test_drip_sends_about_one_byte_per_interval_for_a_bounded_time(served):
    served.script(NAME, ["drip:interval=0.05,duration=0.5"])
    started = time.monotonic()
    response = fetch(served, timeout=2, read_size=1)
    elapsed = time.monotonic() - started
    assert response.eof and 0.45 < elapsed < 10  # ended by its 0.5 s duration, not by the client
    # The server waits a full interval after each byte, so it can never send more than this.
    assert 3 <= len(response.body) <= 0.5 / 0.05 + 1
    assert response.body == served.content(NAME, 0, len(response.body))
    body_arrivals = response.arrivals[-len(response.body):]
    gaps = sorted(b - a for a, b in zip(body_arrivals, body_arrivals[1:]))
    assert gaps[len(gaps) // 2] > 0.025


def test_ignore_range_answers_a_ranged_request_with_the_whole_body(served, client):
    served.script(NAME, ["ignore_range"])
    response = client.get(served.url(NAME), headers={"Range": "bytes=1000-"})
    assert response.status_code == 200 and "content-range" not in response.headers
    assert response.content == served.content(NAME)


def test_bad_offset_lies_in_content_range_with_bytes_matching_the_lie(served, client):
    served.script(NAME, ["bad_offset@777"])
    response = client.get(served.url(NAME), headers={"Range": "bytes=1000-"})
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes 1777-{SIZE - 1}/{SIZE}"
    assert response.content == served.content(NAME, 1777)


def test_silent_offset_keeps_an_honest_content_range_over_shifted_bytes(served, client):
    served.script(NAME, ["silent_offset@64", "silent_offset"])
    for _ in range(2):
        response = client.get(served.url(NAME), headers={"Range": "bytes=1000-"})
        assert response.headers["content-range"] == f"bytes 1000-{SIZE - 1}/{SIZE}"
        assert len(response.content) == SIZE - 1000
        assert response.content != served.content(NAME, 1000)
    assert response.content[:100] != served.content(NAME, 1000, 1100)


def test_etag_change_publishes_new_content_before_answering(served, client):
    old_etag, old_sha = served.etag(NAME), served.expected_sha256(NAME)
    served.script(NAME, ["etag_change", "etag_change"])
    guarded = client.get(served.url(NAME), headers={"Range": "bytes=10-", "If-Range": old_etag})
    assert guarded.status_code == 200 and guarded.headers["etag"] != old_etag
    new = client.get(served.url(NAME), headers={"Range": "bytes=10-"})
    assert new.status_code == 206 and new.content == served.content(NAME, 10)
    assert served.expected_sha256(NAME) != old_sha


def test_throttling_faults_carry_retry_after_as_seconds_or_http_date(served, client):
    served.script(NAME, ["r503:retry_after=2", "r429:retry_after=3,form=date"])
    seconds = client.get(served.url(NAME))
    assert seconds.status_code == 503 and seconds.headers["retry-after"] == "2"
    dated = client.get(served.url(NAME))
    assert dated.status_code == 429
    delay = parsedate_to_datetime(dated.headers["retry-after"]).timestamp() - time.time()
    assert 2.0 <= delay <= 4.5


def test_html200_and_json_not_ready_are_200s_with_the_wrong_content(served, client):
    served.script(NAME, ["html200", "json_not_ready"])
    html = client.get(served.url(NAME))
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    assert b"password" in html.content
    not_ready = client.get(served.url(NAME))
    assert not_ready.headers["content-type"] == "application/json"
    assert json.loads(not_ready.content) == {"status": "not ready"}


def test_short_body_sends_one_byte_less_with_an_honest_length(served, client):
    served.script(NAME, ["short_body"])
    response = client.get(served.url(NAME))
    assert response.status_code == 200 and len(response.content) == SIZE - 1
    assert response.headers["content-length"] == str(SIZE - 1)


def test_redirect_points_to_the_other_origin_with_the_same_path(origin_pair, client):
    primary, foreign = origin_pair
    primary.add_file(NAME, 10)
    primary.script(NAME, ["redirect", "redirect:status=307"])
    for status in (302, 307):
        response = client.get(primary.url(NAME))
        assert response.status_code == status
        assert response.headers["location"] == foreign.origin + primary.path(NAME)


def test_redirects_can_chain_on_one_origin_or_point_anywhere_verbatim(served):
    hop = Fault("redirect", params={"to": served.origin})
    served.script(NAME, [hop] * 11 + [Fault("redirect", params={"location": "file:///x"})])
    with httpx.Client(max_redirects=10, follow_redirects=True) as client:
        with pytest.raises(httpx.TooManyRedirects):
            client.get(served.url(NAME))
        assert len(served.requests_for(NAME)) == 11
        verbatim = client.get(served.url(NAME), follow_redirects=False)
    assert verbatim.headers["location"] == "file:///x"


def test_auth_expire_rejects_even_a_fresh_token(fault_server_factory, client):
    server = fault_server_factory(require_auth=True)
    server.add_file(NAME, 10)
    server.script(NAME, ["auth_expire"])
    bearer = {"Authorization": f"Bearer {server.issue_token()}"}
    assert client.get(server.url(NAME), headers=bearer).status_code == 401
    assert client.get(server.url(NAME), headers=bearer).status_code == 200


def test_range_only_faults_never_fire_on_requests_without_range(fault_server_factory, client):
    for kind in sorted(RANGE_FAULTS):
        server = fault_server_factory(plan=FaultPlan(5, {kind: 1.0}))
        server.add_file(NAME, 5000)
        assert client.get(server.url(NAME)).content == server.content(NAME)
        ranged = client.get(server.url(NAME), headers={"Range": "bytes=100-"})
        honest = (ranged.status_code, ranged.content) == (206, server.content(NAME, 100))
        assert not honest
        assert server.stats()["faults"] == {kind: 1}


def test_planned_resets_land_at_varied_offsets_inside_the_body(fault_server_factory):
    server = fault_server_factory(plan=FaultPlan(11, {"reset": 1.0}))
    server.add_file(NAME, SIZE)
    offsets = {len(fetch(server).body) for _ in range(8)}
    assert len(offsets) >= 6 and max(offsets) < SIZE
