"""`eoharvest serve`'s file routes as GDAL, browsers and HTTP clients reach them: the real
command on a free loopback port over a SpatiaLite catalog with verified files.

GDAL reads a Cloud-Optimized GeoTIFF made here through ``/vsicurl/`` with Range requests (the
server's access log shows them); paths from the URL are never followed (traversal attempts,
links inside the archive pointing outside: 404); a file changed after verification is refused
with 409; Range answers are byte-exact for seeded random ranges; HEAD, 304, If-Range and 416."""

from __future__ import annotations

import hashlib
import os
import random
import re
import shutil
import subprocess
import time

import httpx
import pytest
from fakes import catalog_scene
from fakes.served_catalog import BIN, Server, clean_env, make_cog, raw_get

from eoharvest.adapters.catalog import open_catalog

COG = "image/tiff; application=geotiff; profile=cloud-optimized"
pytestmark = pytest.mark.skipif(shutil.which("gdal_translate") is None, reason="gdal-bin not installed")


def record(repo, scene_id, path, product_key):
    repo.upsert_scenes([catalog_scene(scene_id, product_key=product_key)])
    file_id = repo.record_file("cdse", scene_id, path.name, size=path.stat().st_size)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    repo.set_file_state(file_id, "available", local_path=str(path), sha256=digest)
    return file_id


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve-files")
    archive = root / "archive"
    product = archive / "P1"
    product.mkdir(parents=True)
    cog = make_cog(product)
    (product / "MTD.xml").write_bytes(b"<?xml version='1.0'?><metadata/>")
    (product / "data.nc").write_bytes(b"CDF\x01" + bytes(range(256)) * 40)
    outside = root / "secret.txt"
    outside.write_text("outside the archive\n")
    ids = {}
    with open_catalog(root / "catalog.db") as repo:
        ids["cog"] = record(repo, "S1", cog, "P1")
        ids["xml"] = record(repo, "S2", product / "MTD.xml", "P1x")
        ids["nc"] = record(repo, "S3", product / "data.nc", "P1n")
        changed = product / "changed.bin"
        changed.write_bytes(b"a" * 1000)
        ids["changed"] = record(repo, "S4", changed, "P4")
        changed.write_bytes(b"b" * 1000)  # same size, new mtime: changed after verification
        os.utime(changed, ns=(time.time_ns(), time.time_ns() + 5_000_000_000))
        linked = product / "link.txt"
        linked.write_text("placeholder\n")
        ids["link"] = record(repo, "S5", linked, "P5")
        linked.unlink()
        linked.symlink_to(outside)  # a link inside the archive pointing outside
        # a product folder that became a link to a folder outside the archive
        elsewhere = root / "elsewhere"
        elsewhere.mkdir()
        (archive / "P6").mkdir()
        moved = archive / "P6" / "secret.txt"
        shutil.copy(outside, moved)
        ids["folder_link"] = record(repo, "S6", moved, "P6")
        shutil.move(str(archive / "P6"), str(elsewhere / "P6"))
        (archive / "P6").symlink_to(elsewhere / "P6")
    server = Server(root / "catalog.db", clean_env(root))
    try:
        yield server, ids, cog, root
    finally:
        server.stop()


def access_lines(server, path):
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lines = [line for line in server.output().splitlines() if "uvicorn.access" in line and path in line]
        if lines:
            return lines
        time.sleep(0.1)
    return []


def gdal_env():
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR", CPL_VSIL_CURL_USE_HEAD="YES", GDAL_HTTP_MAX_RETRY="0",
               CPL_CURL_VERBOSE="NO", VSI_CACHE="FALSE")  # fmt: skip
    return env


