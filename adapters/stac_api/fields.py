"""STAC names of the catalog's filterable and sortable fields.

A client filters and sorts on what it sees in the items: ``id``, ``datetime``,
``eo:cloud_cover`` and the ``eoharvest:*`` properties every served item carries. Each maps to a
field of the catalog's allow-list (:data:`eoharvest.domain.catalog_fields.FIELDS`), so nothing a
client sends reaches SQL except as a bound value. ``collection`` is not a catalog column: the
search turns it into provider/platform conditions (:mod:`.collections`).
"""

from __future__ import annotations

from typing import Any

from eoharvest.domain.catalog_fields import FIELDS, SORT_FIELDS
from eoharvest.domain.errors import InputError

#: STAC property name -> catalog field
QUERYABLES: dict[str, str] = {
    "id": "scene_id",
    "datetime": "acq_date",
    "eo:cloud_cover": "cloud",
    "eoharvest:provider": "provider",
    "eoharvest:platform": "platform",
    "eoharvest:product_key": "product_key",
    "eoharvest:scene_key": "scene_key",
    "eoharvest:size": "size",
    "eoharvest:online": "online",
    "eoharvest:state": "state",
    "eoharvest:first_seen": "first_seen",
    "eoharvest:last_seen": "last_seen",
}
COLLECTION = "collection"
SORTABLES = {name: field for name, field in QUERYABLES.items() if field in SORT_FIELDS}

_JSON_TYPES = {
    "text": {"type": "string"},
    "number": {"type": "number"},
    "datetime": {"type": "string", "format": "date-time"},
    "bool": {"type": "boolean"},
    "state": {"type": "string", "enum": []},
}


def catalog_field(name: str) -> str:
    """The catalog field of a STAC property name (``properties.`` prefix allowed), or 400."""
    key = name.removeprefix("properties.")
    field = QUERYABLES.get(key)
    if field is None:
        raise InputError(
            f"unknown property {name!r}",
            hint=f"queryable properties: {', '.join([COLLECTION, *QUERYABLES])} (see /queryables)",
        )
    return field


def sort_field(name: str) -> str:
    """The catalog sort field of a STAC property name, or 400 naming the sortable ones."""
    key = name.removeprefix("properties.")
    field = SORTABLES.get(key)
    if field is None:
        raise InputError(f"cannot sort by {name!r}", hint=f"sortable properties: {', '.join(SORTABLES)}")
    return field


def queryables_schema(base_url: str, states: tuple[str, ...]) -> dict[str, Any]:
    """The JSON Schema of the queryables (filter extension, ``GET /queryables``)."""
    properties: dict[str, Any] = {COLLECTION: {"type": "string", "description": "collection id"}}
    for name, field in QUERYABLES.items():
        spec = FIELDS[field]
        schema = dict(_JSON_TYPES[spec.kind])
        if spec.kind == "state":
            schema["enum"] = list(states)
        schema["description"] = f"catalog field {field}"
        properties[name] = schema
    return {
        "$schema": "https://json-schema.org/draft/2019-09/schema",
        "$id": f"{base_url.rstrip('/')}/queryables",
        "type": "object",
        "title": "eoharvest catalog queryables",
        "properties": properties,
        "additionalProperties": False,
    }
