"""Planet Data API v1: quick-search paging, asset activation as orders, active-asset downloads.

Search: ``POST /quick-search?_page_size=N`` with the filter of :mod:`.filters`, then ``GET`` of
``_links._next``. ``_next`` is present on every non-empty page, the last one too: the search
ends on a page without features (or without ``_next``), and a ``_next`` that repeats the page
just read is refused as a page cycle (once the scenes of that page are delivered).

Activation is an order (domain/orders.py, followed by the application's OrderBook): an order is
the activation of the chosen assets of one item. Every placement, lookup and poll first reads
the item's asset listing, and only an ``inactive`` asset is ever activated, so a run that died
mid-activation finds its assets ``activating`` (or ``active``) and never activates them again.
Activation requests are spaced to Planet's 5 per second per key (the ``ProviderBudgets`` port:
across every process on a PostgreSQL catalog); a 429 with ``Retry-After``
defers the placement, a 429 saying the download quota is used up ends the key's activations
and downloads for the run. An asset the key may not download (``_permissions: []``, or an
activation answered 403) fails its order for good: reported once per item, never retried.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from eoharvest.adapters.http.jsonapi import JsonAnswer, JsonApi
from eoharvest.adapters.providers.planet import filters
from eoharvest.adapters.providers.planet.assets import (
    ACTIVE,
    INACTIVE,
    AssetRecord,
    asset_filename,
    asset_records,
    chosen_assets,
)
from eoharvest.adapters.providers.planet.errors import KEY_HELP, is_quota, quota_error, said
from eoharvest.adapters.providers.planet.item_types import PLATFORMS, SEARCH_OPTIONS
from eoharvest.adapters.providers.planet.items import item_type_of, scene_from_feature
from eoharvest.domain.budgets import ACTIVATIONS, BudgetKey
from eoharvest.domain.errors import AuthError, InputError, ProviderResponseError, RetryExhausted
from eoharvest.domain.models import Activation, DownloadDescriptor, Scene, SearchPage
from eoharvest.domain.orders import (
    EXPIRED,
    FAILED,
    INTENT,
    PENDING,
    PLACE,
    READY,
    OrderRef,
    OrderRequest,
    OrderStatus,
)
from eoharvest.domain.ports import Clock, ProviderBudgets
from eoharvest.domain.providers import ProviderCapabilities
from eoharvest.domain.query import SearchQuery
from eoharvest.domain.redaction import redact
from eoharvest.domain.retry import parse_retry_after

log = logging.getLogger("eoharvest.planet")

PLANET_CAPABILITIES = ProviderCapabilities(
    asset_selection=True, needs_activation=True, ordering=True, order_rate=5.0, server_cloud_filter=True,
    publication_time_filter=True, search_options=SEARCH_OPTIONS,
)
#: Planet's limit on activation requests per API key and second.
ACTIVATION_RATE = 5.0
#: A request-rate 429 on a read is retried this many times (after its Retry-After) in one call.
MAX_RATE_RETRIES = 5
#: The wait after a request-rate 429 that gives no Retry-After.
DEFAULT_RETRY_AFTER = 1.0
#: After a used-up download quota, how long this process asks Planet for no activation or
#: download (a bulk run stops the provider at the first one anyway; a daemon tries again later).
QUOTA_PAUSE = 3600.0


@dataclass(frozen=True)
class PlanetPage:
    """The next result page: ``_links._next`` as Planet gave it (an opaque URL). ``cycle``: it
    repeats the page it came from; asking for it raises, after that page's scenes were kept."""

    url: str
    cycle: bool = False


class _RateLimited(Exception):
    def __init__(self, retry_after: float) -> None:
        super().__init__(f"rate limited; retry after {retry_after:g} s")
        self.retry_after = retry_after


