"""The scene download use case on in-memory ports: planning, states, skip_error, one upsert."""

import hashlib
from pathlib import Path

import pytest

from eoharvest.application.scene_download import SceneDownloadService
from eoharvest.domain.errors import CatalogError, DownloadCancelled, InsufficientSpace, IntegrityError, UnsafeArchive
from eoharvest.domain.models import DownloadDescriptor
from fakes import FakeArchives, FakeTransfer, InMemoryCatalog, make_scene


class CountingCatalog(InMemoryCatalog):
    def __init__(self):
        super().__init__()
        self.upserts = 0

    def upsert_scenes(self, scenes, *, seen_at=None):
        self.upserts += 1
        return super().upsert_scenes(scenes, seen_at=seen_at)


def desc(name):
    return DownloadDescriptor(f"https://files.invalid/{name}", name)


def states(catalog):
    return sorted((f.name, f.state) for f in catalog.files.values())


def service(transfer, catalog=None, **kw):
    opener = (lambda: catalog) if catalog is not None else None
    return SceneDownloadService(transfer, FakeArchives(), opener, **kw)


def test_a_scene_already_in_the_catalog_is_not_upserted_again(tmp_path):
    catalog = CountingCatalog()
    scene = make_scene("a", product_key="P")
    catalog.upsert_scenes([scene])
    service(FakeTransfer({"b.tif": b"x"}), catalog).fetch(scene, [desc("b.tif")], str(tmp_path))
    assert catalog.upserts == 1
    assert states(catalog) == [("b.tif", "available")]


def test_a_scene_only_the_public_api_has_seen_is_recorded_once(tmp_path):
    catalog = CountingCatalog()
    service(FakeTransfer({"b.tif": b"x", "c.tif": b"y"}), catalog).fetch(
        make_scene("a", product_key="P"), [desc("b.tif"), desc("c.tif")], str(tmp_path))
    assert catalog.upserts == 1 and catalog.count() == 1


def test_without_skip_error_the_first_failed_file_stops_the_scene(tmp_path):
    catalog = InMemoryCatalog()
    transfer = FakeTransfer({"b.tif": b"x"}, errors={"a.tif": IntegrityError("bad md5")})
    with pytest.raises(IntegrityError):
        service(transfer, catalog).fetch(make_scene("s", product_key="P"), [desc("a.tif"), desc("b.tif")], str(tmp_path))
    assert [name for _, name in transfer.fetched] == ["a.tif"]
    assert states(catalog) == [("a.tif", "failed")]


def test_with_skip_error_the_other_files_are_fetched_and_the_failure_still_raised(tmp_path):
    catalog = InMemoryCatalog()
    transfer = FakeTransfer({"b.tif": b"x", "c.tif": b"y"}, errors={"a.tif": IntegrityError("bad md5")})
    with pytest.raises(IntegrityError):
        service(transfer, catalog).fetch(make_scene("s", product_key="P"), [desc("a.tif"), desc("b.tif"), desc("c.tif")],
                                         str(tmp_path), skip_error=True)
    assert states(catalog) == [("a.tif", "failed"), ("b.tif", "available"), ("c.tif", "available")]
    assert (tmp_path / "P" / "c.tif").read_bytes() == b"y"


@pytest.mark.parametrize("error, state", [(DownloadCancelled("stop"), "queued"), (InsufficientSpace("full"), "paused")])
def test_cancellation_and_a_full_disk_stop_at_once_even_with_skip_error(tmp_path, error, state):
    catalog = InMemoryCatalog()
    transfer = FakeTransfer({"b.tif": b"x"}, errors={"a.tif": error})
    with pytest.raises(type(error)):
        service(transfer, catalog).fetch(make_scene("s", product_key="P"), [desc("a.tif"), desc("b.tif")],
                                         str(tmp_path), skip_error=True)
    assert states(catalog) == [("a.tif", state)]


def test_progress_given_at_construction_hears_about_every_file(tmp_path):
    heard = []
    service(FakeTransfer({"b.tif": b"xyz"}), progress=lambda *a: heard.append(a)).fetch(
        make_scene("s"), [desc("b.tif")], str(tmp_path))
    assert heard == [("b.tif", 3, 3)]


