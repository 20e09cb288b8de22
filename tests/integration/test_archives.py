"""Archive inspection, verification and extraction against hostile and broken archives.

reliability-test-plan T-13 (integrity) and T-17 / B-36..B-44 (hostile archives). Every hostile
case asserts the error class and exit code, and that the whole tmp_path tree (archive, an
existing destination with a file in it, and the parent a traversal would reach) is exactly as
before: nothing written outside staging, staging removed, destination unchanged.
"""

import errno
import hashlib
import io
import os
import shutil
import struct
import tarfile
import zipfile
import zlib
from pathlib import Path

import pytest

from eoharvest.adapters import archive_inspection, archive_placement, archives
from eoharvest.adapters.archives import ArchiveLimits, extract_archive, extract_members, inspect_archive, member_digests, verify_archive
from eoharvest.domain.errors import InputError, InsufficientSpace, IntegrityError, UnsafeArchive
from mounts import small_tmpfs as mounted_tmpfs

SAFE = "S2A_MSIL2A_20240101T101421_N0510_R022_T32TQM_20240101T121314.SAFE"
LANDSAT = "LC08_L2SP_190025_20240101_20240110_02_T1"


# --- helpers -------------------------------------------------------------------------------


def tree(root):
    """Everything under ``root``: relative path -> file digest, link target or 'dir'."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            if os.path.islink(full):
                found[rel] = "link:" + os.readlink(full)
            elif os.path.isdir(full):
                found[rel] = "dir"
            else:
                with open(full, "rb") as fh:
                    found[rel] = hashlib.sha256(fh.read()).hexdigest()
    return found


@pytest.fixture
def world(tmp_path):
    """An output directory with a file in it; archives go into tmp_path/in."""
    (tmp_path / "in").mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_bytes(b"already here")
    return tmp_path


def assert_rejected(world, archive, error, *words, code=None, **kwargs):
    before = tree(world)
    with pytest.raises(error) as info:
        extract_archive(archive, world / "out", **kwargs)
    expected = code or (5 if error is IntegrityError else 8)
    assert getattr(info.value, "exit_code", 1) == expected
    for word in words:
        assert word in str(info.value)
    assert tree(world) == before
    return info.value


def make_tar(path, entries, mode="w"):
    """entries: (TarInfo, bytes or None)."""
    with tarfile.open(path, mode, format=tarfile.GNU_FORMAT) as tf:
        for info, data in entries:
            if data is not None:
                info.size = len(data)
            tf.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def tinfo(name, type_=tarfile.REGTYPE, mode=0o644, linkname=""):
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.linkname = type_, mode, linkname
    return info


def make_zip(path, entries, compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return path


def _local_header(name, data):
    return struct.pack(
        "<4s5H3L2H", b"PK\x03\x04", 20, 0x800, 0, 0, 0, zlib.crc32(data), len(data), len(data), len(name), 0
    ) + name


def _central(name, data, offset, mode=0o100644, size=None):
    size = len(data) if size is None else size
    return struct.pack(
        "<4s6H3L5H2L", b"PK\x01\x02", 0x0314, 20, 0x800, 0, 0, 0, zlib.crc32(data), len(data), size,
        len(name), 0, 0, 0, 0, mode << 16, offset,
    ) + name


def raw_zip(path, members, extra_central=()):
    """A stored zip with UTF-8 names, built byte by byte.

    members: (name bytes, data[, mode[, declared size]]);
    extra_central: (name, data, offset) central entries that point anywhere.
    """
    body, central = bytearray(), bytearray()
    for name, data, *rest in members:
        central += _central(name, data, len(body), *rest)
        body += _local_header(name, data) + data
    for name, data, offset in extra_central:
        central += _central(name, data, offset)
    count = len(members) + len(extra_central)
    eocd = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, count, count, len(central), len(body), 0)
    path.write_bytes(bytes(body + central + eocd))
    return path


def safe_manifest(files, *, checksums=None, hrefs=None):
    streams = []
    for href in hrefs or sorted(files):
        data = files.get(href, b"")
        digest = (checksums or {}).get(href, hashlib.md5(data).hexdigest())
        streams.append(
            f'<dataObject ID="x"><byteStream mimeType="application/octet-stream" size="{len(data)}">'
            f'<fileLocation locatorType="URL" href="./{href}"/>'
            f'<checksum checksumName="MD5">{digest}</checksum></byteStream></dataObject>'
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n<xfdu:XFDU xmlns:xfdu="urn:ccsds:schema:xfdu:1">'
        f"<dataObjectSection>{''.join(streams)}</dataObjectSection></xfdu:XFDU>"
    ).encode()


def safe_files():
    granule = "GRANULE/L2A_T32TQM_A044444_20240101T101421/IMG_DATA/R10m"
    return {
        "MTD_MSIL2A.xml": b"<n1:Level-2A_User_Product>" + b"<x/>" * 200 + b"</n1:Level-2A_User_Product>",
        f"{granule}/T32TQM_20240101T101421_B02_10m.jp2": os.urandom(40_000),
        f"{granule}/T32TQM_20240101T101421_B03_10m.jp2": os.urandom(30_000),
        "INSPIRE.xml": b"<gmd:MD_Metadata/>",
    }


def make_safe_zip(path, files=None, *, manifest=None):
    files = safe_files() if files is None else files
    manifest = safe_manifest(files) if manifest is None else manifest
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{SAFE}/", b"")
        zf.writestr(f"{SAFE}/manifest.safe", manifest)
        for name, data in files.items():
            zf.writestr(f"{SAFE}/{name}", data)
    return path


def landsat_files():
    files = {f"{LANDSAT}_MTL.txt": b"GROUP = LANDSAT_METADATA_FILE\nEND_GROUP\nEND\n"}
    for band in range(1, 8):
        files[f"{LANDSAT}_SR_B{band}.TIF"] = os.urandom(5_000 + band)
    return files


# --- happy paths ---------------------------------------------------------------------------


def test_a_safe_like_zip_extracts_every_file_with_exact_bytes(world):
    files = safe_files()
    archive = make_safe_zip(world / "in" / "product.zip", files)
    paths = extract_archive(archive, world / "out")
    out = world / "out"
    assert paths[0] == out / SAFE / "manifest.safe"
    for name, data in files.items():
        assert (out / SAFE / name).read_bytes() == data
        assert out / SAFE / name in paths
    assert sorted(p.name for p in out.iterdir()) == [SAFE, "keep.txt"]  # no staging left behind


def test_extracted_members_come_with_their_path_in_the_product_folder_size_and_sha256(world):
    files = safe_files()
    archive = make_safe_zip(world / "in" / "product.zip", files)
    out = world / "out"
    (out / SAFE).mkdir()
    (out / SAFE / "INSPIRE.xml").write_bytes(files["INSPIRE.xml"])  # already there, same bytes: kept
    members = {m.path: m for m in extract_members(archive, out)}
    assert set(members) == {f"{SAFE}/{name}" for name in files} | {f"{SAFE}/manifest.safe"}
    for name, data in files.items():
        member = members[f"{SAFE}/{name}"]
        # hashed while extracting: SHA-256, not the manifest's MD5
        assert (member.size, member.sha256) == (len(data), hashlib.sha256(data).hexdigest())
        assert Path(member.local_path) == out / SAFE / name and Path(member.local_path).read_bytes() == data


@pytest.mark.parametrize("mode", ["zip", "w", "w:gz"])
def test_member_digests_read_every_file_member_of_zips_and_tars(world, mode):
    files = landsat_files()
    if mode == "zip":
        archive = make_zip(world / "in" / "b.zip", list(files.items()))
    else:
        archive = make_tar(world / "in" / "b.tar", [(tinfo(n), d) for n, d in files.items()], mode)
    assert member_digests(archive) == {n: (len(d), hashlib.sha256(d).hexdigest()) for n, d in files.items()}
    cut = world / "in" / "cut.bin"
    cut.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    with pytest.raises((IntegrityError, UnsafeArchive)):
        member_digests(cut)


@pytest.mark.parametrize("mode", ["w", "w:gz", "w:bz2", "w:xz"])
def test_a_landsat_like_tar_extracts_flat_files_whatever_its_compression_or_file_name(world, mode):
    files = landsat_files()
    # The misleading name shows detection is by magic bytes, not by extension.
    archive = make_tar(world / "in" / "bundle.zip", [(tinfo(n), d) for n, d in files.items()], mode)
    report = inspect_archive(archive)
    assert report.kind == {"w": "tar", "w:gz": "tar.gz", "w:bz2": "tar.bz2", "w:xz": "tar.xz"}[mode]
    assert report.total_size == sum(map(len, files.values()))
    paths = extract_archive(archive, world / "out", expected_members=list(files))
    assert [p.name for p in paths] == list(files)
    for name, data in files.items():
        assert (world / "out" / name).read_bytes() == data


def test_tar_root_entries_and_dot_slash_prefixes_are_accepted(world):
    entries = [(tinfo("./", tarfile.DIRTYPE, 0o755), None), (tinfo("./scene/a.tif"), b"abc")]
    archive = make_tar(world / "in" / "x.tar", entries)
    assert extract_archive(archive, world / "out") == [world / "out" / "scene" / "a.tif"]


def test_extracting_the_same_archive_again_replaces_nothing_and_fills_in_what_is_missing(world):
    files = safe_files()
    archive = make_safe_zip(world / "in" / "p.zip", files)
    extract_archive(archive, world / "out")
    complete = tree(world)
    manifest = world / "out" / SAFE / "manifest.safe"
    inode = manifest.stat().st_ino
    (world / "out" / SAFE / next(n for n in files if n != "manifest.safe")).unlink()  # e.g. by hand
    paths = extract_archive(archive, world / "out")
    assert manifest.stat().st_ino == inode  # identical files are left as they are, not rewritten
    assert tree(world) == complete and len(paths) == len(files) + 1  # + the generated manifest.safe
    assert sorted(p.name for p in (world / "out").iterdir()) == [SAFE, "keep.txt"]


def test_an_archive_whose_member_differs_from_a_file_already_there_is_refused_whole(world):
    extract_archive(make_safe_zip(world / "in" / "old.zip"), world / "out")
    files = safe_files()
    files["INSPIRE.xml"] = b"<gmd:MD_Metadata version='2'/>"  # another version of the product
    second = make_safe_zip(world / "in" / "new.zip", files)
    error = assert_rejected(world, second, UnsafeArchive, "manifest.safe", "holds other bytes")
    assert "move that entry away" in str(error)


@pytest.mark.parametrize("existing, why", [
    ("file", "is a file where the archive has a folder"),
    ("link", "is a link where the archive has a folder"),
])  # fmt: skip
def test_something_of_another_kind_in_a_members_way_is_a_clash(world, existing, why):
    if existing == "file":
        (world / "out" / SAFE).write_bytes(b"not a folder")
    else:
        (world / "out" / SAFE).symlink_to(world / "in")
    assert_rejected(world, make_safe_zip(world / "in" / "p.zip"), UnsafeArchive, why)


def test_a_member_named_like_a_protected_file_is_refused_before_anything_is_extracted(world):
    archive = make_tar(world / "in" / "p.tar", [(tinfo("p.tar"), b"not me"), (tinfo("B04.TIF"), b"band")])
    assert_rejected(world, archive, UnsafeArchive, "member 'p.tar'", "the product's file 'p.tar'",
                    protected=["p.tar"])  # fmt: skip
    assert_rejected(world, archive, UnsafeArchive, "member 'B04.TIF'", "the product's file 'b04.tif'",
                    protected=["b04.tif", "other.tif"])  # case-insensitive filesystems merge them  # fmt: skip


def test_a_staging_parent_on_the_same_filesystem_is_used_and_removed(world):
    parent = world / "staging-area"
    parent.mkdir()
    extract_archive(make_safe_zip(world / "in" / "p.zip"), world / "out", staging_parent=parent)
    assert list(parent.iterdir()) == []


# --- B-36..B-41: hostile members -----------------------------------------------------------


@pytest.mark.parametrize(
    "entry, words",
    [
        ((tinfo("../x"), b"evil"), ["'..'"]),  # B-36
        ((tinfo("ok/../../x"), b"evil"), ["'..'"]),
        ((tinfo("/tmp/abs_evil.txt"), b"evil"), ["absolute"]),  # B-37
        ((tinfo("lnk", tarfile.SYMTYPE, linkname="/etc"), None), ["symbolic link", "/etc"]),  # B-38
        ((tinfo("lnk", tarfile.SYMTYPE, linkname="inside.txt"), None), ["symbolic link"]),
        ((tinfo("hard", tarfile.LNKTYPE, linkname="/etc/hostname"), None), ["hard link"]),
        ((tinfo("hard", tarfile.LNKTYPE, linkname="a.tif"), None), ["hard link"]),
        ((tinfo("dev", tarfile.CHRTYPE), None), ["device"]),  # B-39
        ((tinfo("blk", tarfile.BLKTYPE), None), ["device"]),
        ((tinfo("fifo", tarfile.FIFOTYPE), None), ["FIFO"]),
        ((tinfo("suid", mode=0o4755), b"#!/bin/sh\n"), ["setuid"]),
        ((tinfo("sgid", mode=0o2755), b"#!/bin/sh\n"), ["setgid"]),
        ((tinfo("sticky", tarfile.DIRTYPE, mode=0o1777), None), ["sticky"]),
        ((tinfo("..\\..\\x"), b"evil"), ["backslash"]),
        ((tinfo("a\x1b[2Jb"), b"evil"), ["control character", "\\x1b"]),
    ],
)
def test_a_tar_with_a_hostile_member_is_rejected_whole_and_nothing_is_written(world, entry, words):
    archive = make_tar(world / "in" / "x.tar", [(tinfo("a.tif"), b"good"), entry])
    err = assert_rejected(world, archive, UnsafeArchive, *words)
    assert isinstance(err, UnsafeArchive)


@pytest.mark.parametrize(
    "name, words",
    [
        (b"..\\..\\x", ["backslash"]),  # B-40
        (b"C:\\x", ["backslash"]),
        (b"C:/x", ["drive letter"]),
        (b"a\x00b", ["control character", "\\x00"]),
        (b"a\nb", ["control character", "\\n"]),
        (b"d/" + b"a" * 300, ["255 bytes"]),
        (b"../x", ["'..'"]),
        (b"/etc/x", ["absolute"]),
    ],
)
def test_a_zip_with_a_hostile_member_name_is_rejected(world, name, words):
    archive = raw_zip(world / "in" / "x.zip", [(b"a.tif", b"good"), (name, b"evil")])
    assert_rejected(world, archive, UnsafeArchive, *words)


@pytest.mark.parametrize(
    "mode, words", [(0o120777, "link"), (0o020644, "special"), (0o104755, "setuid")]
)
def test_a_zip_member_marked_as_a_symlink_device_or_setuid_is_rejected(world, mode, words):
    archive = raw_zip(world / "in" / "x.zip", [(b"a.tif", b"good"), (b"b", b"/etc/passwd", mode)])
    assert_rejected(world, archive, UnsafeArchive, words)


@pytest.mark.parametrize(
    "names",
    [
        ["scene/B02.jp2", "scene/b02.JP2"],  # B-41
        ["Scene/a.tif", "scene/b.tif"],  # directories merging
        ["caf\u00e9.xml", "cafe\u0301.xml"],  # NFC vs NFD
        ["a.tif", "a.tif"],
        ["a", "a/b"],  # file and directory of the same name
    ],
)
def test_a_zip_whose_names_collide_by_case_unicode_form_or_repetition_is_rejected(world, names):
    entries = [(n.encode(), b"x") for n in names]
    archive = raw_zip(world / "in" / "x.zip", entries)
    assert_rejected(world, archive, UnsafeArchive, names[-1].split("/")[0][:1])


# --- B-42..B-44: bombs, overlaps, member counts ---------------------------------------------


def test_a_zip_declaring_more_than_the_size_cap_is_rejected_before_extraction(world):
    archive = make_zip(world / "in" / "x.zip", [("a", b"x" * 3000), ("b", os.urandom(3000))])
    limits = ArchiveLimits(max_total_size=5000)
    assert_rejected(world, archive, UnsafeArchive, "declares more than 5000 bytes", limits=limits)


def test_a_zip_declaring_huge_members_over_tiny_data_is_rejected_by_the_default_caps(world):
    # Sizes a lying central directory declares; zipfile would stop there and fail the CRC.
    members = [(f"m{i}".encode(), b"x", 0o100644, 4_000_000_000) for i in range(20)]
    archive = raw_zip(world / "in" / "x.zip", members)
    assert_rejected(world, archive, UnsafeArchive, "decompression bomb")
    limits = ArchiveLimits(max_ratio=1e12)
    assert_rejected(world, archive, UnsafeArchive, "declares more than", limits=limits)


def test_a_zip_of_50_mb_of_zeros_is_rejected_by_its_compression_ratio(world):
    archive = make_zip(world / "in" / "bomb.zip", [("zeros.bin", bytes(50 * 2**20))])
    assert archive.stat().st_size < 1_000_000
    assert_rejected(world, archive, UnsafeArchive, "ratio above 10:1", "decompression bomb")


def test_a_tar_gz_of_50_mb_of_zeros_is_rejected_by_its_compression_ratio(world):
    archive = make_tar(world / "in" / "bomb.tar.gz", [(tinfo("zeros.bin"), bytes(50 * 2**20))], "w:gz")
    assert_rejected(world, archive, UnsafeArchive, "ratio above 10:1")


def test_small_well_compressing_archives_are_below_the_ratio_threshold(world):
    archive = make_zip(world / "in" / "meta.zip", [("meta.xml", b"<a/>" * 100_000)])
    assert inspect_archive(archive).total_size == 400_000


def test_overlapping_zip_entries_are_rejected(world):
    # "Quoted overlap" (CVE-2024-0450): entry b's local header sits inside entry a's data.
    inner = _local_header(b"b", b"payload") + b"payload"
    archive = raw_zip(
        world / "in" / "x.zip", [(b"a", inner)], extra_central=[(b"b", b"payload", 30 + 1)]
    )
    assert_rejected(world, archive, UnsafeArchive, "overlaps")


def test_two_central_entries_sharing_one_local_header_are_rejected(world):
    archive = raw_zip(world / "in" / "x.zip", [(b"a", b"data")], extra_central=[(b"a", b"data", 0)])
    assert_rejected(world, archive, UnsafeArchive, "more than once")
    archive = raw_zip(world / "in" / "y.zip", [(b"a", b"data")], extra_central=[(b"c", b"data", 0)])
    assert_rejected(world, archive, UnsafeArchive, "local header")


def count_calls(monkeypatch, owner, name):
    """Count the calls of ``owner.name`` (still calling it)."""
    calls = []
    original = getattr(owner, name)

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, counted)
    return calls


@pytest.mark.slow
def test_a_zip_with_100000_tiny_members_is_rejected_by_its_count_before_any_member_is_vetted(world, monkeypatch):
    archive = world / "in" / "many.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for i in range(100_000):
            zf.writestr(f"f{i}", b"")
    vetted = count_calls(monkeypatch, archive_inspection, "_check_zip_entry")
    collected = count_calls(monkeypatch, archive_inspection._Collector, "add")
    headers_read = count_calls(monkeypatch, archive_inspection, "_check_zip_layout")
    assert_rejected(world, archive, UnsafeArchive, "more than 10000 members")
    # Cost in operations, not seconds (timings live in bench/): the central directory's count
    # refuses it, no member is vetted and no local header read.
    assert (len(vetted), len(collected), len(headers_read)) == (0, 0, 0)


@pytest.mark.slow
def test_a_tar_with_100000_tiny_members_is_rejected_after_reading_one_header_past_the_limit(world, monkeypatch):
    archive = world / "in" / "many.tar"
    with open(archive, "wb") as fh:  # header blocks of empty files, as tarfile would write them
        fh.writelines(tarfile.TarInfo(f"f{i}").tobuf(tarfile.USTAR_FORMAT) for i in range(100_000))
        fh.write(bytes(1024))
    checked = count_calls(monkeypatch, archive_inspection, "check_tar_entry")
    assert_rejected(world, archive, UnsafeArchive, "more than 10000 members")
    # A tar has no directory: headers are read one by one, and reading stops at the 10001st.
    assert len(checked) == 10_001


# --- T-13: integrity -----------------------------------------------------------------------


def test_a_truncated_zip_is_an_integrity_error(world):
    archive = make_safe_zip(world / "in" / "p.zip")
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])
    assert_rejected(world, archive, IntegrityError, "corrupt or truncated", "p.zip")


def test_a_truncated_tar_gz_is_an_integrity_error_naming_the_last_good_member(world):
    files = landsat_files()
    archive = make_tar(world / "in" / "b.tar.gz", [(tinfo(n), d) for n, d in files.items()], "w:gz")
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) * 2 // 3])
    assert_rejected(world, archive, IntegrityError, "truncated", f"{LANDSAT}_")


def test_a_plain_tar_cut_at_a_member_boundary_is_an_integrity_error(world):
    archive = make_tar(world / "in" / "b.tar", [(tinfo("a.tif"), b"a" * 1000), (tinfo("b.tif"), b"b" * 1000)])
    archive.write_bytes(archive.read_bytes()[: 512 + 1024])  # header + padded data of a.tif
    with tarfile.open(archive) as tf:  # what the test plan measured: silently one member
        assert tf.getnames() == ["a.tif"]
    assert_rejected(world, archive, IntegrityError, "truncated after member 'a.tif'", "end-of-archive")
    assert_rejected(world, archive, IntegrityError, "'b.tif' is missing", expected_members=["a.tif", "b.tif"])


def test_a_plain_tar_cut_inside_a_member_is_an_integrity_error(world):
    archive = make_tar(world / "in" / "b.tar", [(tinfo("a.tif"), b"a" * 1000), (tinfo("b.tif"), b"b" * 1000)])
    archive.write_bytes(archive.read_bytes()[: 512 + 1024 + 512 + 100])
    assert_rejected(world, archive, IntegrityError, "b.tif")


@pytest.mark.parametrize("compression", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_a_zip_with_a_corrupted_member_byte_is_an_integrity_error_naming_the_member(world, compression):
    payload = os.urandom(20_000)
    archive = make_zip(world / "in" / "p.zip", [("ok.xml", b"<ok/>"), ("B02.jp2", payload)], compression)
    data = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as zf:
        info = zf.getinfo("B02.jp2")
    data[info.header_offset + 30 + len("B02.jp2") + info.compress_size // 2] ^= 0xFF
    archive.write_bytes(bytes(data))
    assert_rejected(world, archive, IntegrityError, "member 'B02.jp2'")


def test_a_safe_zip_whose_manifest_lists_a_missing_file_is_an_integrity_error(world):
    files = safe_files()
    manifest = safe_manifest(files, hrefs=sorted(files) + ["GRANULE/missing_B04_10m.jp2"])
    archive = make_safe_zip(world / "in" / "p.zip", files, manifest=manifest)
    missing = f"'{SAFE}/GRANULE/missing_B04_10m.jp2'"
    assert_rejected(world, archive, IntegrityError, missing, "manifest.safe")


def test_a_safe_zip_whose_member_fails_its_manifest_md5_is_an_integrity_error(world):
    # The sentinelsat #427 shape: the zip itself is intact (CRCs match) but the content is wrong.
    files = safe_files()
    manifest = safe_manifest(files, checksums={"INSPIRE.xml": "0" * 32})
    archive = make_safe_zip(world / "in" / "p.zip", files, manifest=manifest)
    assert_rejected(world, archive, IntegrityError, f"'{SAFE}/INSPIRE.xml'", "MD5")


def test_a_safe_manifest_with_a_traversal_href_is_unsafe(world):
    files = safe_files()
    manifest = safe_manifest(files, hrefs=["../../etc/passwd"])
    archive = make_safe_zip(world / "in" / "p.zip", files, manifest=manifest)
    assert_rejected(world, archive, UnsafeArchive, "manifest", "'..'")


def test_a_safe_manifest_with_a_dtd_is_refused_unparsed(world):
    manifest = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>'
    archive = make_safe_zip(world / "in" / "p.zip", manifest=manifest)
    assert_rejected(world, archive, UnsafeArchive, "forbidden XML")


def test_a_malformed_safe_manifest_is_an_integrity_error(world):
    archive = make_safe_zip(world / "in" / "p.zip", manifest=b"<xfdu:XFDU")
    assert_rejected(world, archive, IntegrityError, "not valid XML")


def test_a_file_that_is_not_an_archive_is_an_integrity_error(world):
    page = world / "in" / "product.zip"
    page.write_bytes(b"<html><body>Please log in</body></html>")
    assert_rejected(world, page, IntegrityError, "not a zip or tar archive")


def test_verify_returns_the_report_of_a_sound_archive(world):
    report = verify_archive(make_safe_zip(world / "in" / "p.zip"), expected_members=[f"{SAFE}/INSPIRE.xml"])
    assert report.kind == "zip"
    assert f"{SAFE}/manifest.safe" in {m.name for m in report.members}


# --- disk full -----------------------------------------------------------------------------


def test_too_little_free_space_for_the_declared_size_is_refused_before_extracting(world, monkeypatch):
    archive = make_safe_zip(world / "in" / "p.zip")
    usage = shutil.disk_usage(world)
    monkeypatch.setattr(archives.shutil, "disk_usage", lambda p: usage._replace(free=1000))
    err = assert_rejected(world, archive, InsufficientSpace, "1000 free", str(world / "out"), code=7)
    assert err.hint


def test_a_full_disk_during_extraction_is_insufficient_space_and_removes_staging(world, monkeypatch):
    real_drain = archives._drain
    calls = []

    def drain(src, size, digest, out=None):
        if out is None:
            return real_drain(src, size, digest)
        calls.append(size)
        if len(calls) == 3:
            out.write(src.read(10))
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_drain(src, size, digest, out)

    monkeypatch.setattr(archives, "_drain", drain)
    archive = make_safe_zip(world / "in" / "p.zip")
    assert_rejected(world, archive, InsufficientSpace, "no space left writing", "bytes free", code=7)


@pytest.fixture
def small_tmpfs(tmp_path):
    with mounted_tmpfs(tmp_path / "small", "256k") as mount_point:
        yield mount_point


def test_a_real_full_filesystem_during_extraction_leaves_it_as_it_was(tmp_path, small_tmpfs, monkeypatch):
    archive = make_tar(tmp_path / "big.tar", [(tinfo(f"b{i}.tif"), os.urandom(100_000)) for i in range(4)])
    (small_tmpfs / "keep.txt").write_bytes(b"keep")
    real = shutil.disk_usage
    checks = []

    def optimistic_first(path):  # the space check passes, as when another writer fills the disk later
        checks.append(path)
        usage = real(path)
        return usage._replace(free=10**12) if len(checks) == 1 else usage

    monkeypatch.setattr(archives.shutil, "disk_usage", optimistic_first)
    with pytest.raises(InsufficientSpace, match="no space left writing"):
        extract_archive(archive, small_tmpfs)
    assert [p.name for p in small_tmpfs.iterdir()] == ["keep.txt"]


def test_a_staging_parent_on_another_filesystem_is_refused(world, small_tmpfs):
    archive = make_safe_zip(world / "in" / "p.zip")
    assert_rejected(world, archive, InputError, "same filesystem", code=2, staging_parent=small_tmpfs)


# --- moving into place ---------------------------------------------------------------------


def test_a_failed_move_takes_back_what_it_had_placed_and_leaves_what_was_there(world, monkeypatch):
    files = landsat_files()
    for name in list(files)[:2]:  # an earlier, interrupted extraction of the same bundle
        (world / "out" / name).write_bytes(files[name])
    archive = make_tar(world / "in" / "b.tar", [(tinfo(n), d) for n, d in files.items()])
    real_link = os.link
    calls = []

    def link(src, dst):
        calls.append(dst)
        if len(calls) == 5:  # the fifth file fails to land
            raise OSError(errno.EIO, "simulated I/O error")
        return real_link(src, dst)

    monkeypatch.setattr(archive_placement.os, "link", link)
    assert_rejected(world, archive, OSError, "simulated", code=1)


def test_a_file_that_appears_while_extracting_is_not_replaced(world, monkeypatch):
    files = landsat_files()
    archive = make_tar(world / "in" / "b.tar", [(tinfo(n), d) for n, d in files.items()])
    late = world / "out" / list(files)[3]
    real_link = os.link

    def link(src, dst):
        if Path(dst) == late:
            late.write_bytes(b"written by someone else meanwhile")
        return real_link(src, dst)

    monkeypatch.setattr(archive_placement.os, "link", link)
    with pytest.raises(UnsafeArchive, match="appeared while extracting"):
        extract_archive(archive, world / "out")
    assert late.read_bytes() == b"written by someone else meanwhile"
    assert {p.name for p in (world / "out").iterdir()} == {"keep.txt", late.name}


def test_a_destination_created_by_a_failed_extraction_is_removed_again(world, monkeypatch):
    archive = make_safe_zip(world / "in" / "p.zip")
    usage = shutil.disk_usage(world)
    monkeypatch.setattr(archives.shutil, "disk_usage", lambda p: usage._replace(free=10))
    with pytest.raises(InsufficientSpace):
        extract_archive(archive, world / "new" / "dir")
    assert not (world / "new" / "dir").exists()
