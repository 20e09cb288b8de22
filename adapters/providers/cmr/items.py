"""Pure mapping of CMR UMM-G granules (``granules.umm_json`` items) to Scenes and their files.

Field names follow the UMM-G specification (https://cdn.earthdata.nasa.gov/umm/granule/):
``GranuleUR`` is the scene id; ``RelatedUrls`` of type ``GET DATA`` with an http(s) URL are the
files (never OPeNDAP, browse, metadata, ``s3://`` direct access or ``s3credentials`` links); sizes
and checksums come from ``DataGranule.ArchiveAndDistributionInformation`` by file name. Each file
is an asset named by what its name adds to the granule's (``B04``, ``Fmask``); a single-file
granule's file is ``data``. The raw record is the item as CMR sent it plus ``end_datetime``
(the end of the acquisition, which the catalog records).
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping, Sequence
from urllib.parse import unquote, urlsplit

from eoharvest.adapters.providers.cmr.collections import known_collection
from eoharvest.adapters.providers.cmr.geometry import umm_footprint
from eoharvest.domain.errors import InputError, ProviderResponseError
from eoharvest.domain.footprint import Footprint
from eoharvest.domain.models import Checksum, Scene
from eoharvest.domain.platforms import PLATFORM_ALIASES, canonical_platform
from eoharvest.domain.product_keys import product_key as strip_container, scene_key as esa_scene_key
from eoharvest.domain.query import parse_datetime

CHECKSUM_SOURCE = "cmr:umm-g"
DATA_ASSET = "data"

#: GET DATA subtypes that name a service or a web page, not a file of the granule.
_NOT_FILES = frozenset({
    "APPEARS", "DATA COLLECTION BUNDLE", "DATA TREE", "DATACAST URL", "EARTHDATA SEARCH", "GIOVANNI",
    "GOLIVE PORTAL", "MIRADOR", "NOAA CLASS", "NOMADS", "ORDER", "PORTAL", "SUBSCRIBE", "SUBSETTER",
    "THREDDS DATA", "USGS EARTH EXPLORER", "VIRTUAL COLLECTION",
})
_DATA_EXTENSIONS = frozenset({
    ".hdf", ".he5", ".h5", ".hdf5", ".nc", ".nc4", ".tif", ".tiff", ".zip", ".tar", ".gz", ".bin",
    ".dat", ".json", ".xml", ".txt", ".csv", ".shp", ".jp2", ".png", ".jpg",
})
# ASF granule URs append the product type to the ESA name: S1A_IW_SLC__..._0C44-SLC
_ASF_S1 = re.compile(r"^(S1[A-D]_\w{2}_\w{4}_\w{4}_\d{8}T\d{6}_\d{8}T\d{6}_\d{6}_[0-9A-F]{6}_[0-9A-F]{4})-[A-Z0-9_]+$")
_HLS = re.compile(r"^(HLS\.[LS]30\.T\w{5}\.\d{7}T\d{6})\.v\d+\.\d+$")
# MOD09GA.A2024001.h10v05.061.2024003023508, VNP09GA.A2024001.h10v05.002.2024002103012
_LAADS_LP = re.compile(r"^([A-Z0-9]+\.A\d{7}(?:\.\d{4})?(?:\.h\d{2}v\d{2})?)\.\d{3}\.\d{13}$")


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    """Provider JSON is data: a member that should be a list but is not counts as empty."""
    return value if isinstance(value, list) else []


@dataclass(frozen=True)
class GranuleFile:
    """One file of a granule: its asset name, URL, local name and what it must be."""

    asset: str
    url: str
    filename: str
    size: int | None
    checksums: tuple[Checksum, ...]
    media_type: str | None


def granule_ur(item: Mapping[str, Any]) -> str:
    ur = _mapping(item.get("umm")).get("GranuleUR")
    if not isinstance(ur, str) or not ur.strip():
        concept = _mapping(item.get("meta")).get("concept-id")
        raise ProviderResponseError(f"cmr: granule {concept or '(no concept id)'} has no GranuleUR")
    return ur.strip()


def producer_granule_id(umm: Mapping[str, Any]) -> str | None:
    for identifier in _list(_mapping(umm.get("DataGranule")).get("Identifiers")):
        entry = _mapping(identifier)
        value = entry.get("Identifier")
        if entry.get("IdentifierType") == "ProducerGranuleId" and isinstance(value, str) and value.strip():
            return value.strip()
    return None


def strip_data_extension(name: str) -> str:
    stem, ext = posixpath.splitext(name)
    return stem if ext.lower() in _DATA_EXTENSIONS else strip_container(name)


def product_name(granule: str, producer: str | None = None) -> str:
    """The product key: the producer's file name without extension (``LAADS:2715071895`` says
    nothing outside CMR), else the granule UR; ASF's ``-SLC``/``-GRD_HD`` suffix is dropped so the
    Sentinel-1 product is the same as CDSE's."""
    name = strip_data_extension(producer) if producer else granule
    if match := _ASF_S1.match(name):
        return match.group(1)
    return name


