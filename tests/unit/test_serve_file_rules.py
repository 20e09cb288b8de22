"""The file routes' pure rules: content types, item hrefs, ETag matching, identity checks."""

from __future__ import annotations

import os
from datetime import datetime, timezone

import pytest
from fakes import catalog_scene

from eoharvest.adapters.stac_api.files import (COG_TYPE, GEOTIFF_TYPE, CatalogFile, FileRefused, _etag_matches,
                                               check_file, content_type, file_route_href)  # fmt: skip
from eoharvest.domain.catalog_query import CatalogRecord

COG_HEAD = b"II*\x00\x08\x00\x00\x00GDAL_STRUCTURAL_METADATA_SIZE=000140 bytes\nLAYOUT=IFDS_BEFORE_DATA\n"


@pytest.mark.parametrize(("name", "head", "expected"), [
    ("B04.tif", COG_HEAD, COG_TYPE),
    ("B04.TIFF", b"II*\x00\x08\x00\x00\x00", GEOTIFF_TYPE),
    ("no_extension", b"MM\x00*\x00\x00\x00\x08", GEOTIFF_TYPE),
    ("T32_B04.jp2", b"\x00\x00\x00\x0cjP  \r\n\x87\n", "image/jp2"),
    ("S2A.zip", b"PK\x03\x04", "application/zip"),
    ("sst.nc", b"CDF\x01", "application/netcdf"),
    ("item.json", b"{", "application/json"),
    ("MTD_MSIL2A.xml", b"<?xml", "application/xml"),
    ("manifest.safe", b"<?xml", "application/xml"),
    ("odd.bin", b"\x00", "application/octet-stream"),
])  # fmt: skip
def test_content_types(name, head, expected):
    assert content_type(name, head) == expected


def test_item_hrefs_are_file_routes_quoted_and_folders_stay_file_uris(tmp_path):
    record = CatalogRecord(catalog_scene("S", product_key="P 1%"), "available", datetime.now(timezone.utc),
                           datetime.now(timezone.utc))  # fmt: skip
    assert file_route_href(record, "/a/P 1%/B 04#.tif", "http://h:1/") == "http://h:1/files/P%201%25/B%2004%23.tif"
    assert file_route_href(record, str(tmp_path), "http://h:1/") == tmp_path.as_uri()


def test_etag_matching_for_if_none_match():
    assert _etag_matches('"abc"', '"abc"') and _etag_matches('W/"abc"', '"abc"')
    assert _etag_matches('"x", "abc"', '"abc"') and _etag_matches("*", '"abc"')
    assert not _etag_matches('"abcd"', '"abc"')


def _entry(path, **kw):
    st = os.stat(path)
    values = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "inode": st.st_ino, **kw}
    return CatalogFile(1, "P", os.path.basename(path), str(path), "ab" * 32, verified_at=None, **values)


def test_identity_checks(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(b"1234")
    assert check_file(_entry(path)).st_size == 4
    for changed in ({"size": 5}, {"mtime_ns": 1}, {"inode": 1}):
        with pytest.raises(FileRefused) as refused:
            check_file(_entry(path, **changed))
        assert refused.value.status == 409 and "verify --repair" in str(refused.value.hint)
    assert check_file(_entry(path, mtime_ns=None, inode=None, size=4)).st_size == 4  # before 0006: size only
    link = tmp_path / "link.bin"
    link.symlink_to(path)
    with pytest.raises(FileRefused) as refused:
        check_file(_entry(link))
    assert refused.value.status == 404
    with pytest.raises(FileRefused) as refused:
        check_file(CatalogFile(2, "P", "gone", str(tmp_path / "gone"), "ab" * 32, 1, None, None, None))
    assert refused.value.status == 409


def _member(path, name):
    st = os.stat(path)
    return CatalogFile(3, "P", name, str(path), "ab" * 32, st.st_size, st.st_mtime_ns, st.st_ino, None, member=True)


def test_a_member_is_refused_when_any_folder_between_it_and_the_product_folder_is_a_link(tmp_path):
    product = tmp_path / "P"
    granule = product / "X.SAFE" / "GRANULE"
    granule.mkdir(parents=True)
    band = granule / "B04.jp2"
    band.write_bytes(b"jp2")
    entry = _member(band, "X.SAFE/GRANULE/B04.jp2")
    assert check_file(entry).st_size == 3
    # the same bytes, now reached through a link in the middle of the member's path
    outside = tmp_path / "outside"
    (product / "X.SAFE" / "GRANULE").rename(outside)
    (product / "X.SAFE" / "GRANULE").symlink_to(outside)
    with pytest.raises(FileRefused) as refused:
        check_file(entry)
    assert refused.value.status == 404 and "member 'X.SAFE/GRANULE/B04.jp2' of file 3" in str(refused.value)
    # a folder above the product folder may be a link (an archive on another disk): not checked
    (product / "X.SAFE" / "GRANULE").unlink()
    outside.rename(product / "X.SAFE" / "GRANULE")
    moved = tmp_path / "disk"
    product.rename(moved)
    (tmp_path / "via").symlink_to(tmp_path)
    st = os.stat(moved / "X.SAFE" / "GRANULE" / "B04.jp2")
    linked = CatalogFile(3, "P", "X.SAFE/GRANULE/B04.jp2", str(tmp_path / "via" / "disk" / "X.SAFE" / "GRANULE" / "B04.jp2"),
                         "ab" * 32, st.st_size, st.st_mtime_ns, st.st_ino, None, member=True)  # fmt: skip
    assert check_file(linked).st_size == 3


def test_items_link_an_asset_to_the_one_member_its_remote_href_names():
    from eoharvest.adapters.stac_api.members import link_members

    item = {"stac_extensions": [], "assets": {
        "B04": {"href": "s3://eodata/S2/X.SAFE/GRANULE/G/IMG_DATA/B04%2010m.jp2"},
        "meta": {"href": "https://e.test/X/MTD_TL.xml"},  # two members have that name: which one?
        "local": {"href": "http://h:1/files/P/P.zip", "eoharvest:local": True},
        "other": {"href": "https://e.test/thumb.png"},
    }}  # fmt: skip
    members = [(7, "X.SAFE/GRANULE/G/IMG_DATA/B04 10m.jp2"), (7, "X.SAFE/GRANULE/G/MTD_TL.xml"),
               (7, "X.SAFE/GRANULE/H/MTD_TL.xml"), (9, "X.SAFE/GRANULE/G/IMG_DATA/B04 10m.jp2")]  # fmt: skip
    link_members(item, members, "http://h:1/")
    band = item["assets"]["B04"]
    assert band["href"] == "http://h:1/files/7/members/X.SAFE/GRANULE/G/IMG_DATA/B04%2010m.jp2"  # the oldest archive
    assert band["eoharvest:local"] is True and band["alternate"] == {"s3": {"href": "s3://eodata/S2/X.SAFE/GRANULE/G/IMG_DATA/B04%2010m.jp2"}}
    assert item["assets"]["meta"] == {"href": "https://e.test/X/MTD_TL.xml"}
    assert item["assets"]["local"]["href"] == "http://h:1/files/P/P.zip"
    assert "eoharvest:local" not in item["assets"]["other"]
    assert any("alternate-assets" in uri for uri in item["stac_extensions"])