def test_gdal_reads_the_cog_through_vsicurl_with_range_requests(archive, tmp_path):
    server, ids, cog, _ = archive
    url = f"{server.url}files/P1/B04.tif"
    info = subprocess.run(["gdalinfo", f"/vsicurl/{url}"], capture_output=True, text=True, timeout=120, env=gdal_env())
    assert info.returncode == 0, info.stderr
    assert "Size is 1024, 1024" in info.stdout and "LAYOUT=COG" in info.stdout
    out = tmp_path / "window.tif"
    window = subprocess.run(["gdal_translate", "-q", "-srcwin", "300", "400", "64", "32", f"/vsicurl/{url}", str(out)],
                            capture_output=True, text=True, timeout=120, env=gdal_env())  # fmt: skip
    assert window.returncode == 0, window.stderr
    local = tmp_path / "local.tif"
    subprocess.run(["gdal_translate", "-q", "-srcwin", "300", "400", "64", "32", str(cog), str(local)], check=True,
                   timeout=120)  # fmt: skip
    checksum = re.compile(r"Checksum=(\d+)")
    remote_sum = checksum.findall(subprocess.run(["gdalinfo", "-checksum", str(out)], capture_output=True, text=True).stdout)
    local_sum = checksum.findall(subprocess.run(["gdalinfo", "-checksum", str(local)], capture_output=True, text=True).stdout)
    assert remote_sum and remote_sum == local_sum
    lines = access_lines(server, "/files/P1/B04.tif")
    gets = [line for line in lines if '"GET ' in line]
    assert gets and all(" 206" in line for line in gets), lines  # only ranges: never the whole file
    # and by file id too
    by_id = httpx.get(f"{server.url}files/{ids['cog']}", headers={"Range": "bytes=0-3"})
    assert by_id.status_code == 206 and by_id.content == cog.read_bytes()[:4]


def test_content_types_etag_and_last_modified(archive):
    server, ids, cog, _ = archive
    head = httpx.head(f"{server.url}files/P1/B04.tif")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"] == COG
    assert head.headers["content-length"] == str(cog.stat().st_size)
    assert head.headers["accept-ranges"] == "bytes"
    assert head.headers["etag"] == f'"{hashlib.sha256(cog.read_bytes()).hexdigest()}"'
    assert head.headers["last-modified"].endswith("GMT")
    assert httpx.get(f"{server.url}files/P1x/MTD.xml").headers["content-type"].startswith("application/xml")
    assert httpx.get(f"{server.url}files/P1n/data.nc").headers["content-type"] == "application/netcdf"
    etag = head.headers["etag"]
    assert httpx.get(f"{server.url}files/P1/B04.tif", headers={"If-None-Match": etag}).status_code == 304
    assert httpx.get(f"{server.url}files/P1/B04.tif", headers={"If-None-Match": f'"x", W/{etag}'}).status_code == 304
    assert httpx.get(f"{server.url}files/P1/B04.tif", headers={"If-None-Match": '"other"'}).status_code == 200
    # If-Range: the range only while the validator still matches, else the whole file
    ranged = httpx.get(f"{server.url}files/P1/B04.tif", headers={"Range": "bytes=10-19", "If-Range": etag})
    assert ranged.status_code == 206 and ranged.content == cog.read_bytes()[10:20]
    stale = httpx.get(f"{server.url}files/P1/B04.tif", headers={"Range": "bytes=10-19", "If-Range": '"stale"'})
    assert stale.status_code == 200 and stale.content == cog.read_bytes()


def test_range_answers_are_byte_exact_for_random_ranges(archive):
    server, _, cog, _ = archive
    data = cog.read_bytes()
    size = len(data)
    rng = random.Random(2027)
    url = f"{server.url}files/P1/B04.tif"
    with httpx.Client() as client:
        for _ in range(60):
            kind = rng.choice(["closed", "open", "suffix", "past-end"])
            if kind == "closed":
                start = rng.randrange(size)
                end = rng.randrange(start, size)
                header, expected, first = f"bytes={start}-{end}", data[start:end + 1], start
            elif kind == "open":
                start = rng.randrange(size)
                header, expected, first = f"bytes={start}-", data[start:], start
            elif kind == "suffix":
                n = rng.randrange(1, size + 1000)
                header, expected, first = f"bytes=-{n}", data[-n:] if n < size else data, max(size - n, 0)
            else:
                start = rng.randrange(size)
                header, expected, first = f"bytes={start}-{size + rng.randrange(1, 10**6)}", data[start:], start
            answer = client.get(url, headers={"Range": header})
            assert answer.status_code == 206, header
            assert answer.content == expected, header
            assert answer.headers["content-range"] == f"bytes {first}-{first + len(expected) - 1}/{size}", header
            assert answer.headers["content-type"] == COG
        several = client.get(url, headers={"Range": "bytes=0-9,100-109"})
        assert several.status_code == 206 and several.headers["content-type"].startswith("multipart/byteranges")
        assert data[:10] in several.content and data[100:110] in several.content
        head = client.head(url, headers={"Range": "bytes=5-9"})
        assert head.status_code == 206 and head.content == b"" and head.headers["content-length"] == "5"
        for unsatisfiable in (f"bytes={size}-", f"bytes={size + 10}-{size + 20}", "bytes=-0"):
            refused = client.get(url, headers={"Range": unsatisfiable})
            assert refused.status_code == 416, unsatisfiable
            assert refused.headers["content-range"] == f"bytes */{size}"


