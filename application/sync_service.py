"""Runs saved-search passes with failure handling: per-search exponential backoff, per-provider
backoff (an outage does not hammer the provider), and a pause on permanent errors.

A permanent error (:func:`is_permanent`: bad credentials, a collection or option the provider
no longer accepts) pauses the search itself, with its reason stored in its state (shown by
`daemon status`), until ``eoharvest watch enable`` (:meth:`SyncService.enable`) or ``watch run``;
retrying it on a growing backoff would only repeat the error. An authentication error also
pauses the provider's other searches in this process.

The daemon's scheduler calls :meth:`SyncService.run_scheduled` on every tick of a search's
interval; the tick is skipped while the search is disabled or paused, or it or its provider is
backing off. ``eoharvest watch run`` calls :meth:`SyncService.run_now`, which ignores backoff
and lifts a pause.
Every pass holds its search's lease (:mod:`eoharvest.application.search_lease`), so one pass of
a search runs at a time across processes: a tick finding another pass running is skipped, and
``watch run`` waits for that pass to end before it runs its own.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable

from eoharvest.application.search_lease import LEASE_SECONDS, RENEW_EVERY, AnonymousHolder, PassLease
from eoharvest.application.sync import (
    PassResult,
    SearchOpener,
    SyncOptions,
    WatermarkKind,
    acquisition_only,
    load_saved_searches,
    run_pass,
)
from eoharvest.domain.errors import AuthError, CatalogError, DownloadCancelled, InputError
from eoharvest.domain.models import Scene
from eoharvest.domain.ports import CatalogRepository, Clock, LeaseHolder
from eoharvest.domain.watch import DEFAULT_BACKOFF_CAP, SavedSearch, backoff_delay

log = logging.getLogger("eoharvest.sync")

#: How often a waiting `watch run` looks whether the other pass has ended.
LEASE_POLL_SECONDS = 1.0
PROVIDER_BACKOFF_BASE = timedelta(minutes=1)
PROVIDER_BACKOFF_CAP = timedelta(hours=1)


def is_permanent(error: BaseException) -> bool:
    """Errors that the same pass would meet again, whatever the wait: the credentials are
    refused, or the provider refuses the search itself (a removed collection, an option it no
    longer accepts: an ``InputError``). Outages, timeouts and bad answers are transient."""
    return isinstance(error, (AuthError, InputError))


@dataclass
class ProviderGate:
    """In-memory health of each provider: consecutive failures, blocked-until, auth pause.

    Lives as long as the daemon process; a restart forgets it (and so resumes paused providers).
    """

    base: timedelta = PROVIDER_BACKOFF_BASE
    cap: timedelta = PROVIDER_BACKOFF_CAP
    failures: dict[str, int] = field(default_factory=dict)
    blocked_until: dict[str, datetime] = field(default_factory=dict)
    paused: dict[str, str] = field(default_factory=dict)
    #: the saved search whose pass hit the auth error, per paused provider
    paused_by: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def refusal(self, provider: str, now: datetime) -> str | None:
        """Why a pass for ``provider`` must not start now, or None."""
        with self._lock:
            if provider in self.paused:
                return f"paused: {self.paused[provider]}"
            until = self.blocked_until.get(provider)
            if until is not None and now < until:
                return f"provider {provider} is backing off until {until.isoformat()}"
        return None

    def succeeded(self, provider: str) -> None:
        with self._lock:
            self.failures.pop(provider, None)
            self.blocked_until.pop(provider, None)

    def failed(self, provider: str, now: datetime) -> datetime:
        with self._lock:
            count = self.failures[provider] = self.failures.get(provider, 0) + 1
            delay: timedelta = min(self.base * 2 ** min(count - 1, 20), self.cap)
            self.blocked_until[provider] = now + delay
            return now + delay

    def pause(self, provider: str, reason: str, search: str = "") -> None:
        with self._lock:
            self.paused[provider] = reason
            self.paused_by[provider] = search

    def resume(self, provider: str) -> None:
        with self._lock:
            self.paused.pop(provider, None)
            self.paused_by.pop(provider, None)

    def pausing_search(self, provider: str) -> str | None:
        with self._lock:
            return self.paused_by.get(provider) if provider in self.paused else None


@dataclass(frozen=True)
class Outcome:
    """``status``: ok, failed, paused, skipped or cancelled."""

    name: str
    status: str
    detail: str = ""
    result: PassResult | None = None
    #: what failed or paused the pass (its exit code is the CLI's)
    error: BaseException | None = None


class SyncService:
    """Pass runner over the catalog port; one instance per process (CLI command or daemon)."""

    def __init__(
        self,
        catalog: CatalogRepository,
        open_search: SearchOpener,
        *,
        clock: Clock,
        options: SyncOptions,
        gate: ProviderGate | None = None,
        backoff_cap: timedelta = DEFAULT_BACKOFF_CAP,
        holder: LeaseHolder | None = None,
        lease_seconds: float = LEASE_SECONDS,
        renew_every: float = RENEW_EVERY,
        bind: Callable[[Scene], Scene] | None = None,
        watermark_kind: WatermarkKind = acquisition_only,
        shared_schedule: bool = False,
    ) -> None:
        self.catalog = catalog
        #: several daemons schedule the same searches (a PostgreSQL catalog): a tick runs the
        #: pass only if no other daemon ran it for this due time (see :meth:`_already_ran`)
        self.shared_schedule = shared_schedule
        self.open_search = open_search
        #: gives scenes read from the catalog their downloader, so passes follow open orders
        self.bind = bind
        #: which time each search's watermark follows (from its provider's capabilities)
        self.watermark_kind = watermark_kind
        self.clock = clock
        self.options = options
        self.gate = gate or ProviderGate()
        self.backoff_cap = backoff_cap
        self.holder: LeaseHolder = holder or AnonymousHolder()
        self.lease_seconds = lease_seconds
        self.renew_every = renew_every

    def search(self, name: str) -> SavedSearch:
        saved = load_saved_searches(self.catalog).get(name)
        if saved is None:
            raise InputError(f"no saved search named {name!r}", hint="see `eoharvest watch list`")
        return saved

    def run_now(self, name: str, cancel_requested: Callable[[], bool] = lambda: False) -> Outcome:
        """One pass now, whatever the schedule says (also of a disabled search); lifts a pause.
        While another process runs a pass of the same search, this waits for it and then runs."""
        saved = self.search(name)
        self.gate.resume(saved.definition.provider)
        return self._run(saved, cancel_requested, wait=True)

    def enable(self, name: str) -> SavedSearch:
        """`watch enable`: the search is scheduled again and its pause (permanent error) and
        backoff are cleared; its watermark stays."""
        saved = self.search(name)
        self.catalog.set_search_enabled(name, True)
        if saved.state != saved.state.resumed():
            self.catalog.put_search_state(name, saved.state.resumed())
        self.gate.resume(saved.definition.provider)
        return self.search(name)

    def run_scheduled(self, name: str, cancel_requested: Callable[[], bool] = lambda: False) -> Outcome:
        """A scheduler tick: run the pass unless the search or its provider must wait."""
        try:
            saved = self.search(name)
        except InputError:
            return Outcome(name, "skipped", "the saved search was removed")
        now = self.clock.now()
        if not saved.enabled:
            return Outcome(name, "skipped", "disabled (eoharvest watch enable resumes it)")
        if saved.state.paused:
            log.info("pass %s skipped: paused: %s", name, saved.state.paused)
            return Outcome(name, "skipped", f"paused: {saved.state.paused}")
        self._lift_pause_cleared_elsewhere(saved.definition.provider)
        refusal = self.gate.refusal(saved.definition.provider, now)
        retry_at = saved.state.next_run_at
        # Slack: a jittered tick may come a little before the backoff ends; it should still run.
        slack = saved.definition.every * 0.1 + timedelta(seconds=1)
        if refusal is None and saved.state.failures and retry_at and now + slack < retry_at:
            refusal = f"backing off after {saved.state.failures} failure(s) until {retry_at.isoformat()}"
        if refusal is not None:
            log.info("pass %s skipped: %s", name, refusal)
            return Outcome(name, "skipped", refusal)
        return self._run(saved, cancel_requested, scheduled=True)

    def _lift_pause_cleared_elsewhere(self, provider: str) -> None:
        """`eoharvest watch run` in another process clears the stored pause; follow it here."""
        origin = self.gate.pausing_search(provider)
        if origin is None:
            return
        state = self.catalog.search_states().get(origin)
        if state is None or state.paused is None:
            log.info("searches of %s resume: the pause was lifted (watch run or removal)", provider)
            self.gate.resume(provider)

    def _lease(self, saved: SavedSearch, cancel_requested: Callable[[], bool], wait: bool) -> PassLease | Outcome:
        """The search's lease, or why the pass does not run: another pass holds it (a
        scheduled tick skips; ``watch run`` waits for that pass to end), or a cancel."""
        lease = PassLease(self.catalog, saved.name, self.holder, seconds=self.lease_seconds,
                          renew_every=self.renew_every)  # fmt: skip
        if lease.try_take():
            return lease
        if not wait:
            detail = f"another pass of {saved.name} is running: {lease.describe_holder()}"
            log.info("pass %s skipped: %s", saved.name, detail)
            return Outcome(saved.name, "skipped", detail)
        log.warning("waiting for the pass of %s that runs in %s", saved.name, lease.describe_holder())
        while not lease.try_take():
            if cancel_requested():
                return Outcome(saved.name, "cancelled", "cancelled while waiting for another pass")
            self.clock.sleep(LEASE_POLL_SECONDS)
        return lease

    def _run(self, saved: SavedSearch, cancel_requested: Callable[[], bool], *, wait: bool = False,
             scheduled: bool = False) -> Outcome:  # fmt: skip
        lease = self._lease(saved, cancel_requested, wait)
        if isinstance(lease, Outcome):
            return lease
        with lease:
            if scheduled and self.shared_schedule:
                done = self._already_ran(saved.name)
                if done is not None:
                    log.info("pass %s skipped: %s", saved.name, done)
                    return Outcome(saved.name, "skipped", done)
            return self._run_leased(saved, lambda: cancel_requested() or lease.lost, lease)

    def _already_ran(self, name: str) -> str | None:
        """Why this tick's pass is not due any more: another daemon ran it (under the lease we
        now hold, so its state is committed) less than half an interval ago."""
        saved = self.search(name)
        last = saved.state.last_run_at
        if last is None or saved.state.failures:
            return None  # never ran, or backing off: run_scheduled decided on the backoff
        if self.clock.now() - last < saved.definition.every / 2:
            return f"another daemon ran it at {last.isoformat(timespec='seconds')}"
        return None

    def _run_leased(self, saved: SavedSearch, cancel_requested: Callable[[], bool], lease: PassLease) -> Outcome:
        provider = saved.definition.provider
        try:
            # The pass is searched again from the saved state: another pass may have moved it on.
            saved = self.search(saved.name)
            result = run_pass(saved, catalog=self.catalog, open_search=self.open_search, clock=self.clock,
                              options=self.options, cancel_requested=cancel_requested, bind=self.bind,
                              watermark_kind=self.watermark_kind)  # fmt: skip
        except DownloadCancelled:
            if lease.lost:
                return Outcome(saved.name, "cancelled", "another process took over this search's lease")
            log.warning("pass %s cancelled; its window is searched again next time", saved.name)
            return Outcome(saved.name, "cancelled")
        except Exception as exc:  # noqa: BLE001 - one search's failure must not stop the daemon
            if is_permanent(exc):
                return self._pause(saved, exc)
            return self._fail(saved, exc, provider_fault=not isinstance(exc, CatalogError))
        auth = next((e for e in result.failed_errors if isinstance(e, AuthError)), None)
        if auth is not None:
            return self._pause(saved, auth)
        if result.failed_errors:
            self.gate.failed(provider, self.clock.now())
            return Outcome(saved.name, "failed", result.state.last_error or "", result)
        self.gate.succeeded(provider)
        return Outcome(saved.name, "ok", "", result)

    def _fail(self, saved: SavedSearch, exc: Exception, *, provider_fault: bool) -> Outcome:
        now = self.clock.now()
        delay = backoff_delay(saved.definition.every, saved.state.failures + 1, self.backoff_cap)
        message = f"{type(exc).__name__}: {exc}"
        if provider_fault:
            self.gate.failed(saved.definition.provider, now)
        self.catalog.put_search_state(saved.name, saved.state.failed(now, message, now + delay))
        log.error("pass %s failed (%d in a row), next try in %s: %s", saved.name, saved.state.failures + 1, delay, message)
        return Outcome(saved.name, "failed", message, error=exc)

    def _pause(self, saved: SavedSearch, exc: Exception) -> Outcome:
        """Pause the search (stored: it survives a daemon restart) until `watch enable` or
        `watch run`; an authentication error pauses the provider's other searches here too."""
        provider = saved.definition.provider
        if isinstance(exc, AuthError):
            what = f"authentication with {provider} failed: {exc}; fix the credentials"
        else:
            what = f"{provider} refused the search: {exc}; fix it with `eoharvest watch edit {saved.name}`"
        reason = f"{what}, then run `eoharvest watch enable {saved.name}` (or `eoharvest watch run {saved.name}`)"
        if isinstance(exc, AuthError):
            self.gate.pause(provider, reason, saved.name)
        now = self.clock.now()
        self.catalog.put_search_state(saved.name, saved.state.failed(now, str(exc), now + saved.definition.every, paused=reason))
        log.error("pass %s paused: %s", saved.name, reason)
        return Outcome(saved.name, "paused", reason, error=exc)