def test_the_catalog_is_opened_when_the_first_download_starts_not_before(tmp_path):
    opened = []

    def opener():
        opened.append(True)
        return InMemoryCatalog()

    downloads = SceneDownloadService(FakeTransfer({"b.tif": b"x"}), FakeArchives(), opener)
    assert opened == []
    downloads.fetch(make_scene("s"), [desc("b.tif")], str(tmp_path))
    downloads.fetch(make_scene("t"), [desc("b.tif")], str(tmp_path))
    assert opened == [True]


def test_an_archive_is_verified_before_it_counts_and_extracted_after(tmp_path):
    catalog = InMemoryCatalog()
    archives = FakeArchives({"inner.tif": b"data"})
    downloads = SceneDownloadService(FakeTransfer({"P.zip": b"PK"}), archives, lambda: catalog)
    result = downloads.fetch(make_scene("s", product_key="P"), [desc("P.zip")], str(tmp_path))
    assert archives.verified == [str(tmp_path / "P" / "P.zip")]
    assert list(result.out_files) == [str(tmp_path / "P" / "inner.tif")]
    assert states(catalog) == [("P.zip", "available")]
    # its members are recorded with the SHA-256 of what was written (what `serve` and `verify` use)
    (member,) = catalog.stored_members("P")
    assert (member.path, member.local_path) == ("inner.tif", str(tmp_path / "P" / "inner.tif"))
    assert member.sha256 == hashlib.sha256(b"data").hexdigest()


def test_an_archive_whose_members_cannot_be_recorded_is_not_available(tmp_path):
    class Vanishing(FakeArchives):
        def extract(self, archive, into, *, protected=()):
            members = super().extract(archive, into, protected=protected)
            Path(members[0].local_path).unlink()  # gone before the catalog records it
            return members

    catalog = InMemoryCatalog()
    downloads = SceneDownloadService(FakeTransfer({"P.zip": b"PK"}), Vanishing({"inner.tif": b"data"}), lambda: catalog)
    with pytest.raises(CatalogError, match="inner.tif"):
        downloads.fetch(make_scene("s", product_key="P"), [desc("P.zip")], str(tmp_path))
    assert states(catalog) == [("P.zip", "failed")] and catalog.stored_members() == []


def test_a_product_verified_from_another_provider_is_not_fetched_again(tmp_path):
    catalog = InMemoryCatalog()
    transfer = FakeTransfer({"b.tif": b"x"})
    service(transfer, catalog).fetch(make_scene("s", provider="one", product_key="P"), [desc("b.tif")], str(tmp_path))
    result = service(transfer, catalog).fetch(make_scene("t", provider="two", product_key="P"), [desc("b.tif")],
                                              str(tmp_path))
    assert result.skipped and transfer.fetched == [("one", "b.tif")]


def test_an_archive_may_not_extract_over_any_file_of_its_product_and_then_is_not_available(tmp_path):
    catalog = InMemoryCatalog()
    earlier = FakeTransfer({"B08.tif": b"nir"})
    service(earlier, catalog).fetch(make_scene("o", provider="other", product_key="P"), [desc("B08.tif")], str(tmp_path))
    archives = FakeArchives({"red.tif": b"the zip's red"})
    transfer = FakeTransfer({"red.tif": b"red", "P.zip": b"PK"})
    downloads = SceneDownloadService(transfer, archives, lambda: catalog)
    with pytest.raises(UnsafeArchive):
        downloads.fetch(make_scene("s", product_key="P"), [desc("red.tif"), desc("P.zip")], str(tmp_path))
    # Every name of the product is protected: the assets asked for, the archive, earlier copies.
    assert archives.protected == [("B08.tif", "P.zip", "red.tif")]
    assert (tmp_path / "P" / "red.tif").read_bytes() == b"red"
    assert states(catalog) == [("B08.tif", "available"), ("P.zip", "failed"), ("red.tif", "available")]


def test_without_kept_archives_the_product_folder_is_the_archives_verified_copy(tmp_path):
    catalog = InMemoryCatalog()
    transfer = FakeTransfer({"P.zip": b"PK"})
    downloads = SceneDownloadService(transfer, FakeArchives({"inner.tif": b"data"}), lambda: catalog, keep_archives=False)
    downloads.fetch(make_scene("s", product_key="P"), [desc("P.zip")], str(tmp_path))
    assert not (tmp_path / "P" / "P.zip").exists()
    assert [f.path for f in catalog.available_file_records("P")] == [str(tmp_path / "P")]
    again = downloads.fetch(make_scene("s", product_key="P"), [desc("P.zip")], str(tmp_path))
    assert again.skipped and len(transfer.fetched) == 1
