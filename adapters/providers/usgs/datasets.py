"""The Landsat Collection 2 Level-2 datasets of M2M, their platforms, and file names as assets.

Asset names follow Earth Search's ``landsat-c2-l2`` items (``red``, ``nir08``, ``qa_pixel``,
``mtl.json``, ...) so ``--assets`` picks the same files from USGS as from a STAC provider. The
band a file holds is named only in its display id (``..._02_T1_SR_B4.TIF``), and the band
numbers mean other colours on TM/ETM+ than on OLI.
"""

from __future__ import annotations

import re

from eoharvest.domain.product_types import ProductTypeTable

TM, ETM, OT = "landsat_tm_c2_l2", "landsat_etm_c2_l2", "landsat_ot_c2_l2"

#: dataset -> the platforms it holds (reference classes UsgsTm, UsgsEtm, UsgsOt)
DATASETS: dict[str, tuple[str, ...]] = {
    TM: ("Landsat-4", "Landsat-5"),
    ETM: ("Landsat-7",),
    OT: ("Landsat-8", "Landsat-9"),
}
PLATFORMS: tuple[str, ...] = tuple(p for platforms in DATASETS.values() for p in platforms)

#: the sensor/satellite code that starts a product id -> platform
SENSORS: dict[str, str] = {"LT04": "Landsat-4", "LT05": "Landsat-5", "LE07": "Landsat-7", "LC08": "Landsat-8", "LC09": "Landsat-9"}

#: Level-2 products in these datasets: L2SP (reflectance and temperature) or L2SR (reflectance
#: only, where no thermal product could be made)
PRODUCT_TYPES: ProductTypeTable = {p: {"L2SP": ("L2SP",), "": ("L2SR",)} for p in PLATFORMS}


#: keyword options of ``scenes(...)``: ``published_since``/``published_until`` filter on the
#: time USGS published the scene (M2M ``ingestFilter``, the result's ``publishDate``)
SEARCH_OPTIONS = frozenset({"product_type", "page_size", "published_since", "published_until"})


def dataset_of(platform: str) -> str:
    return next(d for d, platforms in DATASETS.items() if platform in platforms)


def platform_of(product_id: str) -> str | None:
    return SENSORS.get(product_id[:4].upper())


_OLI_BANDS = {
    "SR_B1": "coastal", "SR_B2": "blue", "SR_B3": "green", "SR_B4": "red", "SR_B5": "nir08",
    "SR_B6": "swir16", "SR_B7": "swir22", "ST_B10": "lwir11", "SR_QA_AEROSOL": "qa_aerosol",
}  # fmt: skip
_TM_BANDS = {
    "SR_B1": "blue", "SR_B2": "green", "SR_B3": "red", "SR_B4": "nir08", "SR_B5": "swir16",
    "SR_B7": "swir22", "ST_B6": "lwir", "SR_ATMOS_OPACITY": "atmos_opacity", "SR_CLOUD_QA": "cloud_qa",
}  # fmt: skip
_COMMON = {
    "QA_PIXEL": "qa_pixel", "QA_RADSAT": "qa_radsat", "ST_QA": "qa", "ST_TRAD": "trad", "ST_URAD": "urad",
    "ST_DRAD": "drad", "ST_ATRAN": "atran", "ST_EMIS": "emis", "ST_EMSD": "emsd", "ST_CDIST": "cdist",
    "ANG": "ang",
}  # fmt: skip
_FILE = re.compile(r"^(?P<token>[A-Z0-9_]+?)[._](?P<ext>TIF|txt|json|xml)$", re.IGNORECASE)


def asset_name(product_id: str, file_id: str) -> str | None:
    """The Earth Search asset name of one file of ``product_id`` (its display id, e.g.
    ``LC08_..._02_T1_SR_B4.TIF``), or None when the file is not one of the product's."""
    if not file_id.startswith(product_id + "_"):
        return None
    m = _FILE.match(file_id[len(product_id) + 1 :])
    if m is None:
        return None
    token, ext = m["token"].upper(), m["ext"].lower()
    if token == "MTL":
        return f"mtl.{ext}"
    bands = _OLI_BANDS if product_id[:4].upper() in ("LC08", "LC09") else _TM_BANDS
    return bands.get(token) or _COMMON.get(token)


def file_name(file_id: str) -> str:
    """The local name of a band file: its display id, with ``_TIF`` spelt ``.TIF`` (entity ids do)."""
    return re.sub(r"_(TIF|txt|json|xml)$", r".\1", file_id)
