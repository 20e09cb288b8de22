"""Immutable domain models: Scene, Checksum, DownloadResult, FailedDownload, search pages."""

from __future__ import annotations

import dataclasses
import traceback
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Callable, Mapping, Sequence

from eoharvest.domain.errors import InputError
from eoharvest.domain.footprint import Footprint

# Values providers put in checksum fields when they have none (CDSE OData, some STAC items).
_JUNK_CHECKSUMS = frozenset({"", "n/a", "na", "none", "null", "unknown", "-"})


@dataclass(frozen=True)
class Checksum:
    """A provider-supplied (or locally computed) checksum.

    ``algorithm`` is lower-case hashlib-style (``md5``, ``sha256``, ``blake3``); ``value`` is
    lower-case hex; ``source`` says where it came from (e.g. ``odata``, ``stac:file:checksum``).
    """

    algorithm: str
    value: str
    source: str = "provider"

    @staticmethod
    def usable(algorithm: str | None, value: str | None, source: str = "provider") -> Checksum | None:
        """A Checksum, or None when the provider's value is empty or junk ("N/A", all zeros)."""
        if not algorithm or value is None:
            return None
        cleaned = str(value).strip().lower()
        if cleaned in _JUNK_CHECKSUMS or set(cleaned) <= {"0"}:
            return None
        try:
            int(cleaned, 16)
        except ValueError:
            return None
        return Checksum(_algorithm_name(algorithm), cleaned, source)


def _algorithm_name(name: str) -> str:
    """hashlib-style names: ``SHA-256`` -> ``sha256``, ``SHA3-256`` -> ``sha3_256``."""
    lowered = name.strip().lower()
    if lowered.startswith("sha3"):
        return "sha3_" + lowered[4:].lstrip("-_")
    return lowered.replace("-", "").replace("_", "")


DownloaderFactory = Callable[..., Any]


