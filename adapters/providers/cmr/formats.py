"""The same granules in CMR's other result formats: ATOM (``granules.json``) and STAC (``granules.stac``).

eoharvest searches ``granules.umm_json``; results saved by other CMR clients (python_cmr and
earthaccess default to ATOM JSON) map to the same Scenes by translating each entry into the UMM-G
fields :func:`~eoharvest.adapters.providers.cmr.items.scene_from_umm_item` reads, so files,
asset names, product keys and footprints follow one set of rules, and the scenes download like
searched ones. The raw record is that translation, with the entry as CMR sent it under
``source``. Formats: CMR Search API documentation, "ATOM" and "STAC" result formats.
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
import re
from typing import Any, Iterable, Mapping
from urllib.parse import unquote, urlsplit

from eoharvest.adapters.providers.cmr.items import scene_from_umm_item, strip_data_extension
from eoharvest.domain.errors import InputError, ProviderResponseError
from eoharvest.domain.footprint import Footprint
from eoharvest.domain.models import Scene
from eoharvest.domain.platforms import PLATFORM_ALIASES, canonical_platform

DATA_REL = "http://esipfed.org/ns/fedsearch/1.1/data#"


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _atom_ring(text: Any) -> list[dict[str, float]] | None:
    """ATOM rings are ``"lat lon lat lon ..."`` (latitude first)."""
    numbers = [n for n in (_float(v) for v in str(text).split()) if n is not None]
    if len(numbers) < 8 or len(numbers) % 2 or len(numbers) != len(str(text).split()):
        return None
    return [{"Longitude": lon, "Latitude": lat} for lat, lon in zip(numbers[0::2], numbers[1::2])]


def _atom_platform(entry: Mapping[str, Any]) -> str | None:
    for word in re.split(r"[/\s,]+", str(entry.get("dataset_id") or "")):
        try:
            return canonical_platform(word, PLATFORM_ALIASES)
        except InputError:
            continue
    return None


def scenes_from_atom_feed(body: Any, *, provider: str = "cmr") -> list[Scene]:
    """The Scenes of a whole ``granules.json`` answer (``{"feed": {"entry": [...]}}``)."""
    entries = _mapping(_mapping(body).get("feed")).get("entry")
    if not isinstance(entries, list):
        raise ProviderResponseError("cmr: ATOM answer has no feed.entry list")
    return [scene_from_atom_entry(e, provider=provider) for e in entries]


def scene_from_atom_entry(entry: Mapping[str, Any], *, provider: str = "cmr") -> Scene:
    """A Scene from one ``feed.entry`` of ``granules.json`` (the raw record is the entry)."""
    if not isinstance(entry, Mapping) or not isinstance(entry.get("title"), str):
        raise ProviderResponseError("cmr: ATOM granule entry without a title (GranuleUR)")
    polygons = []
    for polygon in _list(entry.get("polygons")):
        rings = [_atom_ring(r) for r in polygon] if isinstance(polygon, list) else []
        if rings and rings[0]:
            holes = [{"Boundary": {"Points": r}} for r in rings[1:] if r]
            polygons.append({"Boundary": {"Points": rings[0]}, **({"ExclusiveZone": {"Boundaries": holes}} if holes else {})})
    boxes = []
    for box in _list(entry.get("boxes")):  # "south west north east"
        values = [_float(v) for v in str(box).split()]
        if len(values) == 4 and None not in values:
            s, w, n, e = values
            boxes.append({"WestBoundingCoordinate": w, "SouthBoundingCoordinate": s,
                          "EastBoundingCoordinate": e, "NorthBoundingCoordinate": n})  # fmt: skip
    links = [
        {"URL": link["href"], "Type": "GET DATA", **({"MimeType": link["type"]} if link.get("type") else {})}
        for link in (_mapping(item) for item in _list(entry.get("links")))
        if link.get("rel") == DATA_REL and not link.get("inherited") and isinstance(link.get("href"), str)
    ]
    umm: dict[str, Any] = {
        "GranuleUR": entry["title"],
        "TemporalExtent": {"RangeDateTime": {"BeginningDateTime": entry.get("time_start"), "EndingDateTime": entry.get("time_end")}},
        "SpatialExtent": {"HorizontalSpatialDomain": {"Geometry": {"GPolygons": polygons, "BoundingRectangles": boxes}}},
        "RelatedUrls": links,
    }
    if (cloud := _float(entry.get("cloud_cover"))) is not None:
        umm["CloudCover"] = cloud
    if isinstance(entry.get("producer_granule_id"), str):
        umm["DataGranule"] = {"Identifiers": [{"Identifier": entry["producer_granule_id"], "IdentifierType": "ProducerGranuleId"}]}
    item = {"meta": {"concept-id": entry.get("id"), "collection-concept-id": entry.get("collection_concept_id")}, "umm": umm,
            "source": {"format": "atom", "record": dict(entry)}}  # fmt: skip
    geodetic = str(entry.get("coordinate_system") or "GEODETIC").upper() != "CARTESIAN"
    return scene_from_umm_item(item, provider=provider, geodetic=geodetic, platform=_atom_platform(entry))


def _granule_name(hrefs: Iterable[str]) -> str | None:
    """What the data files' names share (``HLS.L30.T13SDV.2021035T173836.v2.0``), if anything."""
    stems = [strip_data_extension(unquote(posixpath.basename(urlsplit(h).path))) for h in hrefs]
    if not stems:
        return None
    if len(stems) == 1:
        return stems[0] or None
    shared = os.path.commonprefix(stems)
    cut = max(shared.rfind("."), shared.rfind("_"))
    return shared[:cut] if cut > 0 else None


