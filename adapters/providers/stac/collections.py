"""Which STAC collection holds which platform, per server flavour.

Each entry maps a canonical platform to ``{product type: collection id}``; the first product type
is the default. Users can always pass ``collections=[...]`` to search any collection directly.
"""

from __future__ import annotations

from typing import Mapping

from eoharvest.domain.errors import InputError

_LANDSAT_L2 = {"L2": "landsat-c2-l2"}

FLAVOURS: dict[str, dict[str, dict[str, str]]] = {
    "earth-search": {
        "Sentinel-2": {"L2A": "sentinel-2-c1-l2a", "L1C": "sentinel-2-l1c", "L2A-LEGACY": "sentinel-2-l2a"},
        "Sentinel-1": {"GRD": "sentinel-1-grd"},
        **{f"Landsat-{n}": _LANDSAT_L2 for n in (4, 5, 7, 8, 9)},
        "NAIP": {"": "naip"},
    },
    "planetary-computer": {
        "Sentinel-2": {"L2A": "sentinel-2-l2a"},
        "Sentinel-1": {"GRD": "sentinel-1-grd", "RTC": "sentinel-1-rtc"},
        **{f"Landsat-{n}": {"L2": "landsat-c2-l2", "L1": "landsat-c2-l1"} for n in (4, 5, 7, 8, 9)},
        "Terra": {"ASTER-L1T": "aster-l1t", "MODIS": "modis-09A1-061"},
        "NAIP": {"": "naip"},
    },
    "cdse-stac": {
        "Sentinel-2": {"L2A": "sentinel-2-l2a", "L1C": "sentinel-2-l1c"},
        "Sentinel-1": {"GRD": "sentinel-1-grd", "SLC": "sentinel-1-slc"},
        "Sentinel-3": {"OL_1_EFR": "sentinel-3-olci-1-efr-ntc", "OL_2_LFR": "sentinel-3-olci-2-lfr-ntc"},
        "Sentinel-5P": {"L2_NO2": "sentinel-5p-l2-no2-offl"},
    },
}
FLAVOURS["generic"] = FLAVOURS["earth-search"]

# When a server does not have a collection, these stand-ins (in order) hold the same products.
ALTERNATES: dict[str, tuple[str, ...]] = {
    "sentinel-2-c1-l2a": ("sentinel-2-l2a",),
    "sentinel-2-l2a": ("sentinel-2-c1-l2a",),
    "sentinel-1-grd": ("sentinel-1-grd-cog",),
}

# Radar platforms have no cloud cover: a cloud filter is ignored for them with a warning.
SAR_PLATFORMS = frozenset({"Sentinel-1"})


def flavour_for(url: str) -> str:
    """Guess the server flavour from its URL (configurable: this is only the default)."""
    lowered = url.lower()
    if "planetarycomputer" in lowered:
        return "planetary-computer"
    if "dataspace.copernicus" in lowered:
        return "cdse-stac"
    if "earth-search" in lowered:
        return "earth-search"
    return "generic"


def collections_for(
    flavour: str,
    platforms: tuple[str, ...],
    product_type: str | None = None,
    available: frozenset[str] | None = None,
) -> list[str]:
    """Collection ids for these platforms (deduplicated, in order). ``available`` (the server's
    own collection ids, when it lists them) swaps a missing collection for a stand-in."""
    table: Mapping[str, Mapping[str, str]] = FLAVOURS[flavour]
    chosen: list[str] = []
    for platform in platforms:
        types = table[platform]
        if product_type is None:
            collection = next(iter(types.values()))
        else:
            wanted = product_type.upper().replace(" ", "-")
            collection = types.get(wanted) or next(
                (c for t, c in types.items() if t.replace("_", "") == wanted.replace("_", "")), ""
            )
            if not collection:
                raise InputError(
                    f"{platform} has no product type {product_type!r} on this STAC server",
                    hint=f"choose one of: {', '.join(t for t in types if t) or '(none)'}, "
                    "or pass collections=[...]",
                )
        if available is not None and collection not in available:
            collection = next((alt for alt in ALTERNATES.get(collection, ()) if alt in available), collection)
        if collection not in chosen:
            chosen.append(collection)
    return chosen
