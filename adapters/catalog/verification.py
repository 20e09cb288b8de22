"""Read the catalog's verified files for `eoharvest verify` (re-hash the archive)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from eoharvest.adapters.catalog.tables import files, scenes
from eoharvest.domain.download_states import AVAILABLE


@dataclass(frozen=True)
class StoredFile:
    """A file the catalog says is available, with the SHA-256 recorded when it was verified."""

    file_id: int
    provider: str
    scene_id: str
    product_key: str
    name: str
    local_path: str
    sha256: str


def stored_files(catalog: Any, product_key: str | None = None) -> list[StoredFile]:
    """Every available file (optionally of one product), in catalog order."""
    stmt = (
        select(files.c.id, scenes.c.provider, scenes.c.scene_id, scenes.c.product_key,
               files.c.name, files.c.local_path, files.c.sha256)
        .join(scenes, scenes.c.id == files.c.scene_pk)
        .where(files.c.state == AVAILABLE, files.c.local_path.is_not(None))
        .order_by(files.c.id)
    )
    if product_key is not None:
        stmt = stmt.where(scenes.c.product_key == product_key)
    with catalog.reader.connect() as conn:
        return [StoredFile(*row) for row in conn.execute(stmt)]