def scene_from_cmr_stac_item(feature: Mapping[str, Any], *, provider: str = "cmr") -> Scene:
    """A Scene from one feature of ``granules.stac``. Its ``id`` is the concept id; the scene id
    is the granule name its data files share (LP DAAC's layout), else that concept id."""
    if not isinstance(feature, Mapping) or not isinstance(feature.get("id"), str):
        raise ProviderResponseError("cmr: STAC feature without an id")
    props = _mapping(feature.get("properties"))
    assets = [_mapping(a) for a in _mapping(feature.get("assets")).values()]
    hrefs = [a["href"] for a in assets if isinstance(a.get("href"), str) and a.get("roles") in (None, ["data"])]
    data = [h for h in hrefs if urlsplit(h).scheme in ("http", "https") and not h.lower().endswith((".xml", ".jpg", ".png"))]
    name = _granule_name(data) or feature["id"]
    umm: dict[str, Any] = {
        "GranuleUR": name,
        "TemporalExtent": {"RangeDateTime": {
            "BeginningDateTime": props.get("start_datetime") or props.get("datetime"),
            "EndingDateTime": props.get("end_datetime") or props.get("datetime"),
        }},
        "RelatedUrls": [{"URL": h, "Type": "GET DATA"} for h in data],
        "CollectionReference": {"ShortName": _short_name(name)},
    }
    if (cloud := _float(props.get("eo:cloud_cover"))) is not None:
        umm["CloudCover"] = cloud
    item = {"meta": {"concept-id": feature["id"], "collection-concept-id": feature.get("collection")}, "umm": umm,
            "source": {"format": "stac", "record": dict(feature)}}  # fmt: skip
    scene = scene_from_umm_item(item, provider=provider)
    return dataclasses.replace(scene, footprint=_footprint(feature.get("geometry")))


def _footprint(geometry: Any) -> Footprint | None:
    """The feature's GeoJSON geometry; an unreadable one is dropped, the scene is kept."""
    if not isinstance(geometry, Mapping):
        return None
    try:
        return Footprint.from_provider_geojson(dict(geometry))
    except Exception:  # noqa: BLE001 - shapely raises several types on junk
        return None


def _short_name(granule: str) -> str:
    """HLS granule names carry their collection: ``HLS.L30...`` is in HLSL30."""
    match = re.match(r"^HLS\.([LS]30)\.", granule)
    return f"HLS{match.group(1)}" if match else ""
