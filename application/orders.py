"""The order book: places, finds, polls and closes orders (domain/orders.py) through an
``OrderingSource``, with the catalog as its only memory, so every run, every process and the
daemon share the same orders.

Crash safety: the ``intent`` row is committed before the provider is asked, with this process
as its owner. A later check that finds an intent whose owner is gone (or whose claim ran out)
asks the provider for an order under the intent's label (``find_order``) before placing one, so
a product is never ordered twice. Every catalog write is a compare-and-set on the order's
version: when two processes race, one wins and the other re-reads.

A poll is claimed like a download job: the process takes the order's poll lease (owner,
expiry) in one claim that succeeds only when the order's due time (``next_poll_at``) has come
and no other live lease holds it (on PostgreSQL ``FOR UPDATE SKIP LOCKED``), so however many
daemons follow an order, the provider is asked once per due time; a poller that dies holding
the lease is replaced when its lease runs out (at once when it was a process of this host).
``poll_every`` spaces the due times (0: due again as soon as a poll ends; the daemon spaces them).

Requests to a provider's order API are spaced by its declared ``order_rate`` per account
(``budgets``, the ``ProviderBudgets`` port: shared by every process on a PostgreSQL catalog,
given with ``account_of(provider)`` by the composition root); a quota refusal
stops new placements at that provider until one of our orders is downloaded (or a while passes).

Nothing the archive has is ordered again, whichever provider brought it: a verified
whole-product archive stands in for every selection, and an asset selection whose every asset
has a verified file of the same product on disk (the catalog records each file's asset) needs no
order. When only some of the assets are there, the order asks for the others alone and the
download reuses the rest (USGS: one ``download-request`` entry per band file).

An order is downloaded only once every file of its selection is verified in the archive. A
daemon on a PostgreSQL catalog queues the files instead of fetching them, so its order stays
ready until a queue worker (of any daemon) verifies the last one: :meth:`OrderBook.settle`
judges that from the catalog alone (the order's recorded selection and the scene's file rows
with their jobs), and ``check`` applies the same rule, so a later pass never fetches or polls
again what is already there. A ready order one of whose queued files failed is polled before
it is fetched again (its download link may have run out: an expired order is placed again).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path, PurePath
from typing import Callable, Sequence

from eoharvest.application.budgets import LocalBudgets
from eoharvest.application.download_plan import ARCHIVE_SUFFIXES, on_disk_as_recorded
from eoharvest.domain.budgets import ORDERS, BudgetKey
from eoharvest.domain.catalog_query import AvailableFile, SceneFile
from eoharvest.domain.download_states import AVAILABLE
from eoharvest.domain.download_states import FAILED as FILE_FAILED
from eoharvest.domain.errors import InputError, ProviderResponseError
from eoharvest.domain.models import Activation, DownloadDescriptor, Scene
from eoharvest.domain.orders import (
    DOWNLOADED,
    EXPIRED,
    FAILED,
    INTENT,
    NO_ORDER,
    PENDING,
    PLACE,
    POLLED_STATES,
    READY,
    REQUESTED,
    WAIT,
    WAITING,
    Order,
    OrderFilter,
    OrderKey,
    OrderRequest,
    OrderStatus,
    apply_status,
    assets_of,
    check_expiry,
    claim,
    downloaded,
    new_intent,
    poll_done,
    reorder,
    selection_of,
)
from eoharvest.domain.ports import CatalogRepository, Clock, OrderingSource, ProviderBudgets

log = logging.getLogger("eoharvest.orders")

#: How long a process may take to place one order before others may reconcile its intent.
DEFAULT_CLAIM_SECONDS = 300.0
#: After a quota refusal without Retry-After, how long before placing at that provider again.
QUOTA_BACKOFF = 60.0
#: How long a poller may take to ask the provider before another process may poll instead.
POLL_LEASE_SECONDS = 60.0
#: A ready order polled longer ago than this is polled again before its files are fetched.
READY_RECHECK = timedelta(minutes=10)


#: What a run would do with a product (``harvest --dry-run``).
DIRECT = "download"
ORDER = "order"
FOLLOW = "follow"
NOTE_WAITING = "wait"
HAVE = "have"
NOT_ORDERED = "not ordered"
REFUSED = "failed"


@dataclass(frozen=True)
class OrderPreview:
    """``action``: ``download`` (no order needed), ``order`` (a new order would be placed),
    ``follow`` (an existing order would be polled or downloaded; ``state`` says which),
    ``wait`` (the provider cannot order it: noted and re-checked), ``have`` (in the archive),
    ``not ordered`` (needs an order, but placing orders is off), ``failed`` (its order failed;
    it is not ordered again until the order is cancelled)."""

    scene: Scene
    action: str
    state: str | None = None


@dataclass(frozen=True)
class CancelOutcome:
    """What ``cancel`` did: the local row is gone; ``remote`` says what happened at the provider."""

    order: Order
    remote: str


class ProviderPace:
    """Spaces order API calls per provider account to the provider's declared rate (requests
    per second), through the ``ProviderBudgets`` port: in this process by default, across
    every process of a PostgreSQL catalog when the composition root gives its shared budgets.
    ``account_of(provider)`` names the account (domain/budgets.py ``account_digest``)."""

    def __init__(
        self, clock: Clock, budgets: ProviderBudgets | None = None, account_of: Callable[[str], str] | None = None
    ) -> None:
        self._budgets: ProviderBudgets = budgets if budgets is not None else LocalBudgets(clock)
        self._account_of = account_of or _no_account

    def wait(self, provider: str, rate: float | None) -> None:
        if not rate or rate <= 0:
            return
        self._budgets.pace(BudgetKey(provider, self._account_of(provider), ORDERS), rate)


def _no_account(provider: str) -> str:
    return ""


class OrderBook:
    """Orders of every provider, kept in the catalog (the ``Orders`` of downloaders).

    ``owner`` names this process in intent claims and poll leases; ``owner_alive(owner)`` says
    whether the process that claimed an intent or a poll still runs (a dead owner's intent is
    reconciled, and its poll taken over, at once; otherwise only after its claim of
    ``claim_seconds`` or its poll lease of ``poll_lease_seconds`` ran out). ``poll_every``: at
    least this many seconds between two polls of an order, by whichever processes. ``budgets`` and
    ``account_of`` pace order API calls per provider account (see :class:`ProviderPace`).
    """

    def __init__(
        self,
        catalog: Callable[[], CatalogRepository],
        clock: Clock,
        *,
        owner: str,
        owner_alive: Callable[[str], bool] = lambda owner: True,
        claim_seconds: float = DEFAULT_CLAIM_SECONDS,
        budgets: ProviderBudgets | None = None,
        account_of: Callable[[str], str] | None = None,
        poll_every: float = 0.0,
        poll_lease_seconds: float = POLL_LEASE_SECONDS,
    ) -> None:
        self._catalog = catalog
        #: seconds from one poll of an order to its next due time (any process's poll)
        self.poll_every = poll_every
        self._poll_lease = timedelta(seconds=poll_lease_seconds)
        self._clock = clock
        self.owner = owner
        self._owner_alive = owner_alive
        self._claim = timedelta(seconds=claim_seconds)
        self.pace = ProviderPace(clock, budgets, account_of)
        self._quota_until: dict[str, float] = {}
        self._locks: dict[OrderKey, threading.Lock] = {}
        self._guard = threading.Lock()
        #: selection asked for -> the narrower one ordered because the archive had the rest
        self._narrowed: dict[OrderKey, OrderKey] = {}

    # -- what downloaders ask ------------------------------------------------------------------
    def check(
        self, source: OrderingSource, scene: Scene, assets: Sequence[str] | None, *, place: bool = True,
        overwrite: bool = False,
    ) -> Activation:  # fmt: skip
        """Place or find the scene's order, or poll it; whether the product is ready now."""
        key = self._resolve(source, scene, assets, overwrite=overwrite).key
        with self._lock_for(key):
            return self._check(source, scene, key, place=place, overwrite=overwrite)

    def files(
        self, source: OrderingSource, scene: Scene, assets: Sequence[str] | None, *, overwrite: bool = False
    ) -> Sequence[DownloadDescriptor] | None:
        """The files of the scene's ready order; None when no order was needed (the source's own
        descriptors apply). Refuses an order that is not ready. When the order asks for some of
        the assets only (the archive has the others), the others are stand-ins for the files
        the archive has."""
        selection = self._resolve(source, scene, assets, overwrite=overwrite)
        key = selection.key
        order = self.catalog.get_order(key)
        if order is None or order.state == DOWNLOADED:
            if self._need(source, scene, key) == NO_ORDER:
                return None
            archived = [] if overwrite else self._archived(key, order)
            if archived:
                # Stand-ins for files the archive has: the download plan reuses them by name,
                # so nothing is fetched and no new order is needed.
                return [_stand_in(f) for f in archived]
            raise InputError(
                f"{scene.scene_id} must be ordered at {source.name} before it can be downloaded",
                hint="call activate() until it returns True, or use download_all(activation_wait=...)",
            )
        if order.state != READY:
            raise ProviderResponseError(
                f"{scene.scene_id}: its order {order.label} is {order.state}, not ready"
                + (f" ({order.last_error})" if order.last_error else ""),
                hint="call activate() until it returns True, or use download_all(activation_wait=...)",
            )
        self._call(source)
        ordered = list(source.order_descriptors(self._request(scene, order), order.ref))
        return ordered + [_stand_in(f) for f in selection.reused]

    def downloaded(self, source: OrderingSource, scene: Scene, assets: Sequence[str] | None) -> None:
        """The order's files are verified in the archive: the order is done."""
        key = self._key(source, scene, assets)
        with self._guard:
            narrowed = self._narrowed.pop(key, None)  # what files() ordered, when it was fewer assets
        for done in (key, narrowed) if narrowed is not None else (key,):
            with self._lock_for(done):
                order = self.catalog.get_order(done)
                if order is not None and order.state == READY:
                    self.catalog.update_order(downloaded(order, self._clock.now()))
        self._quota_until.pop(source.name, None)  # an open order closed: room for another

    def settle(self, provider: str, product_key: str) -> list[Order]:
        """The ready orders of ``product_key`` at ``provider`` whose every file is now verified
        in the archive become downloaded (a queue worker just verified one of its files); the
        orders this changed."""
        done: list[Order] = []
        criteria = OrderFilter(providers=(provider,), states=(READY,), product_keys=(product_key,))
        for order in self.catalog.find_orders(criteria):
            with self._lock_for(order.key):
                current = self.catalog.get_order(order.key)
                if current is None or current.state != READY:
                    continue
                stored = self._settle(current, self._files_of(current))
            if stored.state == DOWNLOADED:
                done.append(stored)
        return done

    def ready_descriptors(self, source: OrderingSource, scene: Scene) -> list[DownloadDescriptor]:
        """The files of the scene's ready (or downloaded) orders at ``source``, asked of the
        provider again (a queue worker that has only a masked link, application/relink.py)."""
        found: list[DownloadDescriptor] = []
        product = scene.product_key or scene.scene_id
        criteria = OrderFilter(providers=(source.name,), states=(READY, DOWNLOADED), product_keys=(product,))
        for order in self.catalog.find_orders(criteria):
            self._call(source)
            found.extend(source.order_descriptors(self._request(scene, order), order.ref))
        return found

    def preview(
        self, source: OrderingSource | None, scene: Scene, assets: Sequence[str] | None, *, place: bool = True,
        overwrite: bool = False,
    ) -> OrderPreview:  # fmt: skip
        """What a run would do with ``scene``, without asking the provider or writing anything."""
        if source is None or not source.capabilities.ordering:
            return OrderPreview(scene, DIRECT)
        key = self._resolve(source, scene, assets, overwrite=overwrite, remember=False).key
        order = self.catalog.get_order(key)
        if order is not None and order.state != DOWNLOADED:
            if order.state == FAILED:
                return OrderPreview(scene, REFUSED, order.state)
            if order.state == EXPIRED or (order.state == INTENT and order.owner is None):
                return OrderPreview(scene, ORDER if place else NOT_ORDERED, order.state)
            return OrderPreview(scene, FOLLOW, order.state)
        need = self._need(source, scene, key)
        if need == NO_ORDER:
            return OrderPreview(scene, DIRECT)
        if not overwrite and self._have(scene, key, order):
            return OrderPreview(scene, HAVE)
        if need == WAIT:
            return OrderPreview(scene, NOTE_WAITING)
        return OrderPreview(scene, ORDER if place else NOT_ORDERED)

    # -- orders list / cancel ------------------------------------------------------------------
    def cancel(self, order: Order, source: OrderingSource | None) -> CancelOutcome:
        """Remove the order locally and, where the provider supports it, remotely."""
        now = self._clock.now()
        if order.claimed_by_other(self.owner, now) and order.owner and self._owner_alive(order.owner):
            raise InputError(
                f"order {order.id} is being placed right now by {order.owner}",
                hint="try again in a moment, when the placement is recorded",
            )
        remote = "nothing was placed at the provider"
        placed = order.remote_id is not None or order.state in (REQUESTED, PENDING, READY)
        abandoned = order.state == INTENT and order.owner is not None  # the provider may have it
        if (placed or abandoned) and order.state not in (DOWNLOADED, FAILED, EXPIRED):
            if source is None or not source.capabilities.order_cancel:
                remote = (f"{order.key.provider} cannot cancel orders: the provider keeps it until it "
                          "expires on its own")  # fmt: skip
            else:
                remote = self._cancel_remote(source, order, abandoned)
        if not self.catalog.delete_order(order):
            raise InputError(f"order {order.id} changed while it was being cancelled", hint="look at it again and retry")
        return CancelOutcome(order, remote)

    def _cancel_remote(self, source: OrderingSource, order: Order, abandoned: bool) -> str:
        scene = self.catalog.get_scene(order.key.provider, order.scene_id)
        if scene is None:
            raise InputError(f"the scene {order.scene_id} of order {order.id} is no longer in the catalog")
        request = self._request(scene, order)
        ref = order.ref
        if abandoned:  # a run died while placing it: cancel what the provider has under the label
            self._call(source)
            found = source.find_order(request)
            if found is None:
                return "nothing was placed at the provider"
            ref = dataclasses.replace(ref, remote_id=found.remote_id or ref.remote_id)
        self._call(source)
        source.cancel_order(request, ref)
        return f"removed at {order.key.provider}"

    # -- internals --------------------------------------------------------------------------------
    @property
    def catalog(self) -> CatalogRepository:
        return self._catalog()

    def _check(self, source: OrderingSource, scene: Scene, key: OrderKey, *, place: bool, overwrite: bool) -> Activation:
        catalog = self.catalog
        now = self._clock.now()
        order = catalog.get_order(key)
        files: list[SceneFile] = []
        if order is not None and order.state == READY and not overwrite:
            files = self._files_of(order)
            order = self._settle(order, files)  # all it delivers is in the archive: nothing to poll or fetch
        if order is None or order.state == DOWNLOADED:
            need = self._need(source, scene, key)
            if need == NO_ORDER:
                return Activation(True)
            if not overwrite and self._have(scene, key, order):
                return Activation(True)  # the archive has it: the download step skips it
            if not place and need != WAIT:  # a product waiting to come online is only noted
                return self._not_placed(source, scene)
            if order is None:
                if catalog.get_scene(scene.provider, scene.scene_id) is None:
                    catalog.upsert_scenes([scene])  # so later runs and the daemon can follow the order
                created = catalog.create_order(new_intent(
                    key, scene.scene_id, now=now, owner=self.owner, claimed_until=now + self._claim, size=scene.size))  # fmt: skip
                if created is None:  # another process created it a moment ago
                    return self._report(source, catalog.get_order(key))
                return self._place(source, scene, created, reconcile=False)
            return self._reorder(source, scene, order, now)
        if order.state in (REQUESTED, PENDING, READY):
            expired = check_expiry(order, now)
            if expired is not order:
                order = catalog.update_order(expired) or catalog.get_order(key)
                if order is None:
                    return self._report(source, None)
        if order.state == EXPIRED:
            return self._reorder(source, scene, order, now) if place else self._not_placed(source, scene)
        if order.state == INTENT:
            return self._resume_intent(source, scene, order, now, place=place)
        # A ready order is asked again before its files are fetched when it was last seen long
        # ago or a queued file of it failed (its download link may have run out).
        recheck = order.state == READY and (self._stale(order, now) or _failed_in_queue(files))
        if order.state in POLLED_STATES or recheck:
            return self._poll(source, scene, order)
        return self._report(source, order)

    def _stale(self, order: Order, now: datetime) -> bool:
        """A ready order last seen by an earlier run is asked again before its files are fetched
        (its download link may have run out since)."""
        seen = order.polled_at or order.requested_at
        return seen is None or now - seen > READY_RECHECK

    def _resume_intent(self, source: OrderingSource, scene: Scene, order: Order, now: datetime, *, place: bool) -> Activation:
        """An intent in the catalog: being placed by a live process, abandoned mid-call (find
        it at the provider first), or not accepted earlier (place it again)."""
        if order.owner is not None and order.owner != self.owner and self._owner_alive(order.owner) \
                and order.claimed_until is not None and order.claimed_until > now:
            return Activation(False, f"order {order.label} is being placed by {order.owner}",
                              order_state=INTENT)  # fmt: skip
        abandoned = order.owner is not None
        if not abandoned and not place:
            return self._not_placed(source, scene)
        if not abandoned and self._quota_blocked(source):
            return self._quota_wait(source, order)
        claimed = self.catalog.update_order(claim(order, owner=self.owner, claimed_until=now + self._claim, now=now))
        if claimed is None:
            return self._report(source, self.catalog.get_order(order.key))
        return self._place(source, scene, claimed, reconcile=abandoned)

    def _reorder(self, source: OrderingSource, scene: Scene, order: Order, now: datetime) -> Activation:
        again = reorder(order, owner=self.owner, claimed_until=now + self._claim, now=now)
        stored = self.catalog.update_order(again)
        if stored is None:
            return self._report(source, self.catalog.get_order(order.key))
        if stored.state == FAILED:
            log.warning("order %s for %s failed: %s", stored.label, stored.key.describe(), stored.last_error)
            return self._report(source, stored)
        log.info("order for %s is placed again (%s)", stored.key.describe(), order.state)
        return self._place(source, scene, stored, reconcile=False)

    def _place(self, source: OrderingSource, scene: Scene, order: Order, *, reconcile: bool) -> Activation:
        """Ask the provider for ``order`` (an intent this process has claimed) and record the answer."""
        request = self._request(scene, order)
        status: OrderStatus | None = None
        if reconcile:
            self._call(source)
            status = source.find_order(request)
            if status is not None:
                log.info("order %s for %s was placed by an earlier run: %s", order.label, order.key.describe(), status.state)
        if status is None:
            if self._quota_blocked(source):
                status = OrderStatus(INTENT, reason=self._quota_reason(source), quota=True)
            else:
                self._call(source)
                status = source.place_order(request)
        if status.quota:
            until = self._clock.monotonic() + (status.retry_after or QUOTA_BACKOFF)
            self._quota_until[source.name] = until
            status = dataclasses.replace(status, retry_after=None)  # a download may free room sooner
        now = self._clock.now()
        stored = self.catalog.update_order(poll_done(apply_status(order, status, now), due=self._due(now)))
        if stored is None:
            log.warning("order %s for %s changed in another process while it was placed", order.label,
                        order.key.describe())  # fmt: skip
            return self._report(source, self.catalog.get_order(order.key))
        if status.state == FAILED:
            log.warning("order %s for %s refused: %s", order.label, order.key.describe(), status.reason)
        return self._report(source, stored, status.retry_after)

    def _poll(self, source: OrderingSource, scene: Scene, order: Order) -> Activation:
        # Claim the poll first (its lease, when due): of several processes (daemons on one
        # PostgreSQL catalog) that want to poll the order, one asks the provider per due time
        # and the others report what it stored.
        claimed = self._claim_poll(order)
        if claimed is None:
            return self._report(source, self.catalog.get_order(order.key))
        try:
            self._call(source)
            status = source.poll_order(self._request(scene, claimed), claimed.ref)
        except BaseException:
            # Nothing learnt: end the lease so that the next try (ours or another process's)
            # need not wait for it to run out; the due time stays.
            self.catalog.update_order(poll_done(claimed, due=claimed.next_poll_at or self._clock.now()))
            raise
        now = self._clock.now()
        stored = self.catalog.update_order(poll_done(apply_status(claimed, status, now), due=self._due(now)))
        if stored is None:
            return self._report(source, self.catalog.get_order(order.key))
        if stored.state == EXPIRED:
            log.info("order %s for %s expired: %s", stored.label, stored.key.describe(), stored.last_error)
            self._quota_until.pop(source.name, None)
            return self._reorder(source, scene, stored, now)
        if stored.state == FAILED:
            self._quota_until.pop(source.name, None)
        return self._report(source, stored, status.retry_after)

    def _files_of(self, order: Order) -> list[SceneFile]:
        """The files the catalog records for the order's scene at its provider that belong to
        its selection (every file for a whole product)."""
        files = self.catalog.scene_files(order.key.provider, order.scene_id)
        wanted = order.assets
        if wanted is None:
            return list(files)
        names = {a.casefold() for a in wanted}
        return [f for f in files if f.asset is not None and f.asset.casefold() in names]

    def _settle(self, order: Order, files: Sequence[SceneFile]) -> Order:
        """A ready order whose selection is entirely verified in the archive, with none of its
        files still queued, being fetched or paused, becomes downloaded. The order as stored
        (re-read when another process changed it meanwhile)."""
        if any(f.state not in (AVAILABLE, FILE_FAILED) for f in files):
            return order  # still on its way (or a download of it is running elsewhere)
        if not self._archived(order.key, None) and not (order.assets is None and _fetched_through_queue(files)):
            return order
        stored = self.catalog.update_order(downloaded(order, self._clock.now()))
        if stored is None:
            return self.catalog.get_order(order.key) or order
        log.info("order %s for %s: every file is in the archive; downloaded", order.label, order.key.describe())
        self._quota_until.pop(order.key.provider, None)  # an open order closed: room for another
        return stored

    def _claim_poll(self, order: Order) -> Order | None:
        """The order with this process's poll lease, or None when it is not due or another
        live process holds the lease (a lease of a dead process of this host is taken over)."""
        now = self._clock.now()
        until = now + self._poll_lease
        claimed = self.catalog.claim_order_poll(order, self.owner, now, until)
        if claimed is not None or order.poll_owner in (None, self.owner) or self._owner_alive(order.poll_owner):
            return claimed
        if order.next_poll_at is not None and order.next_poll_at > now:
            return None
        # The holder died mid-poll: its lease is void (a compare-and-set, so one taker wins).
        log.info("order %s: its poller %s is gone; polling it here", order.label, order.poll_owner)
        return self.catalog.update_order(dataclasses.replace(order, poll_owner=self.owner, poll_until=until))

    def _due(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.poll_every)

    def _report(self, source: OrderingSource, order: Order | None, retry_after: float | None = None) -> Activation:
        """What the order's state means for a downloader."""
        if order is None:
            return Activation(False, "the order was removed meanwhile (orders cancel?); checked again",
                              retry_after=0.0, order_state=INTENT)  # fmt: skip
        where = f"order {order.label} at {order.key.provider}"
        if order.state in (READY, DOWNLOADED):
            return Activation(True, order_state=order.state)
        if order.state == FAILED:
            return Activation(False, f"{where} failed: {order.last_error or 'no reason given'}", permanent=True,
                              order_state=FAILED)  # fmt: skip
        if order.state == WAITING:
            return Activation(False, order.last_error or "waiting for the provider", order_state=WAITING, defer=True)
        if order.state == INTENT:
            reason = f"not placed yet: {order.last_error}" if order.last_error else f"{where} is being placed"
            return Activation(False, reason, retry_after=retry_after, order_state=INTENT)
        return Activation(False, f"{where} is {order.state}", retry_after=retry_after, order_state=order.state)

    def _not_placed(self, source: OrderingSource, scene: Scene) -> Activation:
        return Activation(False, f"{scene.scene_id} must be ordered at {source.name}; no order placed "
                          "(placing orders is off: --no-order / order=False)", defer=True)  # fmt: skip

    def _quota_wait(self, source: OrderingSource, order: Order) -> Activation:
        # No retry_after: a download may free room long before the block runs out.
        return Activation(False, f"not placed yet: {self._quota_reason(source)}", order_state=order.state)

    def _quota_blocked(self, source: OrderingSource) -> bool:
        return self._quota_left(source) > 0

    def _quota_left(self, source: OrderingSource) -> float:
        return max(0.0, self._quota_until.get(source.name, 0.0) - self._clock.monotonic())

    @staticmethod
    def _quota_reason(source: OrderingSource) -> str:
        return f"the order quota at {source.name} is full; placed when one of our open orders finishes"

    def _need(self, source: OrderingSource, scene: Scene, key: OrderKey) -> str:
        need = source.order_need(scene, assets_of(key.selection))
        if need not in (NO_ORDER, PLACE, WAIT):
            raise ProviderResponseError(f"{source.name}: unknown order need {need!r} for {scene.scene_id}")
        return need

    def _have(self, scene: Scene, key: OrderKey, order: Order | None) -> bool:
        return bool(self._archived(key, order))

    def _archived(self, key: OrderKey, order: Order | None) -> list[AvailableFile]:
        """What the archive already has of what this order would deliver: a verified
        whole-product archive from any provider, a verified file of every asset asked for from
        any provider, or the files a finished order of this provider brought (only files still
        on disk count)."""
        present = [f for f in self.catalog.available_file_records(key.product_key) if os.path.exists(f.path)]
        whole = [f for f in present if f.name.lower().endswith(ARCHIVE_SUFFIXES)]
        if whole:
            return whole
        wanted = assets_of(key.selection)
        if wanted is not None:
            have = _by_asset(wanted, [f for f in present if on_disk_as_recorded(f)])
            if len(have) == len(wanted):
                return list(dict.fromkeys(have.values()))
        if order is not None and order.state == DOWNLOADED:
            return [f for f in present if f.provider == key.provider]
        return []

    def _resolve(self, source: OrderingSource, scene: Scene, assets: Sequence[str] | None, *, overwrite: bool,
                 remember: bool = True) -> _Selection:  # fmt: skip
        """The order key for ``assets``: the whole selection, unless no order of it is open and
        the archive has some of its assets (from any provider): then only the others, with the
        files that stand in for the rest. ``downloaded`` finds the narrowed order again through
        what is remembered here."""
        key = self._key(source, scene, assets)
        if remember:
            with self._guard:
                self._narrowed.pop(key, None)  # decided afresh each time
        wanted = assets_of(key.selection)
        if overwrite or wanted is None:
            return _Selection(key)
        order = self.catalog.get_order(key)
        if order is not None and order.state != DOWNLOADED:
            return _Selection(key)  # an order of the whole selection is followed as it was placed
        present = [f for f in self.catalog.available_file_records(key.product_key) if on_disk_as_recorded(f)]
        if any(f.name.lower().endswith(ARCHIVE_SUFFIXES) for f in present):
            return _Selection(key)  # the whole product is there: _archived says so
        have = _by_asset(wanted, present)
        missing = [a for a in wanted if a not in have]
        if not have or not missing:
            return _Selection(key)
        narrowed = dataclasses.replace(key, selection=selection_of(missing))
        if remember:
            with self._guard:
                self._narrowed[key] = narrowed
        log.info("%s: the archive has %s; ordering only %s", key.describe(), ", ".join(sorted(have)), ", ".join(missing))
        return _Selection(narrowed, tuple(dict.fromkeys(have.values())))

    def _call(self, source: OrderingSource) -> None:
        self.pace.wait(source.name, source.capabilities.order_rate)

    @staticmethod
    def _request(scene: Scene, order: Order) -> OrderRequest:
        return OrderRequest(scene, order.assets, order.label)

    @staticmethod
    def _key(source: OrderingSource, scene: Scene, assets: Sequence[str] | None) -> OrderKey:
        return OrderKey(source.name, scene.product_key or scene.scene_id, selection_of(assets))

    def _lock_for(self, key: OrderKey) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(key, threading.Lock())


