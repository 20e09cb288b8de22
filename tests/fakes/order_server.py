"""A loopback ordering API (test-only provider "orderfake"), shaped like the label-based USGS M2M
flow (download-request -> download-retrieve by label -> available, download-order-remove):

* ``GET  /products``                      the catalogue (id, size, sha256, datetime)
* ``POST /orders`` {product, label}       202 ``requested``; 409 quota full; 422 refused
* ``GET  /orders?label=L``                the orders placed under a label (crash reconciliation)
* ``GET  /orders/<id>``                   ``requested`` -> ``ready`` after the product's delay;
                                          ``expired`` (first placements of ``expire_first``, or
                                          ``ready_ttl`` after ready), ``url`` when ready
* ``DELETE /orders/<id>``                 cancel
* ``GET  /files/<id>/<name>``             the bytes of a ready order (410 once expired)

Order-API calls closer together than ``min_interval`` get 429 with ``Retry-After: 1``. Every
event is recorded with its monotonic time: placements, readiness first reported, download
starts and ends.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


def content(product: str, size: int) -> bytes:
    seed = hashlib.sha256(product.encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


@dataclass
class FakeOrder:
    id: str
    product: str
    label: str
    placed_at: float
    state: str = "requested"
    ready_at: float | None = None
    expire: bool = False
    downloaded: bool = False

    @property
    def open(self) -> bool:
        return self.state in ("requested", "ready") and not self.downloaded


@dataclass
class OrderApiFake:
    """Start with ``with OrderApiFake(products={...}) as fake``; ``fake.url`` is the API root.

    ``products`` maps a product id to its readiness delay in seconds.
    """

    products: dict[str, float] = field(default_factory=dict)
    size: int = 20_000
    quota: int | None = None
    min_interval: float = 0.0
    refuse: dict[str, str] = field(default_factory=dict)
    expire_first: dict[str, int] = field(default_factory=dict)
    ready_ttl: float | None = None
    chunk_delay: float = 0.0
    port: int = 0

    def __post_init__(self) -> None:
        self.orders: dict[str, FakeOrder] = {}
        self.events: list[tuple[float, str, str]] = []
        self.too_fast = 0
        self.quota_refusals = 0
        self.lookups: list[str] = []
        self._last_call: float | None = None
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), _Handler)
        self._server.daemon_threads = True
        self._server.fake = self  # type: ignore[attr-defined]

    def __enter__(self) -> OrderApiFake:
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- what tests look at --------------------------------------------------------------------
    def placements(self, product: str) -> int:
        return sum(1 for o in self.orders.values() if o.product == product)

    def times(self, kind: str) -> dict[str, float]:
        """First time of each product's event of ``kind`` (placed, ready, download, downloaded)."""
        first: dict[str, float] = {}
        for when, event, product in self.events:
            if event == kind:
                first.setdefault(product, when)
        return first

    def sequence(self, kind: str) -> list[str]:
        return list(self.times(kind))

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {"orders": [o.__dict__ for o in self.orders.values()], "events": self.events,
                    "too_fast": self.too_fast, "quota_refusals": self.quota_refusals}  # fmt: skip

    # -- the API -----------------------------------------------------------------------------------
    def handle(self, handler: _Handler, method: str) -> None:
        parts = urlsplit(handler.path)
        path = parts.path.rstrip("/")
        now = time.monotonic()
        # Read the body first: an answer sent before it would leave it on the kept-alive connection.
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        if path == "/products" and method == "GET":
            return handler.send_json(200, {"products": [self._product(p) for p in sorted(self.products)]})
        if path.startswith("/files/") and method == "GET":
            return self._file(handler, path)
        if path.startswith("/orders"):
            with self._lock:
                if self._last_call is not None and now - self._last_call < self.min_interval:
                    self.too_fast += 1
                    return handler.send_json(429, {"message": "too many requests"}, {"Retry-After": "1"})
                self._last_call = now
            if path == "/orders" and method == "POST":
                return self._place(handler, now, body)
            if path == "/orders" and method == "GET":
                label = parse_qs(parts.query).get("label", [""])[0]
                with self._lock:
                    self.lookups.append(label)
                    found = [self._status(o, now) for o in self.orders.values() if o.label == label]
                return handler.send_json(200, {"orders": found})
            order_id = path.rsplit("/", 1)[-1]
            with self._lock:
                order = self.orders.get(order_id)
                if order is None:
                    return handler.send_json(404, {"message": f"no order {order_id}"})
                if method == "DELETE":
                    del self.orders[order_id]
                    self.events.append((now, "cancelled", order.product))
                    return handler.send_json(200, {"id": order_id, "status": "cancelled"})
                return handler.send_json(200, self._status(order, now))
        handler.send_json(404, {"message": "not found"})

    def _product(self, product: str) -> dict[str, Any]:
        data = content(product, self.size)
        return {"id": product, "size": len(data), "sha256": hashlib.sha256(data).hexdigest(),
                "datetime": "2025-03-01T10:00:00Z"}  # fmt: skip

    def _place(self, handler: _Handler, now: float, raw: bytes) -> None:
        body = json.loads(raw or b"{}")
        product, label = body.get("product"), body.get("label")
        with self._lock:
            if product not in self.products or not label:
                return handler.send_json(400, {"message": f"unknown product {product!r} or no label"})
            if product in self.refuse:
                self.events.append((now, "refused", product))
                return handler.send_json(422, {"status": "failed", "reason": self.refuse[product]})
            if self.quota is not None and sum(o.open for o in self.orders.values()) >= self.quota:
                self.quota_refusals += 1
                return handler.send_json(409, {"status": "quota", "reason": f"order quota of {self.quota} reached"})
            order = FakeOrder(f"o{len(self.orders) + 1}", product, label, now)
            if self.expire_first.get(product, 0) > 0:
                self.expire_first[product] -= 1
                order.expire = True
            self.orders[order.id] = order
            self.events.append((now, "placed", product))
            handler.send_json(202, self._status(order, now))

    def _status(self, order: FakeOrder, now: float) -> dict[str, Any]:
        """The order's state at ``now`` (moves it on as time passes)."""
        if order.state == "requested" and now >= order.placed_at + self.products[order.product]:
            order.state, order.ready_at = ("expired", None) if order.expire else ("ready", now)
            if order.state == "ready":
                self.events.append((now, "ready", order.product))
        if order.state == "ready" and self.ready_ttl is not None and not order.downloaded \
                and order.ready_at is not None and now > order.ready_at + self.ready_ttl:
            order.state = "expired"
        status: dict[str, Any] = {"id": order.id, "label": order.label, "product": order.product,
                                  "status": order.state}  # fmt: skip
        if order.downloaded:
            status["status"] = "ready"
        if status["status"] == "ready":
            status["url"] = f"{self.url}/files/{order.id}/{order.product}.tif"
            expires = datetime.now(timezone.utc) + timedelta(hours=1)
            status["expires_at"] = expires.isoformat()
        if order.state == "expired":
            status["reason"] = "the download window passed"
        return status

    def _file(self, handler: _Handler, path: str) -> None:
        _, _, order_id, _name = path.split("/", 3)
        with self._lock:
            order = self.orders.get(order_id)
            if order is None or order.state != "ready":
                state = order.state if order else "missing"
                return handler.send_json(410 if state == "expired" else 409, {"message": f"order is {state}"})
            self.events.append((time.monotonic(), "download", order.product))
        data = content(order.product, self.size)
        handler.send_response(200)
        handler.send_header("Content-Type", "image/tiff")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        for offset in range(0, len(data), 8192):
            handler.wfile.write(data[offset: offset + 8192])
            if self.chunk_delay:
                time.sleep(self.chunk_delay)
        with self._lock:
            order.downloaded = True
            self.events.append((time.monotonic(), "downloaded", order.product))


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: Any) -> None:
        pass

    def do_GET(self) -> None:  # noqa: N802
        self.server.fake.handle(self, "GET")  # type: ignore[attr-defined]

    def do_POST(self) -> None:  # noqa: N802
        self.server.fake.handle(self, "POST")  # type: ignore[attr-defined]

    def do_DELETE(self) -> None:  # noqa: N802
        self.server.fake.handle(self, "DELETE")  # type: ignore[attr-defined]

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

