"""Page tokens: keyset paging on the sort field, with an offset only inside a run of equal values.

A token says "continue after the first ``skip`` rows whose sort value is ``value``". The next
query asks for rows at or after ``value`` in the sort order (missing values sort last, as in the
catalog) and skips ``skip`` rows: the catalog orders equal values by row id, so the skipped rows
are exactly the ones already sent. Deep pages cost no more than the first (no growing OFFSET),
and the token stays small; it is opaque to clients (base64 JSON) but carries no secret.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from eoharvest.domain.catalog_fields import Comparison, Expr, Logical
from eoharvest.domain.catalog_query import CatalogRecord
from eoharvest.domain.errors import InputError


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts, for one sort field and direction."""

    sort: str
    descending: bool
    value: Any
    skip: int

    def encode(self) -> str:
        kind, value = ("dt", self.value.isoformat()) if isinstance(self.value, datetime) else ("v", self.value)
        data = {"f": self.sort, "d": self.descending, "k": kind, "v": value, "n": self.skip}
        return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).decode().rstrip("=")

    def condition(self) -> Expr:
        """Rows at or after ``value`` in the sort order; missing values come last."""
        missing = Comparison(self.sort, "isnull", None)
        if self.value is None:
            return missing
        return Logical("or", (Comparison(self.sort, "<=" if self.descending else ">=", self.value), missing))


def decode(token: str, sort: str, descending: bool) -> Cursor:
    """The cursor in ``token``; 400 when it is not one of ours or belongs to another sort."""
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        value = datetime.fromisoformat(data["v"]) if data["k"] == "dt" else data["v"]
        cursor = Cursor(str(data["f"]), bool(data["d"]), value, int(data["n"]))
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeEncodeError):
        raise InputError(f"not a page token of this server: {token[:60]!r}", hint="follow the `next` link as given") from None
    if cursor.sort != sort or cursor.descending != descending or cursor.skip < 0:
        raise InputError("the page token belongs to another sort order", hint="keep sortby when following `next`")
    return cursor


def sort_value(record: CatalogRecord, field: str) -> Any:
    """The value of a sort field in a record (as the catalog compares it)."""
    scene = record.scene
    values = {
        "acq_date": scene.acq_date,
        "cloud": scene.cloudcover_percentage,
        "platform": scene.platformname,
        "provider": scene.provider,
        "product_key": scene.product_key,
        "scene_id": scene.scene_id,
        "size": scene.size,
        "first_seen": record.first_seen,
        "last_seen": record.last_seen,
    }
    return values[field]


def next_cursor(rows: list[CatalogRecord], end: int, sort: str, descending: bool) -> Cursor:
    """The cursor after ``rows[:end]`` (``rows`` starts at the previous cursor's value)."""
    last = sort_value(rows[end - 1], sort)
    same = sum(1 for r in rows[:end] if sort_value(r, sort) == last)
    return Cursor(sort, descending, last, same)
