"""Members of extracted archives served through the catalog by the real `eoharvest serve`.

A SAFE-like zip (manifest with MD5s, a Cloud-Optimized GeoTIFF band made here) and a USGS-like
tar bundle are downloaded through the real download use case (transfer over MockTransport, the
real archive handler, a SpatiaLite catalog): the extraction records every member with the
SHA-256 of the bytes written. Then each member is served byte-exact with Range (and by GDAL's
``/vsicurl/``), items link the band to its member route, a member changed after extraction gets
409, paths from the URL are never followed (404), and ``verify --repair`` plus a new download
bring a broken product back."""

from __future__ import annotations

import hashlib
import io
import os
import random
import shutil
import subprocess
import tarfile
import time
import zipfile
from pathlib import Path

import httpx
import pytest
from fakes import catalog_scene
from fakes.served_catalog import BIN, Server, clean_env, make_cog, raw_get

from eoharvest.adapters.catalog import open_catalog
from eoharvest.adapters.http.guard import UrlGuard
from eoharvest.adapters.http.transfer import TransferEngine, TransferLimits
from eoharvest.adapters.transfers import ProviderTransfers, SafeArchives
from eoharvest.application.scene_download import SceneDownloadService
from eoharvest.domain.models import DownloadDescriptor
from eoharvest.domain.retry import RetryPolicy

COG = "image/tiff; application=geotiff; profile=cloud-optimized"
SAFE = "S2B_MSIL2A_20240101T101421_N0510_R065_T32TQM_20240101T120000.SAFE"
GRANULE = "GRANULE/L2A_T32TQM_A035000_20240101T101421/IMG_DATA/R10m"
B04 = "T32TQM_20240101T101421_B04_10m.tif"
LANDSAT = "LC08_L2SP_190025_20240101_20240110_02_T1"
pytestmark = pytest.mark.skipif(shutil.which("gdal_translate") is None, reason="gdal-bin not installed")


def safe_zip(cog: bytes) -> tuple[bytes, dict[str, bytes]]:
    rng = random.Random(8)
    files = {
        "MTD_MSIL2A.xml": b"<?xml version='1.0'?><n1:Level-2A_User_Product/>",
        f"{GRANULE}/{B04}": cog,
        f"{GRANULE}/T32TQM_20240101T101421_B03_10m.jp2": b"\xff\x4f\xff\x51" + rng.randbytes(30_000),
        "INSPIRE.xml": b"<gmd:MD_Metadata/>",
    }
    streams = "".join(
        f'<dataObject ID="d{i}"><byteStream mimeType="application/octet-stream" size="{len(data)}">'
        f'<fileLocation locatorType="URL" href="./{name}"/><checksum checksumName="MD5">'
        f"{hashlib.md5(data).hexdigest()}</checksum></byteStream></dataObject>"
        for i, (name, data) in enumerate(files.items())
    )
    manifest = ('<?xml version="1.0" encoding="UTF-8"?><xfdu:XFDU xmlns:xfdu="urn:ccsds:schema:xfdu:1">'
                f"<dataObjectSection>{streams}</dataObjectSection></xfdu:XFDU>").encode()  # fmt: skip
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{SAFE}/", b"")
        zf.writestr(f"{SAFE}/manifest.safe", manifest)
        for name, data in files.items():
            zf.writestr(f"{SAFE}/{name}", data)
    return buf.getvalue(), {f"{SAFE}/{name}": data for name, data in {**files, "manifest.safe": manifest}.items()}


def usgs_tar() -> tuple[bytes, dict[str, bytes]]:
    rng = random.Random(9)
    files = {f"{LANDSAT}_MTL.txt": b"GROUP = LANDSAT_METADATA_FILE\nEND_GROUP\nEND\n",
             f"{LANDSAT}_ANG.txt": b"GROUP = FILE_HEADER\nEND\n"}  # fmt: skip
    for band in (1, 2, 3):
        files[f"{LANDSAT}_SR_B{band}.TIF"] = b"II*\x00" + rng.randbytes(20_000 + band)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue(), files


