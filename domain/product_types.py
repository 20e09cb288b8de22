"""One vocabulary of product types for every provider, and how a provider's table resolves it.

Users ask for a processing level by one name (``L2A``) whatever the provider calls it: CDSE
OData's ``productType`` attribute says ``S2MSI2A``, Earth Search's collection is
``sentinel-2-c1-l2a``. Each provider package declares a :data:`ProductTypeTable` (platform ->
vocabulary name -> the provider's own names) and its provider-table entry carries it; the
provider's own names are accepted too. A name the table does not know is an ``InputError``
that lists the known ones, never a search that silently finds nothing.
"""

from __future__ import annotations

import re
from typing import Iterable, Mapping, Sequence

from eoharvest.domain.errors import InputError

#: The user vocabulary: name -> what it is. Every key of every provider's table is one of these
#: (or ``""``: provider names that no vocabulary name stands for, accepted as they are).
LEVELS: dict[str, str] = {
    # Sentinel-2 MSI
    "L1C": "Sentinel-2 Level-1C: top-of-atmosphere reflectance, 100 km UTM tiles",
    "L2A": "Sentinel-2 Level-2A: bottom-of-atmosphere (surface) reflectance",
    # Sentinel-1 SAR
    "GRD": "Sentinel-1 Level-1 Ground Range Detected (every mode and resolution)",
    "GRD-COG": "Sentinel-1 GRD as Cloud-Optimised GeoTIFF SAFE",
    "SLC": "Sentinel-1 Level-1 Single Look Complex",
    "OCN": "Sentinel-1 Level-2 Ocean (wind, wave, radial velocity)",
    "RAW": "Sentinel-1 Level-0 raw data",
    "RTC": "Sentinel-1 radiometrically terrain-corrected backscatter (derived from GRD)",
    # Landsat Collection 2
    "L1TP": "Landsat Collection 2 Level-1 precision and terrain corrected",
    "L1GT": "Landsat Collection 2 Level-1 systematic terrain corrected",
    "L2SP": "Landsat Collection 2 Level-2 surface reflectance and temperature",
    # Sentinel-3 (ESA product type names)
    "OL_1_EFR": "Sentinel-3 OLCI Level-1 full resolution",
    "OL_1_ERR": "Sentinel-3 OLCI Level-1 reduced resolution",
    "OL_2_LFR": "Sentinel-3 OLCI Level-2 land, full resolution",
    "OL_2_LRR": "Sentinel-3 OLCI Level-2 land, reduced resolution",
    "OL_2_WFR": "Sentinel-3 OLCI Level-2 water, full resolution",
    "OL_2_WRR": "Sentinel-3 OLCI Level-2 water, reduced resolution",
    "SL_1_RBT": "Sentinel-3 SLSTR Level-1 radiances and brightness temperatures",
    "SL_2_LST": "Sentinel-3 SLSTR Level-2 land surface temperature",
    "SL_2_WST": "Sentinel-3 SLSTR Level-2 water surface temperature",
    "SL_2_FRP": "Sentinel-3 SLSTR Level-2 fire radiative power",
    "SL_2_AOD": "Sentinel-3 SLSTR Level-2 aerosol optical depth",
    "SR_1_SRA": "Sentinel-3 SRAL Level-1 altimetry",
    "SR_2_LAN": "Sentinel-3 SRAL Level-2 land altimetry",
    "SR_2_WAT": "Sentinel-3 SRAL Level-2 water altimetry",
    "SY_2_SYN": "Sentinel-3 Synergy Level-2 surface reflectance",
    "SY_2_VGP": "Sentinel-3 Synergy VEGETATION-like top-of-atmosphere reflectance",
    "SY_2_VG1": "Sentinel-3 Synergy VEGETATION-like 1-day synthesis",
    "SY_2_V10": "Sentinel-3 Synergy VEGETATION-like 10-day synthesis",
    "SY_2_AOD": "Sentinel-3 Synergy Level-2 aerosol optical depth",
    # Sentinel-5P TROPOMI
    "L1B": "Sentinel-5P Level-1B radiances and irradiances (every band)",
    "L2_NO2": "Sentinel-5P Level-2 nitrogen dioxide",
    "L2_O3": "Sentinel-5P Level-2 ozone total column",
    "L2_CO": "Sentinel-5P Level-2 carbon monoxide",
    "L2_CH4": "Sentinel-5P Level-2 methane",
    "L2_SO2": "Sentinel-5P Level-2 sulphur dioxide",
    "L2_HCHO": "Sentinel-5P Level-2 formaldehyde",
    "L2_CLOUD": "Sentinel-5P Level-2 cloud properties",
    "L2_AER_AI": "Sentinel-5P Level-2 UV aerosol index",
    "L2_AER_LH": "Sentinel-5P Level-2 aerosol layer height",
    # other missions
    "L1T": "ASTER Level-1T precision terrain corrected radiance",
    "MOD09A1": "MODIS 8-day surface reflectance (500 m)",
}

