"""JSON decoding and encoding on the harvest's hot path, with the standard library's semantics.

A harvest parses every search page and writes every item back out as the scene's raw record:
with the standard ``json`` module that decoding and encoding cost more than everything else
eoharvest does per item (bench/harvest.py). orjson does both several times faster. Where the
two libraries differ, the standard library's answer is kept, so results never depend on which
one ran:

* input orjson refuses but ``json`` accepts (``NaN``, ``Infinity``) or reads differently
  (integers beyond 64 bits, which orjson turns into floats) is decoded by ``json``; any run of 20
  or more digits sends the text there, which is rare and always safe;
* output orjson cannot produce (integers beyond 64 bits) or would produce differently (``NaN``
  and infinities become ``null`` in orjson) is encoded by ``json``; datetimes and dataclasses
  go through ``default`` as with ``json`` instead of orjson's own formats.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
# Keys that are not strings need OPT_NON_STR_KEYS, which makes orjson about three times slower
# on every dict: it is asked for only when the plain call refuses such a key.
_NON_STR_KEYS = _OPTIONS | orjson.OPT_NON_STR_KEYS
# Digits -> "1", everything else -> " ": a run of 20 digits becomes a run of 20 "1"s, found by
# a plain substring search (a regex took longer than decoding the page).
_DIGITS_ONLY = bytes(0x31 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))
_RUN = b"1" * 20
_LONG_DIGITS_TEXT = re.compile(r"[0-9]{20}")
_STDLIB = json.JSONEncoder(separators=(",", ":"), default=str, ensure_ascii=False)


def loads(data: bytes | str) -> Any:
    """``json.loads(data)``, faster. Raises ``ValueError`` (``json.JSONDecodeError``) on bad input."""
    if _has_long_digit_run(data):
        return json.loads(data)  # may hold an integer beyond 64 bits: keep it exact
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)  # the standard library's answer, or its error


def _has_long_digit_run(data: bytes | str) -> bool:
    if isinstance(data, str):
        return _LONG_DIGITS_TEXT.search(data) is not None
    return _RUN in bytes(data).translate(_DIGITS_ONLY)


def dumps_compact(value: Any) -> str:
    """Compact JSON text of ``value`` (no spaces, UTF-8 kept, ``str()`` for unknown types), as
    ``json.dumps(value, separators=(",", ":"), default=str, ensure_ascii=False)`` reads back."""
    try:
        text = orjson.dumps(value, default=str, option=_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError: a key that is not a string, an integer beyond 64 bits
        try:
            text = orjson.dumps(value, default=str, option=_NON_STR_KEYS)
        except TypeError:
            return _STDLIB.encode(value)
    if b"null" in text:
        # orjson writes NaN and infinities as null; the standard library keeps them.
        return _STDLIB.encode(value)
    return text.decode("utf-8")


def dumps_compact_utf8(value: Any) -> bytes | str:
    """:func:`dumps_compact` as UTF-8 bytes when orjson wrote it (valid UTF-8 by construction),
    else as the text the standard library wrote. For a TEXT column bound through
    ``CAST(? AS TEXT)``: SQLite stores the same text either way, and the record is neither decoded
    into a Python str nor encoded back to UTF-8 by the driver (two copies of every raw record)."""
    try:
        text = orjson.dumps(value, default=str, option=_OPTIONS)
    except TypeError:
        return dumps_compact(value)  # keys that are not strings, integers beyond 64 bits
    if b"null" in text:
        return dumps_compact(value)  # NaN or an infinity, maybe: the standard library decides
    return text
