"""The schema revisions this code knows, read from the migration scripts without Alembic.

Every catalog open compares the file's revision (one row of ``alembic_version``) with the newest
revision this code knows. Asking Alembic costs its import and a parse of every script, which
is most of the start-up of a read-only command on a small catalog; the ``revision`` and
``down_revision`` assignments of the scripts say the same (tests/integration/test_catalog_revisions.py
checks that the answers agree). Alembic is imported only when a migration must run.
"""

from __future__ import annotations

import ast
import re
from functools import lru_cache
from pathlib import Path

import eoharvest.migrations.versions as versions
from eoharvest.domain.errors import CatalogError

_ASSIGNMENT = re.compile(r"^(revision|down_revision)\s*(?::[^=\n]*)?=\s*(.+?)\s*$", re.MULTILINE)


@lru_cache(maxsize=1)
def known_revisions() -> dict[str, str | None]:
    """Each revision of the packaged migrations, with the revision it follows (None: the first)."""
    found: dict[str, str | None] = {}
    for script in sorted(Path(versions.__file__).resolve().parent.glob("*.py")):
        values = {name: ast.literal_eval(value) for name, value in _ASSIGNMENT.findall(script.read_text("utf-8"))}
        if "revision" in values:
            found[values["revision"]] = values.get("down_revision")
    return found


def head_revision() -> str:
    """The newest revision: the one no other revision follows (the chain is linear)."""
    known = known_revisions()
    heads = set(known) - set(known.values())
    if len(heads) != 1:
        raise RuntimeError(f"the migrations must form one chain; heads found: {sorted(heads)}")
    return heads.pop()


def check_not_newer(current: str | None) -> None:
    """Refuse a catalog written by a newer eoharvest (its revision is unknown here)."""
    if current is not None and current not in known_revisions():
        raise CatalogError(
            f"the catalog's schema revision {current!r} is newer than this eoharvest "
            f"(which knows up to {head_revision()!r})",
            hint="upgrade eoharvest, or point --catalog at another file",
        )