class PlanetSource:
    """A ``SceneSource`` and ``OrderingSource`` over the Planet Data API."""

    name = "planet"

    def __init__(
        self,
        api: JsonApi,
        *,
        base_url: str,
        clock: Clock,
        has_key: bool,
        missing_credentials: str = "no API key for planet",
        page_size: int = filters.MAX_PAGE_SIZE,
        capabilities: ProviderCapabilities = PLANET_CAPABILITIES,
        activation_rate: float = ACTIVATION_RATE,
        budgets: ProviderBudgets,
        account: str = "",
    ) -> None:
        self.api = api
        self.base_url = base_url.rstrip("/")
        self.clock = clock
        self.has_key = has_key
        self.missing_credentials = missing_credentials
        self.page_size = page_size
        self.capabilities = capabilities
        # Activations share the key's budget with every process on a PostgreSQL catalog.
        self._budgets = budgets
        self._activation_budget = BudgetKey(self.name, account, ACTIVATIONS)
        self._activation_rate = activation_rate
        #: set when Planet says the key's download quota is used up: activations and downloads
        #: stop until ``_quota_until`` (monotonic); searching goes on
        self._quota: AuthError | None = None
        self._quota_until = 0.0

    # -- SceneSource: search ------------------------------------------------------------------
    def supported_platforms(self) -> Sequence[str]:
        return list(PLATFORMS)

    def search_page(self, query: SearchQuery, ref: PlanetPage | None) -> SearchPage:
        self._require_key(downloads=False)
        if ref is None:
            body = filters.search_body(query)
            url = f"{self.base_url}/quick-search?_page_size={filters.page_size(query, self.page_size)}"
            answer = self.api.exchange("POST", url, json=body, expect=(200, 400))
        elif ref.cycle:
            raise ProviderResponseError(
                f"planet: the next page link repeats the page just read ({redact(ref.url)[:160]})",
                hint="the results so far are kept; run the search again later",
            )
        else:
            url = ref.url
            answer = self.api.exchange("GET", url, expect=(200, 400, 404))
        if answer.status == 400:
            raise InputError(f"planet refused the search: {said(answer.body)}",
                             hint="check the area (a valid polygon), dates, cloud range and product type")  # fmt: skip
        if answer.status == 404:
            raise ProviderResponseError(f"planet: the search's result pages are gone ({said(answer.body)})",
                                        hint="run the search again")  # fmt: skip
        data = answer.body
        features = data.get("features") if isinstance(data, Mapping) else None
        if not isinstance(features, list):
            raise ProviderResponseError(f"planet: search answer has no 'features' list (got {type(data).__name__})")
        scenes = self._scenes(features)
        return SearchPage(tuple(scenes), None, self._next(data, features, url), cloud_filtered=True)

    def _next(self, data: Mapping[str, Any], features: list[Any], url: str) -> PlanetPage | None:
        """The page after this one, or None: an empty page ends the search even though Planet
        still links a next one from the last non-empty page."""
        links: Mapping[str, Any] = data["_links"] if isinstance(data.get("_links"), Mapping) else {}
        following = links.get("_next")
        if not features or not isinstance(following, str) or not following:
            return None
        return PlanetPage(following, cycle=following in (url, links.get("_self")))

    def _scenes(self, features: list[Any]) -> list[Scene]:
        scenes, skipped = [], 0
        for feature in features:
            try:
                if not isinstance(feature, Mapping):
                    raise ProviderResponseError(f"planet: search result is a {type(feature).__name__}")
                scenes.append(scene_from_feature(feature, provider=self.name))
            except ProviderResponseError as exc:
                skipped += 1
                log.warning("planet: item skipped: %s", exc)
        if skipped:
            log.warning("planet: %d unusable item(s) skipped on this page", skipped)
        return scenes

    # -- SceneSource: without the order book (catalog=False) ------------------------------------
    def activate(self, scene: Scene) -> Activation:
        """Activate the item's default assets (once); whether they are active now."""
        status = self.place_order(OrderRequest(scene, None, ""))
        if status.state == READY:
            return Activation(True)
        if status.state == FAILED:
            return Activation(False, status.reason, permanent=True)
        return Activation(False, status.reason or "activating", retry_after=status.retry_after)

    def download_descriptors(self, scene: Scene, assets: Sequence[str] | None = None) -> list[DownloadDescriptor]:
        return self._descriptors(scene, assets)

    # -- OrderingSource: an order is the activation of one item's chosen assets -----------------
    def order_need(self, scene: Scene, assets: Sequence[str] | None) -> str:
        chosen_assets(scene, assets)  # a bad asset name fails here, before anything is placed
        return PLACE

    def place_order(self, request: OrderRequest) -> OrderStatus:
        self._require_key()
        scene = request.scene
        try:
            records = self._assets(scene)
            chosen = chosen_assets(scene, request.assets)
            refused = self._refusal(scene, records, chosen)
            if refused is not None:
                return refused
            for name in chosen:
                if records[name].status == INACTIVE:
                    refused = self._activate(scene, records[name])
                    if refused is not None:
                        return refused
            records = self._assets(scene) if any(records[n].status == INACTIVE for n in chosen) else records
        except _RateLimited as limited:
            return OrderStatus(INTENT, reason="Planet is rate-limiting activations", retry_after=limited.retry_after)
        return self._status(scene, records, chosen, placing=True)

    def find_order(self, request: OrderRequest) -> OrderStatus | None:
        """Planet keeps no labels: an order exists when one of its assets is no longer inactive."""
        self._require_key()
        scene = request.scene
        records = self._read_assets(scene)
        chosen = chosen_assets(scene, request.assets)
        if all(records.get(n) is not None and records[n].status == INACTIVE for n in chosen):
            return None
        return self._status(scene, records, chosen, placing=True)

    def poll_order(self, request: OrderRequest, ref: OrderRef) -> OrderStatus:
        self._require_key()
        scene = request.scene
        return self._status(scene, self._read_assets(scene), chosen_assets(scene, request.assets), placing=False)

    def cancel_order(self, request: OrderRequest, ref: OrderRef) -> None:
        raise InputError("planet cannot cancel an activation: it expires on Planet's side by itself")

    def order_descriptors(self, request: OrderRequest, ref: OrderRef | None) -> list[DownloadDescriptor]:
        return self._descriptors(request.scene, request.assets)

    # -- internals ----------------------------------------------------------------------------
    def _require_key(self, *, downloads: bool = True) -> None:
        if downloads and self._quota is not None and self.clock.monotonic() < self._quota_until:
            raise self._quota
        if not self.has_key:
            raise AuthError(self.missing_credentials, hint=f"Planet needs an API key for every request: {KEY_HELP}")

    def _assets_url(self, scene: Scene) -> str:
        return f"{self.base_url}/item-types/{item_type_of(scene.raw)}/items/{scene.scene_id}/assets"

    def _read_assets(self, scene: Scene) -> dict[str, AssetRecord]:
        """The asset listing; request-rate 429s are waited out here (a lookup or poll has no
        state to fall back to)."""
        for _ in range(MAX_RATE_RETRIES):
            try:
                return self._assets(scene)
            except _RateLimited as limited:
                log.info("planet: rate limited; retrying in %.1f s", limited.retry_after)
                self.clock.sleep(limited.retry_after)
        raise RetryExhausted(f"planet: still rate limited after {MAX_RATE_RETRIES} tries reading the assets of "
                             f"{scene.scene_id}", hint="try again later")  # fmt: skip

    def _assets(self, scene: Scene) -> dict[str, AssetRecord]:
        answer = self._call("GET", self._assets_url(scene), expect=(200, 404))
        if answer.status == 404:
            raise ProviderResponseError(f"planet: item {scene.scene_id} ({item_type_of(scene.raw)}) is no longer "
                                        "in the catalogue")  # fmt: skip
        return asset_records(answer.body)

    def _call(self, method: str, url: str, *, expect: tuple[int, ...]) -> JsonAnswer:
        """One Data API request; a 429 is a quota error (terminal) or ``_RateLimited``."""
        answer = self.api.exchange(method, url, expect=(*expect, 429))
        if answer.status == 429:
            if is_quota(answer.body):
                self._quota = quota_error(answer.body)
                self._quota_until = self.clock.monotonic() + QUOTA_PAUSE
                raise self._quota
            wait = parse_retry_after(answer.headers.get("Retry-After"), now=self.clock.now(),
                                     cap=self.api.policy.retry_after_cap)  # fmt: skip
            raise _RateLimited(DEFAULT_RETRY_AFTER if wait is None else wait)
        return answer

    def _refusal(self, scene: Scene, records: Mapping[str, AssetRecord], chosen: Sequence[str]) -> OrderStatus | None:
        for name in chosen:
            record = records.get(name)
            if record is None:
                return OrderStatus(FAILED, reason=f"item {scene.scene_id} has no asset {name}")
            if not record.permitted:
                return OrderStatus(FAILED, reason=_no_permission(scene, name))
        return None

    def _activate(self, scene: Scene, record: AssetRecord) -> OrderStatus | None:
        if not record.activate_url:
            return OrderStatus(FAILED, reason=f"asset {record.asset_type} of item {scene.scene_id} has no activate link")
        self._budgets.pace(self._activation_budget, self._activation_rate)
        answer = self._call("POST", record.activate_url, expect=(200, 202, 204, 401, 403))
        if answer.status == 401:
            raise AuthError(f"planet refused the API key activating {record.asset_type} of {scene.scene_id}: "
                            f"{said(answer.body)}", hint=KEY_HELP)  # fmt: skip
        if answer.status == 403:
            return OrderStatus(FAILED, reason=_no_permission(scene, record.asset_type) + f" ({said(answer.body)})")
        log.info("planet: activating %s of %s", record.asset_type, scene.scene_id)
        return None

    def _status(self, scene: Scene, records: Mapping[str, AssetRecord], chosen: Sequence[str], *,
                placing: bool) -> OrderStatus:  # fmt: skip
        """The order's state from its assets' states. An asset found inactive while polling
        lost its activation (Planet deactivates assets after a while): the order expired."""
        remote = f"{item_type_of(scene.raw)}/{scene.scene_id}"
        refused = self._refusal(scene, records, chosen)
        if refused is not None:
            return refused
        states = {name: records[name].status for name in chosen}
        if all(s == ACTIVE for s in states.values()):
            return OrderStatus(READY, remote_id=remote)
        inactive = [n for n, s in states.items() if s == INACTIVE]
        if inactive and not placing:
            return OrderStatus(EXPIRED, remote_id=remote, reason=f"asset(s) {', '.join(inactive)} are inactive again")
        waiting = ", ".join(f"{n} {s}" for n, s in states.items() if s != ACTIVE)
        return OrderStatus(PENDING, remote_id=remote, reason=waiting)

    def _descriptors(self, scene: Scene, assets: Sequence[str] | None) -> list[DownloadDescriptor]:
        self._require_key()
        chosen = chosen_assets(scene, assets)
        records = self._read_assets(scene)
        refused = self._refusal(scene, records, chosen)
        if refused is not None:
            raise ProviderResponseError(f"planet: {refused.reason}", hint="it cannot be downloaded with this key")
        descriptors = []
        for name in chosen:
            record = records[name]
            if record.status != ACTIVE or not record.location:
                raise ProviderResponseError(
                    f"planet: asset {name} of item {scene.scene_id} is {record.status}, not active",
                    hint="activate it first: downloader.activate() until True, or download_all(activation_wait=...)",
                )
            descriptors.append(DownloadDescriptor(
                record.location, asset_filename(scene.scene_id, name), asset=name,
                checksums=(record.md5,) if record.md5 else (), refresh_url=self._refresher(scene, name),
            ))  # fmt: skip
        return descriptors

    def _refresher(self, scene: Scene, asset_type: str) -> Callable[[], str]:
        """For a refused (expired) download link: the asset read again, with a fresh location."""

        def fresh_location() -> str:
            record = self._read_assets(scene).get(asset_type)
            if record is None or record.status != ACTIVE or not record.location:
                state = record.status if record else "gone"
                raise ProviderResponseError(f"planet: asset {asset_type} of item {scene.scene_id} is {state} now",
                                            hint="run the download again: it is activated again")  # fmt: skip
            log.info("planet: the download link of %s %s expired; using a fresh one", scene.scene_id, asset_type)
            return record.location

        return fresh_location


def _no_permission(scene: Scene, asset_type: str) -> str:
    return (f"the API key may not download asset {asset_type} of item {scene.scene_id} "
            "(no download permission; not retried)")  # fmt: skip
