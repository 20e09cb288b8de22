"""Download jobs shared by several daemons, and the daemons themselves (pure data and rules).

A job is one file to fetch. A daemon's worker claims it with a lease (``owner``, ``attempt``,
``lease_until``); the lease's ``attempt`` number is the fencing token: completing or failing a
job names it, so a worker whose lease ran out and was claimed again (a higher attempt) can
change nothing. The catalog adapters enforce this with conditional updates and constraints.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from eoharvest.domain.models import Checksum

#: Backoff of a job whose attempt failed or whose lease expired: base * 2^(attempts-1), capped.
RETRY_BASE = timedelta(seconds=5)
RETRY_CAP = timedelta(minutes=30)
#: A job that failed this many attempts stays ``failed`` (the next pass that finds the file
#: missing queues it again).
MAX_ATTEMPTS = 8
#: A daemon whose heartbeat is older than this many heartbeat intervals is shown as stale.
STALE_AFTER_BEATS = 3


@dataclass(frozen=True)
class ClaimedJob:
    """A job leased to ``owner`` for its ``attempt``-th attempt, with what is needed to fetch it."""

    job_id: int
    file_id: int
    attempt: int
    owner: str
    provider: str
    scene_id: str
    product_key: str
    name: str
    href: str | None
    size: int | None
    checksum: Checksum | None
    #: which asset of its product the file is (a STAC asset key, a band), when recorded
    asset: str | None = None


@dataclass(frozen=True)
class DaemonRecord:
    """A daemon in the catalog's registry: ``owner`` is ``host:pid:start-time``."""

    owner: str
    host: str
    pid: int
    started_at: datetime
    heartbeat_at: datetime
    version: str
    #: how often it promised to beat: older heartbeats than a few of these make it stale
    heartbeat_seconds: float = 10.0
    stopped_at: datetime | None = None
    #: download jobs it holds a lease on now
    claimed_jobs: int = 0

    def heartbeat_age(self, now: datetime) -> float:
        return max(0.0, (now - self.heartbeat_at).total_seconds())

    def status(self, now: datetime) -> str:
        """``stopped`` (left cleanly), ``stale`` (no heartbeat for a few beats: crashed, hung or
        cut off; its leases expire and its jobs go back to the queue) or ``running``."""
        if self.stopped_at is not None:
            return "stopped"
        if self.heartbeat_age(now) > self.heartbeat_seconds * STALE_AFTER_BEATS:
            return "stale"
        return "running"


def retry_delay(attempts: int, base: timedelta = RETRY_BASE) -> timedelta:
    """How long a job waits before its next attempt after ``attempts`` attempts."""
    doubled: timedelta = base * (2 ** min(max(attempts - 1, 0), 20))
    return min(doubled, RETRY_CAP)


def daemon_owner(host: str, pid: int, started_at: datetime) -> str:
    """The registry name of a daemon process: unique across hosts, restarts and reused pids."""
    return f"{host}:{pid}:{started_at.strftime('%Y%m%dT%H%M%S.%fZ')}"


def owner_host_pid(owner: str) -> tuple[str, int | None]:
    """(host, pid) of a daemon owner name (pid None when it cannot be read)."""
    parts = owner.split(":")
    if len(parts) >= 3 and parts[-2].isdigit():
        return ":".join(parts[:-2]), int(parts[-2])
    return owner, None
