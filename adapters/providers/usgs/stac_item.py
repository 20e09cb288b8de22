"""A USGS M2M scene as a STAC Item (for ``eoharvest catalog export --format stac``).

Built from the ``scene-search`` result kept as the scene's raw record. M2M download URLs are
short-lived, so the data assets point at the product's files in USGS's public Collection 2
layout on landsatlook.usgs.gov (the same files, stable names), keyed by the Earth Search asset
names ``--assets`` uses; the M2M browse images become ``thumbnail``/``overview`` assets. The
export points downloaded assets at their local files (a bundle's extracted members included).
"""

from __future__ import annotations

from typing import Any, Mapping

from eoharvest.adapters.providers.usgs.datasets import asset_name, dataset_of
from eoharvest.adapters.providers.usgs.items import published
from eoharvest.domain.models import Scene
from eoharvest.domain.product_keys import is_landsat_product

STAC_VERSION = "1.1.0"
EO_EXTENSION = "https://stac-extensions.github.io/eo/v1.1.0/schema.json"
LANDSATLOOK = "https://landsatlook.usgs.gov/data/collection02/level-2/standard"
_SENSOR_FOLDER = {"LC": "oli-tirs", "LE": "etm", "LT": "tm"}
_INSTRUMENTS = {"LC": ["oli", "tirs"], "LE": ["etm+"], "LT": ["tm"]}
_OLI_FILES = ("SR_B1", "SR_B2", "SR_B3", "SR_B4", "SR_B5", "SR_B6", "SR_B7", "ST_B10", "SR_QA_AEROSOL")
_TM_FILES = ("SR_B1", "SR_B2", "SR_B3", "SR_B4", "SR_B5", "SR_B7", "ST_B6", "SR_ATMOS_OPACITY", "SR_CLOUD_QA")
_COMMON_FILES = ("QA_PIXEL", "QA_RADSAT", "ST_QA", "ST_TRAD", "ST_URAD", "ST_DRAD", "ST_ATRAN", "ST_EMIS", "ST_EMSD",
                 "ST_CDIST")  # fmt: skip
_TEXT_FILES = (("MTL.json", "application/json"), ("MTL.txt", "text/plain"), ("MTL.xml", "application/xml"),
               ("ANG.txt", "text/plain"))  # fmt: skip
COG = "image/tiff; application=geotiff; profile=cloud-optimized"


def product_folder(product_id: str) -> str | None:
    """``.../oli-tirs/2020/017/030/<product id>`` for a Collection 2 Level-2 product id."""
    parts = product_id.split("_")
    if len(parts) != 7 or not is_landsat_product(product_id) or parts[0][:2] not in _SENSOR_FOLDER:
        return None
    path, row, year = parts[2][:3], parts[2][3:], parts[3][:4]
    return f"{LANDSATLOOK}/{_SENSOR_FOLDER[parts[0][:2]]}/{year}/{path}/{row}/{product_id}"


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def stac_item(scene: Scene) -> tuple[dict[str, Any], dict[str, str]]:
    """The item (geometry filled in by the export) and, per asset, its local file name."""
    raw: Mapping[str, Any] = scene.raw if isinstance(scene.raw, Mapping) else {}
    product_id = scene.scene_id
    sensor = product_id[:2].upper()
    parts = product_id.split("_")
    props: dict[str, Any] = {
        "datetime": _iso(scene.acq_date),
        "platform": scene.platformname.lower(),
        "constellation": "landsat",
        "instruments": _INSTRUMENTS.get(sensor),
        "published": _iso(published(raw)),
        "usgs:entity_id": raw.get("entityId"),
        "usgs:dataset": dataset_of(scene.platformname) if scene.platformname.startswith("Landsat-") else None,
        "usgs:wrs_path": parts[2][:3] if len(parts) == 7 else None,
        "usgs:wrs_row": parts[2][3:] if len(parts) == 7 else None,
        "usgs:collection_category": parts[-1] if len(parts) == 7 else None,
    }
    extensions = []
    if scene.cloudcover_percentage is not None:
        props["eo:cloud_cover"] = scene.cloudcover_percentage
        extensions.append(EO_EXTENSION)
    assets: dict[str, Any] = {}
    files: dict[str, str] = {}
    folder = product_folder(product_id)
    if folder is not None:
        tokens = (_OLI_FILES if sensor == "LC" else _TM_FILES) + _COMMON_FILES
        names = [(f"{product_id}_{t}.TIF", COG, ["data"]) for t in tokens]
        names += [(f"{product_id}_{t}", media, ["metadata"]) for t, media in _TEXT_FILES]
        for name, media, roles in names:
            key = asset_name(product_id, name)
            if key is None:
                continue
            assets[key] = {"href": f"{folder}/{name}", "type": media, "title": name, "roles": roles}
            files[key] = name
    for browse in raw.get("browse") or []:
        if not isinstance(browse, Mapping):
            continue
        for field, role in (("thumbnailPath", "thumbnail"), ("browsePath", "overview")):
            href = browse.get(field)
            if isinstance(href, str) and href.startswith("https://") and role not in assets:
                assets[role] = {"href": href, "type": "image/jpeg", "title": str(browse.get("browseName") or role),
                                "roles": [role]}  # fmt: skip
    item = {
        "type": "Feature",
        "stac_version": STAC_VERSION,
        "stac_extensions": extensions,
        "id": scene.scene_id,
        "geometry": None,
        "properties": {k: v for k, v in props.items() if v is not None},
        "links": [],
        "assets": assets,
    }
    return item, files
