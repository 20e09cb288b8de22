"""Startup reconciliation of a download directory.

Finishes or removes what a killed process left half-done, never touching a partial that a
live process holds (each ``.part`` is flock'ed by its writer):
* a sidecar whose ``.part`` is gone: the rename happened, the sidecar delete did not -> removed;
* a ``.part`` without a sidecar (killed before the sidecar was written) -> removed;
* half-written sidecars (``*.part.json.<writer>.tmp``) whose ``.part`` nobody holds -> removed;
* ``.staging-*`` extraction directories older than ``staging_grace`` seconds -> removed.
Partials with a sidecar are kept: the next download of that file resumes them.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("eoharvest.reconcile")


@dataclass
class ReconcileReport:
    removed: list[str] = field(default_factory=list)
    kept_partials: list[str] = field(default_factory=list)


def _locked_by_someone(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops our lock again
    return False


def _remove(path: Path, report: ReconcileReport) -> None:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    except FileNotFoundError:
        return
    report.removed.append(str(path))
    log.info("removed leftover %s", path)


def reconcile_directory(directory: Path, *, staging_grace: float = 3600.0) -> ReconcileReport:
    """Clean ``directory`` (one level: a product directory) of crash leftovers."""
    report = ReconcileReport()
    if not directory.is_dir():
        return report
    now = time.time()
    for entry in sorted(directory.iterdir()):
        name = entry.name
        if name.endswith(".tmp") and ".part.json" in name:
            # Each writer's own temporary sidecar; a live writer holds the lock of its .part.
            if not _locked_by_someone(entry.with_name(name[: name.index(".part.json")] + ".part")):
                _remove(entry, report)
        elif name.endswith(".part.json"):
            if not entry.with_name(name[: -len(".json")]).exists():
                _remove(entry, report)
        elif name.endswith(".part"):
            if _locked_by_someone(entry):
                continue
            if not entry.with_name(name + ".json").exists() or entry.stat().st_size == 0:
                _remove(entry, report)
                _remove(entry.with_name(name + ".json"), report)
            else:
                report.kept_partials.append(str(entry))
        elif name.startswith(".staging-") and entry.is_dir():
            if now - entry.stat().st_mtime > staging_grace:
                _remove(entry, report)
    return report
