"""Platform names: canonical spellings, aliases, and case-insensitive resolution."""

from __future__ import annotations

import re
from typing import Iterable

from eoharvest.domain.errors import InputError

# canonical name -> aliases (compared after normalisation: lower case, no '-', '_', ' ').
PLATFORM_ALIASES: dict[str, tuple[str, ...]] = {
    "Sentinel-1": ("S1", "Sentinel1", "S1A", "S1B", "S1C"),
    "Sentinel-2": ("S2", "Sentinel2", "S2A", "S2B", "S2C", "MSI"),
    "Sentinel-3": ("S3", "Sentinel3"),
    "Sentinel-5P": ("S5P", "Sentinel5P", "Sentinel-5 Precursor", "TROPOMI"),
    "Sentinel-6": ("S6", "Sentinel6"),
    "Landsat-4": ("L4", "LT04", "Landsat4"),
    "Landsat-5": ("L5", "LT05", "Landsat5"),
    "Landsat-7": ("L7", "LE07", "Landsat7", "ETM+", "ETM"),
    "Landsat-8": ("L8", "LC08", "Landsat8"),
    "Landsat-9": ("L9", "LC09", "Landsat9"),
    "Terra": ("MODIS Terra", "MOD"),
    "Aqua": ("MODIS Aqua", "MYD"),
    "HLS": ("Harmonized Landsat Sentinel-2", "HLSS30", "HLSL30"),
    "PlanetScope": ("PSScene", "PS", "Dove"),
    "SkySat": ("SkySatCollect", "SkySatScene"),
    "RapidEye": ("REOrthoTile", "REScene"),
    "NAIP": (),
    "SMOS": (),
    "ENVISAT": ("Envisat", "MERIS", "ASAR"),
    "COP-DEM": ("Copernicus DEM", "DEM"),
    "CCM": ("Copernicus Contributing Missions",),
    "GLOBAL-MOSAICS": ("Sentinel Global Mosaics", "S2 Global Mosaics"),
}


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-]+", "", name).lower()


_LOOKUP: dict[str, str] = {}
for _canonical, _aliases in PLATFORM_ALIASES.items():
    for _alias in (_canonical, *_aliases):
        _LOOKUP[_norm(_alias)] = _canonical


def canonical_platform(name: str, supported: Iterable[str] | None = None) -> str:
    """Resolve ``name`` (any case, any alias) to its canonical spelling.

    When ``supported`` is given, the result must be one of those names; otherwise the error
    lists what is supported.
    """
    allowed = list(supported) if supported is not None else list(PLATFORM_ALIASES)
    if not isinstance(name, str) or not name.strip():
        raise InputError(
            f"platform name {name!r} is empty or not text",
            hint=f"supported platforms: {', '.join(allowed)}",
        )
    canonical = _LOOKUP.get(_norm(name))
    if canonical is None:
        # Names outside our table may still be provider-specific (a STAC collection id).
        allowed_norm = {_norm(a): a for a in allowed}
        canonical = allowed_norm.get(_norm(name))
    if canonical is None or canonical not in allowed:
        raise InputError(
            f"unknown platform {name!r}",
            hint=f"supported platforms: {', '.join(allowed)}",
        )
    return canonical


def canonical_platforms(
    names: str | Iterable[str] | None, supported: Iterable[str] | None = None
) -> tuple[str, ...]:
    """Resolve one name, a list of names, or None (meaning: every supported platform)."""
    allowed = list(supported) if supported is not None else list(PLATFORM_ALIASES)
    if names is None:
        return tuple(allowed)
    if isinstance(names, str):
        names = [names]
    resolved: list[str] = []
    for name in names:
        canonical = canonical_platform(name, allowed)
        if canonical not in resolved:
            resolved.append(canonical)
    if not resolved:
        raise InputError("no platform given", hint=f"supported platforms: {', '.join(allowed)}")
    return tuple(resolved)
