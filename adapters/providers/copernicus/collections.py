"""Which CDSE catalogue collection holds which platform, which have cloud cover, and the
product types (the OData ``productType`` attribute) behind each name of the user vocabulary.

Kept free of heavy imports: the provider table reads these at CLI start-up.
"""

from __future__ import annotations

from eoharvest.domain.product_types import ProductTypeTable

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

# Sentinel-1 product types are MODE_TTTR_LFPP (ESA Sentinel-1 product naming): the modes are
# IW, EW, WV and the stripmap beams S1..S6; GRD comes in full (F, stripmap only), high (H) and
# medium (M) resolution. CDSE also publishes GRD as COG SAFE under "<type>-COG".
_STRIPMAP = tuple(f"S{n}" for n in range(1, 7))
_S1_GRD = ("IW_GRDH_1S", "IW_GRDM_1S", "EW_GRDH_1S", "EW_GRDM_1S",
           *(f"{beam}_GRD{res}_1S" for beam in _STRIPMAP for res in "FHM"))  # fmt: skip
_S1_AUX = ("AUX_POEORB", "AUX_RESORB", "AUX_PREORB", "AUX_MOEORB", "AUX_GNSSRD", "AUX_PROQUA",
           "AUX_CAL", "AUX_INS", "AUX_PP1", "AUX_PP2", "AUX_SCS", "AUX_ML2")  # fmt: skip


def _s1(kind: str, level: str) -> tuple[str, ...]:
    return tuple(f"{mode}_{kind}_{level}" for mode in ("IW", "EW", "WV", *_STRIPMAP))


#: platform -> vocabulary name -> ``productType`` values (``""``: accepted by their own names only).
PRODUCT_TYPES: ProductTypeTable = {
    "Sentinel-2": {"L1C": ("S2MSI1C",), "L2A": ("S2MSI2A",)},
    "Sentinel-1": {
        "GRD": _S1_GRD,
        "GRD-COG": tuple(f"{t}-COG" for t in _S1_GRD[:4]),
        "SLC": _s1("SLC_", "1S"),
        "OCN": _s1("OCN_", "2S"),
        "RAW": _s1("RAW_", "0S"),
        "": (*_S1_AUX, *_s1("ETA_", "AX")),
    },
    "Sentinel-3": {
        "OL_1_EFR": ("OL_1_EFR___",), "OL_1_ERR": ("OL_1_ERR___",),
        "OL_2_LFR": ("OL_2_LFR___",), "OL_2_LRR": ("OL_2_LRR___",),
        "OL_2_WFR": ("OL_2_WFR___",), "OL_2_WRR": ("OL_2_WRR___",),
        "SL_1_RBT": ("SL_1_RBT___",), "SL_2_LST": ("SL_2_LST___",), "SL_2_WST": ("SL_2_WST___",),
        "SL_2_FRP": ("SL_2_FRP___",), "SL_2_AOD": ("SL_2_AOD___",),
        "SR_1_SRA": ("SR_1_SRA___",), "SR_2_LAN": ("SR_2_LAN___",), "SR_2_WAT": ("SR_2_WAT___",),
        "SY_2_SYN": ("SY_2_SYN___",), "SY_2_VGP": ("SY_2_VGP___",), "SY_2_VG1": ("SY_2_VG1___",),
        "SY_2_V10": ("SY_2_V10___",), "SY_2_AOD": ("SY_2_AOD___",),
        "": ("SR_1_SRA_A_", "SR_1_SRA_BS", "SR_2_LAN_HY", "SR_2_LAN_SI", "SR_2_LAN_LI"),
    },
    "Sentinel-5P": {
        "L1B": (*(f"L1B_RA_BD{n}" for n in range(1, 9)), "L1B_IR_UVN", "L1B_IR_SIR"),
        "L2_NO2": ("L2__NO2___",), "L2_O3": ("L2__O3____",), "L2_CO": ("L2__CO____",),
        "L2_CH4": ("L2__CH4___",), "L2_SO2": ("L2__SO2___",), "L2_HCHO": ("L2__HCHO__",),
        "L2_CLOUD": ("L2__CLOUD_",), "L2_AER_AI": ("L2__AER_AI",), "L2_AER_LH": ("L2__AER_LH",),
        "": ("L2__O3__PR", "L2__O3_TCL", "L2__NP_BD3", "L2__NP_BD6", "L2__NP_BD7"),
    },
    "Landsat-8": {"L1TP": ("L1TP",), "L1GT": ("L1GT",)},
    "GLOBAL-MOSAICS": {"": ("S1SAR_L3_IW_MCM", "S1SAR_L3_DH_MCM")},
}  # fmt: skip

__all__ = ["CLOUD_ATTRIBUTE", "COLLECTIONS", "NO_CLOUD", "PRODUCT_TYPES"]