def downloader(bodies: dict[str, bytes], catalog, **kw) -> SceneDownloadService:
    def handler(request: httpx.Request) -> httpx.Response:
        body = bodies[request.url.path.rsplit("/", 1)[-1]]

        class Body(httpx.SyncByteStream):  # streamed as a server would, not pre-read
            def __iter__(self):
                yield body

        return httpx.Response(200, headers={"Content-Length": str(len(body))}, stream=Body())

    engine = TransferEngine(httpx.Client(transport=httpx.MockTransport(handler)), guard=UrlGuard(allow_private=True),
                            policy=RetryPolicy(max_attempts=1, base_delay=0.001), limits=TransferLimits())  # fmt: skip
    return SceneDownloadService(ProviderTransfers(lambda provider: engine), SafeArchives(), lambda: catalog, **kw)


def download(catalog_path: Path, archive: Path, scene, name: str, body: bytes, **kw) -> None:
    with open_catalog(catalog_path) as repo:
        repo.upsert_scenes([scene])
        descriptor = DownloadDescriptor(f"http://127.0.0.1:1/{name}", name, size=len(body))
        downloader({name: body}, repo, **kw).fetch(scene, [descriptor], str(archive))


def safe_scene():
    item = {"type": "Feature", "stac_version": "1.0.0", "id": "S2B_T32TQM", "collection": "sentinel-2-l2a",
            "geometry": None, "properties": {"datetime": "2024-01-01T10:14:21Z"}, "links": [],
            "assets": {"B04": {"href": f"s3://eodata/Sentinel-2/{SAFE}/{GRANULE}/{B04}", "roles": ["data"]},
                       "thumbnail": {"href": "https://example.test/thumb.png", "roles": ["thumbnail"]}}}  # fmt: skip
    return catalog_scene("S2B_T32TQM", provider="earth-search", product_key="S2B_T32TQM", raw=item)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("serve-members")
    archive, catalog = root / "archive", root / "catalog.db"
    cog = make_cog(root).read_bytes()
    zipped, safe_members = safe_zip(cog)
    tarred, usgs_members = usgs_tar()
    (root / "secret.txt").write_text("outside the archive\n")
    download(catalog, archive, safe_scene(), "S2B_T32TQM.zip", zipped)  # the zip is kept
    download(catalog, archive, catalog_scene(LANDSAT, provider="usgs", product_key=LANDSAT, platform="Landsat-8"),
             f"{LANDSAT}.tar", tarred, keep_archives=False)  # only the product folder is kept  # fmt: skip
    with open_catalog(catalog, read_only=True) as repo:
        ids = {m.product_key: m.file_id for m in repo.stored_members()}
    server = Server(catalog, clean_env(root))
    try:
        yield server, ids, {"S2B_T32TQM": safe_members, LANDSAT: usgs_members}, root
    finally:
        server.stop()


def member_url(server, file_id, path):
    return f"{server.url}files/{file_id}/members/{path}"


def test_every_extracted_member_is_served_byte_exact_with_ranges_and_its_sha256_as_etag(served):
    server, ids, members, _ = served
    rng = random.Random(27)
    with httpx.Client() as client:
        for product, files in members.items():
            for path, data in files.items():
                url = member_url(server, ids[product], path)
                whole = client.get(url)
                assert whole.status_code == 200 and whole.content == data, url
                assert whole.headers["etag"] == f'"{hashlib.sha256(data).hexdigest()}"'
                for _ in range(5):
                    start = rng.randrange(len(data))
                    end = rng.randrange(start, len(data))
                    part = client.get(url, headers={"Range": f"bytes={start}-{end}"})
                    assert part.status_code == 206 and part.content == data[start:end + 1], (url, start, end)
                suffix = client.get(url, headers={"Range": "bytes=-100"})
                assert suffix.status_code == 206 and suffix.content == data[-100:]
                past = client.get(url, headers={"Range": f"bytes={len(data)}-"})
                assert past.status_code == 416 and past.headers["content-range"] == f"bytes */{len(data)}"
        head = client.head(member_url(server, ids["S2B_T32TQM"], f"{SAFE}/{GRANULE}/{B04}"))
        assert head.status_code == 200 and head.content == b"" and head.headers["content-type"] == COG
        etag = head.headers["etag"]
        again = client.get(member_url(server, ids["S2B_T32TQM"], f"{SAFE}/{GRANULE}/{B04}"), headers={"If-None-Match": etag})
        assert again.status_code == 304
        jp2 = client.head(member_url(server, ids["S2B_T32TQM"], f"{SAFE}/{GRANULE}/T32TQM_20240101T101421_B03_10m.jp2"))
        assert jp2.headers["content-type"] == "image/jp2"
        # the product kept only unpacked: its archive's row points at the folder, members are served
        assert client.get(member_url(server, ids[LANDSAT], f"{LANDSAT}_MTL.txt")).status_code == 200


