"""Catalog records as STAC Items: the provider's own item with the local files added.

A scene from a STAC API is exported as the item the provider sent (kept in the catalog's raw
record): asset keys, roles, ``collection``, ``links`` and every property as they were. A scene
from another provider gets the item its provider package maps it to (``<kind>/stac_item.py``).
Then, for every verified local file, the asset it came from points at the local file and the
remote href is kept under ``alternate`` (STAC alternate-assets extension). The geometry is the
catalog's footprint (cut at the antimeridian) with RFC 7946 ring orientation. Items are built
with pystac and validated offline (:mod:`eoharvest.adapters.catalog.stac_validation`).
"""

from __future__ import annotations

import importlib
import posixpath
from pathlib import PurePath
from typing import Any, Callable, Mapping, Sequence
from urllib.parse import urlsplit

import pystac
import shapely

from eoharvest.adapters.catalog.stac_validation import ALTERNATE_ASSETS, EO, OfflineValidator, validate_item
from eoharvest.adapters.providers.stac.stac_item import is_stac_item
from eoharvest.adapters.providers.stac.stac_item import stac_item as stac_provider_item
from eoharvest.domain.catalog_query import CatalogRecord
from eoharvest.domain.errors import CatalogError, InputError
from eoharvest.domain.footprint import Footprint
from eoharvest.domain.models import Scene

Mapper = Callable[[Scene], "tuple[dict[str, Any], dict[str, str]]"]


def _provider_mapper(scene: Scene) -> Mapper:
    """The provider package's mapper: the STAC one for STAC items, else ``<kind>.stac_item``."""
    if is_stac_item(scene.raw):
        return stac_provider_item
    from eoharvest.adapters.providers.table import spec_for

    try:
        kind = spec_for(scene.provider).kind
        module = importlib.import_module(f"eoharvest.adapters.providers.{kind}.stac_item")
    except (InputError, ModuleNotFoundError):
        return _scene_item
    mapper: Mapper = module.stac_item
    return mapper


def _scene_item(scene: Scene) -> tuple[dict[str, Any], dict[str, str]]:
    """A minimal item from the scene's own fields, for providers without a mapping."""
    properties: dict[str, Any] = {"datetime": _iso(scene.acq_date) if scene.acq_date else None}
    if scene.platformname:
        properties["platform"] = scene.platformname.lower()
    extensions = []
    if scene.cloudcover_percentage is not None:
        properties["eo:cloud_cover"] = scene.cloudcover_percentage
        extensions.append(EO)
    assets: dict[str, Any] = {}
    files: dict[str, str] = {}
    names = list(scene.filenames) + [""] * max(0, len(scene.download_links) - len(scene.filenames))
    for href, name in zip(scene.download_links, names):
        name = name or posixpath.basename(urlsplit(href).path) or "file"
        key = _unique(PurePath(name).stem or "file", assets)
        assets[key] = {"href": href, "roles": ["data"]}
        files[key] = name
    item = {"type": "Feature", "stac_version": "1.1.0", "stac_extensions": extensions, "id": scene.scene_id,
            "geometry": None, "properties": properties, "links": [], "assets": assets}  # fmt: skip
    return item, files


def _iso(value: Any) -> str:
    return str(value.isoformat()).replace("+00:00", "Z")


def _unique(key: str, taken: Mapping[str, Any]) -> str:
    candidate, n = key, 2
    while candidate in taken:
        candidate, n = f"{key}-{n}", n + 1
    return candidate


def _geometry(item: dict[str, Any], footprint: Footprint | None) -> None:
    """The catalog footprint as the geometry: the provider's own when it is the same shape
    (its bbox kept), else the one cut at the antimeridian with an RFC 7946 bbox."""
    if footprint is None:
        item["geometry"] = None
        item.pop("bbox", None)
        return
    same = False
    if isinstance(item.get("geometry"), Mapping):
        try:
            same = Footprint.from_geojson(dict(item["geometry"])) == footprint
        except (InputError, shapely.errors.GEOSException):
            same = False
    item["geometry"] = footprint.rfc7946_geojson
    if not same or not isinstance(item.get("bbox"), list):
        item["bbox"] = list(footprint.rfc7946_bbox)


def _href(path: str) -> str:
    """A local path as an asset href: absolute paths as they are (a URI reference GDAL opens)."""
    return PurePath(path).as_posix()


def _add_local_files(item: pystac.Item, files: Mapping[str, str], local_paths: Sequence[str]) -> bool:
    """Point each downloaded asset at its local file, keeping the remote href under ``alternate``;
    a local file no asset claims becomes an asset of its own. True when ``alternate`` was used."""
    by_name = {name: key for key, name in files.items()}
    used_alternate = False
    for path in local_paths:
        name = PurePath(path).name
        key = by_name.get(name)
        if key is None or key not in item.assets:
            item.add_asset(_unique(PurePath(name).stem or "file", item.assets), pystac.Asset(_href(path), roles=["data"]))
            continue
        asset = item.assets[key]
        remote = asset.href
        alternates = dict(asset.extra_fields.get("alternate") or {})
        if remote not in (a.get("href") for a in alternates.values() if isinstance(a, Mapping)):
            label = urlsplit(remote).scheme or "remote"
            if label in alternates:
                label = _unique("remote", alternates)
            alternates[label] = {"href": remote}
        asset.extra_fields["alternate"] = alternates
        asset.href = _href(path)
        used_alternate = True
    return used_alternate


def stac_item(
    record: CatalogRecord, validator: OfflineValidator | None = None, *, validate: bool = True
) -> dict[str, Any]:
    """The STAC Item of one catalogued scene, validated offline unless ``validate`` is false
    (``eoharvest serve`` answers searches with items its tests validate, not each request)."""
    scene = record.scene
    base, files = _provider_mapper(scene)(scene)
    declared = set(scene.raw.get("stac_extensions") or []) if is_stac_item(scene.raw) else set()
    _geometry(base, scene.footprint)
    try:
        item = pystac.Item.from_dict(base, migrate=False, preserve_dict=False)
    except (KeyError, TypeError, ValueError, AttributeError, pystac.STACError) as exc:
        problem = f"the field {exc.args[0]!r} is missing" if isinstance(exc, KeyError) else str(exc)
        raise CatalogError(
            f"the {scene.provider} record of {scene.scene_id!r} is not a valid STAC Item: {problem}",
            hint="leave it out (--where \"scene_id != '...'\") or export --format geojson; please report it",
        ) from None
    if _add_local_files(item, files, record.local_paths) and ALTERNATE_ASSETS not in item.stac_extensions:
        item.stac_extensions.append(ALTERNATE_ASSETS)
    data = item.to_dict(include_self_link=True, transform_hrefs=False)
    if validate:
        added = [uri for uri in data.get("stac_extensions", []) if uri not in declared]
        validate_item(data, added, validator or OfflineValidator())
    return data


def stac_item_collection(records: Sequence[CatalogRecord]) -> dict[str, Any]:
    """A STAC ItemCollection (a GeoJSON FeatureCollection of Items)."""
    validator = OfflineValidator()
    return {"type": "FeatureCollection", "features": [stac_item(r, validator) for r in records]}
