"""A loopback fake of the Planet Data API v1 and of the storage host its downloads redirect to.

Two ``ThreadingHTTPServer`` instances on 127.0.0.1 (two origins):

* the Data API (``/data/v1``): HTTP Basic with the API key as user name (else 401 with the
  recorded body); ``POST /quick-search?_page_size=N`` validating and evaluating the filter
  (``AndFilter``/``OrFilter`` of ``GeometryFilter``, ``DateRangeFilter``, ``RangeFilter``,
  ``PermissionFilter``, ``StringInFilter``; a missing ``type`` or a non-object geometry gets the
  recorded 400 bodies), sorted ``published desc`` like Planet; result pages at
  ``/searches/<id>/results?_page=<opaque>`` whose ``_links._next`` is present on every
  non-empty page, the last one too (the page after it is empty and has none; an unknown search
  id gets the recorded 404); item asset listings in the recorded shape; activation (POST or GET
  on the asset's ``activate`` link: 202, then ``activating`` for ``activation_polls`` reads,
  then ``active`` with ``location``, a zone-less ``expires_at`` and ``md5_digest``); at most 5
  activation requests a second per key, more get 429 with ``Retry-After`` (and
  ``rate_limited_activations`` more on top), a used-up quota gets the recorded quota 429; an
  asset without download permission is listed with ``_permissions: []`` and its activation is
  refused with 403 (as is one in ``forbidden_activations``, though listed as downloadable); ``/download?token=`` redirects to the storage host (an expired token: 403,
  or ``expired_status``).
* the storage host (``/files/<token>``): the asset's bytes, with Range; it records the headers
  of every request, so tests can prove the API key never reaches it.

Items are the recorded ones (``../shared/corpus/planet/``: the PSScene4Band search page, the
PSScene and SkySatCollect items) plus :meth:`PlanetFake.add_psscene` clones of the recorded
PSScene item; asset records are built from the recorded asset bodies (inactive, activating,
active, without permission). Bytes are generated from the item id and asset type.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
import random
import secrets
import threading
import time
from collections import Counter, deque
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from corpus import load, load_text
from shapely.geometry import shape

RECORDED_API = "https://api.planet.com/data/v1"
SEARCH_PAGE = "01_quick_search_page1_PSScene4Band_2016.json"
PSSCENE_ITEM = "07_item_PSScene_20220125_075509_67_1061.json"
SKYSAT_ITEM = "08_item_SkySatCollect_20200130_093253_ssc6_u0001.json"
#: an AOI inside the recorded PSScene item (and its clones)
PSSCENE_AOI = "46.9,8.35,47.0,8.45"
#: an AOI around every item of the recorded PSScene4Band search page
SACRAMENTO_AOI = "-121.9,37.8,-121.1,38.3"
ACTIVATIONS_PER_SECOND = 5


def asset_bytes(item_id: str, asset_type: str, size: int) -> bytes:
    return random.Random(f"{item_id}/{asset_type}").randbytes(size)


def _recorded(name: str) -> Any:
    return load("planet", name)


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, sort_keys=True).encode()).decode().rstrip("=")


def _unb64(text: str) -> dict[str, Any]:
    return json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class _Asset:
    def __init__(self, item_type: str, item_id: str, asset_type: str, size: int, permitted: bool) -> None:
        self.item_type, self.item_id, self.asset_type = item_type, item_id, asset_type
        self.permitted = permitted
        self.status = "inactive"
        self.polls_left = 0
        self.data = asset_bytes(item_id, asset_type, size)
        self.token: str | None = None
        self.token_expires = 0.0
        self.token_expires_at = ""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, fake: PlanetFake, role: str) -> None:
        self.fake, self.role = fake, role
        super().__init__(("127.0.0.1", 0), _Handler)

    def server_bind(self) -> None:  # skip the reverse DNS lookup of HTTPServer.server_bind
        TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class PlanetFake:
    """Start with ``with PlanetFake(api_key=...) as fake:``; ``fake.url`` is the Data API base."""

    def __init__(
        self,
        *,
        api_key: str = "PLAKfake0123456789abcdef",
        activation_polls: int = 2,
        link_ttl: float = 600.0,
        expired_status: int = 403,
        asset_size: int = 40_000,
        rate_limited_activations: int = 0,
        quota_exhausted: bool = False,
        no_permission: tuple[tuple[str, str], ...] = (),
        forbidden_activations: tuple[tuple[str, str], ...] = (),
        repeat_next: bool = False,
        recorded: bool = True,
    ) -> None:
        self.api_key = api_key
        self.activation_polls = activation_polls
        self.link_ttl = link_ttl
        self.expired_status = expired_status
        self.asset_size = asset_size
        self.rate_limited_activations = rate_limited_activations
        self.quota_exhausted = quota_exhausted
        self.no_permission = set(no_permission)
        #: listed as downloadable, but the activation is refused with 403 (the plan lacks it)
        self.forbidden_activations = set(forbidden_activations)
        self.repeat_next = repeat_next
        self.lock = threading.RLock()
        self.api = _Server(self, "api")
        self.storage = _Server(self, "storage")
        self.url = f"{self.api.origin}/data/v1"
        self.items: dict[tuple[str, str], dict[str, Any]] = {}
        self.assets: dict[tuple[str, str, str], _Asset] = {}
        self.searches: dict[str, list[dict[str, Any]]] = {}
        self.search_bodies: list[dict[str, Any]] = []
        self.page_requests: list[str] = []
        self.requests: list[tuple[str, str, str]] = []  # (role, method, path)
        self.api_headers: list[dict[str, str]] = []
        self.storage_headers: list[dict[str, str]] = []
        self.activation_requests: Counter[tuple[str, str]] = Counter()
        self.activations: Counter[tuple[str, str]] = Counter()  # accepted: inactive -> activating
        self.refused_activations: list[tuple[str, str, int]] = []
        self.download_tokens: dict[str, tuple[str, str, str]] = {}
        self.download_requests: list[tuple[str, str, str, str]] = []  # (role, method, path, token)
        #: the next N download requests find their link expired (and the link stops working)
        self.expire_next_downloads = 0
        self._recent_activations: deque[float] = deque()
        self._threads: list[threading.Thread] = []
        if recorded:
            for feature in _recorded(SEARCH_PAGE)["features"]:
                self.add_item(feature)
            self.add_item(_recorded(PSSCENE_ITEM))
            self.add_item(_recorded(SKYSAT_ITEM))

    # -- set-up -----------------------------------------------------------------------------
    def add_item(self, feature: dict[str, Any]) -> dict[str, Any]:
        """Serve ``feature`` (its links rewritten to this fake); returns the stored copy."""
        item = copy.deepcopy(feature)
        item_type, item_id = item["properties"]["item_type"], item["id"]
        base = f"{self.url}/item-types/{item_type}/items/{item_id}"
        item["_links"] = {"_self": base, "assets": f"{base}/assets/", "thumbnail": f"{base}/thumb"}
        with self.lock:
            self.items[(item_type, item_id)] = item
            for name in self._asset_types(item):
                permitted = (item_id, name) not in self.no_permission
                self.assets[(item_type, item_id, name)] = _Asset(item_type, item_id, name, self.asset_size, permitted)
        return item

    def add_psscene(self, count: int, *, start: str = "2022-01-25T07:55:09.676173Z", cloud: float = 0.0) -> list[str]:
        """``count`` clones of the recorded PSScene item, a day apart; their ids."""
        recorded = _recorded(PSSCENE_ITEM)
        first = _time(start)
        ids = []
        for n in range(count):
            item = copy.deepcopy(recorded)
            item["id"] = f"{recorded['id'][:-4]}{n:04d}"
            when = first + timedelta(days=n)
            item["properties"]["acquired"] = when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            item["properties"]["published"] = (when + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
            item["properties"]["cloud_cover"] = cloud
            self.add_item(item)
            ids.append(item["id"])
        return ids

    @staticmethod
    def _asset_types(item: dict[str, Any]) -> list[str]:
        if isinstance(item.get("assets"), list):
            return list(item["assets"])
        return [p.split(".", 1)[1].rsplit(":", 1)[0] for p in item.get("_permissions", []) if p.startswith("assets.")]

    def asset(self, item_id: str, asset_type: str) -> _Asset:
        with self.lock:
            return next(a for (t, i, n), a in self.assets.items() if i == item_id and n == asset_type)

    def expire_links(self) -> None:
        """Every download link handed out so far stops working (its token expired)."""
        with self.lock:
            for asset in self.assets.values():
                asset.token_expires = 0.0

    # -- lifecycle --------------------------------------------------------------------------
    def __enter__(self) -> PlanetFake:
        for server in (self.api, self.storage):
            thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(self, *exc: object) -> None:
        for server in (self.api, self.storage):
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(5)

    # -- the Data API -------------------------------------------------------------------------
    def authorized(self, headers: Any) -> bool:
        value = headers.get("Authorization", "")
        if value.startswith("api-key "):
            return value[len("api-key "):] == self.api_key
        if value.startswith("Basic "):
            try:
                user, _, _ = base64.b64decode(value[6:]).decode().partition(":")
            except ValueError:
                return False
            return user == self.api_key
        return False

    def quick_search(self, body: Any, query: dict[str, list[str]]) -> tuple[int, Any]:
        self.search_bodies.append(body)
        if not isinstance(body, dict) or not isinstance(body.get("item_types"), list) or not body["item_types"]:
            return 400, {"field": {"item_types": [{"message": "'item_types' is a required property"}]}, "general": []}
        size = int(query.get("_page_size", ["250"])[0])
        if not 1 <= size <= 250:
            return 400, {"field": {"_page_size": [{"message": f"{size} is not between 1 and 250"}]}, "general": []}
        error = _check_filter(body.get("filter"))
        if error is not None:
            return 400, error
        wanted = [f for (t, _), f in self.items.items() if t in body["item_types"] and _matches(body["filter"], f)]
        wanted.sort(key=lambda f: (f["properties"].get("published", ""), f["id"]), reverse=True)
        search_id = secrets.token_hex(16)
        with self.lock:
            self.searches[search_id] = wanted
        return 200, self.page(search_id, 0, size)

    def page(self, search_id: str, number: int, size: int) -> dict[str, Any]:
        features = self.searches[search_id][number * size:(number + 1) * size]

        def link(n: int) -> str:
            return f"{self.url}/searches/{search_id}/results?_page={_b64({'page': n, 'page_size': size})}"

        links = {"_self": link(number), "_first": link(0)}
        if features:  # present on the last non-empty page too, as Planet does
            links["_next"] = link(number) if self.repeat_next else link(number + 1)
        return {"_links": links, "features": features, "type": "FeatureCollection"}

    def results(self, search_id: str, query: dict[str, list[str]]) -> tuple[int, Any]:
        if search_id not in self.searches:
            body = json.loads(load_text("planet", "16_reconstructed_error_404_search_id.json"))
            body["message"] = body["message"].rsplit(": ", 1)[0] + f": {search_id}"
            return 404, body
        token = _unb64(query["_page"][0])
        return 200, self.page(search_id, int(token["page"]), int(token["page_size"]))

    def asset_body(self, asset: _Asset) -> dict[str, Any]:
        """The asset's record in the recorded shape (built from the recorded bodies)."""
        if not asset.permitted:
            body = copy.deepcopy(next(iter(_recorded("09_asset_inactive_no_download_permission_transcribed.json").values())))
        elif asset.status == "active":
            body = copy.deepcopy(_recorded("06_asset_active_with_location_PSOrthoTile_visual.json"))
        elif asset.status == "activating":
            body = copy.deepcopy(_recorded("15_reconstructed_asset_activating.json"))
        else:
            body = copy.deepcopy(_recorded("05_item_assets_PSScene3Band_all_inactive.json")["analytic"])
        ref = _b64({"i": asset.item_id, "c": asset.item_type, "t": asset.asset_type, "ct": "item-type"})
        body["_links"] = {"_self": f"{self.url}/assets/{ref}", "activate": f"{self.url}/assets/{ref}/activate",
                          "type": f"{self.url}/asset-types/{asset.asset_type}"}  # fmt: skip
        body["type"] = asset.asset_type
        body["status"] = asset.status if asset.permitted else "inactive"
        if asset.status == "active" and asset.permitted:
            body["md5_digest"] = hashlib.md5(asset.data).hexdigest()
            body["location"] = f"{self.url}/download?token={asset.token}"
            body["expires_at"] = asset.token_expires_at
        elif asset.permitted:
            body["md5_digest"] = None if asset.status == "inactive" else hashlib.md5(asset.data).hexdigest()
        return body

    def read_asset(self, asset: _Asset) -> dict[str, Any]:
        """One read of an asset: activations progress with reads; active ones get a live link."""
        with self.lock:
            if asset.status == "activating":
                asset.polls_left -= 1
                if asset.polls_left <= 0:
                    asset.status = "active"
            if asset.status == "active" and (asset.token is None or asset.token_expires <= time.monotonic()):
                asset.token = secrets.token_urlsafe(24)
                asset.token_expires = time.monotonic() + self.link_ttl
                expiry = datetime.now(timezone.utc).replace(tzinfo=None) + timedelta(seconds=self.link_ttl)
                asset.token_expires_at = expiry.isoformat(timespec="microseconds")  # no zone, as Planet writes it
                self.download_tokens[asset.token] = (asset.item_type, asset.item_id, asset.asset_type)
            return self.asset_body(asset)

    def listing(self, item_type: str, item_id: str) -> tuple[int, Any]:
        with self.lock:
            if (item_type, item_id) not in self.items:
                return 404, {"message": f"Item {item_id} of type {item_type} not found"}
            found = {n: a for (t, i, n), a in self.assets.items() if t == item_type and i == item_id}
        return 200, {name: self.read_asset(asset) for name, asset in sorted(found.items())}

    def activate(self, ref: str) -> tuple[int, Any, dict[str, str]]:
        token = _unb64(ref)
        key = (token["c"], token["i"], token["t"])
        with self.lock:
            asset = self.assets.get(key)
            if asset is None:
                return 404, {"message": "asset not found"}, {}
            self.activation_requests[(asset.item_id, asset.asset_type)] += 1
            now = time.monotonic()
            while self._recent_activations and now - self._recent_activations[0] >= 1.0:
                self._recent_activations.popleft()
            self._recent_activations.append(now)
            if self.quota_exhausted:
                self.refused_activations.append((asset.item_id, asset.asset_type, 429))
                return 429, json.loads(load_text("planet", "14_error_429_download_quota_exceeded.json")), {}
            if self.rate_limited_activations > 0 or len(self._recent_activations) > ACTIVATIONS_PER_SECOND:
                self.rate_limited_activations = max(0, self.rate_limited_activations - 1)
                self.refused_activations.append((asset.item_id, asset.asset_type, 429))
                body = json.loads(load_text("planet", "17_reconstructed_error_429_rate_limited.json"))
                return 429, body, {"Retry-After": "1"}
            if not asset.permitted or (asset.item_id, asset.asset_type) in self.forbidden_activations:
                self.refused_activations.append((asset.item_id, asset.asset_type, 403))
                return 403, {"message": "You do not have download permission for this asset", "errors": []}, {}
            if asset.status != "inactive":
                return 204, None, {}
            asset.status = "activating"
            asset.polls_left = self.activation_polls
            self.activations[(asset.item_id, asset.asset_type)] += 1
            return 202, None, {}

    def download(self, token: str) -> tuple[int, Any, dict[str, str]]:
        with self.lock:
            key = self.download_tokens.get(token)
            asset = self.assets.get(key) if key else None
            if asset is None:
                return 401, {"message": "Invalid download token", "errors": []}, {}
            if self.expire_next_downloads > 0 and asset.token == token:
                self.expire_next_downloads -= 1
                asset.token_expires = 0.0
            if asset.token != token or asset.token_expires <= time.monotonic():
                return self.expired_status, {"message": "Download token has expired", "errors": []}, {}
            file_token = _b64({"t": token, "k": list(key)})
        return 302, None, {"Location": f"{self.storage.origin}/files/{file_token}"}


