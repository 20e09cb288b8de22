"""Fault kinds, scripted fault specs and seeded fault plans."""
from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: Faults that cut or slow the body after honest headers.
BODY_FAULTS = frozenset({"reset", "truncate", "stall", "drip", "short_body"})
#: Faults that only make sense as the answer to a request carrying ``Range``.
RANGE_FAULTS = frozenset({"ignore_range", "bad_offset", "silent_offset"})
#: Faults that replace the whole answer.
ANSWER_FAULTS = frozenset(
    {"r429", "r503", "html200", "json_not_ready", "redirect", "auth_expire"}
)
KINDS = BODY_FAULTS | RANGE_FAULTS | ANSWER_FAULTS | {"etag_change"}

DEFAULTS: dict[str, dict[str, Any]] = {
    "stall": {"seconds": 30.0},
    "drip": {"interval": 0.05, "duration": 5.0},
    "r429": {"retry_after": 1, "form": "seconds"},
    "r503": {"retry_after": 1, "form": "seconds"},
    "redirect": {"status": 302},
}


@dataclass(frozen=True)
class Fault:
    """One fault to inject into one response.

    ``redirect`` goes to ``params["location"]`` verbatim if given, else to
    ``params["to"]`` (or the server's ``redirect_to``) plus the request path.
    ``offset`` is the number of body bytes sent before the fault bites (reset, truncate,
    stall) or the shift for ``bad_offset``/``silent_offset``; when it is ``None``,
    ``fraction`` of the body length is used instead.
    """

    kind: str
    offset: int | None = None
    fraction: float = 0.5
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; known: {sorted(KINDS)}")

    def param(self, key: str) -> Any:
        """Return a parameter, falling back to the kind's default."""
        if key in self.params:
            return self.params[key]
        return DEFAULTS.get(self.kind, {})[key]

    def at(self, length: int) -> int:
        """Resolve the byte position of the fault inside a body of ``length`` bytes."""
        if self.offset is not None:
            return max(0, min(self.offset, length))
        return min(length, int(self.fraction * length))

    @classmethod
    def parse(cls, spec: str | Fault | None) -> Fault | None:
        """Parse ``"kind[@offset][:key=value,...]"``; ``"ok"`` and ``None`` mean no fault.

        Examples: ``"truncate@1000"``, ``"r503:retry_after=1"``,
        ``"r429:retry_after=2,form=date"``, ``"drip:interval=0.01,duration=0.5"``.
        """
        if spec is None or isinstance(spec, Fault):
            return spec
        head, _, tail = spec.strip().partition(":")
        kind, _, offset = head.partition("@")
        if kind == "ok":
            return None
        params = dict(_param(item) for item in tail.split(",") if item)
        return cls(kind, int(offset) if offset else None, params=params)


def _param(item: str) -> tuple[str, Any]:
    key, _, raw = item.partition("=")
    value: Any = raw
    for convert in (int, float):
        try:
            value = convert(raw)
            break
        except ValueError:
            continue
    return key.strip(), value


@dataclass
class FaultPlan:
    """Random faults with per-kind probabilities, reproducible from ``seed``.

    Each draw uses its own ``random.Random`` seeded from ``(seed, path, attempt)``, so a
    file's fault sequence does not depend on how concurrent requests for *other* files
    interleave.  Kinds in ``RANGE_FAULTS`` and in ``only_ranged`` are drawn only for
    requests that carry ``Range``.  ``params`` gives per-kind parameters (e.g.
    ``{"r503": {"retry_after": 0.05}}``); ``max_consecutive`` forces an honest answer
    after that many faults in a row on one path, so bounded clients can always finish.
    """

    seed: int
    rates: Mapping[str, float] = field(default_factory=dict)
    only_ranged: set[str] = field(default_factory=set)
    params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    max_consecutive: int | None = None

    def __post_init__(self) -> None:
        unknown = (set(self.rates) | set(self.only_ranged)) - KINDS
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}")
        if sum(self.rates.values()) > 1.0 + 1e-9:
            raise ValueError("fault rates must sum to at most 1")

    def draw(self, path: str, attempt: int, ranged: bool, streak: int = 0) -> Fault | None:
        """Return the fault for the ``attempt``-th GET of ``path``, or ``None``."""
        if self.max_consecutive is not None and streak >= self.max_consecutive:
            return None
        rng = random.Random(f"{self.seed}\x00{path}\x00{attempt}")
        roll, fraction = rng.random(), rng.random()
        total = 0.0
        for kind, rate in self.rates.items():
            total += rate
            if roll < total:
                if not ranged and (kind in RANGE_FAULTS or kind in self.only_ranged):
                    return None
                return Fault(kind, fraction=fraction, params=dict(self.params.get(kind, {})))
        return None
