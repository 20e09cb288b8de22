"""Pure mapping of STAC items to Scenes, and of their assets to download descriptors."""

from __future__ import annotations

import functools
import logging
import posixpath
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from eoharvest.domain.checksums import from_multihash
from eoharvest.domain.errors import InputError, ProviderResponseError
from eoharvest.domain.footprint import Footprint, plain_polygon_footprints
from eoharvest.domain.models import Checksum, DownloadDescriptor, Scene
from eoharvest.domain.platforms import PLATFORM_ALIASES, canonical_platform
from eoharvest.domain.product_keys import product_key, scene_key
from eoharvest.domain.query import parse_datetime
from eoharvest.domain.urls import resolve_link, url_basename

log = logging.getLogger("eoharvest.stac")

NON_DATA_ROLES = frozenset({"thumbnail", "overview", "metadata", "tiles", "visual-preview", "rendered_preview"})


def _mapping(value: Any) -> Mapping[str, Any]:
    """Provider JSON is data: a member that should be an object but is not counts as empty."""
    return value if isinstance(value, Mapping) else {}


def item_product_key(item: Mapping[str, Any]) -> str:
    """ESA/USGS product name from the item's properties, never from provider-specific ids."""
    props = _mapping(item.get("properties"))
    for field in ("s2:product_uri", "s1:product_identifier", "landsat:product_id"):
        value = props.get(field)
        if isinstance(value, str) and value:
            return product_key(value)
    return product_key(str(item["id"]))


def item_platform(item: Mapping[str, Any], fallback: str | None) -> str:
    """Canonical platform from ``platform`` (``sentinel-2a``, ``landsat-8``) or ``constellation``."""
    props = _mapping(item.get("properties"))
    for value in (props.get("platform"), props.get("constellation")):
        if isinstance(value, str) and value:
            canonical = _platform_of(value)
            if canonical is not None:
                return canonical
    return fallback or str(item.get("collection") or "unknown")


@functools.lru_cache(maxsize=256)  # a search repeats a handful of spellings thousands of times
def _platform_of(value: str) -> str | None:
    text = value.strip()
    # sentinel-2a -> Sentinel-2, "Sentinel-2A" -> Sentinel-2
    for candidate in (text, text.rstrip("abcdABCD"), text.replace(" ", "-")):
        try:
            return canonical_platform(candidate, PLATFORM_ALIASES)
        except Exception:  # noqa: BLE001 - try the next spelling
            continue
    return None


def scene_from_stac_item(
    item: Mapping[str, Any],
    *,
    provider: str,
    base_url: str,
    platform: str | None = None,
    footprint: Footprint | None = None,
    raw: Mapping[str, Any] | None = None,
) -> Scene:
    """A Scene from a STAC item dict. Raises ProviderResponseError for items we cannot use.

    ``footprint``, when given, is the item's geometry already built (see
    :func:`page_footprints`); None builds it here. ``raw``, when given, is the whole item kept as
    the scene's raw record while ``item`` holds only the members read here (page_decoding.py);
    None keeps a copy of ``item``."""
    if not isinstance(item, Mapping) or not isinstance(item.get("id"), (str, int)) or item.get("id") in ("", True):
        raise ProviderResponseError(f"{provider}: STAC item without an id")
    props = _mapping(item.get("properties"))
    when = props.get("datetime") or props.get("start_datetime")
    try:
        acquired = parse_datetime(when, name="item datetime") if when else None
    except Exception:  # noqa: BLE001 - a bad date loses the date, not the item
        acquired = None
    if footprint is None:
        footprint = _footprint(item.get("geometry"), provider, item["id"])
    cloud = _cloud(props.get("eo:cloud_cover"))
    item_url = _item_url(item, base_url)  # once per item, not once per asset
    links = [
        resolve_link(item_url, asset["href"])
        for asset in _mapping(item.get("assets")).values()
        # ``type(...) is dict`` first: decoded JSON is plain dicts, and the ABC check costs more
        if (type(asset) is dict or isinstance(asset, Mapping)) and isinstance(asset.get("href"), str) and asset["href"]
    ]
    name = item_product_key(item)
    return Scene(
        platformname=item_platform(item, platform),
        scene_id=str(item["id"]),
        footprint=footprint,
        acq_date=acquired,
        cloudcover_percentage=cloud,
        download_links=tuple(links),
        filenames=tuple(url_basename(link) for link in links),
        raw=dict(item) if raw is None else raw,
        provider=provider,
        product_key=name,
        scene_key=scene_key(name),
        published=_updated(props),
    )


