"""RFC 9110 Range / If-Range evaluation for a single-part byte range."""
from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime

_SPEC = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Selection:
    """What to send: ``status`` 200, 206 or 416, and the byte span ``[start, end)``."""

    status: int
    start: int
    end: int


def http_date(posix: float) -> str:
    """Format a POSIX time as an IMF-fixdate (``Sun, 06 Nov 1994 08:49:37 GMT``)."""
    return formatdate(posix, usegmt=True)


def validator_matches(if_range: str, etag: str, last_modified: float) -> bool:
    """Apply If-Range: a strong ETag compares byte-for-byte, a weak one never matches.

    A date matches only if it equals Last-Modified exactly (§13.1.5's strong-date rule,
    simplified: our Last-Modified values are always at least a second before Date).
    """
    value = if_range.strip()
    if value.startswith('W/'):
        return False
    if value.startswith('"'):
        return value == etag
    try:
        return parsedate_to_datetime(value).timestamp() == last_modified
    except (TypeError, ValueError):
        return False


def select(range_header: str | None, if_range: str | None, size: int,
           etag: str, last_modified: float) -> Selection:
    """Decide the answer to a GET for a representation of ``size`` bytes.

    Multiple ranges and malformed specs are ignored (200 with the full body), which RFC
    9110 §14.2 permits; so is an If-Range whose validator does not match.
    """
    full = Selection(200, 0, size)
    if range_header is None:
        return full
    if if_range is not None and not validator_matches(if_range, etag, last_modified):
        return full
    match = _SPEC.match(range_header)
    if match is None:
        return full
    first, last = match.groups()
    if not first:
        if not last:
            return full
        suffix = int(last)
        if suffix == 0:
            return Selection(416, 0, 0)
        return Selection(206, max(0, size - suffix), size) if size else Selection(416, 0, 0)
    start = int(first)
    end = size if not last else int(last) + 1
    if last and end <= start:
        return full
    if start >= size:
        return Selection(416, 0, 0)
    return Selection(206, start, min(end, size))
