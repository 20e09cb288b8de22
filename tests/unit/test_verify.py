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


def _with_members(tmp_path):
    """A product kept only unpacked (the archive's row points at its folder) with three
    recorded members, and a kept archive with one."""
    from hashlib import sha256

    from eoharvest.domain.catalog_query import ExtractedMember

    catalog = InMemoryCatalog()
    catalog.upsert_scenes([catalog_scene("s", product_key="S"), catalog_scene("t", product_key="T")])
    members = []
    for name in ("ok.jp2", "changed.jp2", "gone.jp2"):
        path = tmp_path / "S" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(name.encode())
        members.append(ExtractedMember(name, str(path), len(name), sha256(name.encode()).hexdigest()))
    unpacked = catalog.record_file("cdse", "s", "S.zip")
    catalog.record_extraction(unpacked, local_path=str(tmp_path / "S"), sha256=GOOD, members=members)
    (tmp_path / "S" / "changed.jp2").write_bytes(b"other bytes")
    (tmp_path / "S" / "gone.jp2").unlink()
    (tmp_path / "T").mkdir()
    kept_path = tmp_path / "T" / "fine.tif"
    kept_path.write_bytes(b"fine")
    kept = catalog.record_file("cdse", "t", "T.tar")
    catalog.record_extraction(kept, local_path=str(tmp_path / "T"), sha256=GOOD,
                              members=[ExtractedMember("fine.tif", str(kept_path), 4, sha256(b"fine").hexdigest())])  # fmt: skip
    return catalog, unpacked, kept


def _disk_kind(path: str) -> str:
    import os

    return "dir" if os.path.isdir(path) else "file" if os.path.isfile(path) else "missing"


def _disk_sha256(path: str) -> str:
    from hashlib import sha256
    from pathlib import Path

    return sha256(Path(path).read_bytes()).hexdigest()


def test_verify_rehashes_the_members_of_extracted_archives(tmp_path):
    catalog, _, _ = _with_members(tmp_path)
    report = verify_catalog(catalog, kind_of=_disk_kind, sha256_of=_disk_sha256)
    assert (report.checked, report.extracted, report.members_checked) == (2, 2, 4)
    assert sorted(m.path for m in report.members_ok) == ["fine.tif", "ok.jp2"]
    assert [m.path for m in report.members_mismatched] == ["changed.jp2"]
    assert [m.path for m in report.members_missing] == ["gone.jp2"]
    assert len(report.problems) == 2  # `verify` exits 5
    assert verify_catalog(catalog, "T", kind_of=_disk_kind, sha256_of=_disk_sha256).problems == []


def test_repair_deletes_a_changed_member_and_marks_its_archive_failed_so_it_is_fetched_again(tmp_path):
    catalog, unpacked, kept = _with_members(tmp_path)
    report = verify_catalog(catalog, kind_of=_disk_kind, sha256_of=_disk_sha256)
    removed: list[str] = []
    repair(report, catalog, remove=removed.append)
    assert removed == [str(tmp_path / "S" / "changed.jp2")]
    assert report.repaired == 1  # one archive, however many of its members broke
    assert catalog.files[unpacked].state == "failed" and catalog.files[kept].state == "available"
    assert report.refreshed == 2  # the matching members' identity recorded again
    assert [m.path for m in catalog.stored_members()] == ["fine.tif"]
    assert verify_catalog(catalog, kind_of=_disk_kind, sha256_of=_disk_sha256).problems == []


def test_repair_records_the_members_of_archives_extracted_before_the_catalog_recorded_them(tmp_path):
    from hashlib import sha256

    from eoharvest.application.verify import record_members

    catalog = InMemoryCatalog()
    catalog.upsert_scenes([catalog_scene(s, product_key=s.upper()) for s in ("a", "b", "c")])
    contents = {"X.SAFE/B04.jp2": b"band", "X.SAFE/MTD.xml": b"<m/>"}
    ids = {}
    for scene_id, changed in (("a", None), ("b", "X.SAFE/MTD.xml"), ("c", None)):
        folder = tmp_path / scene_id.upper()
        for name, data in contents.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(b"edited" if name == changed else data)
        (folder / "P.zip").write_bytes(b"PK")
        ids[scene_id] = catalog.record_file("cdse", scene_id, "P.zip")
        catalog.set_file_state(ids[scene_id], "available", local_path=str(folder / "P.zip"), sha256=GOOD)
    (tmp_path / "C" / "X.SAFE" / "B04.jp2").unlink()  # never extracted whole
    tif = catalog.record_file("cdse", "a", "B02.tif")
    (tmp_path / "A" / "B02.tif").write_bytes(b"t")
    catalog.set_file_state(tif, "available", local_path=str(tmp_path / "A" / "B02.tif"), sha256=GOOD)
    digests = {name: (len(data), sha256(data).hexdigest()) for name, data in contents.items()}
    asked: list[str] = []

    def archives_good(path):  # the archives' own bytes still match what the catalog recorded
        return GOOD if path.endswith((".zip", ".tif")) else _disk_sha256(path)

    def member_digests(path):
        asked.append(path)
        return digests

    report = verify_catalog(catalog, kind_of=_disk_kind, sha256_of=archives_good)
    record_members(report, catalog, member_digests=member_digests, kind_of=_disk_kind, sha256_of=_disk_sha256)
    assert report.members_recorded == 1
    assert sorted(m.path for m in catalog.stored_members("A")) == sorted(contents)
    assert catalog.stored_members("B") == [] and catalog.stored_members("C") == []
    why = {archive.product_key: reason for archive, reason in report.members_unrecorded}
    assert "differs from the archive's" in why["B"] and "not in the product folder" in why["C"]
    assert all(path.endswith("P.zip") for path in asked)  # plain files are not archives
    again = verify_catalog(catalog, kind_of=_disk_kind, sha256_of=archives_good)
    asked.clear()
    record_members(again, catalog, member_digests=member_digests, kind_of=_disk_kind, sha256_of=_disk_sha256)
    assert again.members_recorded == 0 and str(tmp_path / "A" / "P.zip") not in asked  # recorded once