def page_footprints(items: Sequence[Any]) -> list[Footprint | None]:
    """The footprints of a page of items that can be built together (None: build it with the
    item, :func:`scene_from_stac_item` does)."""
    return plain_polygon_footprints([item.get("geometry") if type(item) is dict else None for item in items])


def _updated(props: Mapping[str, Any]) -> datetime | None:
    """The item's ``updated`` time (STAC common metadata): what a publication-time search
    filters on (stac/search.py)."""
    value = props.get("updated")
    try:
        return parse_datetime(value, name="item updated") if isinstance(value, str) and value else None
    except Exception:  # noqa: BLE001 - a bad time loses the time, not the item
        return None


def _footprint(geometry: Any, provider: str, item_id: Any) -> Footprint | None:
    """The item's geometry; an unreadable one is dropped, the item is kept."""
    if not geometry:
        return None
    try:
        return Footprint.from_provider_geojson(geometry)
    except (InputError, Exception):  # noqa: BLE001 - shapely raises several types on junk
        log.warning("%s: item %s has an unreadable geometry; kept without footprint", provider, item_id)
        return None


def _cloud(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(str(value).rstrip("%"))
    except ValueError:
        return None
    return number if 0 <= number <= 100 else None


def _item_url(item: Mapping[str, Any], base_url: str) -> str:
    links = item.get("links")
    for link in links if isinstance(links, list) else []:
        if isinstance(link, Mapping) and link.get("rel") == "self" and isinstance(link.get("href"), str):
            return resolve_link(base_url, link["href"])
    return base_url


def select_assets(item: Mapping[str, Any], wanted: Iterable[str] | None) -> dict[str, Mapping[str, Any]]:
    """The assets to download: those named in ``wanted`` (case-insensitive), else every data asset."""
    assets = {str(k): v for k, v in _mapping(item.get("assets")).items() if isinstance(v, Mapping)}
    if wanted:
        by_lower = {k.lower(): k for k in assets}
        chosen: dict[str, Mapping[str, Any]] = {}
        missing = []
        for name in wanted:
            key = by_lower.get(name.lower())
            if key is None:
                missing.append(name)
            else:
                chosen[key] = assets[key]
        if missing:
            raise ProviderResponseError(
                f"item {item.get('id')} has no asset {', '.join(missing)}",
                hint=f"available assets: {', '.join(sorted(assets))}",
            )
        return chosen
    def roles(asset: Mapping[str, Any]) -> set[str]:
        value = asset.get("roles")
        return {r for r in value if isinstance(r, str)} if isinstance(value, list) else set()

    return {k: v for k, v in assets.items() if not (roles(v) & NON_DATA_ROLES) or "data" in roles(v)}


def asset_descriptor(key: str, asset: Mapping[str, Any], *, item_url: str) -> DownloadDescriptor | None:
    """Descriptor for one asset; ``s3://`` hrefs use their https alternate, else None (skipped)."""
    href = asset.get("href")
    if not isinstance(href, str) or not href:
        return None
    if href.startswith("s3://"):
        alternate = _mapping(_mapping(asset.get("alternate")).get("https")).get("href")
        if not isinstance(alternate, str) or not alternate:
            return None
        href = alternate
    url = resolve_link(item_url, href)
    checksums: list[Checksum] = []
    raw_checksum = asset.get("file:checksum")
    if isinstance(raw_checksum, str):
        decoded = from_multihash(raw_checksum)
        if decoded:
            checksums.append(decoded)
    size = asset.get("file:size")
    media = asset.get("type")
    extension = posixpath.splitext(urlsplit(url).path)[1][:10]
    return DownloadDescriptor(
        url=url,
        filename=f"{key}{extension}",
        size=size if isinstance(size, int) and not isinstance(size, bool) and size >= 0 else None,
        checksums=tuple(checksums),
        media_type=media if isinstance(media, str) else None,
        asset=key,
    )


def item_self_url(item: Mapping[str, Any], base_url: str) -> str:
    return _item_url(item, base_url)


def item_datetime(item: Mapping[str, Any]) -> datetime | None:
    props = _mapping(item.get("properties"))
    value = props.get("datetime") or props.get("start_datetime")
    return parse_datetime(value) if value else None
