"""A loopback STAC API built from the recorded Earth Search responses.

It serves the recorded landing page, collection list and items (URLs rewritten to itself), pages like Earth
Search does (POST next links with ``merge: false`` and only a ``next`` token in the body, so a
client that does not merge its original query loses its filters), honours ``collections``,
``ids`` and the ``query`` extension's comparisons on item properties, and serves deterministic synthetic bytes for
every asset, with ``file:size`` and a SHA-256 ``file:checksum`` multihash that match them
(``Range: bytes=N-`` answered with 206; ``asset_delay`` makes it a slow host).
Geometry and datetime are not filtered: the recorded items are from elsewhere and other dates.

The recorded Landsat item (``landsat-c2-l2``) has only ``s3://usgs-landsat/...`` hrefs (a
requester-pays bucket), which eoharvest cannot fetch. With ``landsat_https=True`` each of them
gets a RECONSTRUCTED ``alternate.https`` href on this server, serving the bytes the USGS M2M fake
(``fakes/usgs_server.py``) serves for the same file name: both providers deliver the same USGS
files, so the same band fetched from either has the same size and SHA-256.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from corpus import load
from fakes.usgs_server import file_bytes

ES_ROOT = "https://earth-search.aws.element84.com/v1"
CHUNK = 4096
LANDSAT_BUCKET = "s3://usgs-landsat/"
LANDSAT_ASSETS = "/assets/usgs-landsat/"
ITEM_FILES = (
    "02_search_cql2_cloud_cover_page1.json",
    "03_search_page2_via_next_token.json",
    "04_search_two_collections_point_page1.json",
    "13_eodag_search_s2.json",
)


def _range_start(header: str | None, size: int) -> int | None:
    """The first byte of a ``Range: bytes=N-`` request (None when absent or not satisfiable)."""
    if not header or not header.startswith("bytes=") or not header.endswith("-"):
        return None
    text = header[len("bytes="):-1]
    return int(text) if text.isdigit() and int(text) < size else None


def asset_bytes(path: str) -> bytes:
    """Deterministic content for an asset path: 20-120 KiB derived from its SHA-256 (a Landsat
    file: what the USGS fake serves under its name)."""
    if path.startswith(LANDSAT_ASSETS):
        return file_bytes(path.rsplit("/", 1)[-1])
    seed = hashlib.sha256(path.encode()).digest()
    size = 20_000 + int.from_bytes(seed[:2], "big") % 100_000
    blocks = [hashlib.sha256(seed + counter.to_bytes(8, "big")).digest() for counter in range(-(-size // 32))]
    return b"".join(blocks)[:size]


class FakeStacServer:
    """``with FakeStacServer() as stac: stac.url`` -> an Earth-Search-like API on 127.0.0.1."""

    def __init__(self, *, landsat_https: bool = False) -> None:
        self.landsat_https = landsat_https
        self.requests: list[tuple[str, str, Any]] = []
        self.asset_hits: list[str] = []
        self.missing_assets: set[str] = set()  # asset paths containing one of these answer 404
        #: collections the server no longer has: /search naming one and /collections/{id} answer 404
        #: (as stac-fastapi does); every other collection id answers /collections/{id} with 200
        self.removed_collections: set[str] = set()
        self.asset_delay = 0.0  # seconds between CHUNK-byte writes of an asset body (a slow host)
        self.ranges: list[tuple[str, int]] = []  # (asset path, first byte) of each ranged GET
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self.items = self._load_items()
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> FakeStacServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # -- data ------------------------------------------------------------------------------
    def _rewrite(self, text: str) -> str:
        base = self.url.rsplit("/v1", 1)[0]
        text = text.replace(ES_ROOT, self.url)
        for host in ("https://sentinel-cogs.s3.us-west-2.amazonaws.com", "https://e84-earth-search-sentinel-data.s3.us-west-2.amazonaws.com"):
            text = text.replace(host, f"{base}/assets/{urlsplit(host).hostname}")
        return text

    def _load_items(self) -> list[dict[str, Any]]:
        seen: dict[str, dict[str, Any]] = {}
        for name in ITEM_FILES:
            page = json.loads(self._rewrite(json.dumps(load("stac_earth_search", name))))
            for item in page["features"]:
                for asset in item.get("assets", {}).values():
                    href = asset.get("href", "")
                    if self.landsat_https and href.startswith(LANDSAT_BUCKET):
                        href = f"{self.url.rsplit('/v1', 1)[0]}{LANDSAT_ASSETS}{href[len(LANDSAT_BUCKET):]}"
                        asset["alternate"] = {"https": {"href": href}}
                    if "/assets/" in href:
                        data = asset_bytes(urlsplit(href).path)
                        asset["file:size"] = len(data)
                        asset["file:checksum"] = "1220" + hashlib.sha256(data).hexdigest()
                seen.setdefault(item["id"], item)
        return list(seen.values())

    def expected_asset(self, href: str) -> bytes:
        return asset_bytes(urlsplit(href).path)

    def search(self, body: dict[str, Any]) -> dict[str, Any]:
        items = self.items
        if body.get("collections"):
            items = [i for i in items if i.get("collection") in body["collections"]]
        if body.get("ids"):
            items = [i for i in items if i["id"] in body["ids"]]
        for name, condition in (body.get("query") or {}).items():
            def ok(item: dict[str, Any], name: str = name, condition: dict[str, Any] = condition) -> bool:
                value = item["properties"].get(name)
                if value is None:
                    return False
                tests = {"eq": lambda v: value == v, "neq": lambda v: value != v, "lt": lambda v: value < v,
                         "lte": lambda v: value <= v, "gt": lambda v: value > v, "gte": lambda v: value >= v,
                         "in": lambda v: value in v}
                return all(tests[op](v) for op, v in condition.items())
            items = [i for i in items if ok(i)]
        limit = int(body.get("limit", 10))
        start = int(body.get("next", 0))
        page = items[start : start + limit]
        links = [{"rel": "root", "href": self.url, "type": "application/json"}]
        if start + limit < len(items):
            links.append({"rel": "next", "method": "POST", "href": f"{self.url}/search", "merge": False,
                          "body": {"next": str(start + limit)}})
        return {
            "type": "FeatureCollection",
            "numberMatched": len(items),
            "numberReturned": len(page),
            "context": {"limit": limit, "matched": len(items), "returned": len(page)},
            "features": page,
            "links": links,
        }

    # -- HTTP ------------------------------------------------------------------------------
    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes, content_type: str, extra: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                for key, value in (extra or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802
                path = urlsplit(self.path).path
                fake.requests.append(("GET", path, None))
                if path.rstrip("/") == "/v1":
                    landing = fake._rewrite(json.dumps(load("stac_earth_search", "01_landing_v1.json")))
                    self._send(200, landing.encode(), "application/json")
                elif path.rstrip("/") == "/v1/collections":
                    listing = fake._rewrite(json.dumps(load("stac_earth_search", "09_collections.json")))
                    self._send(200, listing.encode(), "application/json")
                elif path.startswith("/v1/collections/") and path.count("/") == 3:
                    name = path.rsplit("/", 1)[1]
                    if name in fake.removed_collections:
                        self._send(404, json.dumps({"code": "NotFoundError", "description": f"Collection {name} does not exist."}).encode(), "application/json")
                    else:
                        self._send(200, json.dumps({"type": "Collection", "id": name, "links": []}).encode(), "application/json")
                elif path.startswith("/assets/") and any(m in path for m in fake.missing_assets):
                    self._send(404, b"<Error><Code>NoSuchKey</Code></Error>", "application/xml")
                elif path.startswith("/assets/"):
                    fake.asset_hits.append(path)
                    data = asset_bytes(path)
                    etag = '"' + hashlib.md5(data).hexdigest() + '"'
                    first = _range_start(self.headers.get("Range"), len(data))
                    if first is not None:
                        fake.ranges.append((path, first))
                    if fake.asset_delay or first is not None:
                        self._send_slowly(data, first or 0, etag)
                    else:
                        self._send(200, data, "image/tiff", {"ETag": etag, "Accept-Ranges": "bytes"})
                else:
                    self._send(404, b'{"code":"NotFound","description":"Not Found"}', "application/json")

            do_HEAD = do_GET

            def _send_slowly(self, data: bytes, first: int, etag: str) -> None:
                """The body from byte ``first`` (206 when ranged), ``CHUNK`` bytes every
                ``asset_delay`` seconds."""
                self.send_response(206 if first else 200)
                self.send_header("Content-Type", "image/tiff")
                self.send_header("Content-Length", str(len(data) - first))
                self.send_header("ETag", etag)
                self.send_header("Accept-Ranges", "bytes")
                if first:
                    self.send_header("Content-Range", f"bytes {first}-{len(data) - 1}/{len(data)}")
                self.end_headers()
                if self.command == "HEAD":
                    return
                try:
                    for start in range(first, len(data), CHUNK):
                        self.wfile.write(data[start : start + CHUNK])
                        self.wfile.flush()
                        if fake.asset_delay:
                            time.sleep(fake.asset_delay)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client stopped reading

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                fake.requests.append(("POST", urlsplit(self.path).path, body))
                gone = sorted(set(body.get("collections") or ()) & fake.removed_collections)
                if urlsplit(self.path).path == "/v1/search" and gone:
                    self._send(404, json.dumps({"code": "NotFoundError", "description": f"Collection {gone[0]} does not exist."}).encode(), "application/json")
                elif urlsplit(self.path).path == "/v1/search":
                    self._send(200, json.dumps(fake.search(body)).encode(), "application/geo+json")
                else:
                    self._send(404, b'{"code":"NotFound","description":"Not Found"}', "application/json")

        return Handler
