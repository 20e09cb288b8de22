"""Tier-A fault scenarios (T-01..T-05, T-10..T-12, T-14) for the transfer engine over real
loopback sockets, with the pass criteria of the reliability test plan (scaled for CI)."""

from __future__ import annotations

import hashlib
import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from eoharvest.adapters.http.auth import ScopedAuth
from eoharvest.adapters.http.guard import UrlGuard
from eoharvest.adapters.http.transfer import FetchSpec, TransferEngine, TransferLimits
from eoharvest.domain.errors import (
    AuthError,
    IntegrityError,
    ProviderResponseError,
    RetryExhausted,
    TooSlow,
    UnsafeURL,
)
from eoharvest.domain.models import Checksum
from eoharvest.domain.redaction import SECRETS
from eoharvest.domain.retry import RetryPolicy
from eoharvest.entrypoints.logs import install_log_redaction
from faultserver.faults import FaultPlan
from faultserver.fixtures import fault_server, fault_server_factory, origin_pair, second_origin  # noqa: F401
from faultserver.naive_client import naive_download  # noqa: F401  (used by the mutant check)

SEED = 20261125


def make_engine(*, read_timeout=5.0, attempts=12, auth=None, limits=None, allow_private=True):
    client = httpx.Client(timeout=httpx.Timeout(read_timeout, connect=5.0), follow_redirects=False, trust_env=False)
    engine = TransferEngine(
        client,
        guard=UrlGuard(allow_private=allow_private),
        auth=auth,
        policy=RetryPolicy(max_attempts=attempts, max_seconds=120, base_delay=0.01, max_delay=0.05, retry_after_cap=5),
        limits=limits or TransferLimits(),
        rng=random.Random(SEED),
    )
    return engine, client


def add_files(server, n, low=64 * 1024, high=512 * 1024, prefix="f"):
    rng = random.Random(SEED)
    names = []
    for i in range(n):
        name = f"{prefix}{i:03d}.bin"
        server.add_file(name, rng.randrange(low, high))
        names.append(name)
    return names


def spec_for(server, name, outdir: Path, *, checksum=True, **kw):
    """What a provider's metadata would say. Without ``checksum`` only the size is known (as
    when a file is re-published mid-run: its old checksum would rightly never match)."""
    return FetchSpec(
        url=server.url(name),
        dest=outdir / name,
        size=len(server.content(name)),
        checksums=(Checksum("sha256", server.expected_sha256(name), "harness"),) if checksum else (),
        **kw,
    )


def fetch_all(engine, server, names, outdir, workers=4, checksum=True):
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda n: engine.fetch(spec_for(server, n, outdir, checksum=checksum)), names))


