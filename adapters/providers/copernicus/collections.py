"""Which CDSE catalogue collection holds which platform, and which of them have cloud cover.

Kept free of heavy imports: the provider table reads the platform list at CLI start-up.
"""

from __future__ import annotations

COLLECTIONS: dict[str, str] = {
    "Sentinel-1": "SENTINEL-1",
    "Sentinel-2": "SENTINEL-2",
    "Sentinel-3": "SENTINEL-3",
    "Sentinel-5P": "SENTINEL-5P",
    "Sentinel-6": "SENTINEL-6",
    "Landsat-5": "LANDSAT-5",
    "Landsat-7": "LANDSAT-7",
    "Landsat-8": "LANDSAT-8",
    "SMOS": "SMOS",
    "ENVISAT": "ENVISAT",
    "COP-DEM": "COP-DEM",
    "CCM": "CCM",
    "GLOBAL-MOSAICS": "GLOBAL-MOSAICS",
}
# Collections whose Attributes(...) list a cloudCover DoubleAttribute (S2, S3 OLCI/SLSTR).
CLOUD_ATTRIBUTE = frozenset({"Sentinel-2", "Sentinel-3"})
# Radar, atmosphere and altimetry: no cloud cover at all; a cloud filter is ignored for them.
NO_CLOUD = frozenset({"Sentinel-1", "Sentinel-5P", "Sentinel-6", "SMOS", "COP-DEM", "GLOBAL-MOSAICS"})

__all__ = ["CLOUD_ATTRIBUTE", "COLLECTIONS", "NO_CLOUD"]
