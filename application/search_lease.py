"""One pass of a saved search at a time, across processes: the pass holds a lease in the catalog.

A pass takes the search's lease (``CatalogRepository.take_search_lease``) before it searches and
gives it back when it ends. While it runs, a heartbeat renews the lease every ``renew_every``
seconds; a holder that dies stops renewing and its lease expires after ``seconds`` (at once when
the ``LeaseHolder`` can tell the holder is gone: a local process that no longer exists). A pass
that finds its lease taken by someone else (it was renewed too late) cancels itself, so two
passes of one search never overlap. The same lease serves several daemons on one PostGIS catalog.
"""

from __future__ import annotations

import logging
import threading
import uuid
from typing import Any

from eoharvest.domain.ports import CatalogRepository, LeaseHolder

log = logging.getLogger("eoharvest.sync")

#: How long a lease lasts without renewal, and how often the heartbeat renews it.
LEASE_SECONDS = 120.0
RENEW_EVERY = 30.0


class AnonymousHolder:
    """A ``LeaseHolder`` that knows nothing about other holders (their leases just expire)."""

    def __init__(self) -> None:
        self.name = f"pass-{uuid.uuid4().hex[:12]}"

    def is_gone(self, holder: str) -> bool:
        return False


class PassLease:
    """``if lease.try_take(): with lease: ...``: the heartbeat runs inside the ``with`` block, the
    lease is released when it ends, and ``lost`` turns true if another holder took it meanwhile."""

    def __init__(
        self,
        catalog: CatalogRepository,
        search: str,
        holder: LeaseHolder,
        *,
        seconds: float = LEASE_SECONDS,
        renew_every: float = RENEW_EVERY,
    ) -> None:
        self.catalog = catalog
        self.search = search
        self.holder = holder
        self.seconds = seconds
        self.renew_every = renew_every
        self._lost = threading.Event()
        self._done = threading.Event()
        self._heartbeat: threading.Thread | None = None

    @property
    def lost(self) -> bool:
        return self._lost.is_set()

    def try_take(self) -> bool:
        """Take the lease if it is free, expired, ours, or its holder is known to be gone."""
        if self.catalog.take_search_lease(self.search, self.holder.name, self.seconds):
            return True
        current = self.catalog.search_lease(self.search)
        if current is None or current.owner == self.holder.name or not self.holder.is_gone(current.owner):
            return False
        log.warning("pass %s: taking over the lease of %s, which no longer runs", self.search, current.owner)
        return self.catalog.take_search_lease(self.search, self.holder.name, self.seconds, replacing=current.owner)

    def describe_holder(self) -> str:
        """Who holds the lease now, for messages."""
        current = self.catalog.search_lease(self.search)
        if current is None:
            return "nobody"
        return f"{current.owner} (lease until {current.expires_at.isoformat(timespec='seconds')})"

    def __enter__(self) -> PassLease:
        self._heartbeat = threading.Thread(target=self._renew, name=f"eoharvest-lease-{self.search}", daemon=True)
        self._heartbeat.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._done.set()
        if self._heartbeat is not None:
            self._heartbeat.join()
        if not self.lost:
            try:
                self.catalog.release_search_lease(self.search, self.holder.name)
            except Exception as error:  # noqa: BLE001 - the lease then simply expires
                log.warning("pass %s: could not release its lease (%s); it expires by itself", self.search, error)

    def _renew(self) -> None:
        while not self._done.wait(self.renew_every):
            try:
                if not self.catalog.take_search_lease(self.search, self.holder.name, self.seconds):
                    log.error("pass %s lost its lease to %s; stopping it", self.search, self.describe_holder())
                    self._lost.set()
                    return
            except Exception as error:  # noqa: BLE001 - a busy catalog: try again next beat
                log.warning("pass %s: renewing its lease failed (%s); retrying", self.search, error)
