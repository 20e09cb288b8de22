"""Which asset a catalogued file is, worked out from its scene's stored record (revision 0007).

Downloads record the asset with the file since 0007. Files recorded before are given one by
matching their name against what the scene's raw record says, the same way each provider names
its files (a STAC asset's href or ``<asset key><extension>``, a USGS band file, a CMR granule
file, a Planet asset, a CDSE product zip); a file that matches nothing keeps NULL.
"""

from __future__ import annotations

import posixpath
from typing import Any, Mapping
from urllib.parse import unquote, urlsplit

from eoharvest.adapters.providers.cmr.items import data_files
from eoharvest.adapters.providers.copernicus.items import download_filename
from eoharvest.adapters.providers.planet.assets import asset_filename
from eoharvest.adapters.providers.usgs.datasets import asset_name
from eoharvest.domain.errors import EoharvestError
from eoharvest.domain.models import WHOLE_PRODUCT_ASSET


def asset_of_file(name: str, scene_id: str, raw: Any) -> str | None:
    """The asset ``name`` (a file of scene ``scene_id``) is, or None when the record does not say."""
    if not isinstance(raw, Mapping):
        return None
    try:
        if isinstance(raw.get("assets"), Mapping):
            return _stac_asset(name, raw["assets"])
        if isinstance(raw.get("umm"), Mapping):
            return next((f.asset for f in data_files(raw) if f.filename == name), None)
        if isinstance(raw.get("entityId"), str) and isinstance(raw.get("displayId"), str):
            display = raw["displayId"]
            return WHOLE_PRODUCT_ASSET if name == f"{display}.tar" else asset_name(display, name)
        if isinstance(raw.get("Id"), str) and isinstance(raw.get("Name"), str):
            return WHOLE_PRODUCT_ASSET if name == download_filename(raw["Name"].strip()) else None
        if isinstance(raw.get("_permissions"), list) and name.startswith(f"{scene_id}_"):
            candidate = name[len(scene_id) + 1 :].rsplit(".", 1)[0]
            return candidate if asset_filename(scene_id, candidate) == name else None
    except (EoharvestError, ValueError, TypeError, KeyError):
        return None  # a record too odd to read: the file stays without an asset
    return None


def _stac_asset(name: str, assets: Mapping[str, Any]) -> str | None:
    """eoharvest names a STAC asset's file ``<key><extension of its href>``; a file named like
    the href itself (another tool's download) is matched after that."""
    paths = [(str(key), urlsplit(href).path) for key, asset in assets.items() if isinstance(asset, Mapping)
             for href in _hrefs(asset)]  # fmt: skip
    for key, path in paths:
        if f"{key}{posixpath.splitext(path)[1][:10]}" == name:
            return key
    return next((key for key, path in paths if unquote(posixpath.basename(path)) == name), None)


def _hrefs(asset: Mapping[str, Any]) -> list[str]:
    hrefs = [asset.get("href")]
    alternate = asset.get("alternate")
    if isinstance(alternate, Mapping):
        hrefs += [a.get("href") for a in alternate.values() if isinstance(a, Mapping)]
    return [h for h in hrefs if isinstance(h, str) and h]
