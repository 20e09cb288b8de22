"""Which CMR collections hold which platform, and what each collection's granules carry.

Kept free of heavy imports: the provider table reads the platform list at CLI start-up. Short
names and versions are CMR's (``collections.json?short_name=HLSL30&version=2.0``); the concept
ids are looked up at search time, because a short name can live at several CMR providers.
Landsat Collection 2 is not reliably in CMR with file links: it is left to USGS and STAC.
"""

from __future__ import annotations

from dataclasses import dataclass

from eoharvest.domain.product_types import LEVELS, ProductTypeTable

#: Search keywords this provider honours (declared in its provider-table entry); any other is
#: refused with this list.
ACCEPTED_OPTIONS = (
    "product_type", "collections", "collection_concept_id", "short_name", "version", "provider_id",
    "day_night_flag", "page_size", "updated_since", "revision_date",
)


@dataclass(frozen=True)
class CollectionRef:
    """A CMR collection by short name (and version, None: any), with what eoharvest knows of it."""

    short_name: str
    version: str | None
    #: the canonical platform put on its scenes
    platform: str
    #: the product type label within the platform (``--product-type``), besides the short name
    product_type: str
    #: its granules carry UMM-G ``CloudCover``, so CMR's ``cloud_cover`` parameter filters them
    cloud_cover: bool = False
    #: radar: no cloud cover at all, a cloud filter is ignored with a warning
    radar: bool = False
    #: searched when the platform is asked for without a product type
    default: bool = True


def _s1(product_type: str, suffix: str, default: bool) -> tuple[CollectionRef, ...]:
    return tuple(
        CollectionRef(f"SENTINEL-1{unit}_{suffix}", None, "Sentinel-1", product_type, radar=True, default=default)
        for unit in "ABCD"
    )


COLLECTIONS: tuple[CollectionRef, ...] = (
    CollectionRef("HLSL30", "2.0", "HLS", "L30", cloud_cover=True),
    CollectionRef("HLSS30", "2.0", "HLS", "S30", cloud_cover=True),
    CollectionRef("MOD09GA", "061", "Terra", "MOD09GA"),
    CollectionRef("MYD09GA", "061", "Aqua", "MYD09GA"),
    CollectionRef("VNP09GA", "002", "VIIRS", "VNP09GA"),
    CollectionRef("VJ109GA", "002", "VIIRS", "VJ109GA"),
    *_s1("SLC", "SLC", True),
    *_s1("GRD", "DP_GRD_HIGH", False),
)

#: Search names that stand for several platforms' collections.
GROUPS: dict[str, tuple[str, ...]] = {"MODIS": ("Terra", "Aqua")}

#: The platform names ``--platform`` accepts for this provider, in listing order.
PLATFORMS: tuple[str, ...] = ("HLS", "MODIS", "Terra", "Aqua", "VIIRS", "Sentinel-1")


def collections_of(platform: str) -> tuple[CollectionRef, ...]:
    """Every collection of a search platform (a group name covers its members)."""
    members = GROUPS.get(platform, (platform,))
    return tuple(ref for ref in COLLECTIONS if ref.platform in members)


def known_collection(short_name: str) -> CollectionRef | None:
    """The table's entry for a short name (case-insensitive), if any."""
    wanted = short_name.strip().upper()
    return next((ref for ref in COLLECTIONS if ref.short_name.upper() == wanted), None)


def _product_types() -> ProductTypeTable:
    """The shared vocabulary (``SLC``, ``GRD``) mapped to CMR short names; labels outside it
    (HLS ``L30``, MODIS/VIIRS short names) are CMR's own names, listed under ``""``."""
    table: dict[str, dict[str, tuple[str, ...]]] = {}
    for ref in COLLECTIONS:
        level = ref.product_type if ref.product_type in LEVELS else ""
        names = table.setdefault(ref.platform, {}).setdefault(level, ())
        table[ref.platform][level] = (*names, ref.short_name)
    return table


#: Declared in the provider table (``eoharvest product-types --provider cmr`` lists it).
PRODUCT_TYPES: ProductTypeTable = _product_types()

__all__ = ["COLLECTIONS", "GROUPS", "PLATFORMS", "PRODUCT_TYPES", "CollectionRef", "collections_of", "known_collection"]
