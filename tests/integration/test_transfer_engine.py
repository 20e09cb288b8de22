"""TransferEngine against httpx.MockTransport origins: status handling, resume rules, auth scope.

Byte-level faults (resets, stalls, trickles) run against the loopback fault server elsewhere.
"""

import hashlib
import random
from pathlib import Path

import httpx
import pytest

from eoharvest.adapters.http.auth import ScopedAuth
from eoharvest.adapters.http.guard import UrlGuard
from eoharvest.adapters.http.transfer import FetchSpec, TransferEngine, TransferLimits
from eoharvest.domain.errors import (
    AuthError,
    DownloadCancelled,
    IntegrityError,
    ProviderResponseError,
    RetryExhausted,
    UnsafeURL,
)
from eoharvest.domain.models import Checksum
from eoharvest.domain.retry import RetryPolicy

BODY = bytes(random.Random(7).randrange(256) for _ in range(100_000))
MD5 = hashlib.md5(BODY).hexdigest()
SHA256 = hashlib.sha256(BODY).hexdigest()
ETAG = '"v1"'


class Stream(httpx.SyncByteStream):
    """A real streamed body (MockTransport reads plain ``content=`` bodies eagerly)."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __iter__(self):
        for i in range(0, len(self.data), 16384):
            yield self.data[i : i + 16384]


class BrokenStream(httpx.SyncByteStream):
    """Yields ``data`` then fails like a reset connection."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __iter__(self):
        yield self.data
        raise httpx.ReadError("connection reset by peer")


class Origin:
    """A scripted file server: each request pops the next action ('ok' when the script is empty)."""

    def __init__(self, script=(), body=BODY, etag=ETAG):
        self.script = list(script)
        self.body = body
        self.etag = etag
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        action = self.script.pop(0) if self.script else "ok"
        body = self.body
        start = 0
        rng = request.headers.get("Range")
        if_range = request.headers.get("If-Range")
        headers = {"ETag": self.etag, "Accept-Ranges": "bytes", "Content-Type": "application/zip"}
        if action.startswith("status:"):
            code, _, retry_after = action[7:].partition(",")
            extra = {"Retry-After": retry_after} if retry_after else {}
            return httpx.Response(int(code), headers=extra, text="nope")
        if action == "html":
            return httpx.Response(200, headers={"Content-Type": "text/html"}, stream=Stream(b"<html>login</html>"))
        if action == "redirect-foreign":
            return httpx.Response(302, headers={"Location": "http://127.0.0.9:1/file"})
        if action == "redirect-metadata":
            return httpx.Response(302, headers={"Location": "http://169.254.169.254/latest"})
        if action == "redirect-self":
            return httpx.Response(302, headers={"Location": str(request.url)})
        if rng and action != "ignore_range" and (if_range in (None, self.etag)):
            start = int(rng.split("=")[1].rstrip("-"))
            if start >= len(body):
                return httpx.Response(416, headers={"Content-Range": f"bytes */{len(body)}"})
            if action == "bad_offset":
                start += 10
            headers["Content-Range"] = f"bytes {start}-{len(body) - 1}/{len(body)}"
            headers["Content-Length"] = str(len(body) - start)
            status = 206
        else:
            headers["Content-Length"] = str(len(body))
            status = 200
        if action.startswith("cut@"):
            cut = int(action[4:])
            return httpx.Response(status, headers=headers, stream=BrokenStream(body[start:cut]))
        return httpx.Response(status, headers=headers, stream=Stream(body[start:]))


def engine_for(handler, **kw):
    client = httpx.Client(transport=httpx.MockTransport(handler), follow_redirects=False)
    policy = kw.pop("policy", RetryPolicy(max_attempts=5, base_delay=0.001, max_delay=0.01))
    return TransferEngine(
        client,
        guard=UrlGuard(allow_private=True),
        policy=policy,
        limits=kw.pop("limits", TransferLimits(chunk_size=8192)),
        rng=random.Random(1),
        **kw,
    )


