"""SceneSource + OrderingSource over the loopback ordering API (fakes/order_server.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping, Sequence
from urllib.parse import quote

from eoharvest.adapters.http.jsonapi import JsonApi
from eoharvest.domain.errors import InputError, ProviderResponseError
from eoharvest.domain.footprint import Footprint
from eoharvest.domain.models import Activation, Checksum, DownloadDescriptor, Scene, SearchPage
from eoharvest.domain.orders import INTENT, PLACE, STATUS_STATES, OrderRef, OrderRequest, OrderStatus
from eoharvest.domain.providers import ProviderCapabilities
from eoharvest.domain.query import SearchQuery


class OrderApiSource:
    def __init__(self, api: JsonApi, base_url: str, *, name: str, capabilities: ProviderCapabilities) -> None:
        self.api = api
        self.base_url = base_url
        self.name = name
        self.capabilities = capabilities

    # -- SceneSource ------------------------------------------------------------------------
    def supported_platforms(self) -> Sequence[str]:
        return ("Sentinel-2",)

    def search_page(self, query: SearchQuery, ref: Any | None) -> SearchPage:
        data = self.api.get(f"{self.base_url}/products")
        scenes = [self._scene(p) for p in data["products"]]
        return SearchPage(tuple(scenes), total=len(scenes))

    def _scene(self, product: Mapping[str, Any]) -> Scene:
        return Scene(
            "Sentinel-2", product["id"], Footprint.from_bbox(-79.4, 43.8, -79.3, 43.9),
            datetime.fromisoformat(product["datetime"].replace("Z", "+00:00")), None,
            filenames=(f"{product['id']}.tif",), raw=dict(product), provider=self.name,
            product_key=product["id"], size=product["size"],
            checksums=(Checksum("sha256", product["sha256"], "orderfake"),),
        )  # fmt: skip

    def activate(self, scene: Scene) -> Activation:
        return Activation(False, "order it first", permanent=True)

    def download_descriptors(self, scene: Scene, assets: Sequence[str] | None = None) -> Sequence[DownloadDescriptor]:
        raise InputError(f"{scene.scene_id} must be ordered first")

    # -- OrderingSource ----------------------------------------------------------------------
    def order_need(self, scene: Scene, assets: Sequence[str] | None) -> str:
        return PLACE

    def place_order(self, request: OrderRequest) -> OrderStatus:
        body = {"product": request.scene.product_key, "label": request.label}
        data = self.api.post(f"{self.base_url}/orders", json=body, expect=(202, 409, 422))
        if data.get("status") == "quota":
            return OrderStatus(INTENT, reason=data.get("reason", "quota"), quota=True)
        return self._status(data)

    def find_order(self, request: OrderRequest) -> OrderStatus | None:
        data = self.api.get(f"{self.base_url}/orders?label={quote(request.label)}")
        found = data.get("orders") or []
        return self._status(found[0]) if found else None

    def poll_order(self, request: OrderRequest, ref: OrderRef) -> OrderStatus:
        return self._status(self._order(ref))

    def cancel_order(self, request: OrderRequest, ref: OrderRef) -> None:
        self.api.request("DELETE", f"{self.base_url}/orders/{ref.remote_id}")

    def order_descriptors(self, request: OrderRequest, ref: OrderRef | None) -> Sequence[DownloadDescriptor]:
        if ref is None:
            raise InputError(f"{request.scene.scene_id} has no order")
        order = self._order(ref)
        if order.get("status") != "ready" or not order.get("url"):
            raise ProviderResponseError(f"order {ref.remote_id} is {order.get('status')}, not ready")
        scene = request.scene
        return [DownloadDescriptor(order["url"], f"{scene.product_key}.tif", size=scene.size, checksums=scene.checksums)]

    def _order(self, ref: OrderRef) -> Mapping[str, Any]:
        data: Mapping[str, Any] = self.api.get(f"{self.base_url}/orders/{ref.remote_id}")
        return data

    @staticmethod
    def _status(data: Mapping[str, Any]) -> OrderStatus:
        state = data.get("status")
        if state not in STATUS_STATES:
            raise ProviderResponseError(f"orderfake: unknown order status {state!r}")
        expires = data.get("expires_at")
        return OrderStatus(
            str(state), remote_id=data.get("id"), reason=data.get("reason") or "",
            expires_at=datetime.fromisoformat(expires) if expires else None,
        )  # fmt: skip
