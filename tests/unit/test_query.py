from datetime import date, datetime, timedelta, timezone

import pytest

from eoharvest.domain.errors import InputError
from eoharvest.domain.query import SearchQuery, parse_cloud, parse_datetime


def test_naive_datetimes_are_taken_as_utc():  # B-15
    parsed = parse_datetime(datetime(2019, 5, 11, 10, 30))
    assert parsed == datetime(2019, 5, 11, 10, 30, tzinfo=timezone.utc)


def test_aware_datetimes_are_converted_to_utc():
    toronto = timezone(timedelta(hours=-4))
    parsed = parse_datetime(datetime(2019, 5, 11, 8, 0, tzinfo=toronto))
    assert parsed == datetime(2019, 5, 11, 12, 0, tzinfo=timezone.utc)
    assert parsed.tzinfo == timezone.utc


def test_a_bare_end_date_includes_the_whole_day():
    end = parse_datetime("2019-05-21", end_of_day=True)
    assert end.date() == date(2019, 5, 21) and end.hour == 23 and end.minute == 59


def test_iso_strings_with_z_are_parsed():
    assert parse_datetime("2019-05-11T10:00:00Z") == datetime(2019, 5, 11, 10, tzinfo=timezone.utc)


def test_start_after_end_is_an_input_error_naming_both_dates():  # B-13
    with pytest.raises(InputError) as info:
        SearchQuery.create(start_date=datetime(2019, 5, 21), end_date=datetime(2019, 5, 11))
    assert "start 2019-05-21 is after end 2019-05-11" in str(info.value)
    assert info.value.exit_code == 2


@pytest.mark.parametrize("bad", ["2019-02-30", "2019-13-01", "yesterday", "", 20190511])
def test_invalid_dates_are_input_errors(bad):  # B-14
    with pytest.raises(InputError) as info:
        parse_datetime(bad, name="start date")
    assert "start date" in str(info.value)


@pytest.mark.parametrize("bad", [-5, 101, float("nan"), float("inf"), "12%", "abc", True, [1]])
def test_invalid_cloud_values_are_input_errors(bad):  # B-19
    with pytest.raises(InputError) as info:
        parse_cloud(bad, name="cloud_max")
    assert "cloud_max" in str(info.value)


def test_numeric_cloud_strings_are_accepted():
    assert parse_cloud(" 12.5 ", name="cloud_max") == 12.5


def test_cloud_min_above_cloud_max_is_an_input_error():  # B-18
    with pytest.raises(InputError, match="cloud_min 50 is greater than cloud_max 10"):
        SearchQuery.create(cloud_min=50, cloud_max=10)


def test_client_side_cloud_filter_keeps_scenes_without_cloud_values():
    query = SearchQuery.create(cloud_min=10, cloud_max=30)
    assert query.cloud_accepts(None)
    assert query.cloud_accepts(10) and query.cloud_accepts(30)
    assert not query.cloud_accepts(9.9) and not query.cloud_accepts(30.1)


def test_query_options_are_read_only():
    query = SearchQuery.create(collection="x")
    with pytest.raises(TypeError):
        query.options["collection"] = "y"  # type: ignore[index]
