"""Product and scene keys: how one product is recognised across providers (the ESA/USGS product name).

The product key is the ESA/USGS product name without extension; the scene key is coarser and
stays the same when a product is re-processed under a new baseline.

Landsat is the exception: USGS M2M names a product by its full product id
(``LC08_L2SP_033032_20231008_20231017_02_T1``) while Earth Search and Planetary Computer drop the
processing date (``LC08_L2SP_033032_20231008_02_T1``). A Collection 2 product is processed once
per collection and tier, so both forms key as the short one, and a scene already archived from
one provider is not fetched again from the other.
"""

from __future__ import annotations

import re

_EXTENSIONS = (".SAFE.zip", ".SEN3.zip", ".SAFE", ".SEN3", ".EOF", ".zip", ".tar.gz", ".tar", ".nc", ".h5")

# S2A_MSIL2A_20190101T000001_N0212_R116_T60VUK_20201007T214652
_S2 = re.compile(
    r"^(?P<sat>S2[A-D])_MSI(?P<level>L1C|L2A|L1B|L2AP)_(?P<start>\d{8}T\d{6})_N(?P<baseline>\d{4})"
    r"_R(?P<orbit>\d{3})_T(?P<tile>\w{5})_(?P<discriminator>\d{8}T\d{6})$"
)
# S1A_IW_GRDH_1SSH_20250731T135702_20250731T135722_060328_077F7E_0C44
_S1 = re.compile(
    r"^(?P<sat>S1[A-D])_(?P<mode>\w{2})_(?P<type>\w{4})_(?P<cls>\w{4})_(?P<start>\d{8}T\d{6})"
    r"_(?P<stop>\d{8}T\d{6})_(?P<orbit>\d{6})_(?P<datatake>[0-9A-F]{6})(?:_(?P<unique>[0-9A-F]{4}))?$"
)
# LC08_L2SP_033032_20231008_20231017_02_T1 (full) or LC08_L2SP_033032_20231008_02_T1 (short)
_LANDSAT = re.compile(
    r"^(?P<sensor>L[COTEM]0\d)_(?P<level>L\w{3})_(?P<path>\d{3})(?P<row>\d{3})_(?P<acq>\d{8})"
    r"(?:_(?P<proc>\d{8}))?_(?P<coll>\d{2})_(?P<tier>T1|T2|RT)$"
)


def strip_extension(name: str) -> str:
    for ext in _EXTENSIONS:
        if name.endswith(ext):
            return name[: -len(ext)]
    return name


def product_key(name: str) -> str:
    """The product name without its container extension (``.SAFE``, ``.zip``...); a Landsat
    product id without its processing date (see the module docstring)."""
    key = strip_extension(name.strip())
    if m := _LANDSAT.match(key):
        return landsat_key(m)
    return key


def landsat_key(m: re.Match[str]) -> str:
    return f"{m['sensor']}_{m['level']}_{m['path']}{m['row']}_{m['acq']}_{m['coll']}_{m['tier']}"


def is_landsat_product(name: str) -> bool:
    """Whether ``name`` is a Landsat Collection product id (full or short form)."""
    return _LANDSAT.match(strip_extension(name.strip())) is not None


def scene_key(name: str) -> str | None:
    """A key shared by every processing of the same acquisition, or None if the name is unknown.

    S2: satellite, level, datatake start, relative orbit, tile (baseline and processing time
    dropped). S1: everything but the 4-hex unique id. Landsat: sensor, level, path/row, date,
    collection and tier (processing date dropped).
    """
    key = product_key(name)
    if m := _S2.match(key):
        return f"{m['sat']}_MSI{m['level']}_{m['start']}_R{m['orbit']}_T{m['tile']}"
    if m := _S1.match(key):
        return f"{m['sat']}_{m['mode']}_{m['type']}_{m['cls']}_{m['start']}_{m['stop']}_{m['orbit']}_{m['datatake']}"
    if m := _LANDSAT.match(key):
        return landsat_key(m)
    return None
