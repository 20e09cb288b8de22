"""CatalogSearch over a SpatiaLite catalog: which copy represents a product, paging by any sort
field (ties and missing values included), and collections that share a provider/platform."""

from datetime import datetime, timedelta, timezone

import pytest
from fakes import catalog_scene

from eoharvest.adapters.catalog import open_catalog
from eoharvest.adapters.stac_api.collections import Collections
from eoharvest.adapters.stac_api.search import CatalogSearch, SearchRequest
from eoharvest.domain.catalog_query import CatalogFilter

T = datetime(2024, 3, 1, tzinfo=timezone.utc)


def stac_raw(scene_id, collection):
    return {"type": "Feature", "stac_version": "1.0.0", "id": scene_id, "collection": collection,
            "geometry": None, "properties": {"datetime": "2024-03-01T00:00:00Z"}, "links": [], "assets": {}}


@pytest.fixture
def searcher(tmp_path):
    path = tmp_path / "c.db"
    with open_catalog(path) as repo:
        repo.upsert_scenes([catalog_scene(f"n{i:02d}", product_key=f"N{i:02d}", cloud=None if i % 3 == 0 else float(i % 4),
                                          when=T + timedelta(hours=i % 2)) for i in range(23)])  # fmt: skip
        repo.upsert_scenes([catalog_scene("old", provider="cdse", product_key="DUP")], seen_at=T)
        repo.upsert_scenes([catalog_scene("new", provider="earth-search", product_key="DUP")],
                           seen_at=T + timedelta(days=1))  # fmt: skip
        repo.upsert_scenes([
            catalog_scene("l2a", provider="earth-search", product_key="L2A", raw=stac_raw("l2a", "sentinel-2-l2a")),
            catalog_scene("l1c", provider="earth-search", product_key="L1C", raw=stac_raw("l1c", "sentinel-2-l1c")),
        ])  # fmt: skip
    repo = open_catalog(path, read_only=True)
    yield CatalogSearch(repo, Collections(repo.reader))
    repo.close()


def all_pages(searcher, **kwargs):
    pages, token = [], None
    while True:
        page = searcher.search(SearchRequest(token=token, **kwargs))
        pages.append([r.scene.scene_id for r in page.records])
        token = page.next_token
        if token is None:
            return pages
        assert len(pages) < 100


@pytest.mark.parametrize("sort, descending", [("cloud", False), ("cloud", True), ("acq_date", True), ("scene_id", False)])
def test_paging_by_any_sort_field_neither_repeats_nor_skips(searcher, sort, descending):
    pages = all_pages(searcher, sort=sort, descending=descending, limit=4)
    ids = [i for page in pages for i in page]
    everything = searcher.search(SearchRequest(sort=sort, descending=descending, limit=1000)).records
    assert len(pages) >= 6 and all(len(p) == 4 for p in pages[:-1])
    assert ids == [r.scene.scene_id for r in everything]
    assert len(ids) == len(set(ids)) == 23 + 3


def test_the_most_recently_seen_copy_represents_a_product_when_none_is_on_disk(searcher):
    (record,) = searcher.search(SearchRequest(where=None, ids=("old", "new"), limit=10)).records
    assert record.scene.scene_id == "new"


def test_collections_sharing_a_provider_and_platform_are_told_apart(searcher):
    collections = searcher.collections.all()
    assert {"sentinel-2", "sentinel-2-l2a", "sentinel-2-l1c"} <= set(collections)
    assert [r.scene.scene_id for r in searcher.search(SearchRequest(collections=("sentinel-2-l1c",))).records] == ["l1c"]
    assert searcher.search(SearchRequest(collections=("nope",))).records == []
    assert collections["sentinel-2-l2a"].bbox == (10.0, 45.0, 11.0, 46.0)


def test_a_page_holds_at_most_1000_items(searcher):
    asked = []
    real = searcher.catalog

    class Recording:
        def query(self, criteria):
            asked.append(criteria.limit)
            return real.query(criteria)

    searcher.catalog = Recording()
    assert len(searcher.search(SearchRequest(limit=5000)).records) == 26
    assert asked[0] == 1001  # one more than a page: is there a next one?


def test_an_unreadable_raw_record_is_served_as_a_minimal_valid_item(tmp_path, caplog):
    from pystac import STACObjectType

    from eoharvest.adapters.catalog.stac_validation import OfflineValidator
    from eoharvest.adapters.stac_api.items import served_item

    path = tmp_path / "c.db"
    with open_catalog(path) as repo:
        repo.upsert_scenes([catalog_scene("bare", provider="earth-search", product_key="BARE", raw={"type": "x"})])
        (record,) = repo.query(CatalogFilter())
    item = served_item(record, "http://127.0.0.1:8000/")
    OfflineValidator().validate_core(item, STACObjectType.ITEM, item["stac_version"])
    assert item["id"] == "bare" and item["collection"] == "sentinel-2"
    assert "minimal item for earth-search bare" in caplog.text


def test_stale_collections_are_served_while_one_background_scan_refreshes_them(tmp_path):
    import time

    path = tmp_path / "c.db"
    with open_catalog(path) as repo:
        repo.upsert_scenes([catalog_scene("a", product_key="A")])
    reader = open_catalog(path, read_only=True)
    collections = Collections(reader.reader, ttl=0)
    assert set(collections.all()) == {"sentinel-2"}
    with open_catalog(path) as repo:
        repo.upsert_scenes([catalog_scene("b", product_key="B", platform="Landsat-8")])
    assert set(collections.all()) == {"sentinel-2"}  # the previous answer, a rescan started
    deadline = time.monotonic() + 30
    while set(collections.all()) != {"sentinel-2", "landsat-8"} and time.monotonic() < deadline:
        time.sleep(0.05)
    assert set(collections.all()) == {"sentinel-2", "landsat-8"}
    collections._ttl = float("inf")  # no further rescans; let a running one end before closing
    while collections._refreshing and time.monotonic() < deadline:
        time.sleep(0.05)
    reader.close()
