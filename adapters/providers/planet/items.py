"""Planet item features (quick-search results, ``GET /item-types/<t>/items/<id>``) as scenes.

Pure and testable on recorded bodies alone. A scene's ``scene_id`` is Planet's item id; its
``product_key`` is ``<item type>_<item id>`` (ids are unique only within an item type: the
legacy ``PSScene3Band``/``PSScene4Band`` items share theirs); the footprint goes through the
shared provider-footprint normaliser; ``cloud_cover`` (0-1) becomes a percentage.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Mapping

from eoharvest.adapters.providers.planet.item_types import platform_of
from eoharvest.domain.errors import InputError, ProviderResponseError
from eoharvest.domain.footprint import Footprint
from eoharvest.domain.models import Scene

_PERMISSION = re.compile(r"^assets\.([A-Za-z0-9_]+):download$")


def parse_time(value: Any, *, what: str) -> datetime | None:
    """An RFC 3339 time of Planet's (``Z`` or an offset; none at all means UTC, as in
    ``expires_at``) as an aware UTC datetime; None when absent."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ProviderResponseError(f"planet: {what} {value!r} is not a time")
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ProviderResponseError(f"planet: {what} {value[:40]!r} is not an RFC 3339 time") from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def item_type_of(feature: Mapping[str, Any]) -> str:
    properties = feature.get("properties")
    item_type = properties.get("item_type") if isinstance(properties, Mapping) else None
    if not isinstance(item_type, str) or not item_type:
        raise ProviderResponseError(f"planet: item {str(feature.get('id'))[:60]!r} has no properties.item_type")
    return item_type


def product_key(item_type: str, item_id: str) -> str:
    return f"{item_type}_{item_id}"


def asset_types(feature: Mapping[str, Any]) -> tuple[str, ...]:
    """The item's asset types the key may download: its ``assets`` list (recent items), else
    the ``assets.<type>:download`` entries of ``_permissions`` (older items), in order."""
    listed = feature.get("assets")
    permissions = feature.get("_permissions")
    allowed = tuple(
        m.group(1) for m in (_PERMISSION.match(p) for p in permissions if isinstance(p, str)) if m
    ) if isinstance(permissions, list) else ()  # fmt: skip
    if isinstance(listed, list):
        names = tuple(a for a in listed if isinstance(a, str))
        return tuple(a for a in names if a in allowed) if isinstance(permissions, list) else names
    return allowed


def scene_from_feature(feature: Mapping[str, Any], *, provider: str = "planet") -> Scene:
    """The scene of one item feature; a feature without id, item type or usable geometry is a
    ProviderResponseError naming it."""
    item_id = feature.get("id")
    if not isinstance(item_id, str) or not item_id:
        raise ProviderResponseError(f"planet: search result without an item id: {str(feature)[:80]}")
    item_type = item_type_of(feature)
    properties: Mapping[str, Any] = feature["properties"]
    geometry = feature.get("geometry")
    if not isinstance(geometry, Mapping):
        raise ProviderResponseError(f"planet: item {item_id} has no geometry")
    try:
        footprint = Footprint.from_provider_geojson(dict(geometry))
    except InputError as exc:
        raise ProviderResponseError(f"planet: item {item_id} has an unusable geometry: {exc.message}") from None
    cloud = properties.get("cloud_cover")
    percent = round(float(cloud) * 100.0, 4) if isinstance(cloud, (int, float)) and not isinstance(cloud, bool) else None
    if percent is not None and not 0.0 <= percent <= 100.0:
        raise ProviderResponseError(f"planet: item {item_id} has cloud_cover {cloud!r} outside 0-1")
    return Scene(
        platform_of(item_type),
        item_id,
        footprint,
        parse_time(properties.get("acquired"), what=f"item {item_id} acquired"),
        percent,
        raw=dict(feature),
        provider=provider,
        product_key=product_key(item_type, item_id),
        published=published(feature),
    )


def published(feature: Mapping[str, Any]) -> datetime | None:
    """When Planet published the item (``properties.published``): the watermark's field."""
    properties = feature.get("properties")
    value = properties.get("published") if isinstance(properties, Mapping) else None
    return parse_time(value, what=f"item {feature.get('id')} published")