def spec(tmp_path: Path, **kw) -> FetchSpec:
    base = dict(url="http://127.0.0.1:1/file", dest=tmp_path / "scene.zip", size=len(BODY),
                checksums=(Checksum("md5", MD5, "odata"),), provider="test")
    base.update(kw)
    return FetchSpec(**base)


def leftovers(tmp_path):
    return sorted(p.name for p in tmp_path.iterdir() if ".part" in p.name)


def test_a_clean_download_is_verified_and_renamed(tmp_path):
    outcome = engine_for(Origin()).fetch(spec(tmp_path))
    assert outcome.path.read_bytes() == BODY
    assert outcome.sha256 == SHA256 and outcome.verified_with == "md5:odata"
    assert leftovers(tmp_path) == []


def test_a_reset_mid_body_resumes_with_range_and_if_range(tmp_path):
    origin = Origin(["cut@30000"])
    outcome = engine_for(origin).fetch(spec(tmp_path))
    assert outcome.path.read_bytes() == BODY
    second = origin.requests[1]
    assert second.headers["Range"] == "bytes=30000-"
    assert second.headers["If-Range"] == ETAG
    assert outcome.resumes == 1 and outcome.restarts == 0


def test_a_server_ignoring_range_makes_us_start_over_not_append(tmp_path):  # I3
    outcome = engine_for(Origin(["cut@30000", "ignore_range"])).fetch(spec(tmp_path))
    assert outcome.path.read_bytes() == BODY
    assert outcome.restarts == 1


def test_a_lying_content_range_discards_the_partial(tmp_path):
    outcome = engine_for(Origin(["cut@30000", "bad_offset"])).fetch(spec(tmp_path))
    assert outcome.path.read_bytes() == BODY
    assert outcome.restarts == 1


def test_a_416_with_our_length_means_complete(tmp_path):
    s = spec(tmp_path)
    part = tmp_path / "scene.zip.part"
    origin = Origin()
    engine = engine_for(origin)
    # Leave a complete partial as a crash after the last byte would.
    engine.fetch(s)
    s.dest.rename(part)
    (tmp_path / "scene.zip.part.json").write_text(
        '{"url": "http://127.0.0.1:1/file", "expected_size": %d, "etag": %s, "checksums": {"md5": "%s"}}'
        % (len(BODY), '"\\"v1\\""', MD5)
    )
    outcome = engine.fetch(s)
    assert outcome.path.read_bytes() == BODY
    assert origin.requests[-1].headers["Range"] == f"bytes={len(BODY)}-"


def test_a_checksum_mismatch_is_never_published_and_is_an_integrity_error_after_two_requests(tmp_path):
    s = spec(tmp_path, checksums=(Checksum("md5", "0" * 31 + "1", "odata"),))
    origin = Origin()
    with pytest.raises(IntegrityError, match="md5 .* does not match .*the same in 2 attempts") as info:
        engine_for(origin).fetch(s)
    assert info.value.exit_code == 5
    assert len(origin.requests) == 2
    assert not s.dest.exists()


class Republishing(Origin):
    """Each request serves different bytes (a file re-published between attempts)."""

    def __call__(self, request):
        self.body = bytes(random.Random(len(self.requests)).randrange(256) for _ in range(1000))
        return super().__call__(request)


def test_checksum_mismatches_that_differ_each_time_end_as_an_integrity_error_not_retry_exhausted(tmp_path):
    s = spec(tmp_path, size=1000, checksums=(Checksum("sha256", "ab" * 32, "stac"),))
    origin = Republishing()
    with pytest.raises(IntegrityError, match="gave up after 5 attempts") as info:
        engine_for(origin).fetch(s)
    assert info.value.exit_code == 5 and len(origin.requests) == 5


def test_a_size_mismatch_announced_twice_is_an_integrity_error_after_two_requests(tmp_path):
    s = spec(tmp_path, size=len(BODY) + 1)
    origin = Origin()
    with pytest.raises(IntegrityError, match="metadata says .*the same in 2 attempts"):
        engine_for(origin).fetch(s)
    assert len(origin.requests) == 2
    assert not s.dest.exists() and leftovers(tmp_path) == []


