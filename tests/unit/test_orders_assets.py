"""The order book and the assets the archive already has: a selection whose every asset has a
verified file of the same product (from any provider) needs no order; a partial overlap orders
only the missing assets and hands back stand-ins for the rest; an order already placed for the
whole selection is followed as it was; ``overwrite`` orders everything."""

from __future__ import annotations

from pathlib import Path

import pytest
from fakes import FakeClock, FakeOrderingSource, InMemoryCatalog, make_scene

from eoharvest.application.orders import HAVE, ORDER, OrderBook
from eoharvest.domain import orders as o

PRODUCT = "LC08_K"


class Archive:
    def __init__(self, folder: Path):
        self.folder = folder
        self.catalog = InMemoryCatalog()
        self.source = FakeOrderingSource()
        self.book = OrderBook(lambda: self.catalog, FakeClock(), owner="host:1")
        self.stac = make_scene("es", provider="earth-search", product_key=PRODUCT)
        self.usgs = make_scene("u", provider="fake", product_key=PRODUCT)
        self.catalog.upsert_scenes([self.stac, self.usgs])

    def verified(self, asset: str, *, scene=None, data: bytes = b"band") -> Path:
        scene = scene or self.stac
        path = self.folder / f"{asset}.TIF"
        path.write_bytes(data)
        file_id = self.catalog.record_file(scene.provider, scene.scene_id, path.name, size=len(data), asset=asset)
        self.catalog.set_file_state(file_id, "available", local_path=str(path), sha256="ab" * 32)
        return path

    def orders(self):
        return {(order.key.selection, order.state) for order in self.catalog.find_orders(o.OrderFilter())}


@pytest.fixture
def archive(tmp_path):
    return Archive(tmp_path)


def test_every_asset_from_another_provider_means_no_order(archive):
    red, nir = archive.verified("red"), archive.verified("nir08")
    assert archive.book.preview(archive.source, archive.usgs, ["red", "nir08"]).action == HAVE
    assert archive.book.check(archive.source, archive.usgs, ["red", "nir08"]).ready
    files = archive.book.files(archive.source, archive.usgs, ["red", "nir08"])
    assert sorted((d.filename, d.url) for d in files) == [("nir08.TIF", nir.as_uri()), ("red.TIF", red.as_uri())]
    assert archive.source.place_calls == [] and archive.orders() == set()


def test_a_partial_overlap_orders_only_the_missing_assets_and_stands_in_for_the_rest(archive):
    red = archive.verified("red")
    assert archive.book.preview(archive.source, archive.usgs, ["red", "nir08"]).action == ORDER
    assert not archive.book.check(archive.source, archive.usgs, ["red", "nir08"]).ready  # placed
    assert archive.orders() == {("nir08", o.REQUESTED)}
    assert archive.book.check(archive.source, archive.usgs, ["red", "nir08"]).ready  # polled: ready
    files = archive.book.files(archive.source, archive.usgs, ["red", "nir08"])
    assert [d.url for d in files] == [f"https://fake.invalid/{o.order_label(o.OrderKey('fake', PRODUCT, 'nir08'))}/u.zip",
                                      red.as_uri()]  # fmt: skip
    archive.book.downloaded(archive.source, archive.usgs, ["red", "nir08"])
    assert archive.orders() == {("nir08", o.DOWNLOADED)} and archive.source.place_calls == [PRODUCT]


def test_an_order_placed_for_the_whole_selection_is_followed_not_placed_again(archive):
    assert not archive.book.check(archive.source, archive.usgs, ["red", "nir08"]).ready
    archive.verified("red")  # arrives from Earth Search meanwhile
    assert archive.book.check(archive.source, archive.usgs, ["red", "nir08"]).ready
    assert archive.orders() == {("nir08,red", o.READY)} and archive.source.place_calls == [PRODUCT]


def test_a_file_whose_size_changed_since_it_was_verified_is_ordered_again(archive):
    path = archive.verified("red")
    path.write_bytes(b"changed later")
    assert archive.book.preview(archive.source, archive.usgs, ["red"]).action == ORDER
    archive.book.check(archive.source, archive.usgs, ["red"])
    assert archive.orders() == {("red", o.REQUESTED)}


def test_overwrite_orders_every_asset(archive):
    archive.verified("red")
    archive.book.check(archive.source, archive.usgs, ["red", "nir08"], overwrite=True)
    assert archive.orders() == {("nir08,red", o.REQUESTED)}


def test_files_without_a_recorded_asset_do_not_count(archive):
    path = archive.folder / "red.TIF"
    path.write_bytes(b"band")
    file_id = archive.catalog.record_file("earth-search", "es", path.name, size=4)
    archive.catalog.set_file_state(file_id, "available", local_path=str(path), sha256="ab" * 32)
    archive.book.check(archive.source, archive.usgs, ["red"])
    assert archive.orders() == {("red", o.REQUESTED)}