def granule_scene_key(product: str) -> str | None:
    """A key shared by every processing of one acquisition (HLS and MODIS/VIIRS versions too)."""
    if key := esa_scene_key(product):
        return key
    for pattern in (_HLS, _LAADS_LP):
        if match := pattern.match(product):
            return match.group(1)
    return None


def _is_file_link(link: Mapping[str, Any]) -> bool:
    url = link.get("URL")
    if link.get("Type") != "GET DATA" or not isinstance(url, str):
        return False
    subtype = str(link.get("Subtype") or "").upper()
    if subtype in _NOT_FILES or "OPENDAP" in subtype:
        return False
    parts = urlsplit(url.strip())
    path = parts.path.lower()
    return (
        parts.scheme.lower() in ("https", "http")
        and bool(parts.hostname)
        and not path.endswith(("/", ".html", "/s3credentials"))
        and "opendap" not in path.split("/")[:3]
        and not str(parts.hostname).lower().startswith("opendap.")
    )


def _archive_info(umm: Mapping[str, Any]) -> dict[str, tuple[int | None, tuple[Checksum, ...]]]:
    """File name -> (exact size in bytes, checksums) from ArchiveAndDistributionInformation."""
    found: dict[str, tuple[int | None, tuple[Checksum, ...]]] = {}
    for entry in _list(_mapping(umm.get("DataGranule")).get("ArchiveAndDistributionInformation")):
        info = _mapping(entry)
        name = info.get("Name")
        if not isinstance(name, str):
            continue
        size = info.get("SizeInBytes")  # Size + SizeUnit is rounded: never used to verify
        exact = size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None
        checksum = _mapping(info.get("Checksum"))
        usable = Checksum.usable(checksum.get("Algorithm"), checksum.get("Value"), CHECKSUM_SOURCE)
        found[name.strip()] = (exact, (usable,) if usable else ())
    return found


def _asset_name(filename: str, prefixes: Sequence[str]) -> str:
    stem = strip_data_extension(filename)
    for prefix in prefixes:
        if prefix and stem.startswith(prefix):
            return stem[len(prefix):].lstrip("._-") or DATA_ASSET
    return stem or DATA_ASSET


