"""The functional core of a scene download: what to reuse and what to fetch.

Rules (dedup across providers, by product key):
* ``overwrite`` fetches everything again.
* A verified **whole-product archive** of the product (a zip/tar from any provider) stands in
  for everything: nothing is fetched (the same product from Earth Search, Planetary Computer
  and CDSE is one product). Its record points at the archive, or, when archives are not kept,
  at the product folder it was unpacked into.
* Otherwise files are matched by name: verified copies are reused, whichever provider fetched
  them, and only the missing ones are fetched (asking for more assets later fetches just those).
* A catalog record whose file is gone from disk does not count: the file is fetched again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath
from typing import Callable, Sequence

from eoharvest.domain.catalog_query import AvailableFile
from eoharvest.domain.models import DownloadDescriptor, Scene

#: Names of files that hold a whole product (a SAFE zip, a Landsat tar bundle).
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")
#: Media types of such archives (a descriptor may have a generic name but say what it is).
ARCHIVE_TYPES = ("application/zip", "application/x-zip-compressed", "application/x-tar", "application/gzip")


def is_archive(descriptor: DownloadDescriptor) -> bool:
    """True when the file is a product archive that is verified and unpacked after download."""
    name = descriptor.filename.lower()
    media = (descriptor.media_type or "").split(";")[0].strip().lower()
    return name.endswith(ARCHIVE_SUFFIXES) or media in ARCHIVE_TYPES


@dataclass(frozen=True)
class ScenePlan:
    reuse: tuple[str, ...]
    fetch: tuple[DownloadDescriptor, ...]

    @property
    def nothing_to_fetch(self) -> bool:
        return not self.fetch


def plan_scene(
    scene: Scene,
    descriptors: Sequence[DownloadDescriptor],
    available: Sequence[AvailableFile],
    *,
    exists: Callable[[str], bool],
    overwrite: bool = False,
) -> ScenePlan:
    """Decide which descriptors to fetch and which existing files stand in for the rest."""
    if overwrite:
        return ScenePlan((), tuple(descriptors))
    present = [f for f in available if exists(f.path)]
    whole = [f for f in present if f.name.lower().endswith(ARCHIVE_SUFFIXES)]
    if whole:
        return ScenePlan(tuple(f.path for f in whole), ())
    by_name = {PurePath(f.name).name: f.path for f in present}
    reuse = tuple(by_name[d.filename] for d in descriptors if d.filename in by_name)
    fetch = tuple(d for d in descriptors if d.filename not in by_name)
    return ScenePlan(reuse, fetch)
