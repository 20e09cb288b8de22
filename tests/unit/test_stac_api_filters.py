"""CQL2 text/JSON and the query extension become the catalog's filter AST; page tokens."""

from datetime import datetime, timezone

import pytest

from eoharvest.adapters.stac_api.filters import parse_filter, parse_query
from eoharvest.adapters.stac_api.paging import Cursor, decode
from eoharvest.domain.catalog_fields import Comparison, Logical, Not
from eoharvest.domain.errors import InputError


def test_cql2_text_and_json_give_the_same_tree():
    text = parse_filter("\"eo:cloud_cover\" < 20 AND \"eoharvest:platform\" IN ('Sentinel-2', 'Landsat-8')", "cql2-text")
    as_json = parse_filter({"op": "and", "args": [
        {"op": "<", "args": [{"property": "eo:cloud_cover"}, 20]},
        {"op": "in", "args": [{"property": "eoharvest:platform"}, ["Sentinel-2", "Landsat-8"]]}]}, None)
    assert text == as_json
    assert text.where == Logical("and", (Comparison("cloud", "<", 20.0),
                                         Comparison("platform", "in", ("Sentinel-2", "Landsat-8"))))


def test_between_like_not_isnull_and_a_literal_on_the_left():
    where = parse_filter("NOT (id LIKE 'S2%') AND \"eo:cloud_cover\" BETWEEN 1 AND 3 AND "
                         "\"eoharvest:scene_key\" IS NULL AND 10 > \"eo:cloud_cover\"", None).where
    assert where == Logical("and", (
        Not(Comparison("scene_id", "like", "S2%")),
        Logical("and", (Comparison("cloud", ">=", 1.0), Comparison("cloud", "<=", 3.0))),
        Comparison("scene_key", "isnull", None),
        Comparison("cloud", "<", 10.0),
    ))  # fmt: skip


def test_timestamps_become_aware_datetimes():
    where = parse_filter("datetime >= TIMESTAMP('2024-01-02T03:04:05Z')", None).where
    assert where == Comparison("acq_date", ">=", datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc))


def test_top_level_s_intersects_and_collection_are_lifted_out():
    conditions = parse_filter("collection IN ('a', 'b') AND S_INTERSECTS(geometry, POLYGON((0 0, 1 0, 1 1, 0 1, 0 0))) "
                              "AND collection = 'b' AND \"eo:cloud_cover\" < 5", None)  # fmt: skip
    assert conditions.collections == ("b",)
    assert conditions.aoi is not None and conditions.aoi.bbox == (0.0, 0.0, 1.0, 1.0)
    assert conditions.where == Comparison("cloud", "<", 5.0)


@pytest.mark.parametrize("text, named", [
    ("nosuch = 1", "nosuch"),
    ("\"eo:cloud_cover\" = 'high'", "cloud"),
    ("id = 'x' OR S_INTERSECTS(geometry, POINT(0 0))", "s_intersects"),
    ("collection = 'a' OR id = 'x'", "collection"),
    ("id = ", "CQL2"),
])  # fmt: skip
def test_unsupported_or_bad_filters_name_the_problem(text, named):
    with pytest.raises(InputError) as caught:
        parse_filter(text, "cql2-text")
    assert named.lower() in str(caught.value).lower()


def test_query_extension_operators():
    where = parse_query({"eo:cloud_cover": {"lt": 20, "gte": 1}, "id": {"startsWith": "S2_%"}})
    assert where == Logical("and", (Comparison("cloud", "<", 20.0), Comparison("cloud", ">=", 1.0),
                                    Comparison("scene_id", "like", "S2\\_\\%%")))  # fmt: skip
    assert parse_query('{"eoharvest:state": {"eq": "available"}}') == Comparison("state", "=", "available")
    with pytest.raises(InputError, match="unsupported operator"):
        parse_query({"id": {"regex": "x"}})


def test_a_page_token_round_trips_and_is_bound_to_its_sort():
    when = datetime(2024, 5, 1, 10, 30, tzinfo=timezone.utc)
    cursor = Cursor("acq_date", True, when, 3)
    assert decode(cursor.encode(), "acq_date", True) == cursor
    assert cursor.condition() == Logical("or", (Comparison("acq_date", "<=", when), Comparison("acq_date", "isnull", None)))
    with pytest.raises(InputError, match="another sort"):
        decode(cursor.encode(), "cloud", True)
    with pytest.raises(InputError, match="page token"):
        decode("not-a-token", "acq_date", True)
