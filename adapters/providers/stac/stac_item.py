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
    _add_collection_link(item)
    item_url = item_self_url(item, _NOWHERE)
    files: dict[str, str] = {}
    assets = item.get("assets")
    for key, asset in (assets if isinstance(assets, dict) else {}).items():
        if isinstance(asset, Mapping):
            descriptor = asset_descriptor(str(key), asset, item_url=item_url)
            if descriptor is not None:
                files[str(key)] = descriptor.filename
    return item, files


def _add_collection_link(item: dict[str, Any]) -> None:
    """An item that names its ``collection`` must link to it (STAC Item spec, "collection");
    when a server left the link out, it is derived from the item's self or root link."""
    collection, links = item.get("collection"), item.get("links")
    if not isinstance(collection, str) or not collection or not isinstance(links, list):
        return
    hrefs = {link.get("rel"): link.get("href") for link in links if isinstance(link, Mapping)}
    if "collection" in hrefs:
        return
    self_href, root_href = hrefs.get("self"), hrefs.get("root")
    marker = f"/collections/{collection}/items/"
    if isinstance(self_href, str) and marker in self_href:
        href = self_href.split(marker)[0] + f"/collections/{collection}"
    elif isinstance(root_href, str) and root_href:
        href = root_href.rstrip("/") + f"/collections/{collection}"
    else:
        return
    links.append({"rel": "collection", "href": href, "type": "application/json"})
