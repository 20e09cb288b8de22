"""Saved-search rules: intervals, search windows, watermarks and backoff (domain/watch.py)."""

from datetime import datetime, timedelta, timezone

import pytest

from eoharvest.domain.errors import InputError
from eoharvest.domain.watch import (
    SearchState,
    WatchDefinition,
    backoff_delay,
    check_search_name,
    format_interval,
    next_watermark,
    parse_interval,
    window_start,
)

T = datetime(2025, 8, 10, 12, tzinfo=timezone.utc)
AOI = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}


def definition(**changes):
    values = dict(provider="earth-search", platforms=("Sentinel-2",), aoi=AOI, every=timedelta(hours=1))
    return WatchDefinition(**{**values, **changes})


@pytest.mark.parametrize("text, seconds", [("30m", 1800), ("1h", 3600), ("6H", 21600), ("1d", 86400), ("45s", 45)])
def test_intervals_are_a_whole_number_and_a_unit(text, seconds):
    assert parse_interval(text) == timedelta(seconds=seconds)
    assert parse_interval(format_interval(parse_interval(text))) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "1", "h", "1.5h", "-1h", "1w", "0m", "999d", "1h30m"])
def test_anything_else_is_an_input_error_that_shows_the_syntax(text):
    with pytest.raises(InputError, match="30m, 1h, 6h, 1d|out of range"):
        parse_interval(text)


def test_search_names_must_be_simple_words():
    assert check_search_name("s2-markham_v1.0") == "s2-markham_v1.0"
    for bad in ("", "-x", "a b", "x/y", "a" * 200):
        with pytest.raises(InputError):
            check_search_name(bad)


def test_a_definition_survives_its_json_form():
    d = definition(cloud_max=30.0, assets=("visual",), since=T, overlap=timedelta(hours=6), download=False)
    assert WatchDefinition.from_json(d.to_json()) == d


def test_the_first_window_starts_at_since_and_later_ones_an_overlap_before_the_watermark():
    assert window_start(definition(), SearchState()) is None
    assert window_start(definition(since=T), SearchState()) == T
    state = SearchState(watermark=T)
    assert window_start(definition(), state) == T - timedelta(days=2)
    assert window_start(definition(since=T - timedelta(hours=1)), state) == T - timedelta(hours=1)


def test_the_watermark_is_the_newest_acquisition_and_never_moves_back():
    assert next_watermark(None, [T, T - timedelta(days=1), None]) == T
    assert next_watermark(T, [T - timedelta(days=5)]) == T
    assert next_watermark(T, []) == T
    assert next_watermark(None, []) is None


def test_a_failed_download_holds_the_watermark_at_that_scene_so_it_is_searched_again():
    older = T - timedelta(days=1)
    assert next_watermark(None, [T, older], failed=[older]) == older
    assert next_watermark(T - timedelta(days=3), [T, older], failed=[older]) == older


def test_backoff_doubles_per_failure_and_is_capped_but_never_below_the_interval():
    hour = timedelta(hours=1)
    assert [backoff_delay(hour, n) for n in (1, 2, 3)] == [hour, 2 * hour, 4 * hour]
    assert backoff_delay(hour, 50) == timedelta(days=1)
    assert backoff_delay(timedelta(days=2), 3) == timedelta(days=2)


def test_success_clears_failures_and_failure_counts_them():
    failed = SearchState().failed(T, "boom", T + timedelta(hours=1)).failed(T, "again", T)
    assert (failed.failures, failed.last_error) == (2, "again")
    ok = failed.succeeded(T, timedelta(hours=1), T, found=3, new=1, downloaded=1)
    assert (ok.failures, ok.last_error, ok.next_run_at, ok.last_new) == (0, None, T + timedelta(hours=1), 1)


def test_a_failed_scene_without_a_time_keeps_the_watermark_where_it_was():
    from datetime import datetime, timedelta, timezone

    from eoharvest.domain.watch import next_watermark

    t = datetime(2025, 8, 1, tzinfo=timezone.utc)
    assert next_watermark(t, [t + timedelta(days=10), None], failed=[None]) == t
    assert next_watermark(None, [t, t + timedelta(days=10)], failed=[None]) is None
