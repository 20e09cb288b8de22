"""Pure mapping of M2M ``scene-search`` results to Scenes.

A result names a scene twice: ``entityId`` (``LC80170302020136LGN00``, what M2M's own calls
take) and ``displayId`` (the Landsat product id, ``LC08_L2SP_017030_20200515_20200527_02_T1``,
what users, files and other providers use). The scene id is the display id, the product key its
short form shared with the STAC providers (domain/product_keys.py), the entity id stays in the
raw record. ``cloudCover`` arrives as text, dates carry no zone (UTC).
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any, Mapping

from eoharvest.adapters.providers.usgs.datasets import platform_of
from eoharvest.domain.errors import InputError, ProviderResponseError
from eoharvest.domain.footprint import Footprint
from eoharvest.domain.models import Scene
from eoharvest.domain.product_keys import product_key, scene_key

log = logging.getLogger("eoharvest.usgs")


def m2m_time(value: Any) -> datetime | None:
    """``"2020-05-15 00:00:00"`` (or ``2020-05-15``, or ISO with a zone) as a UTC datetime."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace(" ", "T", 1).replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)


def cloud_cover(value: Any) -> float | None:
    """``"44.79"`` -> 44.79; M2M's unknown (negative, empty) -> None."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if 0.0 <= number <= 100.0 else None


def acquisition(result: Mapping[str, Any]) -> datetime | None:
    coverage = result.get("temporalCoverage")
    if isinstance(coverage, Mapping):
        return m2m_time(coverage.get("startDate"))
    return None


def published(result: Mapping[str, Any]) -> datetime | None:
    return m2m_time(result.get("publishDate"))


def scene_from_search_result(result: Mapping[str, Any], *, provider: str = "usgs") -> Scene:
    """A Scene from one ``scene-search`` result; ProviderResponseError for one we cannot use."""
    if not isinstance(result, Mapping):
        raise ProviderResponseError(f"{provider}: a scene-search result is not an object")
    entity, display = result.get("entityId"), result.get("displayId")
    if not isinstance(entity, str) or not entity or not isinstance(display, str) or not display:
        raise ProviderResponseError(f"{provider}: a scene-search result lacks its entityId/displayId")
    platform = platform_of(display)
    if platform is None:
        raise ProviderResponseError(f"{provider}: {display} is not a Landsat 4-9 product id")
    return Scene(
        platformname=platform,
        scene_id=display,
        footprint=_footprint(result, provider, display),
        acq_date=acquisition(result),
        cloudcover_percentage=cloud_cover(result.get("cloudCover")),
        filenames=(f"{display}.tar",),
        raw=dict(result),
        provider=provider,
        product_key=product_key(display),
        scene_key=scene_key(display),
        published=published(result),
    )


def _footprint(result: Mapping[str, Any], provider: str, display: str) -> Footprint | None:
    """The scene's outline (``spatialCoverage``), else its bounding box (``spatialBounds``)."""
    for field in ("spatialCoverage", "spatialBounds"):
        geometry = result.get(field)
        if isinstance(geometry, Mapping) and geometry:
            try:
                return Footprint.from_provider_geojson(dict(geometry))
            except (InputError, Exception):  # noqa: BLE001 - shapely raises several types on junk
                log.warning("%s: %s has an unreadable %s", provider, display, field)
    return None
