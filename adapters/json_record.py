"""A provider's JSON record kept as the bytes it arrived in, decoded only when something reads it.

A catalog-only harvest reads a handful of fields of each STAC item and stores the item itself:
decoding all of it into dicts and lists (about a thousand objects for an 18 KB Earth Search item)
and encoding it back to text was most of what eoharvest spent per item (bench/harvest.py). A
:class:`JsonRecord` keeps the item's own bytes, which the catalog stores as they are (the record
as received), and decodes them with :func:`json_codec.loads` (the same answer as before) the
first time a member other than the few read up front is asked for, e.g. when the scene is
downloaded or exported.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from eoharvest.adapters import json_codec

_EMPTY_OBJECT = re.compile(rb"\s*\{\s*\}\s*\Z")
_ABSENT = object()


class JsonRecord(Mapping[str, Any]):
    """A read-only JSON object over ``data`` (the UTF-8 bytes of one JSON object, as received).

    ``known`` holds top-level members already decoded in full; a key of ``known_keys`` missing
    from ``known`` is known to be absent. Asking for those (``get``, ``[]``, ``in``) decodes
    nothing; anything else decodes ``data`` once.
    """

    __slots__ = ("data", "_known", "_known_keys", "_value")

    def __init__(self, data: bytes, known: Mapping[str, Any] | None = None, known_keys: frozenset[str] = frozenset()) -> None:
        self.data = data
        self._known = known or {}
        self._known_keys = known_keys
        self._value: dict[str, Any] | None = None

    def decoded(self) -> dict[str, Any]:
        """The whole record as a dict (decoded once, then kept)."""
        value = self._value
        if value is None:
            parsed = json_codec.loads(self.data)
            value = self._value = parsed if isinstance(parsed, dict) else {}
        return value

    def __getitem__(self, key: str) -> Any:
        if key in self._known_keys:
            value = self._known.get(key, _ABSENT)
            if value is _ABSENT:
                raise KeyError(key)
            return value
        return self.decoded()[key]

    def get(self, key: str, default: Any = None) -> Any:
        if key in self._known_keys:
            return self._known.get(key, default)
        return self.decoded().get(key, default)

    def __contains__(self, key: object) -> bool:
        if key in self._known_keys:
            return key in self._known
        return key in self.decoded()

    def __iter__(self) -> Iterator[str]:
        return iter(self.decoded())

    def __len__(self) -> int:
        return len(self.decoded())

    def __bool__(self) -> bool:
        return self._value != {} if self._value is not None else _EMPTY_OBJECT.match(self.data) is None

    def __eq__(self, other: object) -> bool:
        if isinstance(other, JsonRecord):
            return self.decoded() == other.decoded()
        return self.decoded() == dict(other) if isinstance(other, Mapping) else NotImplemented

    __hash__ = None  # type: ignore[assignment]  # a mapping, like dict

    def __repr__(self) -> str:
        return f"JsonRecord({self.data[:60]!r}{'...' if len(self.data) > 60 else ''})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (JsonRecord, (self.data, dict(self._known), self._known_keys))


def plain(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    """``raw`` as a plain dict when it is a :class:`JsonRecord` (for code that hands the record to
    libraries expecting a dict: ``json.dumps``, pystac), else ``raw`` itself."""
    return raw.decoded() if isinstance(raw, JsonRecord) else raw
