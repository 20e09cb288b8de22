"""When a ready order is complete, judged from the catalog alone (any daemon can): every asset of
its selection verified with none of its files still on its way, or, for a whole product, every
file the queueing pass recorded verified by the queue; files fetched in-process one at a time
never prove a whole product complete. The queueing pass records all of a scene's files before it
queues the first."""

from __future__ import annotations

from fakes import FakeClock, FakeOrderingSource, InMemoryCatalog, make_scene

from eoharvest.application.download_queue import DescriptorCache, QueueingFetcher
from eoharvest.application.orders import OrderBook
from eoharvest.domain import orders as o
from eoharvest.domain.models import DownloadDescriptor

PRODUCT = "LC08_K"


class Book:
    def __init__(self, folder, assets=None):
        self.folder = folder
        self.catalog = InMemoryCatalog()
        self.source = FakeOrderingSource()
        self.scene = make_scene("u", product_key=PRODUCT)
        self.catalog.upsert_scenes([self.scene])
        self.book = OrderBook(lambda: self.catalog, FakeClock(), owner="host:1")
        self.assets = assets
        self.book.check(self.source, self.scene, assets)  # placed
        assert self.book.check(self.source, self.scene, assets).order_state == o.READY

    def file(self, name, asset=None):
        return self.catalog.record_file("fake", "u", name, asset=asset)

    def queue(self, file_id):
        return self.catalog.enqueue_download(file_id)

    def verify(self, file_id, job_id=None):
        path = self.folder / f"{file_id}.bin"
        path.write_bytes(b"x")
        self.catalog.set_file_state(file_id, "available", local_path=str(path), sha256="ab" * 32)
        if job_id is not None:
            self.catalog.jobs[job_id]["state"] = "available"

    def state(self):
        (order,) = self.catalog.find_orders(o.OrderFilter())
        return order.state


def test_an_asset_order_is_downloaded_when_its_last_asset_is_verified(tmp_path):
    b = Book(tmp_path, ["B4", "B5"])
    f4, f5 = b.file("B4.TIF", "B4"), b.file("B5.TIF", "B5")
    j4, j5 = b.queue(f4), b.queue(f5)
    b.verify(f4, j4)
    assert b.book.settle("fake", PRODUCT) == [] and b.state() == o.READY
    b.verify(f5, j5)
    (done,) = b.book.settle("fake", PRODUCT)
    assert done.state == o.DOWNLOADED and b.state() == o.DOWNLOADED


def test_a_whole_product_is_complete_only_with_every_recorded_file_verified_through_the_queue(tmp_path):
    b = Book(tmp_path)
    first, second = b.file("a.bin"), b.file("b.bin")
    j1, j2 = b.queue(first), b.queue(second)
    b.verify(first, j1)
    assert b.book.settle("fake", PRODUCT) == []
    b.catalog.jobs[j2]["state"] = "failed"
    b.catalog.files[second].state = "failed"
    assert b.book.settle("fake", PRODUCT) == [] and b.state() == o.READY
    b.verify(second, b.queue(second))  # queued again by the next pass, and verified
    assert [d.state for d in b.book.settle("fake", PRODUCT)] == [o.DOWNLOADED]


def test_files_fetched_in_process_never_prove_a_whole_product_complete(tmp_path):
    # An in-process download records each file as it fetches it: a run killed after the
    # first file leaves only verified rows, yet the product is incomplete.
    b = Book(tmp_path)
    first = b.file("a.bin")
    b.verify(first)
    assert b.book.settle("fake", PRODUCT) == []
    assert b.book.check(b.source, b.scene, None).ready and b.state() == o.READY


def test_the_queueing_pass_records_every_file_before_it_queues_the_first(tmp_path):
    catalog = InMemoryCatalog()
    scene = make_scene("u", product_key=PRODUCT)
    catalog.upsert_scenes([scene])
    seen = []

    class Queue:
        def enqueue(self, file_id):
            seen.append(sorted(f.name for f in catalog.scene_files("fake", "u")))
            return catalog.enqueue_download(file_id)

    fetcher = QueueingFetcher(catalog, Queue(), DescriptorCache())
    result = fetcher.fetch(scene, [DownloadDescriptor(f"http://127.0.0.1:9/{n}", n) for n in ("a.bin", "b.bin")],
                           str(tmp_path))  # fmt: skip
    assert result.queued == 2 and seen == [["a.bin", "b.bin"]] * 2
