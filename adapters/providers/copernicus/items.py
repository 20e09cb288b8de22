"""Pure mapping of CDSE OData products to Scenes."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Mapping

from eoharvest.domain.errors import EoharvestError, ProviderResponseError, UnsafeFilename
from eoharvest.domain.footprint import Footprint
from eoharvest.domain.models import Checksum, Scene
from eoharvest.domain.platforms import PLATFORM_ALIASES, canonical_platform
from eoharvest.domain.product_keys import product_key, scene_key
from eoharvest.domain.query import parse_datetime

DEFAULT_DOWNLOAD_URL = "https://download.dataspace.copernicus.eu/odata/v1"
_EWKT_PREFIX = "geography'"


def attributes_by_name(product: Mapping[str, Any]) -> dict[str, Any]:
    """``Attributes`` (present with ``$expand=Attributes``) indexed by Name; their order is not stable."""
    found: dict[str, Any] = {}
    for attribute in product.get("Attributes") or []:
        if isinstance(attribute, Mapping) and isinstance(attribute.get("Name"), str):
            found[attribute["Name"]] = attribute.get("Value")
    return found


def odata_footprint(product: Mapping[str, Any]) -> Footprint | None:
    """``GeoFootprint`` (GeoJSON) or else ``Footprint`` (``geography'SRID=4326;POLYGON (...)'``).

    Both are null for auxiliary products; an unreadable footprint loses the footprint, not the item.
    """
    geojson = product.get("GeoFootprint")
    if isinstance(geojson, Mapping) and geojson.get("type"):
        try:
            return Footprint.from_provider_geojson(dict(geojson))
        except EoharvestError:
            pass
    ewkt = product.get("Footprint")
    if isinstance(ewkt, str) and ewkt.strip():
        text = ewkt.strip()
        if text.startswith(_EWKT_PREFIX):
            text = text[len(_EWKT_PREFIX):].rstrip("'")
        if text.upper().startswith("SRID="):
            text = text.partition(";")[2]
        try:
            return Footprint.from_provider_wkt(text)
        except EoharvestError:
            return None
    return None


def platform_of(name: str, attributes: Mapping[str, Any]) -> str:
    """Canonical platform from ``platformShortName`` or else the name's mission prefix (S1A, S5P, LC08)."""
    candidates = []
    short = attributes.get("platformShortName")
    if isinstance(short, str):
        candidates.append(short)
    mission = name.split("_", 1)[0]
    candidates += [mission, mission.rstrip("ABCD")]
    for candidate in candidates:
        try:
            return canonical_platform(candidate, PLATFORM_ALIASES)
        except EoharvestError:
            continue
    return short if isinstance(short, str) and short else "unknown"


def odata_checksums(product: Mapping[str, Any]) -> tuple[Checksum, ...]:
    """Usable MD5/BLAKE3 entries of ``Checksum``; empty lists and junk values are dropped."""
    found = []
    for entry in product.get("Checksum") or []:
        if isinstance(entry, Mapping):
            checksum = Checksum.usable(entry.get("Algorithm"), entry.get("Value"), "odata")
            if checksum is not None:
                found.append(checksum)
    return tuple(found)


def download_filename(name: str) -> str:
    """``<Name>.zip``: what the zipper delivers. Refuses names that could leave the target folder."""
    if (
        not name
        or name in (".", "..")
        or any(ch in name for ch in "/\\\x00")
        or any(not ch.isprintable() for ch in name)
    ):
        raise UnsafeFilename(f"copernicus: product name {name[:120]!r} cannot be used as a file name")
    return f"{name}.zip"


def product_url(download_url: str, product_id: str) -> str:
    """The zipper URL of one product: ``{download_url}/Products({Id})/$value`` (bare UUID, no quotes)."""
    if not product_id or any(ch in product_id for ch in "/?#()'\" \\"):
        raise ProviderResponseError(f"copernicus: product Id {product_id[:80]!r} is not usable in a URL")
    return f"{download_url.rstrip('/')}/Products({product_id})/$value"


def content_start(product: Mapping[str, Any]) -> datetime | None:
    """``ContentDate/Start`` as a UTC datetime (3 or 6 fractional digits), or None."""
    content = product.get("ContentDate")
    value = content.get("Start") if isinstance(content, Mapping) else None
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_datetime(value, name="ContentDate/Start")
    except EoharvestError:
        return None


def scene_from_odata_product(
    product: Mapping[str, Any], *, provider: str = "copernicus", download_url: str = DEFAULT_DOWNLOAD_URL
) -> Scene:
    """A Scene from one OData product (a search ``value`` item or a ``$entity``).

    ``scene_id`` and ``product_key`` are the ESA name without extension; the OData ``Id`` (needed
    for downloading) stays in ``raw``. Raises ProviderResponseError for items without Id or Name.
    """
    if not isinstance(product, Mapping):
        raise ProviderResponseError(f"{provider}: OData product is a {type(product).__name__}, not an object")
    product_id, name = product.get("Id"), product.get("Name")
    if not isinstance(product_id, str) or not product_id or not isinstance(name, str) or not name.strip():
        raise ProviderResponseError(f"{provider}: OData product without Id or Name (keys: {sorted(product)[:8]})")
    key = product_key(name)
    attributes = attributes_by_name(product)
    size = product.get("ContentLength")
    return Scene(
        platformname=platform_of(name, attributes),
        scene_id=key,
        footprint=odata_footprint(product),
        acq_date=content_start(product),
        cloudcover_percentage=_cloud(attributes.get("cloudCover")),
        download_links=(product_url(download_url, product_id),),
        filenames=(download_filename(name.strip()),),
        raw=dict(product),
        provider=provider,
        product_key=key,
        scene_key=scene_key(key),
        # Some old products say 0 bytes: that means unknown, not empty.
        size=size if isinstance(size, int) and not isinstance(size, bool) and size > 0 else None,
        checksums=odata_checksums(product),
        online=product.get("Online") is not False,
        published=_time(product.get("PublicationDate"), "PublicationDate"),
    )


def _time(value: Any, name: str) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_datetime(value, name=name)
    except EoharvestError:
        return None


def _cloud(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if 0 <= value <= 100 else None
