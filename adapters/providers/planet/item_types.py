"""Planet item types: which platform each belongs to, what is searched by default, and which
asset is fetched when none is named.

Kept free of heavy imports: the provider table reads :data:`PLATFORMS` and
:data:`PRODUCT_TYPES` at CLI start-up. Platforms are eoharvest's canonical names
(``--platform PSScene`` resolves to ``PlanetScope``); the item types are the product types
(``--product-type SkySatScene``). Activating every asset of an item burns quota, so each item
type has one documented default asset (the first of its list that the item offers).
"""

from __future__ import annotations

from eoharvest.domain.product_types import ProductTypeTable
from eoharvest.domain.providers import PUBLISHED_SINCE

#: platform -> its item types, the default one first (searched when no product type is given).
ITEM_TYPES: dict[str, tuple[str, ...]] = {
    "PlanetScope": ("PSScene", "PSScene4Band", "PSScene3Band", "PSOrthoTile"),
    "SkySat": ("SkySatCollect", "SkySatScene"),
    "RapidEye": ("REOrthoTile", "REScene"),
}

#: The platform names ``--platform`` accepts for this provider, in listing order.
PLATFORMS: tuple[str, ...] = tuple(ITEM_TYPES)

#: item type -> the assets fetched when none are named, in preference order: the first one the
#: item offers is used (surface reflectance where Planet makes it, else the analytic product).
DEFAULT_ASSETS: dict[str, tuple[str, ...]] = {
    "PSScene": ("ortho_analytic_4b_sr", "ortho_analytic_4b", "ortho_visual"),
    "PSScene4Band": ("analytic_sr", "analytic"),
    "PSScene3Band": ("visual", "analytic"),
    "PSOrthoTile": ("analytic_sr", "analytic", "visual"),
    "SkySatCollect": ("ortho_analytic_sr", "ortho_analytic", "ortho_visual"),
    "SkySatScene": ("ortho_analytic_sr", "ortho_analytic", "ortho_visual"),
    "REOrthoTile": ("analytic_sr", "analytic", "visual"),
    "REScene": ("basic_analytic_b1",),
}

#: Every item type the search accepts (``item_types`` of quick-search).
KNOWN_ITEM_TYPES: frozenset[str] = frozenset(t for types in ITEM_TYPES.values() for t in types)


def platform_of(item_type: str) -> str:
    """The canonical platform of an item type (an unknown one is its own platform)."""
    return next((p for p, types in ITEM_TYPES.items() if item_type in types), item_type)


def default_item_type(platform: str) -> str:
    return ITEM_TYPES[platform][0]


#: The search option with a UTC time (the watch daemon's publication-time watermark, matched
#: against Planet's ``published`` field) is the shared one of domain/providers.py.
#: Keyword options of ``scenes(...)`` this provider honours.
SEARCH_OPTIONS = frozenset({"product_type", "page_size", PUBLISHED_SINCE})

#: Declared in the provider table (``eoharvest product-types --provider planet`` lists them):
#: Planet's item types are its own names; none of them is a processing level of the shared
#: vocabulary, so they are listed under ``""``.
PRODUCT_TYPES: ProductTypeTable = {platform: {"": types} for platform, types in ITEM_TYPES.items()}

__all__ = ["DEFAULT_ASSETS", "ITEM_TYPES", "KNOWN_ITEM_TYPES", "PLATFORMS", "PRODUCT_TYPES", "PUBLISHED_SINCE",
           "SEARCH_OPTIONS", "default_item_type", "platform_of"]
