"""An in-memory ``OrderingSource``: products become ready after a number of polls, with an order
quota, refusals, expiries and lookup by label. It records every call so tests assert outcomes
(what was placed, how often) rather than calls.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from typing import Sequence

from fakes.sources import FakeSceneSource

from eoharvest.domain import orders as o
from eoharvest.domain.models import DownloadDescriptor, Scene
from eoharvest.domain.providers import ProviderCapabilities


@dataclass
class _Placed:
    product: str
    label: str
    remote_id: str
    polls: int = 0
    state: str = o.REQUESTED
    delivered: bool = False


class FakeOrderingSource(FakeSceneSource):
    """``ready_after`` maps a product key to the polls answered "pending" before "ready"
    (default 1); ``need`` maps a product key to ``none``/``wait`` (default ``order``);
    ``refuse`` maps a product key to the provider's reason; ``expire`` maps a product key to how
    many of its placements expire instead of becoming ready; ``quota`` caps open orders;
    ``online`` is the set of ``wait`` products that came online (then ready when polled)."""

    def __init__(
        self,
        *,
        name: str = "fake",
        ready_after: dict[str, int] | None = None,
        need: dict[str, str] | None = None,
        refuse: dict[str, str] | None = None,
        expire: dict[str, int] | None = None,
        quota: int | None = None,
        rate: float | None = None,
        cancel: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(name=name)
        self.capabilities = ProviderCapabilities(ordering=True, needs_activation=True, order_rate=rate,
                                                 order_cancel=cancel)  # fmt: skip
        self.ready_after = dict(ready_after or {})
        self.need = dict(need or {})
        self.refused = dict(refuse or {})
        self.expire = Counter(expire or {})
        self.quota = quota
        self.poll_retry_after = retry_after
        self.online: set[str] = set()
        self.placed: dict[str, _Placed] = {}
        self.place_calls: list[str] = []
        self.quota_refusals = 0
        self.finds: list[str] = []
        self.polls: Counter[str] = Counter()
        self.cancelled: list[str] = []
        self.events: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def placements(self, product: str) -> int:
        return sum(1 for p in self.placed.values() if p.product == product)

    # -- OrderingSource --------------------------------------------------------------------
    def order_need(self, scene: Scene, assets: Sequence[str] | None) -> str:
        return self.need.get(scene.product_key or scene.scene_id, o.PLACE)

    def place_order(self, request: o.OrderRequest) -> o.OrderStatus:
        product = request.scene.product_key or request.scene.scene_id
        with self._lock:
            self.place_calls.append(product)
            if self.order_need(request.scene, request.assets) == o.WAIT:
                return o.OrderStatus(o.WAITING, reason="offline: order it in the provider's web shop")
            if product in self.refused:
                return o.OrderStatus(o.FAILED, reason=self.refused[product])
            open_orders = sum(1 for p in self.placed.values() if not p.delivered and p.state in (o.REQUESTED, o.PENDING, o.READY))
            if self.quota is not None and open_orders >= self.quota:
                self.quota_refusals += 1
                return o.OrderStatus(o.INTENT, reason=f"order quota of {self.quota} reached", quota=True)
            placed = _Placed(product, request.label, f"R{len(self.placed) + 1}")
            self.placed[request.label] = placed
            self.events.append(("placed", product))
            return o.OrderStatus(o.REQUESTED, remote_id=placed.remote_id)

    def find_order(self, request: o.OrderRequest) -> o.OrderStatus | None:
        with self._lock:
            self.finds.append(request.label)
            placed = self.placed.get(request.label)
            return None if placed is None else o.OrderStatus(placed.state, remote_id=placed.remote_id)

    def poll_order(self, request: o.OrderRequest, ref: o.OrderRef) -> o.OrderStatus:
        product = request.scene.product_key or request.scene.scene_id
        with self._lock:
            self.polls[product] += 1
            if self.order_need(request.scene, request.assets) == o.WAIT:
                return o.OrderStatus(o.READY if product in self.online else o.WAITING, reason="still offline")
            placed = self.placed[ref.label]
            placed.polls += 1
            if placed.polls >= self.ready_after.get(product, 1):
                if self.expire[product] > 0:
                    self.expire[product] -= 1
                    placed.state = o.EXPIRED
                    return o.OrderStatus(o.EXPIRED, reason="the download window passed")
                placed.state = o.READY
                self.events.append(("ready", product))
                return o.OrderStatus(o.READY)
            placed.state = o.PENDING
            return o.OrderStatus(o.PENDING, retry_after=self.poll_retry_after)

    def cancel_order(self, request: o.OrderRequest, ref: o.OrderRef) -> None:
        with self._lock:
            self.cancelled.append(ref.label)
            self.placed.pop(ref.label, None)

    def order_descriptors(self, request: o.OrderRequest, ref: o.OrderRef | None) -> Sequence[DownloadDescriptor]:
        with self._lock:
            if ref is not None and ref.label in self.placed:
                self.placed[ref.label].delivered = True
        names = request.scene.filenames or (f"{request.scene.scene_id}.zip",)
        return [DownloadDescriptor(f"https://fake.invalid/{request.label}/{n}", n) for n in names]
