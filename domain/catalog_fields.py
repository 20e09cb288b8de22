"""The catalog fields users may filter and sort on, and the filter AST built from them.

This allow-list is the only way a user-supplied name reaches a query: adapters map each
canonical field name to a column, and every value is bound, never formatted into SQL.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Union

from eoharvest.domain.download_states import FILE_STATES
from eoharvest.domain.errors import InputError
from eoharvest.domain.query import parse_datetime

#: Spatial predicates of a catalog filter: how a footprint must relate to the AOI.
PREDICATES = ("intersects", "contains", "within")

DOWNLOAD_STATES = FILE_STATES

_OPS = {
    "text": {"=", "!=", "<", "<=", ">", ">=", "like", "notlike", "in", "notin"},
    "number": {"=", "!=", "<", "<=", ">", ">=", "in", "notin"},
    "datetime": {"=", "!=", "<", "<=", ">", ">="},
    "bool": {"=", "!="},
    "state": {"=", "!=", "in", "notin"},
}


@dataclass(frozen=True)
class FieldSpec:
    """A filterable field: canonical name, value kind, and whether it may be NULL-tested."""

    name: str
    kind: str
    nullable: bool = True

    def convert(self, op: str, value: Any) -> Any:
        """Check ``op`` is allowed for this field and coerce ``value`` to the field's kind."""
        if op not in _OPS[self.kind]:
            raise InputError(
                f"--where: operator {op.upper()} is not allowed on {self.name}",
                hint=f"allowed: {', '.join(sorted(o.upper() for o in _OPS[self.kind]))}",
            )
        if self.kind in ("text", "state"):
            if not isinstance(value, str):
                raise InputError(f"--where: {self.name} needs a 'quoted text' value, got {value!r}")
            if self.kind == "state" and value not in DOWNLOAD_STATES:
                raise InputError(
                    f"--where: unknown download state {value!r}",
                    hint=f"states: {', '.join(DOWNLOAD_STATES)}",
                )
            if op in ("like", "notlike"):
                _check_like_pattern(value)
            return value
        if self.kind == "number":
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise InputError(f"--where: {self.name} needs a number, got {value!r}")
            return float(value)
        if self.kind == "bool":
            if not isinstance(value, bool):
                raise InputError(f"--where: {self.name} needs TRUE or FALSE, got {value!r}")
            return value
        if not isinstance(value, str):
            raise InputError(f"--where: {self.name} needs a 'quoted date', got {value!r}")
        return parse_datetime(value, name=f"--where {self.name}", end_of_day=op in ("<=", ">"))


FIELDS: dict[str, FieldSpec] = {
    spec.name: spec
    for spec in (
        FieldSpec("provider", "text", nullable=False),
        FieldSpec("scene_id", "text", nullable=False),
        FieldSpec("product_key", "text", nullable=False),
        FieldSpec("scene_key", "text"),
        FieldSpec("platform", "text", nullable=False),
        FieldSpec("acq_date", "datetime"),
        FieldSpec("cloud", "number"),
        FieldSpec("size", "number"),
        FieldSpec("online", "bool", nullable=False),
        FieldSpec("state", "state", nullable=False),
        FieldSpec("first_seen", "datetime", nullable=False),
        FieldSpec("last_seen", "datetime", nullable=False),
    )
}
ALIASES = {"name": "product_key", "date": "acq_date", "cloudcover": "cloud", "cloud_cover": "cloud"}
SORT_FIELDS = ("acq_date", "cloud", "platform", "provider", "product_key", "scene_id", "size",
               "first_seen", "last_seen")  # fmt: skip


def field_spec(name: str) -> FieldSpec:
    """The spec of a field by name or alias (case-insensitive), or InputError listing fields."""
    key = name.lower()
    spec = FIELDS.get(ALIASES.get(key, key))
    if spec is None:
        raise InputError(
            f"--where: unknown field {name!r}",
            hint=f"fields: {', '.join(sorted(FIELDS))} (aliases: {', '.join(sorted(ALIASES))})",
        )
    return spec


def sort_field(name: str) -> str:
    """The canonical sort field, or InputError listing the allowed ones."""
    key = name.strip().lower() if isinstance(name, str) else ""
    key = ALIASES.get(key, key)
    if key not in SORT_FIELDS:
        raise InputError(f"unknown sort field {name!r}", hint=f"allowed fields: {', '.join(SORT_FIELDS)}")
    return key


@dataclass(frozen=True)
class Comparison:
    """``field op value``; op is one of = != < <= > >= like notlike in notin isnull notnull."""

    field: str
    op: str
    value: Any


@dataclass(frozen=True)
class Logical:
    """``and`` / ``or`` of two or more sub-expressions."""

    op: str
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Not:
    item: Expr


Expr = Union[Comparison, Logical, Not]


def _check_like_pattern(pattern: str) -> None:
    escaped = False
    for ch in pattern:
        if escaped and ch not in "%_\\":
            break
        escaped = not escaped and ch == "\\"
    else:
        if not escaped:
            return
    raise InputError(
        f"--where: bad escape in LIKE pattern {pattern!r}",
        hint="in LIKE, write \\% for a literal %, \\_ for a literal _ and \\\\ for a backslash",
    )


def like_to_regex(pattern: str) -> re.Pattern[str]:
    """A case-insensitive regex equivalent to a LIKE pattern with backslash escapes."""
    out: list[str] = []
    chars = iter(pattern)
    for ch in chars:
        if ch == "\\":
            out.append(re.escape(next(chars, "\\")))
        elif ch == "%":
            out.append(".*")
        elif ch == "_":
            out.append(".")
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out), re.IGNORECASE | re.DOTALL)
