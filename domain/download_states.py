"""Download job and file states, and the legal moves between them.

Pure data: the catalog adapters enforce it, the in-memory fake mirrors it.
"""

from __future__ import annotations

from typing import Iterable

QUEUED = "queued"
FETCHING = "fetching"
VERIFYING = "verifying"
FINALIZING = "finalizing"
AVAILABLE = "available"
PAUSED = "paused"
FAILED = "failed"
#: A file nothing was asked for yet; never a job state.
NONE = "none"

#: Every state a download job can be in.
JOB_STATES: tuple[str, ...] = (QUEUED, FETCHING, VERIFYING, FINALIZING, AVAILABLE, PAUSED, FAILED)
#: Every state a file can be in: a job state, or "none".
FILE_STATES: tuple[str, ...] = (NONE, *JOB_STATES)
#: Most advanced first: a scene's state is the first of these that one of its files is in.
PROGRESS_ORDER: tuple[str, ...] = (AVAILABLE, FINALIZING, VERIFYING, FETCHING, QUEUED, PAUSED, FAILED)
#: States in which a job holds no lease.
UNLEASED: frozenset[str] = frozenset({QUEUED, AVAILABLE, FAILED, PAUSED})
#: States that record an error class and message.
WITH_ERROR: frozenset[str] = frozenset({FAILED, PAUSED})

#: state -> states it may move to. "queued" again is how leases expire and files get re-fetched.
TRANSITIONS: dict[str, frozenset[str]] = {
    QUEUED: frozenset({FETCHING, PAUSED, FAILED}),
    FETCHING: frozenset({FETCHING, VERIFYING, PAUSED, FAILED, QUEUED}),
    VERIFYING: frozenset({FINALIZING, FETCHING, FAILED, QUEUED}),
    FINALIZING: frozenset({AVAILABLE, FAILED, QUEUED}),
    PAUSED: frozenset({QUEUED, FAILED}),
    FAILED: frozenset({QUEUED}),
    AVAILABLE: frozenset({QUEUED}),
}


def can_move(current: str, target: str) -> bool:
    """Whether a job in ``current`` may move to ``target``."""
    return target in TRANSITIONS.get(current, frozenset())


def next_states(current: str) -> tuple[str, ...]:
    """The states a job in ``current`` may move to, sorted (for messages)."""
    return tuple(sorted(TRANSITIONS.get(current, frozenset())))


def scene_state(file_states: Iterable[str]) -> str:
    """A scene's download state from its files': the most advanced one wins, else "none"."""
    present = set(file_states)
    for state in PROGRESS_ORDER:
        if state in present:
            return state
    return NONE