def _check_filter(node: Any) -> dict[str, Any] | None:
    """The recorded 400 bodies for a filter without ``type`` or with a non-object geometry."""
    if not isinstance(node, dict) or "type" not in node:
        return json.loads(load_text("planet", "10_error_400_stats_filter_type_required.json"))
    if node["type"] in ("AndFilter", "OrFilter"):
        for child in node.get("config") or []:
            error = _check_filter(child)
            if error is not None:
                return error
    elif node["type"] == "GeometryFilter" and not isinstance(node.get("config"), dict):
        body = json.loads(load_text("planet", "11_error_400_quick_search_geometry_not_object.json"))
        body["field"]["filter.config"][0]["message"] = f"{node.get('config')!r} is not of type 'object'"
        return body
    elif node["type"] not in ("DateRangeFilter", "RangeFilter", "PermissionFilter", "StringInFilter", "GeometryFilter"):
        return {"field": {"filter.type": [{"message": f"{node['type']!r} is not a known filter type"}]}, "general": []}
    return None


def _matches(node: dict[str, Any], feature: dict[str, Any]) -> bool:
    kind, config = node["type"], node.get("config")
    props = feature["properties"]
    if kind == "AndFilter":
        return all(_matches(child, feature) for child in config)
    if kind == "OrFilter":
        return any(_matches(child, feature) for child in config)
    if kind == "GeometryFilter":
        return shape(config).intersects(shape(feature["geometry"]))
    if kind == "PermissionFilter":
        return any(p.endswith(":download") for p in feature.get("_permissions", []))
    if kind == "StringInFilter":
        return props.get(node["field_name"]) in config
    value = props.get(node["field_name"])
    if value is None:
        return False
    if kind == "DateRangeFilter":
        value, bounds = _time(value), {op: _time(v) for op, v in config.items()}
    else:
        bounds = config
    return all({"gte": value >= b, "gt": value > b, "lte": value <= b, "lt": value < b}[op] for op, b in bounds.items())


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def _handle(self, method: str) -> None:
        fake, role = self.server.fake, self.server.role
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        with fake.lock:
            fake.requests.append((role, method, parts.path))
            (fake.storage_headers if role == "storage" else fake.api_headers).append(dict(self.headers.items()))
        if role == "storage":
            return self._file(parts.path)
        path = parts.path.rstrip("/")
        if path == "/data/v1/download":
            with fake.lock:
                fake.download_requests.append((role, method, parts.path, query.get("token", [""])[0]))
            status, body, headers = fake.download(query.get("token", [""])[0])
            return self._send(status, body, headers)
        if not fake.authorized(self.headers):
            return self._send(401, json.loads(load_text("planet", "13_error_401_no_api_key.json")))
        segments = path.split("/")[3:]  # after /data/v1
        if method == "POST" and segments == ["quick-search"]:
            try:
                body = json.loads(raw or b"null")
            except ValueError:
                return self._send(400, {"field": {}, "general": [{"message": "Invalid JSON"}]})
            return self._send(*fake.quick_search(body, query))
        if method == "GET" and len(segments) == 3 and segments[0] == "searches" and segments[2] == "results":
            with fake.lock:
                fake.page_requests.append(self.path)
            return self._send(*fake.results(segments[1], query))
        if method == "GET" and len(segments) == 5 and segments[0] == "item-types" and segments[4] == "assets":
            return self._send(*fake.listing(segments[1], segments[3]))
        if len(segments) == 3 and segments[0] == "assets" and segments[2] == "activate":
            status, body, headers = fake.activate(segments[1])
            return self._send(status, body, headers)
        return self._send(404, {"message": f"no route for {method} {parts.path}"})

    def _file(self, path: str) -> None:
        fake = self.server.fake
        token = _unb64(path.rsplit("/", 1)[-1])
        asset = fake.assets.get(tuple(token["k"]))
        if asset is None:
            return self._send(404, {"message": "no such file"})
        data = asset.data
        start = 0
        ranged = self.headers.get("Range", "")
        if ranged.startswith("bytes="):
            start = int(ranged[6:].split("-")[0] or 0)
        self.send_response(206 if start else 200)
        self.send_header("Content-Type", "image/tiff")
        self.send_header("Content-Length", str(len(data) - start))
        self.send_header("ETag", f'"{hashlib.md5(data).hexdigest()}"')
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        self.wfile.write(data[start:])

    def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data:
            self.wfile.write(data)


def settings_for(fake: PlanetFake, tmp_path: Any, **overrides: Any) -> Any:
    """Settings pointing at the fake, with a catalog and archive under ``tmp_path``."""
    from eoharvest.entrypoints.config import load_settings

    values = {"planet_url": fake.url, "catalog_path": tmp_path / "catalog.db", "directory": tmp_path / "archive",
              "max_retries": 2, "retry_max_seconds": 5, **overrides}  # fmt: skip
    return load_settings(values, environ={})
