"""The STAC Item of a scene from a STAC API: the provider's own item, as it was received."""

from __future__ import annotations

import copy
from typing import Any, Mapping

from eoharvest.adapters.providers.stac.items import asset_descriptor, item_self_url
from eoharvest.domain.models import Scene

_NOWHERE = "https://item.invalid/"  # resolves relative hrefs; only the file names are kept


def is_stac_item(raw: Mapping[str, Any]) -> bool:
    return raw.get("type") == "Feature" and isinstance(raw.get("stac_version"), str) and bool(raw.get("id"))


def stac_item(scene: Scene) -> tuple[dict[str, Any], dict[str, str]]:
    """The item (a deep copy of the raw record) and, per asset key, the name its file is
    downloaded under (as :func:`~eoharvest.adapters.providers.stac.items.asset_descriptor`
    names it), so the export can point an asset at its local copy."""
    item: dict[str, Any] = copy.deepcopy(dict(scene.raw))
    item_url = item_self_url(item, _NOWHERE)
    files: dict[str, str] = {}
    assets = item.get("assets")
    for key, asset in (assets if isinstance(assets, dict) else {}).items():
        if isinstance(asset, Mapping):
            descriptor = asset_descriptor(str(key), asset, item_url=item_url)
            if descriptor is not None:
                files[str(key)] = descriptor.filename
    return item, files
