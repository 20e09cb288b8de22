"""Catalog queries: the filter model users fill in, and the records the catalog answers with.

These are the value types of the ``CatalogRepository`` port (:mod:`eoharvest.domain.ports`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

from eoharvest.domain.catalog_fields import DOWNLOAD_STATES, Expr, sort_field
from eoharvest.domain.catalog_fields import PREDICATES as PREDICATES  # re-exported: its old home
from eoharvest.domain.catalog_where import parse_where
from eoharvest.domain.download_states import scene_state
from eoharvest.domain.errors import InputError
from eoharvest.domain.platforms import canonical_platform
from eoharvest.domain.query import parse_cloud, parse_datetime

if TYPE_CHECKING:  # annotations only: shapely loads when a footprint is built
    from eoharvest.domain.aoi_box import AoiBox
    from eoharvest.domain.footprint import Footprint
    from eoharvest.domain.models import Checksum, Scene


@dataclass(frozen=True)
class CatalogFilter:
    """What to select from the catalog. Build it with :meth:`create` from raw user values.

    ``predicate`` relates the scene footprint to the AOI: ``contains`` = the footprint covers
    the whole AOI, ``within`` = the footprint lies inside the AOI. With ``distinct_products``
    one row per product key is returned (the earliest-catalogued provider's row). The AOI is a
    Footprint, or an :class:`~eoharvest.domain.aoi_box.AoiBox` (a plain bbox parsed without
    shapely, which SpatiaLite's query path uses as four numbers).
    """

    aoi: Footprint | AoiBox | None = None
    predicate: str = "intersects"
    start: datetime | None = None
    end: datetime | None = None
    cloud_min: float | None = None
    cloud_max: float | None = None
    platforms: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    states: tuple[str, ...] = ()
    where: Expr | None = None
    sort: str = "acq_date"
    descending: bool = False
    limit: int | None = None
    distinct_products: bool = True

    @classmethod
    def create(
        cls,
        *,
        aoi: Footprint | AoiBox | None = None,
        predicate: str = "intersects",
        start: Any = None,
        end: Any = None,
        cloud_min: Any = None,
        cloud_max: Any = None,
        platforms: Iterable[str] = (),
        providers: Iterable[str] = (),
        states: Iterable[str] = (),
        where: str | None = None,
        sort: str | None = None,
        descending: bool = False,
        limit: int | None = None,
        distinct_products: bool = True,
    ) -> CatalogFilter:
        """Validate raw values; every problem is an InputError naming the value."""
        if predicate not in PREDICATES:
            raise InputError(f"unknown predicate {predicate!r}", hint=f"use one of {', '.join(PREDICATES)}")
        begin = parse_datetime(start, name="start date")
        finish = parse_datetime(end, name="end date", end_of_day=True)
        if begin and finish and begin > finish:
            raise InputError(f"start {begin.date()} is after end {finish.date()}", hint="swap the dates")
        low, high = parse_cloud(cloud_min, name="cloud_min"), parse_cloud(cloud_max, name="cloud_max")
        if low is not None and high is not None and low > high:
            raise InputError(f"cloud_min {low:g} is greater than cloud_max {high:g}")
        for state in states:
            if state not in DOWNLOAD_STATES:
                raise InputError(f"unknown download state {state!r}", hint=f"states: {', '.join(DOWNLOAD_STATES)}")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
            raise InputError(f"limit {limit!r} must be a positive whole number")
        return cls(
            aoi=aoi,
            predicate=predicate,
            start=begin,
            end=finish,
            cloud_min=low,
            cloud_max=high,
            platforms=tuple(_platform(p) for p in platforms),
            providers=tuple(providers),
            states=tuple(states),
            where=parse_where(where) if where else None,
            sort=sort_field(sort) if sort else "acq_date",
            descending=descending,
            limit=limit,
            distinct_products=distinct_products,
        )


def _platform(name: str) -> str:
    try:
        return canonical_platform(name)
    except InputError:
        return name  # a provider-specific collection name is still a valid exact filter


@dataclass(frozen=True)
class CatalogRecord:
    """One catalogued scene with its download state and verified local files."""

    scene: Scene
    download_state: str
    first_seen: datetime
    last_seen: datetime
    local_paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class AvailableFile:
    """A verified local copy of one file of a product (from whichever provider fetched it).

    ``asset`` is the name of what the file is (a STAC asset key such as ``red``, a band, or
    ``product`` for a whole-product archive; None when unknown); ``size``, ``sha256`` and
    ``checksum`` are what the catalog recorded when the file was verified.
    """

    path: str
    provider: str
    name: str
    asset: str | None = None
    size: int | None = None
    sha256: str | None = None
    checksum: Checksum | None = None

    def holds_asset(self, asset: str) -> bool:
        """Whether this file is ``asset`` (asset names compare case-insensitively, as
        ``--assets`` does)."""
        return self.asset is not None and self.asset.casefold() == asset.casefold()

    def agrees_with(self, size: int | None, checksums: Iterable[Checksum]) -> bool:
        """False when a provider's announced size or checksum contradicts what was recorded
        for this file: then it is not the same file, whatever its asset name says."""
        if size is not None and self.size is not None and size != self.size:
            return False
        for checksum in checksums:
            value = checksum.value.lower()
            if checksum.algorithm == "sha256" and self.sha256 and value != self.sha256.lower():
                return False
            recorded = self.checksum
            if recorded is not None and recorded.algorithm == checksum.algorithm and recorded.value.lower() != value:
                return False
        return True


@dataclass(frozen=True)
class SceneFile:
    """A file the catalog records for one scene of one provider, whatever its state: what an
    order's completion is judged on. ``job_state`` is the state of the file's newest download
    job (None when it was never queued: an in-process download)."""

    name: str
    state: str
    asset: str | None = None
    local_path: str | None = None
    job_state: str | None = None


@dataclass(frozen=True)
class StoredFile:
    """A file the catalog calls available, with the SHA-256 recorded when it was verified."""

    file_id: int
    provider: str
    scene_id: str
    product_key: str
    name: str
    local_path: str
    sha256: str


@dataclass(frozen=True)
class ExtractedMember:
    """One file unpacked from a verified archive into the product folder.

    ``path`` is its path relative to the product folder (``/``-separated, as the archive names
    it), ``local_path`` where it is on disk, ``sha256`` the digest of the bytes written while
    extracting (archive checksums such as a SAFE manifest's MD5s are not SHA-256)."""

    path: str
    local_path: str
    size: int
    sha256: str


@dataclass(frozen=True)
class StoredMember:
    """An extracted member the catalog records for an available archive: what ``verify``
    re-hashes beside the files."""

    member_id: int
    file_id: int
    product_key: str
    path: str
    local_path: str
    sha256: str


@dataclass(frozen=True)
class CatalogStats:
    """Counts for `eoharvest catalog stats`."""

    scenes: int
    products: int
    per_platform: Mapping[str, int] = field(default_factory=dict)
    per_year: Mapping[int, int] = field(default_factory=dict)
    per_state: Mapping[str, int] = field(default_factory=dict)
    archive_bytes: int = 0
    files_available: int = 0


def state_of(file_states: Sequence[str]) -> str:
    """A scene's download state from its files': the most advanced one wins."""
    return scene_state(file_states)