def test_an_html_page_with_200_is_rejected_before_rename(tmp_path):  # T-12
    s = spec(tmp_path)
    with pytest.raises(RetryExhausted) as info:
        engine_for(Origin(["html"] * 10)).fetch(s)
    assert isinstance(info.value.__cause__, ProviderResponseError)
    assert not s.dest.exists()


def test_503_with_retry_after_is_retried_then_succeeds(tmp_path):
    origin = Origin(["status:503,0", "status:429,0"])
    outcome = engine_for(origin).fetch(spec(tmp_path))
    assert outcome.attempts == 3 and outcome.path.exists()


def test_404_is_not_retried(tmp_path):
    origin = Origin(["status:404"])
    with pytest.raises(ProviderResponseError, match="HTTP 404"):
        engine_for(origin).fetch(spec(tmp_path))
    assert len(origin.requests) == 1
    assert leftovers(tmp_path) == []


def test_retries_stop_after_the_attempt_budget(tmp_path):
    origin = Origin(["status:500"] * 50)
    with pytest.raises(RetryExhausted, match="3 attempts"):
        engine_for(origin, policy=RetryPolicy(max_attempts=3, base_delay=0.001)).fetch(spec(tmp_path))
    assert len(origin.requests) == 3


class Tokens:
    def __init__(self, values):
        self.values = list(values)
        self.refreshes = 0

    def headers(self):
        return {"Authorization": f"Bearer {self.values[0]}"}

    def refresh(self, failed):
        self.refreshes += 1
        if len(self.values) > 1:
            self.values.pop(0)


def test_a_401_refreshes_the_token_once_and_a_second_401_is_an_auth_error(tmp_path):
    tokens = Tokens(["old", "new"])
    seen = []

    def handler(request):
        seen.append(request.headers.get("Authorization"))
        return httpx.Response(401, text="expired")

    auth = ScopedAuth(tokens, ["http://127.0.0.1:1"])
    with pytest.raises(AuthError, match="credentials rejected, also after renewing them once"):
        engine_for(handler, auth=auth).fetch(spec(tmp_path))
    assert seen == ["Bearer old", "Bearer new"] and tokens.refreshes == 1


class StaticAuth(httpx.Auth):
    """Credentials that are sent once and never renewed (no retry on 401)."""

    def auth_flow(self, request):
        request.headers["Authorization"] = "Basic dXNlcjpwYXNz"
        yield request


def test_a_401_without_a_refresh_does_not_claim_one(tmp_path):
    seen = []

    def handler(request):
        seen.append(request.headers.get("Authorization"))
        return httpx.Response(401, text="no")

    with pytest.raises(AuthError) as info:
        engine_for(handler, auth=StaticAuth()).fetch(spec(tmp_path))
    assert "refresh" not in str(info.value) and "renew" not in str(info.value)
    assert "credentials rejected" in str(info.value) and len(seen) == 1


def test_a_401_for_a_host_without_credentials_says_none_were_sent(tmp_path):
    tokens = Tokens(["secret"])
    seen = []

    def handler(request):
        seen.append(request.headers.get("Authorization"))
        return httpx.Response(401, text="no")

    auth = ScopedAuth(tokens, ["http://127.0.0.5:1"])  # another origin than the file's
    with pytest.raises(AuthError, match="none are sent to 127.0.0.1") as info:
        engine_for(handler, auth=auth).fetch(spec(tmp_path))
    assert "rejected" not in str(info.value) and seen == [None] and tokens.refreshes == 0


@pytest.mark.parametrize("status, word", [(404, "not found"), (410, "gone")])
def test_404_and_410_fail_after_one_request(tmp_path, status, word):
    origin = Origin([f"status:{status}"] * 5)
    with pytest.raises(ProviderResponseError, match=f"HTTP {status} .*{word}.*not retried"):
        engine_for(origin).fetch(spec(tmp_path))
    assert len(origin.requests) == 1 and leftovers(tmp_path) == []


