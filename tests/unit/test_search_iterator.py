"""SearchIterator: lazy paging, totals, duplicate removal, cycle detection and the page bound."""

from __future__ import annotations

import pytest
from fakes import make_scene

from eoharvest.application.sensor_api import Scenes, SearchIterator
from eoharvest.domain.errors import ProviderResponseError
from eoharvest.domain.models import SearchPage


class PagedQuery:
    """query(ref) over a list of pages; page i is fetched with ref i and points at i + 1."""

    def __init__(self, pages, *, total=None, next_refs=None):
        self.pages = pages
        self.total = total
        self.next_refs = next_refs
        self.refs = []

    def __call__(self, ref):
        self.refs.append(ref)
        index = 0 if ref is None else ref
        if self.next_refs is not None:
            next_ref = self.next_refs[index]
        else:
            next_ref = index + 1 if index + 1 < len(self.pages) else None
        return Scenes(self.pages[index], total=self.total, next_ref=next_ref)


def ids(scenes):
    return [s.scene_id for s in scenes]


def test_pages_are_fetched_only_as_iteration_reaches_them():
    query = PagedQuery([[make_scene("a"), make_scene("b")], [make_scene("c")], [make_scene("d")]])
    search = SearchIterator(query)
    assert query.refs == []
    assert next(search).scene_id == "a"
    assert next(search).scene_id == "b"
    assert query.refs == [None]
    assert next(search).scene_id == "c"
    assert query.refs == [None, 1]
    assert ids(search) == ["d"]
    assert query.refs == [None, 1, 2]
    assert search.pages_fetched == 3


def test_iteration_stops_when_a_page_has_no_next_reference():
    query = PagedQuery([[make_scene("a")]])
    assert ids(SearchIterator(query)) == ["a"]
    assert query.refs == [None]


def test_total_is_the_providers_count_and_reading_it_fetches_only_the_first_page():
    query = PagedQuery([[make_scene("a")], [make_scene("b")]], total=2)
    search = SearchIterator(query)
    assert search.total == 2
    assert query.refs == [None]
    assert ids(search) == ["a", "b"]
    assert query.refs == [None, 1]


def test_total_is_none_when_the_provider_does_not_report_one():
    assert SearchIterator(PagedQuery([[make_scene("a")]])).total is None


def test_scenes_repeated_on_a_later_page_are_yielded_once():
    query = PagedQuery([[make_scene("a"), make_scene("b")], [make_scene("b"), make_scene("c")]])
    search = SearchIterator(query)
    assert ids(search) == ["a", "b", "c"]
    assert search.duplicates_dropped == 1


def test_same_scene_id_from_different_providers_is_not_a_duplicate():
    query = PagedQuery([[make_scene("a", provider="p1"), make_scene("a", provider="p2")]])
    assert len(list(SearchIterator(query))) == 2


def test_a_next_link_pointing_to_its_own_page_raises_after_one_repeat():
    query = PagedQuery([[make_scene("a")], [make_scene("b")]], next_refs=[1, 1])
    search = SearchIterator(query)
    assert ids([next(search), next(search)]) == ["a", "b"]
    with pytest.raises(ProviderResponseError, match="page cycle"):
        next(search)
    assert query.refs == [None, 1]


def test_a_longer_page_cycle_is_detected_too():
    query = PagedQuery([[make_scene(str(i))] for i in range(4)], next_refs=[1, 2, 3, 1])
    with pytest.raises(ProviderResponseError, match="repeats an earlier page"):
        list(SearchIterator(query))
    assert query.refs == [None, 1, 2, 3]


def test_unhashable_page_references_still_have_cycles_detected():
    def query(ref):
        return Scenes([make_scene("a")], next_ref={"token": "same"})

    with pytest.raises(ProviderResponseError):
        list(SearchIterator(query))


def test_endless_pagination_stops_at_the_page_bound():
    fetched = []

    def endless(ref):
        number = 0 if ref is None else ref
        fetched.append(number)
        return Scenes([make_scene(f"s{number}")], next_ref=number + 1)

    search = SearchIterator(endless, max_pages=5)
    with pytest.raises(ProviderResponseError, match="more than 5 pages"):
        list(search)
    assert len(fetched) == 5


def test_empty_pages_with_a_next_reference_are_followed():
    query = PagedQuery([[], [], [make_scene("a")]])
    assert ids(SearchIterator(query)) == ["a"]


def test_a_query_may_return_domain_search_pages():
    def query(ref):
        if ref is None:
            return SearchPage((make_scene("a"),), total=2, next_ref="p2")
        return SearchPage((make_scene("b"),), total=2, next_ref=None)

    search = SearchIterator(query)
    assert search.total == 2
    assert ids(search) == ["a", "b"]


def test_the_iterator_is_single_pass_like_any_iterator():
    search = SearchIterator(PagedQuery([[make_scene("a")]]))
    assert iter(search) is search
    assert ids(search) == ["a"]
    assert ids(search) == []


def test_a_page_bound_below_one_is_refused():
    with pytest.raises(ValueError):
        SearchIterator(PagedQuery([[]]), max_pages=0)
