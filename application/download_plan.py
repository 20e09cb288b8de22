"""The functional core of a scene download: what to reuse and what to fetch.

Rules (dedup across providers, by product key):
* ``overwrite`` fetches everything again.
* A verified **whole-product archive** of the product (a zip/tar from any provider) stands in
  for everything: nothing is fetched (the same product from Earth Search, Planetary Computer
  and CDSE is one product). Its record points at the archive, or, when archives are not kept,
  at the product folder it was unpacked into.
* Otherwise files are matched by name, then by asset: a verified copy with the descriptor's
  file name, or one recorded as the same asset (``red`` from Earth Search and the USGS band file
  ``..._SR_B4.TIF`` asked for as ``red``), is reused whichever provider fetched it, and only the
  missing ones are fetched (asking for more assets later fetches just those). An asset match
  needs the file on disk at the size recorded when it was verified, and no size or checksum
  the provider announces now that contradicts the recorded ones.
* A catalog record whose file is gone from disk does not count: the file is fetched again.
"""

from __future__ import annotations

import os
import stat
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


def same_asset(descriptor: DownloadDescriptor, available: Sequence[AvailableFile]) -> AvailableFile | None:
    """The oldest verified file recorded as the descriptor's asset whose recorded size and
    checksums agree with what the descriptor announces."""
    if not descriptor.asset:
        return None
    for f in available:
        if f.holds_asset(descriptor.asset) and f.agrees_with(descriptor.size, descriptor.checksums):
            return f
    return None


def on_disk_as_recorded(f: AvailableFile) -> bool:
    """The verified file is still there with the size recorded when it was verified (a folder,
    an archive kept only unpacked, has no size to compare)."""
    try:
        st = os.stat(f.path)
    except OSError:
        return False
    return not stat.S_ISREG(st.st_mode) or f.size is None or st.st_size == f.size


def plan_scene(
    scene: Scene,
    descriptors: Sequence[DownloadDescriptor],
    available: Sequence[AvailableFile],
    *,
    exists: Callable[[str], bool],
    overwrite: bool = False,
    intact: Callable[[AvailableFile], bool] = on_disk_as_recorded,
) -> ScenePlan:
    """Decide which descriptors to fetch and which existing files stand in for the rest."""
    if overwrite:
        return ScenePlan((), tuple(descriptors))
    present = [f for f in available if exists(f.path)]
    whole = [f for f in present if f.name.lower().endswith(ARCHIVE_SUFFIXES)]
    if whole:
        return ScenePlan(tuple(f.path for f in whole), ())
    by_name = {PurePath(f.name).name: f.path for f in present}
    by_asset = [f for f in present if f.asset and intact(f)]
    reuse: list[str] = []
    fetch: list[DownloadDescriptor] = []
    for descriptor in descriptors:
        if descriptor.filename in by_name:
            reuse.append(by_name[descriptor.filename])
        elif (same := same_asset(descriptor, by_asset)) is not None:
            reuse.append(same.path)
        else:
            fetch.append(descriptor)
    return ScenePlan(tuple(reuse), tuple(fetch))

