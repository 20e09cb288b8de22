"""A STAC Item for a CDSE OData product: its identity, times, platform, cloud cover and the
product archive as the one asset (STAC Item spec 1.1, common metadata; eo extension 1.1)."""

from __future__ import annotations

from typing import Any

from eoharvest.adapters.providers.copernicus.items import attributes_by_name, download_filename
from eoharvest.domain.models import Scene

EO_EXTENSION = "https://stac-extensions.github.io/eo/v1.1.0/schema.json"


def stac_item(scene: Scene) -> tuple[dict[str, Any], dict[str, str]]:
    """The item (geometry and bbox are filled in by the export from the catalog's footprint)
    and the name the product archive is downloaded under."""
    product = scene.raw
    attributes = attributes_by_name(product)
    content = product.get("ContentDate") if isinstance(product.get("ContentDate"), dict) else {}
    start, end = content.get("Start"), content.get("End")
    properties: dict[str, Any] = {"datetime": start if isinstance(start, str) and start else None}
    if isinstance(start, str) and isinstance(end, str) and start and end:
        properties.update(start_datetime=start, end_datetime=end)
    short, serial = attributes.get("platformShortName"), attributes.get("platformSerialIdentifier")
    if isinstance(short, str) and short:
        properties["constellation"] = short.lower()
        properties["platform"] = f"{short}{serial}".lower() if isinstance(serial, str) else short.lower()
    instrument = attributes.get("instrumentShortName")
    if isinstance(instrument, str) and instrument:
        properties["instruments"] = [instrument.lower()]
    extensions = []
    if scene.cloudcover_percentage is not None:
        properties["eo:cloud_cover"] = scene.cloudcover_percentage
        extensions.append(EO_EXTENSION)
    name = str(product.get("Name") or scene.scene_id).strip()
    files: dict[str, str] = {}
    assets: dict[str, Any] = {}
    if scene.download_links:
        assets["product"] = {"href": scene.download_links[0], "type": "application/zip", "title": name,
                             "roles": ["data"]}  # fmt: skip
        files["product"] = download_filename(name)
    item = {
        "type": "Feature",
        "stac_version": "1.1.0",
        "stac_extensions": extensions,
        "id": scene.scene_id,
        "geometry": None,
        "properties": properties,
        "links": [],
        "assets": assets,
    }
    return item, files