def test_credentials_do_not_follow_a_redirect_to_a_foreign_origin(tmp_path):  # I5
    leaked = []
    origin = Origin(["redirect-foreign"])

    def handler(request):
        if request.url.host == "127.0.0.9":
            leaked.append(request.headers.get("Authorization"))
            return Origin()(request)
        return origin(request)

    auth = ScopedAuth(Tokens(["CANARY-TOKEN-1"]), ["http://127.0.0.1:1"])
    outcome = engine_for(handler, auth=auth).fetch(spec(tmp_path))
    assert outcome.path.exists()
    assert leaked == [None]
    assert origin.requests[0].headers["Authorization"] == "Bearer CANARY-TOKEN-1"


def test_a_redirect_to_cloud_metadata_is_refused(tmp_path):  # T-10
    with pytest.raises(UnsafeURL, match="link-local"):
        engine_for(Origin(["redirect-metadata"])).fetch(spec(tmp_path))


def test_redirect_loops_are_capped(tmp_path):
    with pytest.raises(UnsafeURL, match="more than 10 redirects"):
        engine_for(Origin(["redirect-self"] * 20)).fetch(spec(tmp_path))


def test_cancellation_keeps_the_partial_for_resuming(tmp_path):
    calls = {"n": 0}

    def stopped():
        calls["n"] += 1
        return calls["n"] > 3

    s = spec(tmp_path)
    with pytest.raises(DownloadCancelled):
        engine_for(Origin()).fetch(s, stopped=stopped)
    assert not s.dest.exists()
    assert (tmp_path / "scene.zip.part").stat().st_size > 0
    outcome = engine_for(Origin()).fetch(s)
    assert outcome.path.read_bytes() == BODY and outcome.resumes == 1


def test_an_existing_verified_final_file_is_skipped_unless_overwrite(tmp_path):
    s = spec(tmp_path)
    s.dest.write_bytes(BODY)
    origin = Origin()
    outcome = engine_for(origin).fetch(s)
    assert outcome.skipped and outcome.sha256 == SHA256 and origin.requests == []
    assert engine_for(origin).fetch(s, overwrite=True).path.read_bytes() == BODY
    assert len(origin.requests) == 1


@pytest.mark.parametrize("content", [b"truncated", BODY[:-1] + b"X"])
def test_an_existing_final_file_that_fails_verification_is_fetched_again(tmp_path, content):
    s = spec(tmp_path)
    s.dest.write_bytes(content)
    outcome = engine_for(Origin()).fetch(s)
    assert not outcome.skipped and s.dest.read_bytes() == BODY


def test_a_partial_of_a_signed_link_resumes_after_the_token_changed(tmp_path):
    origin = Origin(["cut@30000"])
    s = spec(tmp_path, url="http://127.0.0.1:1/file?sig=CANARY-SIG-1")
    with pytest.raises(RetryExhausted):
        engine_for(origin, policy=RetryPolicy(max_attempts=1)).fetch(s)
    sidecar = (tmp_path / "scene.zip.part.json").read_text()
    assert "CANARY-SIG-1" not in sidecar  # tokens never reach the disk
    again = engine_for(origin).fetch(spec(tmp_path, url="http://127.0.0.1:1/file?sig=CANARY-SIG-2"))
    assert again.resumes == 1 and again.path.read_bytes() == BODY


def test_a_refused_signed_link_is_signed_again_once(tmp_path):
    origin = Origin(["status:403"])
    signed = []

    def resign():
        signed.append(1)
        return "http://127.0.0.1:1/file?sig=fresh"

    outcome = engine_for(origin).fetch(spec(tmp_path, url="http://127.0.0.1:1/file?sig=old", refresh_url=resign))
    assert signed == [1] and outcome.path.read_bytes() == BODY
    assert origin.requests[-1].url.query == b"sig=fresh"


def test_a_failing_validator_discards_the_bytes(tmp_path):
    def validate(path):
        raise IntegrityError("zip member x.jp2 has a bad CRC")

    s = spec(tmp_path)
    with pytest.raises(IntegrityError, match="bad CRC"):
        engine_for(Origin()).fetch(s, validate=validate)
    assert not s.dest.exists() and leftovers(tmp_path) == []
