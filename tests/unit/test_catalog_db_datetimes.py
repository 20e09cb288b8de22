"""The batch datetime formatter of the ingest path writes exactly what db_datetime writes."""

from datetime import datetime, timedelta, timezone

from eoharvest.adapters.catalog.columns import db_datetime
from eoharvest.adapters.catalog.rows import db_datetimes

UTC = timezone.utc


def test_batch_formatting_matches_db_datetime_value_by_value():
    values = [
        datetime(2024, 5, 1, 10, 30, tzinfo=UTC),  # no microseconds: still written
        datetime(2024, 5, 1, 10, 30, 0, 7, tzinfo=UTC),
        datetime(1, 1, 1, tzinfo=UTC),  # zero-padded year
        datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 500000, tzinfo=UTC),  # before the epoch
        datetime(2024, 3, 1, 2, 15, tzinfo=timezone(timedelta(hours=5, minutes=30))),  # converted to UTC
        None,
    ]
    assert db_datetimes(values) == [db_datetime(v) for v in values]
    assert db_datetimes(values)[5] == "2024-02-29 20:45:00.000000"


def test_no_values_or_only_missing_ones():
    assert db_datetimes([]) == []
    assert db_datetimes([None, None]) == [None, None]


def test_naive_values_fall_back_to_the_exact_per_value_conversion():
    values = [datetime(2024, 5, 1, 10, 30), datetime(2024, 5, 1, 10, 30, tzinfo=UTC)]
    assert db_datetimes(values) == [db_datetime(v) for v in values]
