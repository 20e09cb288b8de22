"""A loopback STAC API whose catalogue grows between passes, for the sync daemon's tests.

``GrowingStacServer`` starts empty and publishes synthetic Sentinel-2 L2A items cloned from a
recorded Earth Search item (new id, product name, acquisition day and asset paths, with
matching ``file:size``/``file:checksum``). Unlike ``FakeStacServer`` it filters on the
``datetime`` interval, so an incremental client sees only what its window asks for. Assets can
be served slowly (``drip_delay`` per 1 KiB chunk) and honour ``Range: bytes=N-`` so a cancelled
download resumes. A test can hold every asset request at a gate it controls instead of relying on
timing: ``stac.hold_assets()`` closes it, ``stac.asset_requested`` is set when the first asset
request waits there, ``stac.release_assets()`` lets them all through.
"""

from __future__ import annotations

import copy
import hashlib
import json
import threading
import time
from datetime import datetime, timezone
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

from corpus import load
from fakes.stac_server import ITEM_FILES, FakeStacServer, asset_bytes

TEMPLATE_ID = "S2B_T24MXV_20250731T130245_L2A"
TEMPLATE_DAY = "20250731"
CHUNK = 1024
MAX_DRIP_SECONDS = 60.0
MAX_HOLD_SECONDS = 45.0


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class GrowingStacServer(FakeStacServer):
    """``with GrowingStacServer() as stac: stac.publish(day=3)``; every item keeps only ``visual``."""

    def __init__(self) -> None:
        super().__init__()
        self.template = next(i for i in self.items if i["id"] == TEMPLATE_ID)
        self.items = []
        self.searches: list[dict[str, Any]] = []
        self.drip_delay = 0.0
        self.stopping = threading.Event()
        self.asset_gate: threading.Event | None = None  # set: open; None: no gate
        self.asset_requested = threading.Event()
        self._lock = threading.Lock()

    def _load_items(self) -> list[dict[str, Any]]:
        # Only the template is needed: skip hashing every recorded asset as the parent does.
        for name in ITEM_FILES:
            page = json.loads(self._rewrite(json.dumps(load("stac_earth_search", name))))
            for item in page["features"]:
                if item["id"] == TEMPLATE_ID:
                    return [item]
        raise LookupError(f"{TEMPLATE_ID} is not in the recorded corpus")

    def __exit__(self, *exc: Any) -> None:
        self.stopping.set()
        super().__exit__(*exc)

    # -- catalogue -----------------------------------------------------------------------------
    def publish(self, day: int, tile: str = "24MXV", *, month: int = 8, cloud: float = 10.0) -> str:
        """Add an item acquired on 2025-<month>-<day> over ``tile``; returns its id."""
        stamp = f"2025{month:02d}{day:02d}"
        item_id = f"S2B_T{tile}_{stamp}T130245_L2A"
        item = copy.deepcopy(self.template)
        text_swaps = {TEMPLATE_ID: item_id, "/24/M/XV/2025/7/": f"/{tile[:2]}/{tile[2]}/{tile[3:]}/2025/{month}/"}
        item["id"] = item_id
        props = item["properties"]
        props["datetime"] = f"2025-{month:02d}-{day:02d}T13:03:22.435000Z"
        props["updated"] = props["created"] = f"2025-{month:02d}-{day:02d}T14:13:51.609Z"
        props["eo:cloud_cover"] = cloud
        props["s2:product_uri"] = f"S2B_MSIL2A_{stamp}T130249_N0511_R095_T{tile}_{stamp}T132745.SAFE"
        visual = dict(item["assets"]["visual"])
        href = visual["href"]
        for old, new in text_swaps.items():
            href = href.replace(old, new)
        data = asset_bytes(urlsplit(href).path)
        visual.update(href=href, **{"file:size": len(data), "file:checksum": "1220" + hashlib.sha256(data).hexdigest()})
        item["assets"] = {"visual": visual}
        with self._lock:
            self.items = [i for i in self.items if i["id"] != item_id] + [item]
        return item_id

    def republish(self, item_id: str, *, cloud: float, updated: str) -> None:
        """Reprocess an item in place: same id and acquisition time, new cloud and ``updated``."""
        with self._lock:
            for item in self.items:
                if item["id"] == item_id:
                    item["properties"].update({"eo:cloud_cover": cloud, "updated": updated})

    def search(self, body: dict[str, Any]) -> dict[str, Any]:
        self.searches.append(body)
        start, end = _interval(body.get("datetime"))
        with self._lock:
            visible = [i for i in self.items if start <= _when(i["properties"]["datetime"]) <= end]
        return FakeStacServer.search(SimpleNamespace(items=visible, url=self.url), body)  # type: ignore[arg-type]

    # -- slow, resumable, held assets ------------------------------------------------------------
    def hold_assets(self) -> None:
        """Hold every asset request (before its answer) until :meth:`release_assets`."""
        self.asset_requested.clear()
        self.asset_gate = threading.Event()

    def release_assets(self) -> None:
        if self.asset_gate is not None:
            self.asset_gate.set()

    def _handler(self) -> Any:
        base = super()._handler()
        fake = self

        class SlowHandler(base):  # type: ignore[misc, valid-type]
            def do_GET(self) -> None:  # noqa: N802
                path = urlsplit(self.path).path
                gate = fake.asset_gate
                if not path.startswith("/assets/") or not (fake.drip_delay or gate is not None):
                    return super().do_GET()
                fake.asset_hits.append(path)
                if gate is not None:
                    fake.asset_requested.set()
                    # Bounded well below the client's 60 s read timeout; a test releases it sooner.
                    deadline = time.monotonic() + MAX_HOLD_SECONDS
                    while not gate.wait(0.05):
                        if fake.stopping.is_set() or time.monotonic() > deadline:
                            return
                data = asset_bytes(path)
                offset = _range_start(self.headers.get("Range"))
                etag = '"' + hashlib.md5(data).hexdigest() + '"'
                self.send_response(206 if offset else 200)
                self.send_header("Content-Type", "image/tiff")
                self.send_header("ETag", etag)
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(len(data) - offset))
                if offset:
                    self.send_header("Content-Range", f"bytes {offset}-{len(data) - 1}/{len(data)}")
                self.end_headers()
                deadline = time.monotonic() + MAX_DRIP_SECONDS
                try:
                    for at in range(offset, len(data), CHUNK):
                        if fake.stopping.is_set() or time.monotonic() > deadline:
                            return
                        self.wfile.write(data[at : at + CHUNK])
                        self.wfile.flush()
                        time.sleep(fake.drip_delay)
                except (BrokenPipeError, ConnectionResetError):
                    return

        return SlowHandler


def _interval(value: str | None) -> tuple[datetime, datetime]:
    low, high = datetime.min.replace(tzinfo=timezone.utc), datetime.max.replace(tzinfo=timezone.utc)
    if not value:
        return low, high
    start, _, end = value.partition("/")
    return (_when(start) if start not in ("", "..") else low, _when(end) if end not in ("", "..") else high)


def _range_start(header: str | None) -> int:
    if not header or not header.startswith("bytes=") or not header[6:].endswith("-"):
        return 0
    try:
        return int(header[6:-1])
    except ValueError:
        return 0