def test_gdal_reads_a_member_cog_through_vsicurl_with_range_requests_only(served, tmp_path):
    server, ids, members, _ = served
    url = member_url(server, ids["S2B_T32TQM"], f"{SAFE}/{GRANULE}/{B04}")
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(GDAL_DISABLE_READDIR_ON_OPEN="EMPTY_DIR", GDAL_HTTP_MAX_RETRY="0", VSI_CACHE="FALSE")
    before = len(server.output().splitlines())  # the other tests' requests are in the log too
    info = subprocess.run(["gdalinfo", f"/vsicurl/{url}"], capture_output=True, text=True, timeout=120, env=env)
    assert info.returncode == 0, info.stderr
    assert "Size is 1024, 1024" in info.stdout and "LAYOUT=COG" in info.stdout
    window = tmp_path / "window.tif"
    subprocess.run(["gdal_translate", "-q", "-srcwin", "300", "400", "64", "32", f"/vsicurl/{url}", str(window)],
                   check=True, capture_output=True, timeout=120, env=env)  # fmt: skip
    assert window.stat().st_size > 64 * 32
    deadline = time.monotonic() + 5
    gets: list[str] = []
    while time.monotonic() < deadline and not gets:
        gets = [line for line in server.output().splitlines()[before:]
                if "uvicorn.access" in line and f"/members/{SAFE}/{GRANULE}/{B04}" in line and '"GET ' in line]  # fmt: skip
        time.sleep(0.1)
    assert gets and all(" 206" in line for line in gets), gets  # only ranges: never the whole member


def test_an_item_links_the_asset_naming_a_member_to_the_members_route(served):
    server, ids, _, _ = served
    item = httpx.get(f"{server.url}collections/sentinel-2-l2a/items/S2B_T32TQM").json()
    band = item["assets"]["B04"]
    assert band["href"] == member_url(server, ids["S2B_T32TQM"], f"{SAFE}/{GRANULE}/{B04}")
    assert band["eoharvest:local"] is True
    assert band["alternate"]["s3"]["href"] == f"s3://eodata/Sentinel-2/{SAFE}/{GRANULE}/{B04}"
    assert item["assets"]["thumbnail"]["eoharvest:local"] is False  # no member of that name
    assert httpx.get(band["href"], headers={"Range": "bytes=0-3"}).content in (b"II*\x00", b"II+\x00")


@pytest.mark.parametrize("target", [
    "/files/{safe}/members/../../secret.txt", "/files/{safe}/members/..%2F..%2F..%2Fsecret.txt",
    "/files/{safe}/members/%2Fetc%2Fpasswd", "/files/{safe}/members//etc/passwd", "/files/{safe}/members/",
    "/files/{safe}/members/" + SAFE + "/../../../secret.txt",
    # would name a real file if it were joined to the product folder: not a recorded member path
    "/files/{safe}/members/" + SAFE + "/GRANULE/../MTD_MSIL2A.xml", "/files/{safe}/members/./" + SAFE + "/INSPIRE.xml",
    "/files/{safe}/members/" + SAFE + "//INSPIRE.xml", "/files/{safe}/members/" + SAFE.lower() + "/INSPIRE.xml",
    "/files/{safe}/members/S2B_T32TQM.zip", "/files/{usgs}/members/" + SAFE + "/INSPIRE.xml",
    "/files/99999/members/" + SAFE + "/INSPIRE.xml", "/files/-1/members/x", "/files/{safe}x/members/" + SAFE + "/INSPIRE.xml",
])  # fmt: skip
def test_paths_through_the_member_route_are_values_never_followed(served, target):
    server, ids, _, _ = served
    status, answer = raw_get(server.url, target.format(safe=ids["S2B_T32TQM"], usgs=ids[LANDSAT]))
    assert status == 404, answer[:300]
    assert b"outside the archive" not in answer and b"root:" not in answer and b"Level-2A" not in answer


