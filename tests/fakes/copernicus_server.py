"""A loopback fake of CDSE: Keycloak token endpoint, OData catalogue and zipper download host.

Three ``ThreadingHTTPServer`` instances on 127.0.0.1 (three origins) plus a ``foreign`` one that
the download host can redirect to and that records every Authorization header it receives.
Recorded bodies come from the shared corpus; product bytes are generated from the product Id.
Time (token expiry) follows the ``clock`` given, so tests can share a FakeClock with the client.
Searches honour ``ContentDate/Start`` bounds, ``Collection/Name eq`` and the ``productType``
attribute clauses as CDSE does (a product type CDSE does not have matches nothing).
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from typing import Any, Callable
from urllib.parse import parse_qs, parse_qsl, quote, urlencode, urlsplit

from corpus import load, load_text

RECORDED_CATALOGUE = "https://catalogue.dataspace.copernicus.eu/odata/v1"
TOKEN_PATH = "/auth/realms/CDSE/protocol/openid-connect/token"
_START = re.compile(r"ContentDate/Start (ge|gt|le|lt) (\S+?Z)")
_PUBLISHED = re.compile(r"PublicationDate (ge|gt|le|lt) (\S+?Z)")
_COLLECTION = re.compile(r"Collection/Name eq '([^']+)'")
_TYPE_CLAUSE = re.compile(r"att/Name eq 'productType' and \(?((?:att/OData\.CSC\.StringAttribute/Value eq '[^']+'(?: or )?)+)")
_VALUE = re.compile(r"Value eq '([^']+)'")
_MISSION_COLLECTION = {"S1": "SENTINEL-1", "S2": "SENTINEL-2", "S3": "SENTINEL-3", "S5P": "SENTINEL-5P"}


def product_bytes(product_id: str, size: int) -> bytes:
    return random.Random(product_id).randbytes(size)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, fake: CdseFake, role: str, host: str = "127.0.0.1") -> None:
        self.fake, self.role = fake, role
        super().__init__((host, 0), _Handler)

    def server_bind(self) -> None:  # skip the reverse DNS lookup of HTTPServer.server_bind
        TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    @property
    def url(self) -> str:
        return f"http://{self.server_address[0]}:{self.server_address[1]}"

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # dropped connections are part of the tests


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        self.server.fake.dispatch(self, "GET")  # type: ignore[attr-defined]

    def do_POST(self) -> None:  # noqa: N802
        self.server.fake.dispatch(self, "POST")  # type: ignore[attr-defined]

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)


@dataclass
class Grant:
    grant_type: str
    username: str | None
    password: str | None
    ok: bool


@dataclass
class CdseFake:
    """Start with ``with CdseFake(...) as fake``; URLs: ``token_url``, ``odata_url``, ``download_url``."""

    username: str = "user@example.com"
    password: str = "right password"
    clock: Any = None
    access_ttl: int = 600
    refresh_ttl: int = 3600
    max_sessions: int = 4
    max_skip: int = 10000
    token_prefix: str = "CANARY-TOKEN-"
    products: list[dict[str, Any]] = field(default_factory=list)
    recorded_pages: bool = False
    chunk_delay: float = 0.0
    hold_until_rejected: bool = False
    redirect_ids: set[str] = field(default_factory=set)
    drop_once: dict[str, tuple[int, Callable[[], None]]] = field(default_factory=dict)
    refresh_enabled: bool = True
    reject_delay: float = 0.0  # seconds a 401 is held back, so concurrent requests all use the stale token
    fail_at_skip: dict[int, int] = field(default_factory=dict)  # catalogue $skip -> HTTP status to answer

    def __post_init__(self) -> None:
        self.clock = self.clock or _RealClock()
        self.grants: list[Grant] = []
        self.catalogue_requests: list[str] = []
        self.download_auth: list[str | None] = []
        self.foreign_auth: list[str | None] = []
        self.statuses: list[int] = []
        self.peak_sessions = 0
        self._sessions = 0
        self._access: dict[str, float] = {}
        self._refresh: dict[str, float] = {}
        self._lock = threading.Lock()
        self.rejected = threading.Event()
        self._servers = {role: _Server(self, role) for role in ("identity", "catalogue", "download", "foreign")}

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> CdseFake:
        for server in self._servers.values():
            threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.rejected.set()
        for server in self._servers.values():
            server.shutdown()
            server.server_close()

    @property
    def token_url(self) -> str:
        return self._servers["identity"].url + TOKEN_PATH

    @property
    def odata_url(self) -> str:
        return self._servers["catalogue"].url + "/odata/v1"

    @property
    def download_url(self) -> str:
        return self._servers["download"].url + "/odata/v1"

    @property
    def foreign_url(self) -> str:
        return self._servers["foreign"].url

    def add_product(self, product_id: str, name: str, size: int, *, start: str = "2024-06-04T11:01:00.494767Z",
                    online: bool = True, md5: str | None = None, product_type: str | None = None,
                    geometry: dict[str, Any] | None = None, attributes: dict[str, Any] | None = None,
                    published: str | None = None) -> dict[str, Any]:
        """A product in the shape of the recorded search answers (``$expand=Attributes``);
        ``product_type`` and ``attributes`` (name -> value) become its expanded OData
        ``Attributes``, and searches with ``eq`` attribute clauses then select on them as the
        catalogue does. ``published`` is its ``PublicationDate`` (default: ``start``), which
        ``PublicationDate`` clauses select on."""
        digest = md5 or hashlib.md5(product_bytes(product_id, size)).hexdigest()
        product = {
            "Id": product_id, "Name": name, "ContentLength": size, "Online": online,
            "Checksum": [{"Value": digest, "Algorithm": "MD5", "ChecksumDate": "2024-06-04T12:18:58.614664Z"}],
            "ContentDate": {"Start": start, "End": start}, "Footprint": None, "GeoFootprint": geometry,
            "PublicationDate": published or start,
        }
        if product_type is not None or attributes is not None:
            given = {"productType": product_type} if product_type is not None else {}
            product["Attributes"] = [_attribute(k, v) for k, v in {**given, **(attributes or {})}.items()]
        self.products.append(product)
        return product

    def revoke_access_tokens(self) -> None:
        with self._lock:
            self._access.clear()

    def grant_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for grant in self.grants:
            counts[grant.grant_type] = counts.get(grant.grant_type, 0) + 1
        return counts

    # -- routing ----------------------------------------------------------------------------
    def dispatch(self, handler: _Handler, method: str) -> None:
        role = handler.server.role  # type: ignore[attr-defined]
        if role == "identity" and method == "POST":
            return self._token(handler)
        if role == "catalogue" and method == "GET":
            return self._catalogue(handler)
        if role == "download" and method == "GET":
            return self._download(handler)
        if role == "foreign" and method == "GET":
            self.foreign_auth.append(handler.headers.get("Authorization"))
            product_id = handler.path.rsplit("/", 1)[-1]
            return self._send_bytes(handler, product_id)
        handler.send_json(404, {"detail": "Not Found"})

    # -- identity ---------------------------------------------------------------------------
    def _token(self, handler: _Handler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        form = {k: v[0] for k, v in parse_qs(handler.rfile.read(length).decode("utf-8"), keep_blank_values=True).items()}
        kind = form.get("grant_type", "")
        now = self.clock.monotonic()
        with self._lock:
            if kind == "password":
                ok = form.get("client_id") == "cdse-public" and form.get("username") == self.username and form.get("password") == self.password
            else:
                ok = self.refresh_enabled and self._refresh.get(form.get("refresh_token", ""), -1) > now
            self.grants.append(Grant(kind, form.get("username"), form.get("password"), ok))
            if not ok:
                name = "06_handmade_token_error_invalid_user_credentials.json" if kind == "password" else "07_handmade_token_error_refresh_not_active.json"
                return handler.send_json(401 if kind == "password" else 400, load_text("cdse_auth", name))
            access = f"{self.token_prefix}{secrets.token_hex(8)}"
            refresh = form.get("refresh_token") if kind == "refresh_token" else f"refresh-{secrets.token_hex(8)}"
            self._access[access] = now + self.access_ttl
            if kind == "password":
                self._refresh[refresh] = now + self.refresh_ttl
        body = load("cdse_auth", "02_token_password_grant_2025.json")
        body.update(access_token=access, refresh_token=refresh, expires_in=self.access_ttl, refresh_expires_in=self.refresh_ttl)
        handler.send_json(200, body, {"Cache-Control": "no-store"})

    # -- catalogue --------------------------------------------------------------------------
    def _catalogue(self, handler: _Handler) -> None:
        self.catalogue_requests.append(handler.path)
        single = re.fullmatch(r"/odata/v1/Products\(([^)/]+)\)", urlsplit(handler.path).path)
        if single:
            return self._product(handler, single.group(1))
        params = dict(parse_qsl(urlsplit(handler.path).query, keep_blank_values=True))
        skip = int(params.get("$skip", "0"))
        if skip in self.fail_at_skip:
            return handler.send_json(self.fail_at_skip[skip], {"detail": "Service Unavailable"})
        if skip > self.max_skip:
            return handler.send_json(422, load_text("cdse_odata", "19_doc_error_422_skip_over_10000.json"))
        if self.recorded_pages:
            page = {0: "01_s1_page1_count_nextlink.json", 10: "02_s1_page2_nextlink.json", 20: "03_s1_page3_nextlink.json",
                    30: "04_s1_page4_nextlink.json", 40: "05_s1_page5_last_no_nextlink.json"}[skip]
            return handler.send_json(200, load_text("cdse_odata", page).replace(RECORDED_CATALOGUE, self.odata_url))
        handler.send_json(200, self._synthetic_page(params, skip))

    def _product(self, handler: _Handler, product_id: str) -> None:
        """``GET Products(<Id>)``: the documented single-product entity, with this product's fields."""
        product = next((p for p in self.products if p["Id"] == product_id), None)
        if product is None:
            return handler.send_json(404, {"detail": "Not found"})
        entity = load("cdse_odata", "16_doc_single_product_expand_attributes_entity_2024_after.json")
        entity.update({k: product[k] for k in ("Id", "Name", "ContentLength", "Online", "Checksum", "ContentDate")})
        handler.send_json(200, entity)

    def set_online(self, product_id: str, online: bool = True) -> None:
        for product in self.products:
            if product["Id"] == product_id:
                product["Online"] = online

    def _synthetic_page(self, params: dict[str, str], skip: int) -> dict[str, Any]:
        chosen = list(self.products)
        text = params.get("$filter", "")
        for op, value in _START.findall(text):
            chosen = [p for p in chosen if _compare(p["ContentDate"]["Start"], op, value)]
        for op, value in _PUBLISHED.findall(text):
            chosen = [p for p in chosen if _compare(p["PublicationDate"], op, value)]
        if collections := _COLLECTION.findall(text):
            chosen = [p for p in chosen if _collection(p) in collections]
        if clauses := _TYPE_CLAUSE.findall(text):
            types = {v for clause in clauses for v in _VALUE.findall(clause)}
            chosen = [p for p in chosen if _product_type(p) in types]
        for name, literal in _ATTRIBUTE_EQ.findall(params.get("$filter", "")):
            wanted = literal[1:-1].replace("''", "'") if literal.startswith("'") else json.loads(literal)
            chosen = [p for p in chosen if "Attributes" not in p
                      or any(a["Name"] == name and a["Value"] == wanted for a in p["Attributes"])]
        descending = params.get("$orderby", "").endswith("desc")
        chosen.sort(key=lambda p: p["Id"])
        chosen.sort(key=lambda p: p["ContentDate"]["Start"], reverse=descending)  # stable: Id breaks ties
        top = int(params.get("$top", "20"))
        page: dict[str, Any] = {"@odata.context": "$metadata#Products(Attributes())", "value": chosen[skip: skip + top]}
        if params.get("$count") == "true":
            page["@odata.count"] = len(chosen)
        if skip + top < len(chosen) and skip + top <= self.max_skip:
            # Like CDSE: an absolute, form-encoded link that re-carries $count=true.
            page["@odata.nextLink"] = self.odata_url + "/Products?" + urlencode({**params, "$skip": str(skip + top)}, quote_via=quote)
        return page

    # -- download ---------------------------------------------------------------------------
    def _download(self, handler: _Handler) -> None:
        match = re.fullmatch(r"/odata/v1/Products\(([^)/]+)\)/\$value", urlsplit(handler.path).path)
        auth = handler.headers.get("Authorization")
        self.download_auth.append(auth)
        if match is None:
            return handler.send_json(422, {"code": "DAT-ZIP-104", "message": "Malformed OData request path"})
        token = (auth or "").removeprefix("Bearer ")
        with self._lock:
            expiry = self._access.get(token)
        if expiry is None or expiry <= self.clock.monotonic():
            name = "23_handmade_zipper_401_token_not_found.json" if expiry is None else "24_handmade_zipper_401_token_expired.json"
            self.statuses.append(401)
            time.sleep(self.reject_delay)
            return handler.send_json(401, load_text("cdse_odata", name))
        product_id = match.group(1)
        if product_id in self.redirect_ids:
            self.statuses.append(302)
            handler.send_response(302)
            handler.send_header("Location", f"{self.foreign_url}/files/{product_id}")
            handler.send_header("Content-Length", "0")
            handler.end_headers()
            return
        with self._lock:
            if self._sessions >= self.max_sessions:
                self.statuses.append(429)
                self.rejected.set()
                return handler.send_json(429, load_text("cdse_odata", "22_handmade_zipper_429_max_session.json"))
            self._sessions += 1
            self.peak_sessions = max(self.peak_sessions, self._sessions)
        try:
            self._send_bytes(handler, product_id)
        finally:
            with self._lock:
                self._sessions -= 1

    def _send_bytes(self, handler: _Handler, product_id: str) -> None:
        product = next((p for p in self.products if p["Id"] == product_id), None)
        if product is None:
            return handler.send_json(404, {"detail": "Not found"})
        data = product_bytes(product_id, product["ContentLength"])
        start = 0
        ranged = re.fullmatch(r"bytes=(\d+)-", handler.headers.get("Range") or "")
        if ranged and int(ranged.group(1)) < len(data):
            start = int(ranged.group(1))
        self.statuses.append(206 if start else 200)
        handler.send_response(206 if start else 200)
        handler.send_header("Content-Type", "application/zip")
        handler.send_header("Accept-Ranges", "bytes")
        handler.send_header("ETag", f'"{product_id}"')
        handler.send_header("Content-Length", str(len(data) - start))
        if start:
            handler.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        handler.end_headers()
        drop = self.drop_once.pop(product_id, None) if handler.server.role == "download" else None  # type: ignore[attr-defined]
        for offset in range(start, len(data), 16384):
            if drop is not None and offset >= drop[0]:
                drop[1]()
                handler.close_connection = True
                handler.wfile.flush()
                handler.connection.shutdown(2)
                return
            handler.wfile.write(data[offset: offset + 16384])
            if self.hold_until_rejected and offset == start:
                handler.wfile.flush()
                self.rejected.wait(5)
            if self.chunk_delay:
                time.sleep(self.chunk_delay)


