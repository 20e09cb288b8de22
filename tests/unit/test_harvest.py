"""harvest(): pages committed as they arrive, failed searches keep what they found, --limit
stops without another request, and a catalog-only harvest keeps no scene beyond its page."""

from __future__ import annotations

import gc
import weakref

import pytest
from fakes import FakeClock, FakeFetcher, FakeSceneSource, InMemoryCatalog, make_scene

from eoharvest.application.downloading import source_downloader_factory
from eoharvest.application.harvest import harvest
from eoharvest.application.sensor_api import SourceBackedSensorAPI
from eoharvest.domain.errors import ProviderResponseError, RetryExhausted
from eoharvest.domain.models import SearchPage


def scenes(prefix, count):
    return [make_scene(f"{prefix}{i:03d}") for i in range(count)]


def api_over(source, fetcher=None):
    factory = source_downloader_factory(source, fetcher) if fetcher is not None else None
    return SourceBackedSensorAPI(source, downloader_factory=factory)


def run(search, catalog, tmp_path, **kw):
    kw.setdefault("download", False)
    return harvest(search, catalog, outdir=str(tmp_path), clock=FakeClock(), **kw)


def test_scenes_of_the_pages_before_a_failing_page_are_catalogued_and_the_error_is_reported(tmp_path):
    failure = RetryExhausted("fake: GET page 3 failed 6 times; last: HTTP 503")
    source = FakeSceneSource([scenes("a", 10), scenes("b", 10), []], fail_on={2: failure})
    catalog = InMemoryCatalog()
    report = run(api_over(source).scenes(), catalog, tmp_path)
    assert catalog.count() == 20 and report.found == 20 and report.new == 20
    assert report.search_error is failure and not report.ok


def test_a_page_larger_than_two_hundred_scenes_is_kept_whole_when_the_next_page_fails(tmp_path):
    source = FakeSceneSource([scenes("a", 250), []], fail_on={1: ProviderResponseError("HTTP 500")})
    catalog = InMemoryCatalog()
    report = run(api_over(source).scenes(), catalog, tmp_path)
    assert catalog.count() == 250 and report.found == 250
    assert isinstance(report.search_error, ProviderResponseError)


def test_a_page_is_in_the_catalog_before_the_page_after_the_next_is_requested(tmp_path):
    catalog = InMemoryCatalog()
    counts_at_request = []
    sizes = [3, 4, 5, 6, 7]
    pages = [scenes(f"p{i}-", n) for i, n in enumerate(sizes)]

    def page(ref):
        counts_at_request.append(catalog.count())
        index = ref or 0
        return SearchPage(tuple(pages[index]), next_ref=index + 1 if index + 1 < len(pages) else None)

    report = run(api_over(FakeSceneSource(page_factory=page)).scenes(), catalog, tmp_path)
    # One page is committed in the background while the next is fetched, never more.
    for index in range(2, len(sizes)):
        assert counts_at_request[index] >= sum(sizes[: index - 1])
    assert catalog.count() == report.new == sum(sizes)


def test_a_catalog_error_is_raised_not_taken_for_a_search_error(tmp_path):
    from eoharvest.domain.errors import CatalogError

    class BrokenCatalog(InMemoryCatalog):
        def upsert_scenes(self, batch, **kw):
            raise CatalogError("database disk image is malformed")

    source = FakeSceneSource([scenes("a", 3), scenes("b", 3), scenes("c", 3)])
    with pytest.raises(CatalogError, match="malformed"):
        run(api_over(source).scenes(), BrokenCatalog(), tmp_path)
    assert len(source.refs_requested) <= 2  # the search stops soon after the catalog failed


def test_a_plain_iterable_that_fails_still_gets_what_it_yielded_catalogued(tmp_path):
    def found_then_broken():
        yield from scenes("a", 7)
        raise ProviderResponseError("the provider hung up")

    catalog = InMemoryCatalog()
    report = run(found_then_broken(), catalog, tmp_path)
    assert catalog.count() == 7 and "hung up" in str(report.search_error)


def test_the_scenes_found_before_a_failing_page_are_still_downloaded(tmp_path):
    source = FakeSceneSource([scenes("a", 2), []], fail_on={1: ProviderResponseError("HTTP 502")})
    fetcher = FakeFetcher()
    report = run(api_over(source, fetcher).scenes(), InMemoryCatalog(), tmp_path, download=True)
    assert sorted(fetcher.calls) == ["a000", "a001"] and report.downloaded == 2
    assert report.search_error is not None


def test_limit_stops_at_n_scenes_without_requesting_the_next_page(tmp_path):
    source = FakeSceneSource([scenes("a", 10), scenes("b", 10)], fail_on={1: ProviderResponseError("HTTP 500")})
    catalog = InMemoryCatalog()
    report = run(api_over(source).scenes(), catalog, tmp_path, limit=10)
    assert source.refs_requested == [None]
    assert report.search_error is None and catalog.count() == 10


def test_a_search_with_a_limit_asks_each_page_for_no_more_than_is_left(tmp_path):
    source = FakeSceneSource([scenes("a", 10), scenes("b", 10), scenes("c", 10), scenes("d", 10)])
    catalog = InMemoryCatalog()
    report = run(api_over(source).scenes(limit=25), catalog, tmp_path)
    assert [query.page_limit for query, _ in source.queries] == [25, 15, 5]
    assert report.found == 25 and catalog.count() == 25
    assert source.refs_requested == [None, 1, 2]


def test_limit_counts_scenes_not_pages_of_a_plain_iterable(tmp_path):
    pulled = []

    def endless():
        for i in range(1000):
            pulled.append(i)
            yield make_scene(f"s{i}")

    catalog = InMemoryCatalog()
    run(endless(), catalog, tmp_path, limit=3)
    assert catalog.count() == 3 and pulled == [0, 1, 2]


class CountingCatalog:
    """A catalog that keeps nothing, so only harvest itself could hold on to scenes."""

    def __init__(self):
        self.upserted = 0

    def upsert_scenes(self, page):
        self.upserted += len(page)
        return len(page)


def test_a_catalog_only_harvest_keeps_no_scene_beyond_its_page(tmp_path):
    alive = weakref.WeakSet()
    live_at_request = []

    def page(ref):
        gc.collect()
        live_at_request.append(len(alive))
        index = ref or 0
        made = scenes(f"p{index}-", 50)
        alive.update(made)
        return SearchPage(tuple(made), next_ref=index + 1 if index < 5 else None)

    catalog = CountingCatalog()
    report = run(api_over(FakeSceneSource(page_factory=page)).scenes(), catalog, tmp_path)
    assert report.found == catalog.upserted == 300
    # The previous page may still be referenced while the next one is fetched; nothing older.
    assert max(live_at_request) <= 50


@pytest.mark.parametrize("limit", [0, -1, True, 2.5, "3"])
def test_a_limit_that_is_not_a_positive_whole_number_is_an_input_error(limit):
    from eoharvest.domain.errors import InputError

    with pytest.raises(InputError, match="limit"):
        api_over(FakeSceneSource([[]])).scenes(limit=limit)


def test_a_misspelt_download_parameter_is_refused_before_anything_is_searched(tmp_path):
    from eoharvest.domain.errors import InputError

    source = FakeSceneSource([scenes("a", 3)])
    catalog = InMemoryCatalog()
    with pytest.raises(InputError, match="asset"):
        run(api_over(source).scenes(), catalog, tmp_path, download=False, asset=["visual"])
    assert source.queries == [] and catalog.count() == 0
