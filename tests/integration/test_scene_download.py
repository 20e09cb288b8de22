"""SceneDownloadService: transfer + archive checks + catalog states, over MockTransport origins."""

import hashlib
import io
import random
import zipfile

import httpx
import pytest

from eoharvest.adapters.transfers import ProviderTransfers, SafeArchives
from eoharvest.application.scene_download import SceneDownloadService
from eoharvest.adapters.http.guard import UrlGuard
from eoharvest.adapters.http.transfer import TransferEngine, TransferLimits
from eoharvest.domain.errors import IntegrityError, RetryExhausted, UnsafeFilename
from eoharvest.domain.models import Checksum, DownloadDescriptor
from eoharvest.domain.retry import RetryPolicy
from fakes import InMemoryCatalog, make_scene

TIF = bytes(random.Random(1).randrange(256) for _ in range(50_000))


def zip_bytes(members):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


class Files:
    def __init__(self, files):
        self.files = files
        self.hits = []

    def __call__(self, request):
        name = request.url.path.rsplit("/", 1)[-1]
        self.hits.append(name)
        if name not in self.files:
            return httpx.Response(404)
        body = self.files[name]

        class S(httpx.SyncByteStream):
            def __iter__(self):
                yield body

        return httpx.Response(200, headers={"Content-Length": str(len(body)), "ETag": '"e"'}, stream=S())


def executor(handler, catalog=None, **kw):
    client = httpx.Client(transport=httpx.MockTransport(handler))
    engine = TransferEngine(client, guard=UrlGuard(allow_private=True), policy=RetryPolicy(max_attempts=2, base_delay=0.001),
                            limits=TransferLimits())
    return SceneDownloadService(ProviderTransfers(lambda provider: engine), SafeArchives(),
                                (lambda: catalog) if catalog is not None else None, **kw)


def desc(name, data, **kw):
    return DownloadDescriptor(f"http://127.0.0.1:1/{name}", name, size=len(data),
                              checksums=(Checksum("md5", hashlib.md5(data).hexdigest(), "test"),), **kw)


def test_files_land_in_a_product_directory_and_the_catalog_says_available(tmp_path):
    catalog = InMemoryCatalog()
    scene = make_scene("S2B_T1", provider="earth-search", product_key="S2B_MSIL2A_T1")
    result = executor(Files({"visual.tif": TIF}), catalog).fetch(scene, [desc("visual.tif", TIF)], str(tmp_path))
    path = tmp_path / "S2B_MSIL2A_T1" / "visual.tif"
    assert result.out_files == (str(path),) and path.read_bytes() == TIF
    assert catalog.available_files("S2B_MSIL2A_T1") == [str(path)]


def test_a_second_run_and_another_provider_reuse_the_verified_copy(tmp_path):
    catalog = InMemoryCatalog()
    files = Files({"visual.tif": TIF})
    scene = make_scene("S2B_T1", provider="earth-search", product_key="S2B_MSIL2A_T1")
    ex = executor(files, catalog)
    ex.fetch(scene, [desc("visual.tif", TIF)], str(tmp_path))
    again = ex.fetch(scene, [desc("visual.tif", TIF)], str(tmp_path))
    other = make_scene("S2B_MSIL2A_T1", provider="planetary-computer", product_key="S2B_MSIL2A_T1")
    cross = ex.fetch(other, [desc("visual.tif", TIF)], str(tmp_path))
    assert again.skipped and cross.skipped
    assert files.hits == ["visual.tif"]


def test_zip_products_are_verified_extracted_and_kept(tmp_path):
    data = zip_bytes({"P.SAFE/a.txt": b"hello", "P.SAFE/GRANULE/b.jp2": b"x" * 100})
    scene = make_scene("P", provider="copernicus", product_key="P")
    result = executor(Files({"P.zip": data})).fetch(scene, [desc("P.zip", data, media_type="application/zip")], str(tmp_path))
    assert (tmp_path / "P" / "P.SAFE" / "a.txt").read_bytes() == b"hello"
    assert result.archives == (str(tmp_path / "P" / "P.zip"),)
    assert len(result.out_files) == 2


def test_a_corrupt_archive_is_never_published(tmp_path):
    good = zip_bytes({"P.SAFE/a.txt": b"hello" * 100})
    bad = bytearray(good)
    idx = good.index(b"hello")
    bad[idx] ^= 0xFF  # same size, provider MD5 computed over the corrupt bytes (sentinelsat #427)
    bad = bytes(bad)
    catalog = InMemoryCatalog()
    scene = make_scene("P", provider="copernicus", product_key="P")
    with pytest.raises(IntegrityError):
        executor(Files({"P.zip": bad}), catalog).fetch(scene, [desc("P.zip", bad)], str(tmp_path))
    assert not (tmp_path / "P" / "P.zip").exists()
    assert catalog.available_files("P") == []


def test_failures_leave_the_file_marked_failed(tmp_path):
    catalog = InMemoryCatalog()
    scene = make_scene("S", provider="p", product_key="S")
    with pytest.raises(Exception):
        executor(Files({}), catalog).fetch(scene, [desc("missing.tif", TIF)], str(tmp_path))
    assert catalog.available_files("S") == []


def test_hostile_file_names_from_providers_are_refused(tmp_path):
    scene = make_scene("S", provider="p", product_key="S")
    with pytest.raises(UnsafeFilename):
        executor(Files({})).fetch(scene, [DownloadDescriptor("http://127.0.0.1:1/x", "../../.bashrc")], str(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_the_same_product_from_two_providers_at_once_is_fetched_once(tmp_path):
    import threading

    files = Files({"visual.tif": TIF})
    ex = executor(files, InMemoryCatalog())
    scenes = [make_scene(f"S2B_T1_{p}", provider=p, product_key="S2B_MSIL2A_T1") for p in ("earth-search", "planetary-computer")]
    results = []
    threads = [threading.Thread(target=lambda s=s: results.append(ex.fetch(s, [desc("visual.tif", TIF)], str(tmp_path))))
               for s in scenes]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(r.skipped for r in results) == [False, True]
    assert files.hits == ["visual.tif"]
