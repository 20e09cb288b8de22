"""Failure classes of the transfer engine against loopback fault servers (issue 18 item 3):
permanent failures stop at once, a stall ends within the file's failure budget, and a host that
keeps failing is paused while other hosts' downloads go on."""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import httpx
import pytest

from eoharvest.adapters.http.guard import UrlGuard
from eoharvest.adapters.http.hosts import HostHealth, HostPausePolicy
from eoharvest.adapters.http.transfer import FetchSpec, TransferEngine, TransferLimits
from eoharvest.domain.errors import HostPaused, IntegrityError, ProviderResponseError, RetryExhausted, TooSlow
from eoharvest.domain.models import Checksum
from eoharvest.domain.retry import RetryPolicy
from faultserver.fixtures import fault_server, fault_server_factory  # noqa: F401

SEED = 20261129


def engine_for(*, read_timeout=30.0, attempts=6, limits=None, hosts=None):
    client = httpx.Client(timeout=httpx.Timeout(read_timeout, connect=5.0), follow_redirects=False, trust_env=False)
    engine = TransferEngine(
        client,
        guard=UrlGuard(allow_private=True),
        policy=RetryPolicy(max_attempts=attempts, max_seconds=600, base_delay=0.01, max_delay=0.05),
        limits=limits or TransferLimits(),
        rng=random.Random(SEED),
        hosts=hosts,
    )
    return engine, client


def spec_for(server, name, outdir: Path, **kw):
    return FetchSpec(
        url=server.url(name),
        dest=outdir / name,
        size=kw.pop("size", len(server.content(name))),
        checksums=(Checksum("sha256", server.expected_sha256(name), "harness"),),
        **kw,
    )


def test_a_server_that_stalls_after_some_bytes_ends_within_the_file_budget(fault_server, tmp_path):
    fault_server.add_file("s.bin", 400_000)
    fault_server.script("s.bin", ["stall@5000:seconds=30"] * 20)
    # The read timeout alone (30 s, six attempts) would hold the worker for minutes.
    limits = TransferLimits(min_throughput=1024, throughput_window=1.0, failure_budget=3.0)
    engine, client = engine_for(limits=limits)
    started = time.monotonic()
    with client, pytest.raises(RetryExhausted, match="lost to failures") as info:
        engine.fetch(spec_for(fault_server, "s.bin", tmp_path))
    took = time.monotonic() - started
    assert took < 3.0 + 1.5
    # Cut off by the throughput floor, or by a read timeout shortened to the budget's rest.
    assert isinstance(info.value.__cause__, (TooSlow, httpx.ReadTimeout))
    assert info.value.exit_code == 6
    # What arrived is kept for the next run.
    assert (tmp_path / "s.bin.part").stat().st_size >= 5000


def test_a_server_that_answers_with_nothing_at_all_ends_within_the_file_budget(fault_server, tmp_path):
    fault_server.add_file("z.bin", 100_000)
    fault_server.script("z.bin", ["stall@0:seconds=30"] * 20)
    limits = TransferLimits(min_throughput=1024, throughput_window=10.0, failure_budget=2.0)
    engine, client = engine_for(limits=limits, hosts=HostHealth(HostPausePolicy(failures=0), monotonic=time.monotonic))
    started = time.monotonic()
    with client, pytest.raises(RetryExhausted):
        engine.fetch(spec_for(fault_server, "z.bin", tmp_path))
    assert time.monotonic() - started < 2.0 + 1.5


def test_a_stall_that_recovers_within_the_budget_completes(fault_server, tmp_path):
    fault_server.add_file("r.bin", 300_000)
    fault_server.script("r.bin", ["stall@100000:seconds=30"])
    limits = TransferLimits(min_throughput=1024, throughput_window=0.5, failure_budget=5.0)
    engine, client = engine_for(limits=limits)
    with client:
        outcome = engine.fetch(spec_for(fault_server, "r.bin", tmp_path))
    assert outcome.attempts == 2 and outcome.resumes == 1
    assert (tmp_path / "r.bin").read_bytes() == fault_server.content("r.bin")


