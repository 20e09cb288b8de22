"""`verify` reads the catalog's stored files through the port and repairs through it."""

from fakes import InMemoryCatalog, catalog_scene

from eoharvest.application.verify import repair, verify_catalog

GOOD, BAD = "aa" * 32, "bb" * 32


def _catalog() -> InMemoryCatalog:
    catalog = InMemoryCatalog()
    catalog.upsert_scenes([catalog_scene("a", product_key="P"), catalog_scene("b", product_key="Q")])
    for scene_id, name, path in [("a", "ok.zip", "/d/P/ok.zip"), ("a", "changed.zip", "/d/P/changed.zip"),
                                 ("a", "gone.zip", "/d/P/gone.zip"), ("b", "Q.SAFE", "/d/Q/Q.SAFE")]:  # fmt: skip
        file_id = catalog.record_file("cdse", scene_id, name)
        catalog.set_file_state(file_id, "available", local_path=path, sha256=GOOD)
    return catalog


def _kind(path: str) -> str:
    return {"/d/P/gone.zip": "missing", "/d/Q/Q.SAFE": "dir"}.get(path, "file")


def _sha256(path: str) -> str:
    return BAD if path == "/d/P/changed.zip" else GOOD


def test_verify_sorts_every_stored_file_into_ok_changed_missing_and_extracted():
    report = verify_catalog(_catalog(), kind_of=_kind, sha256_of=_sha256)
    assert (report.checked, report.ok, report.extracted) == (4, 1, 1)
    assert [f.local_path for f in report.mismatched] == ["/d/P/changed.zip"]
    assert [f.local_path for f in report.missing] == ["/d/P/gone.zip"]


def test_verify_can_be_limited_to_one_product():
    report = verify_catalog(_catalog(), "Q", kind_of=_kind, sha256_of=_sha256)
    assert (report.checked, report.extracted, report.problems) == (1, 1, [])


def test_repair_deletes_changed_files_and_marks_broken_copies_failed_in_the_catalog():
    catalog = _catalog()
    report = verify_catalog(catalog, kind_of=_kind, sha256_of=_sha256)
    removed: list[str] = []
    repair(report, catalog, remove=removed.append)
    assert removed == ["/d/P/changed.zip"]
    assert report.repaired == 2
    assert [f.local_path for f in catalog.stored_files()] == ["/d/P/ok.zip", "/d/Q/Q.SAFE"]
    assert verify_catalog(catalog, kind_of=_kind, sha256_of=_sha256).problems == []


def test_repair_marks_matching_files_available_again_which_records_their_identity_anew():
    catalog = _catalog()
    before = {f.id: f.verified_at for f in catalog.files.values()}
    report = verify_catalog(catalog, kind_of=_kind, sha256_of=_sha256)
    repair(report, catalog, remove=lambda path: None)
    assert report.refreshed == 1 and [f.local_path for f in report.verified] == ["/d/P/ok.zip"]
    ok = next(f for f in catalog.files.values() if f.local_path == "/d/P/ok.zip")
    assert ok.state == "available" and ok.sha256 == GOOD and ok.verified_at >= before[ok.id]
