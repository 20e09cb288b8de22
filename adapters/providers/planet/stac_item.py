"""A Planet scene as a STAC Item (for ``eoharvest catalog export --format stac``).

Built from the item feature kept as the scene's raw record: ``datetime`` is ``acquired``,
``updated`` and ``gsd`` are STAC common metadata, Planet's publication time, view and sun
angles are kept as ``planet:*`` properties, ``eo:cloud_cover`` is the percentage, ``gsd`` the ground
sample distance, and the item type is ``planet:item_type``. Assets are the item's downloadable
asset types, named as for ``--assets`` and titled with the file name they are downloaded
under; their hrefs are the Data API's asset links (downloads need an activation first). The
export fills in the geometry from the catalogued footprint and points downloaded assets at
their local files.
"""

from __future__ import annotations

from typing import Any, Mapping

from eoharvest.adapters.providers.planet.assets import asset_filename
from eoharvest.adapters.providers.planet.items import asset_types
from eoharvest.domain.models import Scene

STAC_VERSION = "1.0.0"
EO_EXTENSION = "https://stac-extensions.github.io/eo/v1.1.0/schema.json"
#: Planet property -> STAC property (common metadata, else Planet's own under ``planet:``)
_PROPERTIES = {
    "updated": "updated",
    "gsd": "gsd",
    "published": "planet:published",
    "view_angle": "planet:view_angle",
    "satellite_azimuth": "planet:satellite_azimuth",
    "sun_azimuth": "planet:sun_azimuth",
    "sun_elevation": "planet:sun_elevation",
    "clear_percent": "planet:clear_percent",
}


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def stac_item(scene: Scene) -> tuple[dict[str, Any], dict[str, str]]:
    """The STAC Item of a Planet scene (its raw record must be the item feature) and, per
    asset, the file name it is downloaded under."""
    raw: Mapping[str, Any] = scene.raw if isinstance(scene.raw, Mapping) else {}
    source: Mapping[str, Any] = raw["properties"] if isinstance(raw.get("properties"), Mapping) else {}
    properties: dict[str, Any] = {"datetime": _iso(scene.acq_date), "constellation": scene.platformname.lower()}
    extensions: list[str] = []
    for planet_name, stac_name in _PROPERTIES.items():
        if source.get(planet_name) is not None:
            properties[stac_name] = source[planet_name]
    if scene.cloudcover_percentage is not None:
        properties["eo:cloud_cover"] = scene.cloudcover_percentage
        extensions.append(EO_EXTENSION)
    satellite, instrument = source.get("satellite_id"), source.get("instrument")
    if isinstance(satellite, str) and satellite:
        properties["platform"] = satellite.lower()
    if isinstance(instrument, str) and instrument:
        properties["instruments"] = [instrument.lower()]
    item_type = source.get("item_type")
    if isinstance(item_type, str):
        properties["planet:item_type"] = item_type
    links = raw["_links"] if isinstance(raw.get("_links"), Mapping) else {}
    listing = links.get("assets") if isinstance(links.get("assets"), str) else None
    assets: dict[str, Any] = {}
    files: dict[str, str] = {}
    for name in asset_types(raw):
        filename = asset_filename(scene.scene_id, name)
        if listing is None:
            break  # an asset needs an href: without the item's asset listing link there is none
        role = "metadata" if filename.endswith(".xml") else "data"
        assets[name] = {"href": f"{listing.rstrip('/')}/#{name}", "title": filename, "roles": [role]}
        files[name] = filename
    item: dict[str, Any] = {
        "type": "Feature",
        "stac_version": STAC_VERSION,
        "stac_extensions": extensions,
        "id": scene.scene_id,
        "geometry": scene.footprint.geojson if scene.footprint else None,
        "bbox": list(scene.footprint.bbox) if scene.footprint else None,
        "properties": {k: v for k, v in properties.items() if v is not None},
        "links": [],
        "assets": assets,
    }
    return item, files