def test_a_server_that_always_sends_another_size_fails_after_two_attempts_not_six(fault_server, tmp_path):
    fault_server.add_file("m.bin", 203_860)
    engine, client = engine_for(attempts=6)
    started = time.monotonic()
    with client, pytest.raises(IntegrityError, match="203860 bytes, the provider's metadata says 1000") as info:
        engine.fetch(spec_for(fault_server, "m.bin", tmp_path, size=1000))
    assert len(fault_server.requests_for("m.bin")) == 2
    assert info.value.exit_code == 5
    assert time.monotonic() - started < 2.0
    assert not list(tmp_path.iterdir())


def test_a_checksum_that_never_matches_fails_after_two_attempts_as_an_integrity_error(fault_server, tmp_path):
    fault_server.add_file("c.bin", 50_000)
    spec = FetchSpec(fault_server.url("c.bin"), tmp_path / "c.bin", size=50_000,
                     checksums=(Checksum("sha256", "cd" * 32, "stac"),))
    engine, client = engine_for(attempts=6)
    with client, pytest.raises(IntegrityError, match="does not match") as info:
        engine.fetch(spec)
    assert info.value.exit_code == 5  # it used to be RetryExhausted, exit 6
    assert len(fault_server.requests_for("c.bin")) == 2
    assert not list(tmp_path.iterdir())


def test_404_fails_after_one_request(fault_server, tmp_path):
    spec = FetchSpec(fault_server.url("missing.bin"), tmp_path / "missing.bin", size=10)
    engine, client = engine_for(attempts=6)
    with client, pytest.raises(ProviderResponseError, match="HTTP 404 .*not found"):
        engine.fetch(spec)
    assert len(fault_server.requests_for("missing.bin")) == 1


def test_a_failing_host_is_paused_while_another_hosts_downloads_proceed(fault_server_factory, tmp_path):
    bad = fault_server_factory(name="bad")
    good = fault_server_factory(name="good")
    bad_names = [f"b{i}.bin" for i in range(4)]
    for name in bad_names:
        bad.add_file(name, 20_000)
    # Three failures for b0 (all its attempts), two for b1: the fifth in a row pauses the host.
    bad.script("b0.bin", ["r503:retry_after=0"] * 3)
    bad.script("b1.bin", ["r503:retry_after=0"] * 2)
    good_names = [f"g{i}.bin" for i in range(12)]
    for name in good_names:
        good.add_file(name, 200_000)
    hosts = HostHealth(HostPausePolicy(failures=5, window=60.0, pause=2.0), monotonic=time.monotonic)
    engine, client = engine_for(attempts=3, hosts=hosts, limits=TransferLimits(min_throughput=1))
    outcomes: dict[str, object] = {}

    def fetch(server, name):
        try:
            outcomes[name] = engine.fetch(spec_for(server, name, tmp_path))
        except Exception as exc:  # noqa: BLE001 - recorded for the assertions
            outcomes[name] = exc

    with client:
        good_thread = threading.Thread(target=lambda: [fetch(good, n) for n in good_names])
        good_thread.start()
        for name in bad_names:  # 3 + 2 failures pause the host; the rest ask nothing of it
            fetch(bad, name)
        paused_at = time.monotonic()
        good_thread.join(timeout=30)
        assert not good_thread.is_alive()
        during = [r for r in bad.log.snapshot() if paused_at - 0.5 < r.received < paused_at + 1.5]
        time.sleep(max(0.0, paused_at + 2.1 - time.monotonic()))
        fetch(bad, "b1.bin")  # after the pause the host is asked again (and now answers)

    assert sum(len(bad.requests_for(n)) for n in bad_names) == 5 + 1
    assert during == [] or all(r.received < paused_at for r in during)
    assert isinstance(outcomes["b0.bin"], RetryExhausted)
    assert all(isinstance(outcomes[n], HostPaused) for n in bad_names[2:])
    assert "paused" in str(outcomes["b2.bin"]) and outcomes["b2.bin"].exit_code == 6
    assert [len(bad.requests_for(n)) for n in bad_names] == [3, 2 + 1, 0, 0]
    for name in good_names:  # the other host was never held up
        assert (tmp_path / name).read_bytes() == good.content(name)
    assert (tmp_path / "b1.bin").read_bytes() == bad.content("b1.bin")