def test_a_member_changed_after_extraction_gets_409_then_verify_repair_and_a_new_download_bring_it_back(tmp_path):
    archive, catalog = tmp_path / "archive", tmp_path / "catalog.db"
    tarred, files = usgs_tar()
    scene = catalog_scene(LANDSAT, provider="usgs", product_key=LANDSAT, platform="Landsat-8")
    download(catalog, archive, scene, f"{LANDSAT}.tar", tarred)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "ANG.txt").write_text("outside the archive\n")
    with open_catalog(catalog, read_only=True) as repo:
        file_id = repo.stored_members()[0].file_id
    env = clean_env(tmp_path)
    server = Server(catalog, env)
    try:
        changed = archive / LANDSAT / f"{LANDSAT}_ANG.txt"
        url = member_url(server, file_id, changed.name)
        assert httpx.get(url).content == files[changed.name]
        changed.write_bytes(b"GROUP = EDITED\nEND\n")
        for answer in (httpx.get(url), httpx.head(url)):
            assert answer.status_code == 409
        body = httpx.get(url).json()
        assert body["code"] == "FileChanged" and changed.name in body["description"]
        assert "eoharvest verify --repair" in body["description"]
        # a member replaced by a link to a file outside the archive is never followed
        linked = archive / LANDSAT / f"{LANDSAT}_SR_B1.TIF"
        linked.unlink()
        linked.symlink_to(outside / "ANG.txt")
        answer = httpx.get(member_url(server, file_id, linked.name))
        assert answer.status_code == 404 and "outside the archive" not in answer.text
        verify = subprocess.run([str(BIN), "--catalog", str(catalog), "verify", "--json"], env=env,
                                capture_output=True, text=True, timeout=120)  # fmt: skip
        assert verify.returncode == 5 and str(changed) in verify.stdout
        repaired = subprocess.run([str(BIN), "--catalog", str(catalog), "verify", "--repair"], env=env,
                                  capture_output=True, text=True, timeout=120)  # fmt: skip
        assert repaired.returncode == 0, repaired.stderr
        assert not changed.exists()  # the changed member is deleted; its archive is fetched again
        assert httpx.get(url).status_code == 404  # the archive is no longer available
        # the link's target has other bytes: the link is removed too (not what it points at)
        assert not linked.is_symlink() and (outside / "ANG.txt").exists()
        download(catalog, archive, scene, f"{LANDSAT}.tar", tarred)
        again = httpx.get(url)
        assert again.status_code == 200 and again.content == files[changed.name]
        with open_catalog(catalog, read_only=True) as repo:
            assert len(repo.stored_members()) == len(files)
    finally:
        server.stop()


def test_verify_repair_records_the_members_of_an_archive_extracted_before_the_catalog_recorded_them(tmp_path):
    from sqlalchemy import delete

    from eoharvest.adapters.catalog.tables import archive_members

    archive, catalog = tmp_path / "archive", tmp_path / "catalog.db"
    tarred, files = usgs_tar()
    download(catalog, archive, catalog_scene(LANDSAT, provider="usgs", product_key=LANDSAT, platform="Landsat-8"),
             f"{LANDSAT}.tar", tarred)  # fmt: skip
    with open_catalog(catalog) as repo:
        file_id = repo.stored_members()[0].file_id
        with repo.writer.begin() as conn:  # as an extraction before revision 0008 left it
            conn.execute(delete(archive_members))
    env = clean_env(tmp_path)
    server = Server(catalog, env)
    try:
        url = member_url(server, file_id, f"{LANDSAT}_MTL.txt")
        assert httpx.get(url).status_code == 404
        repaired = subprocess.run([str(BIN), "--catalog", str(catalog), "verify", "--repair", "--json"], env=env,
                                  capture_output=True, text=True, timeout=120)  # fmt: skip
        assert repaired.returncode == 0, repaired.stderr
        assert '"members_recorded": 1' in repaired.stdout
        answer = httpx.get(url)
        assert answer.status_code == 200 and answer.content == files[f"{LANDSAT}_MTL.txt"]
        assert answer.headers["etag"] == f'"{hashlib.sha256(files[f"{LANDSAT}_MTL.txt"]).hexdigest()}"'
    finally:
        server.stop()
