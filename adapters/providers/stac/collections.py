"""Which STAC collection holds which platform and product type, per server flavour.

Each flavour's table maps a canonical platform to ``{product type: collection ids}`` (the
product types are the user vocabulary of :mod:`eoharvest.domain.product_types`; ``""`` holds
collections accepted by their id only). The first entry of a platform is its default. On the
servers listed here the table is the whole truth, so an unknown product type is refused with
the known ones; on any other server (flavour ``generic``) a product type maps to one of the
collections the server itself lists. Users can always pass ``collections=[...]``.
"""

from __future__ import annotations

from typing import Callable, Sequence

from eoharvest.domain import product_types as vocabulary
from eoharvest.domain.errors import InputError
from eoharvest.domain.product_types import ProductTypeTable

_LANDSAT_C2 = ("landsat-c2-l2",)  # holds L2SP scenes and the few L2SR ones (no thermal band)

FLAVOURS: dict[str, ProductTypeTable] = {
    "earth-search": {
        "Sentinel-2": {"L2A": ("sentinel-2-c1-l2a",), "L1C": ("sentinel-2-l1c",), "": ("sentinel-2-l2a",)},
        "Sentinel-1": {"GRD": ("sentinel-1-grd",)},
        **{f"Landsat-{n}": {"L2SP": _LANDSAT_C2} for n in (4, 5, 7, 8, 9)},
        "NAIP": {"": ("naip",)},
    },
    "planetary-computer": {
        "Sentinel-2": {"L2A": ("sentinel-2-l2a",)},
        "Sentinel-1": {"GRD": ("sentinel-1-grd",), "RTC": ("sentinel-1-rtc",)},
        # landsat-c2-l1 is the MSS archive (Landsat 1-5 only)
        **{f"Landsat-{n}": {"L2SP": _LANDSAT_C2, "": ("landsat-c2-l1",)} for n in (4, 5)},
        **{f"Landsat-{n}": {"L2SP": _LANDSAT_C2} for n in (7, 8, 9)},
        "Terra": {"L1T": ("aster-l1t",), "MOD09A1": ("modis-09A1-061",)},
        "NAIP": {"": ("naip",)},
    },
    "cdse-stac": {
        "Sentinel-2": {"L2A": ("sentinel-2-l2a",), "L1C": ("sentinel-2-l1c",)},
        "Sentinel-1": {"GRD": ("sentinel-1-grd",), "SLC": ("sentinel-1-slc",)},
        "Sentinel-3": {"OL_1_EFR": ("sentinel-3-olci-1-efr-ntc",), "OL_2_LFR": ("sentinel-3-olci-2-lfr-ntc",)},
        "Sentinel-5P": {"L2_NO2": ("sentinel-5p-l2-no2-offl",)},
    },
}
#: Any other server: Earth Search's collection names, checked against what the server lists.
FLAVOURS["generic"] = FLAVOURS["earth-search"]
#: Flavours whose product types are only a guess until the server's collection list confirms them.
LISTED_ONLY = frozenset({"generic"})

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


def _unlisted() -> frozenset[str] | None:
    return None


def collections_for(
    table: ProductTypeTable,
    platforms: Sequence[str],
    product_type: object = None,
    available: Callable[[], frozenset[str] | None] = _unlisted,
    *,
    provider: str = "stac",
    listed_only: bool = False,
) -> list[str]:
    """Collection ids for these platforms and product types (deduplicated, in order).

    ``available`` fetches the server's own collection ids (None when it does not list them);
    it is asked only after a product type has been checked against a known server's table, so
    a wrong one is refused before anything is sent. A missing collection is swapped for a
    stand-in the server lists; with ``listed_only`` a product type must be, or map to, one of
    the listed collections, and an unknown one is refused with the server's list.
    """
    listed: frozenset[str] | None
    if product_type is None:
        chosen = [next(iter(table[p].values()))[0] for p in platforms if table.get(p)]
        listed = available()
    elif listed_only and (listed := available()) is not None:
        chosen = _listed(table, platforms, product_type, listed, provider)
    else:
        resolved = vocabulary.resolve(product_type, platforms, table, provider=provider)
        chosen = [c for p in platforms for c in resolved.get(p, ())]
        listed = available()
    unique: list[str] = []
    for collection in chosen:
        if listed is not None and collection not in listed:
            collection = next((alt for alt in ALTERNATES.get(collection, ()) if alt in listed), collection)
        if collection not in unique:
            unique.append(collection)
    return unique


def _listed(
    table: ProductTypeTable, platforms: Sequence[str], product_type: object, available: frozenset[str], provider: str
) -> list[str]:
    """Product types on a server known only by its collection list: a listed collection id, or a
    vocabulary name whose usual collection (or a stand-in) the server lists."""
    by_norm = {vocabulary.normalise(c): c for c in available}
    listing = ", ".join(sorted(available))
    chosen: list[str] = []
    for name in vocabulary.requested(product_type):
        if vocabulary.normalise(name) in by_norm:
            chosen.append(by_norm[vocabulary.normalise(name)])
            continue
        try:
            resolved = vocabulary.resolve(name, platforms, table, provider=provider)
        except InputError:
            raise InputError(
                f"{provider} has no product type or collection {name!r}",
                hint=f"its collections: {listing}",
            ) from None
        candidates = [c for p in platforms for c in resolved.get(p, ())]
        served = [c for c in candidates if c in available] or [
            alt for c in candidates for alt in ALTERNATES.get(c, ()) if alt in available
        ]
        if not served:
            raise InputError(
                f"{provider} lists no collection for product type {name!r} of {', '.join(platforms)} "
                f"(looked for {', '.join(candidates)})",
                hint=f"its collections: {listing}; pass one with --product-type or --collection",
            )
        chosen.extend(served)
    return chosen