@pytest.mark.parametrize("target", [
    "/files/P1/../../secret.txt", "/files/../secret.txt", "/files/P1/..%2F..%2Fsecret.txt",
    "/files/P1/%2e%2e/%2e%2e/secret.txt", "/files/%2Fetc%2Fpasswd", "/files//etc/passwd", "/files/P1//B04.tif",
    "/files/etc/passwd", "/files/P1/%2Fetc%2Fpasswd", "//files/P1/B04.tif/../../../secret.txt",
    "/files/P1/B04.tif/..", "/files/99999", "/files/-1", "/files/1e3", "/files/P1/B04.TIF", "/files/P1/src.raw",
])  # fmt: skip
def test_paths_from_the_url_are_never_followed(archive, target):
    server, *_ = archive
    status, answer = raw_get(server.url, target)
    assert status == 404, answer[:300]
    assert b"outside the archive" not in answer and b"root:" not in answer


def test_links_inside_the_archive_pointing_outside_are_not_followed(archive):
    server, ids, _, _ = archive
    for key, path in (("link", "files/P5/link.txt"), ("folder_link", "files/P6/secret.txt")):
        for url in (f"{server.url}{path}", f"{server.url}files/{ids[key]}"):
            answer = httpx.get(url)
            assert answer.status_code == 404, url
            assert "outside the archive" not in answer.text


def test_a_file_changed_after_verification_gets_409(archive):
    server, ids, _, _ = archive
    for url in (f"{server.url}files/P4/changed.bin", f"{server.url}files/{ids['changed']}"):
        answer = httpx.get(url)
        assert answer.status_code == 409
        body = answer.json()
        assert body["code"] == "FileChanged"
        assert "P4/changed.bin" in body["description"] and "eoharvest verify --repair" in body["description"]
        assert httpx.head(url).status_code == 409


def test_verify_repair_records_the_identity_again_and_rows_from_before_0006_get_a_size_check(tmp_path):
    from sqlalchemy import update

    from eoharvest.adapters.catalog.tables import files

    product = tmp_path / "archive" / "P9"
    product.mkdir(parents=True)
    touched, legacy = product / "touched.bin", product / "legacy.bin"
    touched.write_bytes(b"t" * 500)
    legacy.write_bytes(b"l" * 500)
    catalog = tmp_path / "catalog.db"
    with open_catalog(catalog) as repo:
        record(repo, "T1", touched, "P9")
        legacy_id = record(repo, "T2", legacy, "P9")
        with repo.writer.begin() as conn:  # as verified before the catalog recorded mtime_ns and inode
            conn.execute(update(files).where(files.c.id == legacy_id).values(mtime_ns=None, inode=None))
    later = time.time_ns() + 5_000_000_000
    os.utime(touched, ns=(later, later))  # same bytes, another modification time
    os.utime(legacy, ns=(later, later))
    env = clean_env(tmp_path)
    server = Server(catalog, env)
    try:
        assert httpx.get(f"{server.url}files/P9/touched.bin").status_code == 409
        assert httpx.get(f"{server.url}files/P9/legacy.bin").content == b"l" * 500  # size check only
        repaired = subprocess.run([str(BIN), "--catalog", str(catalog), "verify", "--repair", "--json"], env=env,
                                  capture_output=True, text=True, timeout=120)  # fmt: skip
        assert repaired.returncode == 0, repaired.stderr
        assert '"refreshed": 2' in repaired.stdout
        assert httpx.get(f"{server.url}files/P9/touched.bin").content == b"t" * 500
        legacy.write_bytes(b"l" * 499)
        answer = httpx.get(f"{server.url}files/P9/legacy.bin")
        assert answer.status_code == 409 and "size 499 instead of 500" in answer.json()["description"]
    finally:
        server.stop()