@dataclass(frozen=True)
class _Selection:
    """The order key to use, and the archived files that stand in for the assets it leaves out."""

    key: OrderKey
    reused: tuple[AvailableFile, ...] = ()


def _fetched_through_queue(files: Sequence[SceneFile]) -> bool:
    """A whole product's files, all verified and on disk, at least one by a queue worker. The
    pass that queued them recorded every file of the order before queuing any, so none of
    the order's files can be missing from ``files``; files fetched in-process are recorded one
    at a time, so their rows alone never prove a product complete."""
    return bool(files) and any(f.job_state == AVAILABLE for f in files) and all(
        f.state == AVAILABLE and f.local_path is not None and os.path.exists(f.local_path) for f in files
    )


def _failed_in_queue(files: Sequence[SceneFile]) -> bool:
    """A file of the order whose queued download failed (its link may have run out)."""
    return any(f.job_state == FILE_FAILED and f.state != AVAILABLE for f in files)


def _by_asset(wanted: Sequence[str], present: Sequence[AvailableFile]) -> dict[str, AvailableFile]:
    """Each wanted asset that a verified file is recorded as (the oldest such file)."""
    found: dict[str, AvailableFile] = {}
    for asset in wanted:
        match = next((f for f in present if f.holds_asset(asset)), None)
        if match is not None:
            found[asset] = match
    return found


def _stand_in(f: AvailableFile) -> DownloadDescriptor:
    """A descriptor the download plan resolves to the archived file ``f`` by its name, so
    nothing is fetched for it."""
    return DownloadDescriptor(Path(f.path).as_uri(), PurePath(f.name).name, asset=f.asset)


__all__ = ["CancelOutcome", "OrderBook", "OrderPreview", "ProviderPace"]