#: platform -> vocabulary name (or "") -> the provider's own names for it, in preference order.
ProductTypeTable = Mapping[str, Mapping[str, tuple[str, ...]]]


def normalise(name: str) -> str:
    """Comparison form: upper case, runs of ``_``, ``-`` and blanks as one ``_``, none at the ends.

    So ``l2a`` is ``L2A``, ``OL_1_EFR___`` is ``OL_1_EFR`` and ``IW_SLC__1S`` is ``IW_SLC_1S``.
    """
    return re.sub(r"[\s_\-]+", "_", name.strip().upper()).strip("_")


def requested(value: object) -> tuple[str, ...]:
    """``product_type`` as given (text, comma-separated text, or a list of text) as a tuple."""
    if value is None:
        return ()
    if isinstance(value, str):
        items: Iterable[object] = value.split(",")
    elif isinstance(value, (list, tuple, set, frozenset)):
        items = value
    else:
        raise InputError(
            f"product type {value!r} is a {type(value).__name__}, not text",
            hint="give a product type such as L2A, or a list of them",
        )
    names = tuple(str(v).strip() for v in items if str(v).strip())
    if not names:
        raise InputError(f"product type {value!r} is empty", hint="give a product type such as L2A")
    return names


def _lookup(table: ProductTypeTable, platform: str, name: str) -> tuple[str, ...] | None:
    """The provider names ``name`` stands for on ``platform``: a vocabulary name, or one of them."""
    wanted = normalise(name)
    types = table.get(platform, {})
    for level, names in types.items():
        if level and normalise(level) == wanted:
            return names
    for names in types.values():
        for own in names:
            if normalise(own) == wanted:
                return (own,)
    return None


def resolve(
    value: object, platforms: Sequence[str], table: ProductTypeTable, *, provider: str
) -> dict[str, tuple[str, ...]]:
    """Per platform, the provider's names for the requested product types (platforms that have
    none of them are left out). An unknown name is an ``InputError`` naming it and listing the
    known ones."""
    found: dict[str, list[str]] = {}
    for name in requested(value):
        matched = False
        for platform in platforms:
            names = _lookup(table, platform, name)
            if names is None:
                continue
            matched = True
            bucket = found.setdefault(platform, [])
            bucket.extend(n for n in names if n not in bucket)
        if not matched:
            raise unknown_type(name, platforms, table, provider=provider)
    return {p: tuple(found[p]) for p in platforms if p in found}


def unknown_type(name: str, platforms: Sequence[str], table: ProductTypeTable, *, provider: str) -> InputError:
    """The error for a product type ``provider`` does not have for ``platforms``."""
    elsewhere = [p for p in table if p not in platforms and _lookup(table, p, name) is not None]
    where = ", ".join(platforms) or "any platform"
    if elsewhere:
        hint = f"{name} is a {' / '.join(elsewhere)} product type on {provider}: add --platform {elsewhere[0]}"
    else:
        known = "; ".join(describe(table, platforms)) or "none"
        hint = f"known product types for {where} on {provider}: {known} (see `eoharvest product-types`)"
    return InputError(f"{provider} has no product type {name!r} for {where}", hint=hint)


def describe(table: ProductTypeTable, platforms: Sequence[str] | None = None) -> list[str]:
    """One line per platform: ``Sentinel-2: L1C (S2MSI1C), L2A (S2MSI2A)``."""
    lines = []
    for platform, types in table.items():
        if platforms is not None and platform not in platforms:
            continue
        entries = [f"{level} ({_names(names)})" if level else _names(names) for level, names in types.items()]
        if entries:
            lines.append(f"{platform}: {', '.join(entries)}")
    return lines


def _names(names: Sequence[str]) -> str:
    return ", ".join(names) if len(names) <= 3 else f"{', '.join(names[:2])} and {len(names) - 2} more"
