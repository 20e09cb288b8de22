"""Archives inside STAC items, end to end: extraction never replaces a file of the product (nor the
archive itself), a re-run skips a verified product, and `verify` agrees with what is on disk.

The loopback STAC API serves a recorded Earth Search item (tests/fakes/stac_growing.py) whose
assets are replaced by a plain file and a zip, as an item of any STAC API may have them.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fakes.stac_growing import GrowingStacServer

from eoharvest.adapters.catalog import open_catalog

BIN = Path(sys.executable).with_name("eoharvest")
AOI = "-79.4,43.8,-79.3,43.9"
RED = b"II*\x00" + bytes(range(256)) * 64  # a small TIFF-looking plain asset


def zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buffer.getvalue()


class ArchiveStac(GrowingStacServer):
    """Items whose assets are chosen by the test: ``publish_assets(day, {key: (file name, bytes)})``."""

    def __init__(self) -> None:
        super().__init__()
        self.bodies: dict[str, bytes] = {}

    def publish_assets(self, day: int, assets: dict[str, tuple[str, bytes]]) -> str:
        item_id = self.publish(day)
        with self._lock:
            item = next(i for i in self.items if i["id"] == item_id)
            base = item["assets"]["visual"]["href"].rsplit("/", 1)[0]
            item["assets"] = {}
            for key, (name, data) in assets.items():
                href = f"{base}/{name}"
                self.bodies[urlsplit(href).path] = data
                media = "application/zip" if name.endswith(".zip") else "image/tiff; application=geotiff"
                item["assets"][key] = {
                    "href": href, "type": media, "roles": ["data"], "file:size": len(data),
                    "file:checksum": "1220" + hashlib.sha256(data).hexdigest(),
                }  # fmt: skip
        return item_id

    def _handler(self):
        base = super()._handler()
        fake = self

        class Handler(base):  # type: ignore[misc, valid-type]
            def do_GET(self) -> None:  # noqa: N802
                path = urlsplit(self.path).path
                if path not in fake.bodies:
                    return super().do_GET()
                fake.asset_hits.append(path)
                data = fake.bodies[path]
                self._send(200, data, "application/octet-stream", {"ETag": '"' + hashlib.md5(data).hexdigest() + '"'})

        return Handler


@pytest.fixture
def stac():
    with ArchiveStac() as server:
        yield server


@pytest.fixture
def env(stac, tmp_path):
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("EOHARVEST_")},
        "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "EOHARVEST_STAC_URL": stac.url, "EOHARVEST_CATALOG": str(tmp_path / "catalog.db"),
        "EOHARVEST_DOWNLOAD_DIR": str(tmp_path / "archive"),
    }  # fmt: skip


def cli(env, *args):
    return subprocess.run([str(BIN), *args], env=env, capture_output=True, text=True, timeout=120)


def harvest(env, *assets):
    return cli(env, "harvest", "--aoi", AOI, "--start", "2025-08-01", "--end", "2025-08-31",
               "--assets", ",".join(assets), "--json")  # fmt: skip


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if ".part" in p.name or p.name.startswith(".staging"))


def test_an_archive_whose_members_would_replace_the_products_files_is_refused_and_nothing_verified_changes(
    stac, env, tmp_path
):
    bundle = zip_of({"red": b"the zip's own idea of red", "bundle.zip": b"not the archive"})
    item_id = stac.publish_assets(3, {"red": ("red", RED), "bundle": ("bundle.zip", bundle)})
    result = harvest(env, "red", "bundle")
    assert result.returncode == 8, result.stderr  # UnsafeArchive
    [failure] = json.loads(result.stdout)["failures"]
    assert failure["scene_id"] == item_id
    assert "member 'red'" in failure["error"] and "would replace the product's file 'red'" in failure["error"]
    [product] = (tmp_path / "archive").iterdir()
    assert (product / "red").read_bytes() == RED  # the verified plain asset is untouched
    assert (product / "bundle.zip").read_bytes() == bundle  # the archive is kept, not overwritten
    assert sorted(p.name for p in product.iterdir()) == ["bundle.zip", "red"] and leftovers(tmp_path) == []
    checked = cli(env, "verify", "--json")
    assert checked.returncode == 0, checked.stdout
    assert json.loads(checked.stdout) | {"checked": None} == {
        "checked": None, "ok": 1, "extracted_only": 0, "mismatched": [], "missing": [], "repaired": 0,
        "refreshed": 0, "members_checked": 0, "members_ok": 0, "members_mismatched": [], "members_missing": [],
        "members_recorded": 0, "members_unrecorded": [],
    }  # fmt: skip
    with open_catalog(tmp_path / "catalog.db", read_only=True) as catalog:
        assert [f.name for f in catalog.stored_files(product.name)] == ["red"]  # the zip is not "available"
    again = harvest(env, "red", "bundle")  # the same refusal, and still nothing replaced
    assert again.returncode == 8 and (product / "red").read_bytes() == RED


def test_an_archive_product_is_extracted_beside_its_archive_and_a_rerun_fetches_and_replaces_nothing(
    stac, env, tmp_path
):
    members = {"P.SAFE/manifest.xml": b"<manifest/>", "P.SAFE/GRANULE/B04.jp2": bytes(range(256)) * 40}
    stac.publish_assets(5, {"product": ("P.zip", zip_of(members))})
    first = harvest(env, "product")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["downloaded"] == 1
    [product] = (tmp_path / "archive").iterdir()
    for name, data in members.items():
        assert (product / name).read_bytes() == data
    band = product / "P.SAFE" / "GRANULE" / "B04.jp2"
    inode = band.stat().st_ino
    second = harvest(env, "product")
    assert second.returncode == 0, second.stderr
    assert (json.loads(second.stdout)["downloaded"], json.loads(second.stdout)["already_had"]) == (0, 1)
    assert len(stac.asset_hits) == 1 and band.stat().st_ino == inode
    checked = json.loads(cli(env, "verify", "--json").stdout)
    assert (checked["ok"], checked["mismatched"], checked["missing"]) == (1, [], [])
    # each extracted member was recorded with the SHA-256 of its bytes, and re-hashed
    assert (checked["members_checked"], checked["members_ok"], checked["members_mismatched"]) == (2, 2, [])


def test_without_kept_archives_verify_counts_the_unpacked_product_and_never_calls_a_member_changed(
    stac, env, tmp_path
):
    members = {"P.SAFE/manifest.xml": b"<manifest/>", "P.SAFE/B04.jp2": bytes(range(256)) * 40}
    stac.publish_assets(7, {"product": ("P.zip", zip_of(members))})
    env = {**env, "EOHARVEST_KEEP_ARCHIVES": "false"}
    assert harvest(env, "product").returncode == 0
    [product] = (tmp_path / "archive").iterdir()
    assert sorted(p.name for p in product.iterdir()) == ["P.SAFE"]  # the archive itself was removed
    checked = cli(env, "verify", "--json")
    assert checked.returncode == 0, checked.stdout
    report = json.loads(checked.stdout)
    assert (report["mismatched"], report["missing"], report["extracted_only"]) == ([], [], 1)
    assert (report["members_checked"], report["members_ok"]) == (2, 2)  # the unpacked files are re-hashed
    repaired = json.loads(cli(env, "verify", "--repair", "--json").stdout)
    assert repaired["repaired"] == 0 and (product / "P.SAFE" / "manifest.xml").exists()  # nothing deleted
    assert repaired["refreshed"] == 2
    again = json.loads(harvest(env, "product").stdout)
    assert (again["downloaded"], again["already_had"]) == (0, 1) and len(stac.asset_hits) == 1
