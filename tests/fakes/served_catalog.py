"""A catalog to serve and `eoharvest serve` as a real subprocess on a free loopback port."""

from __future__ import annotations

import os
import queue
import random
import socket
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

from corpus import load
from fakes import catalog_scene

from eoharvest.adapters.catalog import open_catalog
from eoharvest.adapters.providers.stac.items import scene_from_stac_item

BIN = Path(sys.executable).with_name("eoharvest")
START = datetime(2024, 1, 1, tzinfo=timezone.utc)


def build_catalog(path: Path, archive: Path) -> dict[str, str]:
    """60 synthetic scenes over two platforms (ten share a datetime: ties across pages), a
    product held by two providers with only the second copy on disk, and recorded Earth Search
    items (their own collections) with one asset downloaded. Returns paths of the local files."""
    scenes = [
        catalog_scene(f"S{i:03d}", product_key=f"PROD_{i:03d}", cloud=float(i % 40),
                      platform="Landsat-8" if i % 4 == 0 else "Sentinel-2",
                      bbox=(10.0 + (i % 5), 45.0, 11.0 + (i % 5), 46.0),
                      when=START + timedelta(days=0 if i < 10 else i))
        for i in range(60)
    ]  # fmt: skip
    copy_item = {"type": "Feature", "stac_version": "1.0.0", "id": "S007-copy", "collection": "sentinel-2-l2a",
                 "geometry": None, "properties": {"datetime": "2024-01-01T00:00:00Z", "eo:cloud_cover": 7.0},
                 "links": [], "assets": {"product": {"href": "https://x.test/PROD_007/S007.zip", "roles": ["data"]}}}
    scenes.append(catalog_scene("S007-copy", provider="earth-search", product_key="PROD_007", cloud=7.0,
                                bbox=(12.0, 45.0, 13.0, 46.0), when=START, raw=copy_item))  # fmt: skip
    recorded = [item for name in ("02_search_cql2_cloud_cover_page1.json", "04_search_two_collections_point_page1.json")
                for item in load("stac_earth_search", name)["features"]]
    stac_scenes = [scene_from_stac_item(item, provider="earth-search", base_url="https://example.test/v1")
                   for item in recorded]  # fmt: skip
    local: dict[str, str] = {}
    with open_catalog(path) as repo:
        repo.upsert_scenes([*scenes, *stac_scenes])
        copy = archive / "PROD_007" / "S007.zip"
        copy.parent.mkdir(parents=True, exist_ok=True)
        copy.write_bytes(b"x")
        file_id = repo.record_file("earth-search", "S007-copy", "S007.zip", size=1)
        repo.set_file_state(file_id, "available", local_path=str(copy), sha256="ab" * 32)
        local["S007-copy"] = str(copy)
        from eoharvest.adapters.providers.stac.stac_item import stac_item as provider_item

        first = next(s for s in stac_scenes if provider_item(s)[1])
        key, name = next(iter(provider_item(first)[1].items()))
        target = archive / str(first.product_key) / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(b"y")
        file_id = repo.record_file(first.provider, first.scene_id, name, size=1)
        repo.set_file_state(file_id, "available", local_path=str(target), sha256="cd" * 32)
        local[first.scene_id] = str(target)
        local["asset_key"] = key
    return local


def make_cog(folder, name="B04.tif", size=1024):
    """A 1024x1024 byte COG (256-pixel tiles, overviews) from seeded random pixels."""
    rng = random.Random(27)
    raw = folder / "src.raw"
    raw.write_bytes(bytes(rng.getrandbits(8) for _ in range(size * size)))
    (folder / "src.hdr").write_text(
        f"ENVI\nsamples = {size}\nlines = {size}\nbands = 1\nheader offset = 0\nfile type = ENVI Standard\n"
        "data type = 1\ninterleave = bsq\nbyte order = 0\n"
        "map info = {UTM, 1, 1, 500000, 5000000, 10, 10, 32, North, WGS-84}\n")  # fmt: skip
    target = folder / name
    subprocess.run(["gdal_translate", "-q", "-of", "COG", "-co", "BLOCKSIZE=256", "-co", "OVERVIEWS=AUTO",
                    str(raw), str(target)], check=True, timeout=120)  # fmt: skip
    raw.unlink()
    (folder / "src.hdr").unlink()
    return target


def clean_env(tmp: Path, **extra: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("EOHARVEST_")},
        "HOME": str(tmp), "XDG_CONFIG_HOME": str(tmp / "config"), "XDG_DATA_HOME": str(tmp / "data"),
        "EOHARVEST_STAC_URL": "http://127.0.0.1:9/v1", **extra,
    }  # fmt: skip


class Server:
    """`eoharvest serve --port 0`; ``url`` once it listens; :meth:`stop` ends it (bounded waits)."""

    def __init__(self, catalog: Path, env: dict[str, str], *args: str) -> None:
        self.process = subprocess.Popen(
            [str(BIN), "--catalog", str(catalog), "serve", "--port", "0", *args],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.lines: queue.Queue[str] = queue.Queue()
        self.log: list[str] = []
        self._pumping = threading.Thread(target=self._pump, daemon=True)
        self._pumping.start()
        self.url = self._wait_for_url()

    def _pump(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.put(line)
        self.lines.put("")

    def _wait_for_url(self) -> str:
        while True:
            try:
                line = self.lines.get(timeout=60)
            except queue.Empty:
                self.stop()
                raise AssertionError(f"serve did not start: {self.log}") from None
            self.log.append(line)
            if line == "":
                raise AssertionError(f"serve exited ({self.process.wait(5)}): {''.join(self.log)}")
            if "STAC API at " in line:
                return line.split("STAC API at ", 1)[1].split()[0]

    def output(self) -> str:
        while True:
            try:
                self.log.append(self.lines.get_nowait())
            except queue.Empty:
                return "".join(self.log)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self._pumping.join(10)
        if self.process.stderr is not None:
            self.process.stderr.close()


def raw_get(url, target):
    """A request line sent as written (clients normalise ``..`` and ``//`` away)."""
    host, port = url.split("//", 1)[1].rstrip("/").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return int(answer.split(b" ", 2)[1]), answer