def data_files(item: Mapping[str, Any]) -> list[GranuleFile]:
    """The granule's downloadable files, in the order CMR lists them (duplicates dropped)."""
    umm = _mapping(item.get("umm"))
    ur = granule_ur(item)
    producer = producer_granule_id(umm)
    prefixes = sorted({ur, product_name(ur, producer), strip_data_extension(producer or "")}, key=len, reverse=True)
    links = [_mapping(link) for link in _list(umm.get("RelatedUrls"))]
    urls: list[tuple[str, Mapping[str, Any]]] = []
    for link in links:
        if _is_file_link(link) and all(link["URL"].strip() != seen for seen, _ in urls):
            urls.append((link["URL"].strip(), link))
    info = _archive_info(umm)
    files: list[GranuleFile] = []
    taken: set[str] = set()
    for url, link in urls:
        filename = unquote(posixpath.basename(urlsplit(url).path))
        size, checksums = info.get(filename, (None, ()))
        if filename not in info and len(urls) == 1 and len(info) == 1:
            size, checksums = next(iter(info.values()))  # "Name": "Not provided" (LAADS)
        asset = _asset_name(filename, prefixes)
        if asset.lower() in taken:
            asset = f"{asset}_{len(files) + 1}"
        taken.add(asset.lower())
        media = link.get("MimeType")
        files.append(GranuleFile(asset, url, filename, size, checksums, media if isinstance(media, str) else None))
    return files


def granule_platform(umm: Mapping[str, Any], fallback: str | None = None) -> str:
    """The collection's platform from the table (HLS, Terra, ...), else UMM-G ``Platforms``."""
    short_name = _mapping(umm.get("CollectionReference")).get("ShortName")
    known = known_collection(short_name) if isinstance(short_name, str) else None
    if known is not None:
        return known.platform
    for platform in _list(umm.get("Platforms")):
        name = _mapping(platform).get("ShortName")
        if isinstance(name, str) and name.strip():
            for candidate in (name.strip(), name.strip().rstrip("abcdABCD")):
                try:
                    return canonical_platform(candidate, PLATFORM_ALIASES)
                except InputError:
                    continue
            return name.strip()
    return fallback or (short_name if isinstance(short_name, str) and short_name else "unknown")


def _time(value: Any) -> datetime | None:
    try:
        return parse_datetime(value, name="granule time") if isinstance(value, str) and value else None
    except InputError:
        return None


def _cloud(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 100:
        return float(value)
    return None


def acquisition(umm: Mapping[str, Any]) -> tuple[datetime | None, datetime | None]:
    extent = _mapping(umm.get("TemporalExtent"))
    span = _mapping(extent.get("RangeDateTime"))
    start = _time(span.get("BeginningDateTime")) or _time(extent.get("SingleDateTime"))
    return start, _time(span.get("EndingDateTime")) or start


def scene_from_umm_item(
    item: Mapping[str, Any], *, provider: str = "cmr", geodetic: bool = True, platform: str | None = None
) -> Scene:
    """A Scene from one ``granules.umm_json`` item (``{"meta": ..., "umm": ...}``).

    ``geodetic``: the collection's granules have great-circle polygon edges (CMR's default).
    Raises ProviderResponseError for an item without a GranuleUR.
    """
    if not isinstance(item, Mapping):
        raise ProviderResponseError(f"cmr: granule item is a {type(item).__name__}, not an object")
    ur = granule_ur(item)
    umm = _mapping(item.get("umm"))
    start, end = acquisition(umm)
    geometry = umm_footprint(umm.get("SpatialExtent"), geodetic=geodetic, granule=ur)
    files = data_files(item)
    name = product_name(ur, producer_granule_id(umm))
    sizes = [f.size for f in files]
    raw = dict(item)
    if end is not None:
        raw["end_datetime"] = end.isoformat().replace("+00:00", "Z")
    return Scene(
        platformname=granule_platform(umm, platform),
        scene_id=ur,
        footprint=Footprint.from_provider(geometry) if geometry is not None else None,
        acq_date=start,
        cloudcover_percentage=_cloud(umm.get("CloudCover")),
        download_links=tuple(f.url for f in files),
        filenames=tuple(f.filename for f in files),
        raw=raw,
        provider=provider,
        product_key=name,
        scene_key=granule_scene_key(name),
        size=sum(s for s in sizes if s is not None) if sizes and None not in sizes else None,
        checksums=files[0].checksums if len(files) == 1 else (),
        published=_time(_mapping(item.get("meta")).get("revision-date")),
    )
