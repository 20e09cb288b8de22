"""JsonApi: malformed, oversized and hostile provider answers become clear errors (B-27, B-28, B-35)."""

import httpx
import pytest

from eoharvest.adapters.http.guard import UrlGuard
from eoharvest.adapters.http.jsonapi import JsonApi
from eoharvest.domain.errors import AuthError, ProviderResponseError, RetryExhausted
from eoharvest.domain.retry import RetryPolicy

URL = "http://127.0.0.1:1/search"


def api(handler, **kw):
    client = httpx.Client(transport=httpx.MockTransport(handler))
    return JsonApi(client, guard=UrlGuard(allow_private=True), provider="prov",
                   policy=RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.002), **kw)


def test_truncated_json_names_status_content_type_and_the_start_of_the_body():  # B-27
    handler = lambda r: httpx.Response(200, text='{"features": [{"id": "a"', headers={"Content-Type": "application/json"})
    with pytest.raises(ProviderResponseError) as info:
        api(handler).get(URL)
    message = str(info.value)
    assert "malformed JSON" in message and "HTTP 200" in message and "application/json" in message
    assert '{"features"' in message and info.value.exit_code == 4


def test_a_huge_answer_is_refused_before_it_is_read_whole():  # B-35
    handler = lambda r: httpx.Response(200, content=b"[" + b"1," * 600_000 + b"1]")
    with pytest.raises(ProviderResponseError, match="limit"):
        api(handler, max_bytes=1_000_000).get(URL)


def test_deeply_nested_json_is_refused_cleanly():  # B-35
    handler = lambda r: httpx.Response(200, content=b"[" * 100_000 + b"]" * 100_000)
    with pytest.raises(ProviderResponseError, match="nested too deeply|malformed"):
        api(handler).get(URL)


def test_an_error_status_body_is_shown_redacted():
    handler = lambda r: httpx.Response(400, json={"error": "bad filter", "token": "CANARY-TOKEN-9"})
    with pytest.raises(ProviderResponseError) as info:
        api(handler).get(URL)
    assert "HTTP 400" in str(info.value) and "bad filter" in str(info.value)
    assert "CANARY-TOKEN-9" not in str(info.value)


def test_401_is_an_auth_error_without_retries():
    calls = []

    def handler(request):
        calls.append(1)
        return httpx.Response(401, json={"detail": "no"})

    with pytest.raises(AuthError):
        api(handler).get(URL)
    assert len(calls) == 1


def test_server_errors_are_retried_a_bounded_number_of_times():
    calls = []

    def handler(request):
        calls.append(1)
        return httpx.Response(503, text="busy")

    with pytest.raises(RetryExhausted, match="failed 3 times"):
        api(handler).get(URL)
    assert len(calls) == 3