@dataclass(frozen=True)
class Scene:
    """One product found by a search.

    The first eight fields follow the reference constructor
    ``Scene(platformname, scene_id, footprint, acq_date, cloudcover_percentage, download_links,
    filenames, raw)``. Identity is ``(provider, scene_id)``; de-duplication across providers uses
    ``product_key`` (e.g. the ESA product name without extension).
    """

    platformname: str
    scene_id: str
    footprint: Footprint | None
    acq_date: datetime | None
    cloudcover_percentage: float | None
    download_links: tuple[str, ...] = ()
    filenames: tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    provider: str = ""
    product_key: str | None = None
    scene_key: str | None = None
    size: int | None = None
    checksums: tuple[Checksum, ...] = ()
    online: bool = True
    #: when the provider published (or last updated) the product: CDSE ``PublicationDate``, STAC
    #: ``updated``, CMR ``revision-date``; what a publication-time watermark advances on
    published: datetime | None = field(default=None, compare=False)
    _downloader_factory: DownloaderFactory | None = field(
        default=None, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if not self.scene_id:
            raise InputError("a scene needs a non-empty scene_id")
        # Accept lists from callers but store tuples so the scene stays immutable.
        object.__setattr__(self, "download_links", tuple(self.download_links))
        object.__setattr__(self, "filenames", tuple(self.filenames))
        object.__setattr__(self, "checksums", tuple(self.checksums))
        if self.acq_date is not None and self.acq_date.tzinfo is None:
            raise InputError(f"scene {self.scene_id}: acq_date must be timezone-aware (UTC)")
        if self.published is not None and self.published.tzinfo is None:
            raise InputError(f"scene {self.scene_id}: published must be timezone-aware (UTC)")
        if self.size is not None and self.size < 0:
            raise InputError(f"scene {self.scene_id}: negative size {self.size}")
        if self.product_key is None:
            object.__setattr__(self, "product_key", self.scene_id)

    @property
    def raw_result(self) -> Mapping[str, Any]:
        """The raw result (parsed JSON, or XML text) returned by the server."""
        return self.raw

    def with_plain_raw(self) -> Scene:
        """This scene with ``raw`` as a plain dict. A search may keep a provider's record as a
        read-only mapping decoded on first use (a catalog-only harvest stores it undecoded);
        scenes handed to callers carry a dict, as ``json.dumps`` and pystac expect."""
        if type(self.raw) is dict or not isinstance(self.raw, Mapping):
            return self
        return dataclasses.replace(self, raw=dict(self.raw))

    @property
    def identity(self) -> tuple[str, str]:
        return (self.provider, self.scene_id)

    @property
    def bound(self) -> bool:
        """Whether :meth:`downloader` has a provider's downloader to return."""
        return self._downloader_factory is not None

    def bind_downloader(self, factory: DownloaderFactory) -> Scene:
        """A copy of this scene whose :meth:`downloader` uses ``factory``."""
        return dataclasses.replace(self, _downloader_factory=factory)

    def downloader(self, **extra_params: Any) -> Any:
        """The Downloader for this scene (reference API)."""
        if self._downloader_factory is None:
            raise InputError(
                f"scene {self.scene_id!r} is not bound to a provider",
                hint="get scenes from a SensorAPI's scenes(), or pass scenes built from their "
                "download links to eoharvest.download_all / BulkDownloader",
            )
        return self._downloader_factory(self, **extra_params)


@dataclass(frozen=True)
class DownloadResult:
    """Reference API: files written for one scene, and the archives extracted (if any).

    ``bytes_transferred`` counts what this run received over the network for the scene (a
    resumed file counts only the rest, a file already there nothing); ``bytes_in_archive`` is
    the size of the scene's files on disk now (its files, unpacked members and kept archives).
    """

    out_files: tuple[str, ...]
    scene: Scene
    archives: tuple[str, ...] | None = None
    skipped: bool = False
    bytes_transferred: int = 0
    bytes_in_archive: int = 0
    #: files handed to the download queue instead of fetched (a daemon on a PostgreSQL catalog)
    queued: int = 0

    def __init__(
        self,
        out_files: Sequence[str],
        scene: Scene,
        archives: Sequence[str] | None = None,
        *,
        skipped: bool = False,
        bytes_transferred: int = 0,
        bytes_in_archive: int = 0,
        queued: int = 0,
    ) -> None:
        object.__setattr__(self, "out_files", tuple(str(f) for f in out_files))
        object.__setattr__(self, "scene", scene)
        object.__setattr__(
            self, "archives", None if archives is None else tuple(str(a) for a in archives)
        )
        object.__setattr__(self, "skipped", skipped)
        object.__setattr__(self, "bytes_transferred", bytes_transferred)
        object.__setattr__(self, "bytes_in_archive", bytes_in_archive)
        object.__setattr__(self, "queued", queued)


def transfer_totals(results: Sequence[DownloadResult]) -> tuple[int, int]:
    """(bytes transferred, bytes in the archive) of a run's results; a product reported by two
    results (found at two providers) counts once in the archive."""
    transferred = sum(r.bytes_transferred for r in results)
    stored: dict[frozenset[str], int] = {}
    for result in results:
        stored[frozenset(result.out_files)] = result.bytes_in_archive
    return transferred, sum(stored.values())


ExcInfo = tuple[type[BaseException], BaseException, TracebackType | None]


@dataclass(frozen=True)
class FailedDownload:
    """Reference API: a scene that failed, with ``sys.exc_info()`` of the failure."""

    scene_id: str
    exc_info: ExcInfo = field(repr=False)

    @property
    def error(self) -> BaseException:
        return self.exc_info[1]

    def format(self) -> str:
        return "".join(traceback.format_exception(*self.exc_info))

    def __repr__(self) -> str:
        return f"FailedDownload(scene_id={self.scene_id!r}, error={self.error!r})"


@dataclass(frozen=True)
class SearchPage:
    """One page of provider results, plus what is needed to fetch the next one."""

    scenes: tuple[Scene, ...]
    total: int | None = None
    next_ref: Any = None
    #: the provider applied the query's cloud range itself, so ``total`` already reflects it
    cloud_filtered: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "scenes", tuple(self.scenes))


#: The asset name recorded for a whole-product archive (a SAFE zip, a Landsat bundle), as the
#: STAC export names it.
WHOLE_PRODUCT_ASSET = "product"


@dataclass(frozen=True)
class DownloadDescriptor:
    """One file to fetch for a scene: where from, the local name, and what to expect."""

    url: str
    filename: str
    size: int | None = None
    checksums: tuple[Checksum, ...] = ()
    media_type: str | None = None
    #: what the file is, by the provider's asset name (a STAC asset key, a band, ``product``
    #: for a whole-product archive): recorded with the file, so a later request for the same
    #: asset of the same product from another provider reuses it
    asset: str | None = None
    #: for signed links: returns a freshly signed URL when the signed one is refused
    refresh_url: Callable[[], str] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "checksums", tuple(self.checksums))


@dataclass(frozen=True)
class Activation:
    """Whether a scene can be downloaded now; ``reason`` explains a False.

    ``order_state`` is set when the scene goes through an order (domain/orders.py): a scene
    still not ready at the activation timeout is then reported as pending, not failed.
    ``defer``: nothing will change within this run (the provider cannot order it, or placing
    orders is off), so it is reported as pending at once instead of being polled.
    """

    ready: bool
    reason: str = ""
    retry_after: float | None = None
    permanent: bool = False
    order_state: str | None = None
    defer: bool = False