def assert_verified(server, names, outdir: Path):
    for name in names:
        data = (outdir / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == server.expected_sha256(name), name
    leftovers = [p.name for p in outdir.iterdir() if ".part" in p.name or p.name.startswith(".")]
    assert leftovers == []


def test_t01_resets_mid_body_are_resumed_not_restarted(fault_server, tmp_path):
    fault_server.plan = FaultPlan(SEED, rates={"reset": 0.3}, max_consecutive=3)
    names = add_files(fault_server, 40)
    engine, client = make_engine()
    with client:
        outcomes = fetch_all(engine, fault_server, names, tmp_path)
    assert_verified(fault_server, names, tmp_path)
    resets = fault_server.stats()["faults"].get("reset", 0)
    assert resets > 0
    assert sum(o.restarts for o in outcomes) == 0
    ranged = sum(1 for n in names for r in fault_server.requests_for(n) if r.header("Range"))
    assert ranged >= resets - sum(1 for n in names for r in fault_server.requests_for(n) if r.fault == "reset" and not r.bytes_sent)


def test_t02_mixed_transient_faults_respect_retry_after_and_stay_bounded(fault_server, tmp_path):
    fault_server.plan = FaultPlan(
        SEED,
        rates={"reset": 0.06, "truncate": 0.06, "ignore_range": 0.05, "bad_offset": 0.05,
               "etag_change": 0.03, "r429": 0.03, "r503": 0.03},
        params={"r429": {"retry_after": 1}, "r503": {"retry_after": 1}},
        max_consecutive=3,
    )
    names = add_files(fault_server, 30)
    engine, client = make_engine()
    with client:
        # etag_change re-publishes files mid-run, so the harness checks the final bytes
        # against the server's current version (out of band) instead of a stale checksum.
        fetch_all(engine, fault_server, names, tmp_path, workers=6, checksum=False)
    assert_verified(fault_server, names, tmp_path)
    attempts = sum(len(fault_server.requests_for(n)) for n in names)
    assert attempts <= 2.0 * len(names)
    for name in names:
        records = fault_server.requests_for(name)
        for before, after in zip(records, records[1:]):
            if before.fault in ("r429", "r503"):
                assert after.received - before.received >= 1.0 - 0.05, (name, before.fault)


def test_t03_range_torture_never_corrupts_and_the_naive_client_does(fault_server_factory, tmp_path):
    plan = FaultPlan(SEED, rates={"reset": 0.2, "ignore_range": 0.1, "bad_offset": 0.1,
                                  "silent_offset": 0.1}, max_consecutive=3)
    good = fault_server_factory(plan=plan)
    names = add_files(good, 30)
    engine, client = make_engine(attempts=15)
    with client:
        fetch_all(engine, good, names, tmp_path / "good")
    assert_verified(good, names, tmp_path / "good")

    # The mutant check: the same faults against a client that appends whatever arrives.
    mutant_server = fault_server_factory(plan=plan)
    add_files(mutant_server, 30)
    corrupt = 0
    (tmp_path / "naive").mkdir()
    with httpx.Client(timeout=5.0) as naive:
        for name in names:
            path = tmp_path / "naive" / name
            try:
                reported_ok = naive_download(naive, mutant_server.url(name), path, max_attempts=15)
            except Exception:  # noqa: BLE001 - a naive client may also just give up
                continue
            if reported_ok and hashlib.sha256(path.read_bytes()).hexdigest() != mutant_server.expected_sha256(name):
                corrupt += 1
    assert corrupt >= 1, "the fault mix no longer bites: a naive client survived it"


def test_t03_a_file_changed_between_attempts_restarts_through_if_range(fault_server, tmp_path):
    (name,) = add_files(fault_server, 1, low=300_000, high=300_001)
    fault_server.script(name, ["reset", "etag_change"])
    engine, client = make_engine()
    with client:
        outcome = engine.fetch(spec_for(fault_server, name, tmp_path, checksum=False))
    records = fault_server.requests_for(name)
    assert records[1].header("If-Range") == records[0].response_headers.get("ETag")
    assert records[1].status == 200 and outcome.restarts == 1
    assert_verified(fault_server, [name], tmp_path)  # the new version, whole


def test_t04_a_stalled_response_costs_at_most_the_read_timeout(fault_server, tmp_path):
    names = add_files(fault_server, 6)
    fault_server.script(names[0], ["stall:seconds=20"])
    fault_server.script(names[3], ["stall:seconds=20"])
    engine, client = make_engine(read_timeout=1.0)
    started = time.monotonic()
    with client:
        fetch_all(engine, fault_server, names, tmp_path, workers=1)
    elapsed = time.monotonic() - started
    assert_verified(fault_server, names, tmp_path)
    assert elapsed < 2 * (1.0 + 1.0) + 3.0


def test_t05_a_trickle_is_aborted_as_too_slow_and_then_resumed(fault_server, tmp_path):
    (name,) = add_files(fault_server, 1, low=200_000, high=200_001)
    fault_server.script(name, ["drip:interval=0.5,duration=30"])
    limits = TransferLimits(min_throughput=1024, throughput_window=2.0)
    engine, client = make_engine(limits=limits)
    started = time.monotonic()
    with client:
        outcome = engine.fetch(spec_for(fault_server, name, tmp_path))
    assert time.monotonic() - started < 2.0 + 1.0 + 2.0
    assert outcome.attempts == 2
    assert_verified(fault_server, [name], tmp_path)


def test_t05_a_trickle_that_never_ends_fails_with_too_slow(fault_server, tmp_path):
    (name,) = add_files(fault_server, 1, low=200_000, high=200_001)
    fault_server.script(name, ["drip:interval=0.5,duration=30"] * 5)
    engine, client = make_engine(attempts=2, limits=TransferLimits(min_throughput=1024, throughput_window=1.0))
    with client, pytest.raises(RetryExhausted) as info:
        engine.fetch(spec_for(fault_server, name, tmp_path))
    assert isinstance(info.value.__cause__, TooSlow)


class ServerTokens:
    """Gets bearer tokens from the fault server's /token endpoint; counts refreshes."""

    def __init__(self, server):
        self.server = server
        self.lock = threading.Lock()
        self.token = self._new()
        self.refreshes = 0

    def _new(self):
        token = httpx.post(f"{self.server.origin}/token").json()["access_token"]
        SECRETS.add(token)
        return token

    def headers(self):
        return {"Authorization": f"Bearer {self.token}"}

    def refresh(self, failed):
        with self.lock:
            if failed.get("Authorization") == f"Bearer {self.token}":
                self.token = self._new()
                self.refreshes += 1


def test_t10_credentials_never_reach_a_foreign_origin_on_redirect(origin_pair, tmp_path):
    primary, foreign = origin_pair
    names = add_files(primary, 4)
    for name in names:
        foreign.add_file(name, len(primary.content(name)))
    tokens = ServerTokens(primary)
    primary.require_auth = True
    for name in names:
        primary.script(name, ["redirect"])
    auth = ScopedAuth(tokens, [primary.origin])
    engine, client = make_engine(auth=auth)
    with client:
        for name in names:
            spec = FetchSpec(url=primary.url(name), dest=tmp_path / name, size=len(primary.content(name)),
                             checksums=(Checksum("sha256", foreign.expected_sha256(name), "harness"),))
            engine.fetch(spec)
    assert foreign.canary_hits(tokens.token) == 0
    assert foreign.credential_requests() == []
    assert primary.canary_hits(tokens.token) >= len(names)


@pytest.mark.parametrize(
    "location, words",
    [
        ("http://169.254.169.254", "link-local"),
        ("file://", "scheme 'file'"),
        ("ftp://127.0.0.1", "scheme 'ftp'"),
    ],
)
def test_t10_redirects_to_forbidden_targets_are_refused(fault_server, tmp_path, location, words):
    (name,) = add_files(fault_server, 1)
    fault_server.script(name, [f"redirect:to={location}"])
    engine, client = make_engine()
    with client, pytest.raises(UnsafeURL, match=words):
        engine.fetch(spec_for(fault_server, name, tmp_path))
    assert not (tmp_path / name).exists()


def test_t10_a_public_provider_may_not_redirect_to_loopback(fault_server, tmp_path):
    (name,) = add_files(fault_server, 1)
    engine, client = make_engine(allow_private=False)
    with client, pytest.raises(UnsafeURL, match="loopback"):
        engine.fetch(spec_for(fault_server, name, tmp_path))


def test_t11_tokens_expiring_mid_run_are_refreshed_about_once_per_ttl(fault_server_factory, tmp_path):
    server = fault_server_factory(require_auth=True, token_ttl=1.0)
    names = add_files(server, 12, low=40_000, high=60_000)
    for name in names:
        server.script(name, ["drip:interval=0.01,duration=0.25"])  # ~0.25 s per file
    tokens = ServerTokens(server)
    engine, client = make_engine(auth=ScopedAuth(tokens, [server.origin]), limits=TransferLimits(min_throughput=1))
    started = time.monotonic()
    with client:
        for name in names:
            engine.fetch(spec_for(server, name, tmp_path))
    runtime = time.monotonic() - started
    assert_verified(server, names, tmp_path)
    assert abs(tokens.refreshes - runtime / 1.0) <= 2


def test_t11_a_refresh_that_fails_gives_one_auth_error_quickly(fault_server_factory, tmp_path):
    server = fault_server_factory(require_auth=True, token_ttl=60)
    (name,) = add_files(server, 1)

    class Refused:
        refreshes = 0

        def headers(self):
            return {"Authorization": "Bearer CANARY-TOKEN-stale"}

        def refresh(self, failed):
            self.refreshes += 1

    source = Refused()
    engine, client = make_engine(auth=ScopedAuth(source, [server.origin]))
    started = time.monotonic()
    with client, pytest.raises(AuthError):
        engine.fetch(spec_for(server, name, tmp_path))
    assert source.refreshes == 1
    assert time.monotonic() - started < 5
    assert len(server.requests_for(name)) == 2


@pytest.mark.parametrize("fault", ["html200", "json_not_ready"])
def test_t12_wrong_content_with_200_is_never_published(fault_server, tmp_path, fault):
    (name,) = add_files(fault_server, 1)
    fault_server.script(name, [fault] * 20)
    engine, client = make_engine(attempts=3)
    with client, pytest.raises(RetryExhausted) as info:
        engine.fetch(spec_for(fault_server, name, tmp_path))
    assert not (tmp_path / name).exists()
    assert isinstance(info.value.__cause__, ProviderResponseError)


def test_t12_the_same_wrong_size_twice_is_an_integrity_error_without_more_attempts(fault_server, tmp_path):
    (name,) = add_files(fault_server, 1)
    fault_server.script(name, ["short_body"] * 20)
    engine, client = make_engine(attempts=6)
    with client, pytest.raises(IntegrityError, match="the same in 2 attempts"):
        engine.fetch(spec_for(fault_server, name, tmp_path))
    assert len(fault_server.requests_for(name)) == 2
    assert not (tmp_path / name).exists()


def test_t12_wrong_content_then_the_real_file_succeeds(fault_server, tmp_path):
    (name,) = add_files(fault_server, 1)
    fault_server.script(name, ["html200", "json_not_ready"])
    engine, client = make_engine()
    with client:
        engine.fetch(spec_for(fault_server, name, tmp_path))
    assert_verified(fault_server, [name], tmp_path)


def test_t14_canary_secrets_never_appear_in_logs_or_errors(fault_server_factory, tmp_path, caplog):
    server = fault_server_factory(require_auth=True, token_ttl=60)
    (name,) = add_files(server, 1)
    server.script(name, ["r503:retry_after=0", "reset", "html200"])
    tokens = ServerTokens(server)
    engine, client = make_engine(auth=ScopedAuth(tokens, [server.origin]))
    install_log_redaction()  # bootstrap.build() does this for every real use
    with caplog.at_level(logging.DEBUG):
        with client:
            engine.fetch(spec_for(server, name, tmp_path))
            bad = FetchSpec(url=server.url(name) + "?token=" + tokens.token, dest=tmp_path / "x.bin", size=1)
            with pytest.raises(Exception) as info:
                engine.fetch(bad)
    text = caplog.text + str(info.value) + repr(info.value)
    assert tokens.token not in text
    for sidecar in tmp_path.glob("*.json"):
        assert tokens.token not in sidecar.read_text()


def test_cancelling_interrupts_a_stalled_read_at_once(fault_server, tmp_path):
    from eoharvest.domain.errors import DownloadCancelled

    (name,) = add_files(fault_server, 1)
    fault_server.script(name, ["stall:seconds=20"])
    engine, client = make_engine(read_timeout=15.0)
    deadline = time.monotonic() + 0.5
    started = time.monotonic()
    with client, pytest.raises(DownloadCancelled):
        engine.fetch(spec_for(fault_server, name, tmp_path), stopped=lambda: time.monotonic() > deadline)
    assert time.monotonic() - started < 0.5 + 1.0
    assert (tmp_path / f"{name}.part").stat().st_size > 0
