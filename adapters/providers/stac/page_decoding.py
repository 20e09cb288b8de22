"""STAC search pages decoded field by field: each item's own bytes kept, only what a Scene needs
built as Python objects.

A search page of 100 Earth Search items is ~1.8 MB of JSON, and decoding all of it built ~100k
Python objects that a catalog-only harvest threw away after storing the items again as text.
Here msgspec finds each item's bytes in the page (``msgspec.Raw``, no objects built) and decodes
from them only the members :func:`items.scene_from_stac_item` reads (a few properties, the
geometry, link and asset hrefs), skipping the rest in C; the item itself becomes a
:class:`JsonRecord` over its bytes, stored in the catalog as received and decoded on first use.

Whatever this fast path does not take exactly as :func:`json_codec.loads` would falls back to
it, so results never depend on which path ran: a page that is not UTF-8 or not strict JSON
(``NaN``, a number beyond a double) is decoded whole as before, and so is an item whose members
have unexpected types (``properties`` that is not an object, a link that is a string, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypedDict

import msgspec

from eoharvest.adapters import json_codec
from eoharvest.adapters.json_record import JsonRecord

_Link = TypedDict("_Link", {"rel": Any, "href": Any}, total=False)
_Asset = TypedDict("_Asset", {"href": Any}, total=False)
# The properties items.scene_from_stac_item and item_product_key read (keep in step with them).
_Properties = TypedDict(
    "_Properties",
    {
        "datetime": Any, "start_datetime": Any, "eo:cloud_cover": Any, "updated": Any, "platform": Any,
        "constellation": Any, "s2:product_uri": Any, "s1:product_identifier": Any, "landsat:product_id": Any,
    },  # fmt: skip
    total=False,
)
_Item = TypedDict(
    "_Item",
    {
        "id": Any, "collection": Any, "end_datetime": Any, "geometry": Any, "properties": _Properties,
        "links": list[_Link], "assets": dict[str, _Asset],
    },  # fmt: skip
    total=False,
)
_Page = TypedDict("_Page", {"features": list[msgspec.Raw], "links": Any, "numberMatched": Any, "context": Any}, total=False)
#: Top-level members decoded whole, which the record can answer without decoding itself.
_WHOLE = frozenset({"id", "collection", "end_datetime", "geometry"})

_page_decoder = msgspec.json.Decoder(_Page)
_item_decoder = msgspec.json.Decoder(_Item)


@dataclass(frozen=True)
class DecodedPage:
    """A search page: its top-level members, with ``features`` holding each item's fields (a
    partial dict) and ``records`` the items themselves (None where an item was decoded whole:
    its ``features`` entry is then the full item)."""

    members: dict[str, Any]
    records: list[JsonRecord | None]


def decode_search_page(body: bytes) -> Any:
    """The page as a :class:`DecodedPage`, or as :func:`json_codec.loads` reads it when the fast
    path cannot take it exactly. Raises ValueError on malformed JSON."""
    if not body.isascii():
        try:
            body.decode("utf-8")  # msgspec does not check the strings it skips; the catalog stores them
        except UnicodeDecodeError:
            return json_codec.loads(body)
    try:
        page = _page_decoder.decode(body)
    except msgspec.DecodeError:  # not strict JSON, or not an object with a list of features
        return json_codec.loads(body)
    if "features" not in page:
        return json_codec.loads(body)  # not a FeatureCollection: the caller's error names its keys
    features: list[Any] = []
    records: list[JsonRecord | None] = []
    for raw in page["features"]:
        data = bytes(raw)  # a copy: the record must not keep the whole page alive
        try:
            fields = _item_decoder.decode(data)
        except msgspec.DecodeError:  # not an object, odd member types, a number beyond a double
            features.append(json_codec.loads(data))
            records.append(None)
            continue
        features.append(fields)
        records.append(JsonRecord(data, {k: v for k, v in fields.items() if k in _WHOLE}, _WHOLE))
    page["features"] = features
    return DecodedPage(dict(page), records)
