"""A plain bbox AOI read without shapely, for the commands whose start-up is their whole cost.

`catalog query --aoi w,s,e,n --format geojson` answers in milliseconds; importing shapely (and
numpy under it) to parse its four numbers took a third of the process's time. :func:`plain_box`
reads the text form of a bbox that :func:`eoharvest.domain.aoi.parse_aoi` would turn into one
plain rectangle unchanged; anything else (a bbox crossing the antimeridian or wider than 180°,
out of range, without area, any other AOI form) gives None and goes through ``parse_aoi``, which
also says what is wrong with it. An :class:`AoiBox` offers the parts of
:class:`~eoharvest.domain.footprint.Footprint` that catalog queries read, with the geometry
built only when asked for.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from shapely.geometry.base import BaseGeometry

    from eoharvest.domain.footprint import Footprint

_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
# The bbox text form parse_aoi accepts (eoharvest.domain.aoi._BBOX_TEXT).
_BBOX_TEXT = re.compile(rf"^\s*({_NUM})" + rf"\s*[,\s]\s*({_NUM})" * 3 + r"\s*$")


@dataclass(frozen=True)
class AoiBox:
    """A lon/lat rectangle with west < east, south < north, within range and at most 180° wide:
    exactly the Polygon ``shapely.box(west, south, east, north)`` that ``parse_aoi`` gives."""

    west: float
    south: float
    east: float
    north: float

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        return (self.west, self.south, self.east, self.north)

    @property
    def part_bboxes(self) -> list[tuple[float, float, float, float]]:
        return [self.bbox]

    @property
    def footprint(self) -> Footprint:
        from eoharvest.domain.footprint import Footprint

        return Footprint.from_bbox(*self.bbox)

    @property
    def geometry(self) -> BaseGeometry:
        return self.footprint.geometry

    @property
    def wkb(self) -> bytes:
        return self.footprint.wkb

    @property
    def geojson(self) -> dict[str, Any]:
        return self.footprint.geojson

    def intersects(self, other: Footprint) -> bool:
        return self.footprint.intersects(other)


def plain_box(value: Any) -> AoiBox | None:
    """The :class:`AoiBox` of a ``"w,s,e,n"`` text that ``parse_aoi`` reads as one plain
    rectangle, else None (then ``parse_aoi`` decides, and names any problem)."""
    if not isinstance(value, str):
        return None
    match = _BBOX_TEXT.match(value)
    if match is None:
        return None
    west, south, east, north = (float(n) for n in match.groups())
    if not all(math.isfinite(v) for v in (west, south, east, north)):
        return None
    if not (-180.0 <= west < east <= 180.0 and -90.0 <= south < north <= 90.0 and east - west <= 180.0):
        return None
    return AoiBox(west, south, east, north)
