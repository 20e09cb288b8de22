"""Planet asset records (``GET .../items/<id>/assets``) and which assets of an item to fetch.

An asset is ``inactive`` until activated, then ``activating``, then ``active`` with a
``location`` (a time-limited download link), ``expires_at`` (UTC, written without a zone) and
``md5_digest``. ``_permissions: []`` means the key may not download it. Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping, Sequence

from eoharvest.adapters.providers.planet.item_types import DEFAULT_ASSETS
from eoharvest.adapters.providers.planet.items import asset_types, item_type_of, parse_time
from eoharvest.domain.errors import InputError, ProviderResponseError
from eoharvest.domain.models import Checksum, Scene

INACTIVE = "inactive"
ACTIVATING = "activating"
ACTIVE = "active"


@dataclass(frozen=True)
class AssetRecord:
    """One asset of an item as the Data API describes it."""

    asset_type: str
    status: str
    permitted: bool
    self_url: str | None = None
    activate_url: str | None = None
    location: str | None = None
    expires_at: datetime | None = None
    md5: Checksum | None = None


def asset_record(asset_type: str, body: Mapping[str, Any]) -> AssetRecord:
    """An asset record from its JSON object (an entry of the asset listing)."""
    links: Mapping[str, Any] = body["_links"] if isinstance(body.get("_links"), Mapping) else {}
    permissions = body.get("_permissions")
    status = body.get("status")
    if not isinstance(status, str) or not status:
        raise ProviderResponseError(f"planet: asset {asset_type} has no status")
    location = body.get("location")
    return AssetRecord(
        asset_type=str(body.get("type") or asset_type),
        status=status,
        permitted=isinstance(permissions, list) and "download" in permissions,
        self_url=links.get("_self") if isinstance(links.get("_self"), str) else None,
        activate_url=links.get("activate") if isinstance(links.get("activate"), str) else None,
        location=location if isinstance(location, str) and location else None,
        expires_at=parse_time(body.get("expires_at"), what=f"asset {asset_type} expires_at"),
        md5=Checksum.usable("md5", body.get("md5_digest"), "planet:md5_digest"),
    )


def asset_records(listing: Any) -> dict[str, AssetRecord]:
    """Every asset of an asset listing (an object keyed by asset type)."""
    if not isinstance(listing, Mapping):
        raise ProviderResponseError(f"planet: asset listing is a {type(listing).__name__}, not an object")
    return {name: asset_record(name, body) for name, body in listing.items() if isinstance(body, Mapping)}


def chosen_assets(scene: Scene, assets: Sequence[str] | None) -> tuple[str, ...]:
    """The asset types to activate and fetch: those named (each must be one the item offers),
    else the item type's default (the first of ``DEFAULT_ASSETS`` the item offers)."""
    offered = asset_types(scene.raw)
    item_type = item_type_of(scene.raw)
    if assets is not None:
        names = tuple(dict.fromkeys(a.strip() for a in assets))
        missing = [a for a in names if offered and a not in offered]
        if missing:
            raise InputError(
                f"planet item {scene.scene_id} ({item_type}) has no downloadable asset {', '.join(missing)}",
                hint=f"its assets: {_listing(offered)}",
            )
        return names
    defaults = DEFAULT_ASSETS.get(item_type, ())
    found = next((a for a in defaults if a in offered), None)
    if found is None:
        raise InputError(
            f"planet item {scene.scene_id} ({item_type}) offers none of the default assets "
            f"({', '.join(defaults) or 'none known'})",
            hint=f"name the assets to fetch with --assets / assets=[...]; its assets: {_listing(offered)}",
        )
    return (found,)


def _listing(names: Sequence[str]) -> str:
    return (", ".join(names[:12]) + (f" and {len(names) - 12} more" if len(names) > 12 else "")) or "none"


def asset_filename(item_id: str, asset_type: str) -> str:
    """The local name of an asset: ``<item id>_<asset type>`` plus the extension its type has
    (GeoTIFF unless the type says XML metadata, RPC text, NITF, JSON or a zip of frames)."""
    if asset_type.endswith("_xml"):
        suffix = ".xml"
    elif asset_type.endswith("_rpc"):
        suffix = ".txt"
    elif asset_type.endswith("_nitf"):
        suffix = ".ntf"
    elif asset_type.endswith("_json"):
        suffix = ".json"
    elif asset_type.endswith("_all_frames"):
        suffix = ".zip"
    else:
        suffix = ".tif"
    return f"{item_id}_{asset_type}{suffix}"
