"""Opens (so creates) a catalog and SIGKILLs itself at one step of the creation.

``python catalog_creation_worker.py CATALOG STEP``; STEP is one of :data:`STEPS`, or ``none``
(no crash). Used by tests/integration/test_catalog_creation_crash.py.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from eoharvest.adapters.catalog import creation, migrate, open_catalog

STEPS = (
    "before_spatial_metadata",  # the building file exists, WAL mode set, nothing else
    "after_spatial_metadata",  # InitSpatialMetaData ran in the creating transaction, not committed
    "after_migrations",  # the schema committed to the building file's WAL, not checkpointed
    "before_fsync",  # building file checkpointed and closed, not yet fsynced
    "before_rename",  # fsynced, the final name not yet taken
    "after_rename",  # renamed into place, the folder not yet fsynced
)


def crash() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def crash_before(function):
    def wrapper(*args, **kwargs):
        crash()

    return wrapper


def crash_after(function):
    def wrapper(*args, **kwargs):
        function(*args, **kwargs)
        crash()

    return wrapper


def main(path: str, step: str) -> None:
    patches = {
        "before_spatial_metadata": (migrate, "ensure_spatial_metadata", crash_before),
        "after_spatial_metadata": (migrate, "ensure_spatial_metadata", crash_after),
        "after_migrations": (migrate, "upgrade", crash_after),
        "before_fsync": (creation, "_fsync", crash_before),
        "before_rename": (creation.os, "replace", crash_before),
        "after_rename": (creation.os, "replace", crash_after),
    }
    if step != "none":
        owner, name, wrap = patches[step]
        setattr(owner, name, wrap(getattr(owner, name)))
    open_catalog(Path(path)).close()
    print("opened", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