def _collection(product: dict[str, Any]) -> str:
    """The collection of a product, from its mission prefix (S2B_MSIL2A_... -> SENTINEL-2)."""
    return _MISSION_COLLECTION.get(product["Name"].split("_", 1)[0].rstrip("ABCD"), "")


def _product_type(product: dict[str, Any]) -> str | None:
    return next((a["Value"] for a in product.get("Attributes") or [] if a["Name"] == "productType"), None)


# Attributes/OData.CSC.<Type>Attribute/any(att:att/Name eq '<name>' and att/OData.CSC.<Type>Attribute/Value eq <literal>)
_ATTRIBUTE_EQ = re.compile(
    r"Attributes/OData\.CSC\.\w+Attribute/any\(att:att/Name eq '(\w+)' and att/OData\.CSC\.\w+Attribute/Value eq ('(?:[^']|'')*'|[^ )]+)\)"
)


def _attribute(name: str, value: Any) -> dict[str, Any]:
    kind = "Boolean" if isinstance(value, bool) else "Integer" if isinstance(value, int) else "Double" if isinstance(value, float) else "String"
    return {"@odata.type": f"#OData.CSC.{kind}Attribute", "Name": name, "Value": value, "ValueType": kind}


def _compare(start: str, op: str, value: str) -> bool:
    a, b = start.rstrip("Z").ljust(26, "0"), value.rstrip("Z").ljust(26, "0")
    return {"ge": a >= b, "gt": a > b, "le": a <= b, "lt": a < b}[op]


class _RealClock:
    def monotonic(self) -> float:
        return time.monotonic()
