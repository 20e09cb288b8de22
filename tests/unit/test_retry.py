import random
from datetime import datetime, timedelta, timezone

import pytest

from eoharvest.domain.retry import RetryPolicy, is_retryable_status, parse_retry_after

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("status", [408, 429, 500, 502, 503, 504])
def test_transient_statuses_are_retried(status):
    assert is_retryable_status(status)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 416, 422])
def test_other_client_errors_are_not_retried(status):
    assert not is_retryable_status(status)


def test_retry_after_seconds_and_dates_are_understood():
    assert parse_retry_after("7", now=NOW, cap=900) == 7
    later = (NOW + timedelta(seconds=30)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert parse_retry_after(later, now=NOW, cap=900) == pytest.approx(30)


def test_retry_after_in_the_past_means_now_and_huge_values_are_capped():  # B-34
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=NOW, cap=900) == 0
    assert parse_retry_after("999999999", now=NOW, cap=900) == 900


@pytest.mark.parametrize("junk", [None, "", "soon", "-5", "1.5e3"])
def test_unparseable_retry_after_is_ignored(junk):
    assert parse_retry_after(junk, now=NOW, cap=900) is None


def test_backoff_grows_exponentially_with_jitter_and_is_capped():
    policy = RetryPolicy(base_delay=1, max_delay=8)
    rng = random.Random(1)
    for attempt, ceiling in [(1, 1), (2, 2), (3, 4), (4, 8), (9, 8)]:
        delay = policy.backoff(attempt, rng)
        assert ceiling / 2 <= delay <= ceiling


def test_the_server_retry_after_replaces_our_own_backoff():
    policy = RetryPolicy(base_delay=1, retry_after_cap=60)
    assert 30 <= policy.delay(1, 30) <= 31
    assert policy.delay(1, 10_000) == 60
    assert policy.delay(1, 0) == 0


def test_clients_told_the_same_retry_after_come_back_spread_out():
    policy, rng = RetryPolicy(), random.Random(7)
    waits = [policy.delay(1, 1.0, rng) for _ in range(20)]
    assert all(1.0 <= w <= 1.5 for w in waits)
    assert max(waits) - min(waits) > 0.25  # not one instant: the 429 storm would repeat


def test_attempts_and_wall_time_both_bound_the_loop():
    policy = RetryPolicy(max_attempts=3, max_seconds=10)
    assert policy.allows(2, 1.0)
    assert not policy.allows(3, 1.0)
    assert not policy.allows(1, 9.0, next_delay=2.0)
