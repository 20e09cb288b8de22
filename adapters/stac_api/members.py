"""Members of extracted archives over HTTP: found through the catalog's ``archive_members`` rows.

``/files/{file id}/members/{member path}`` serves the member of archive file ``file id`` whose
recorded path (relative to the product folder, as the archive names it) equals ``member path``;
the path is matched as a value, never joined to a folder. A member is served only while its
archive is ``available`` and the file on disk is still what the extraction recorded (size,
``mtime_ns``, inode; 409 otherwise), with the same Range/ETag/HEAD answers as a file.

Items link a member when one of their assets names it: an asset whose remote href ends with a
file name that exactly one member of the product has (a SAFE band's JP2, a Landsat band's TIF)
gets the member's route as its href, the remote one kept under ``alternate``.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence
from urllib.parse import quote, unquote, urlsplit

from sqlalchemy import select

from eoharvest.adapters.catalog.stac_validation import ALTERNATE_ASSETS
from eoharvest.adapters.catalog.tables import archive_members, files, scenes
from eoharvest.adapters.stac_api.files import FILES_PREFIX, CatalogFile
from eoharvest.domain.download_states import AVAILABLE

MEMBERS_SEGMENT = "members"
_LOOKUP_CHUNK = 500  # product keys per IN (...): below SQLite's bound-parameter limit

#: (archive file id, member path) of a product's recorded members
MemberRef = tuple[int, str]


class MemberIndex:
    """Look-ups of recorded members of available archives (values bound, never paths)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    def by_path(self, file_id: int, path: str) -> CatalogFile | None:
        stmt = (
            select(files.c.id, scenes.c.product_key, archive_members.c.path, archive_members.c.local_path,
                   archive_members.c.sha256, archive_members.c.size, archive_members.c.mtime_ns,
                   archive_members.c.inode, archive_members.c.verified_at)
            .join(files, files.c.id == archive_members.c.file_id)
            .join(scenes, scenes.c.id == files.c.scene_pk)
            .where(archive_members.c.file_id == file_id, archive_members.c.path == path, files.c.state == AVAILABLE)
            .limit(1)
        )  # fmt: skip
        with self.engine.connect() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else CatalogFile(*row, member=True)

    def for_products(self, product_keys: Iterable[str]) -> dict[str, list[MemberRef]]:
        """The recorded members of each product's available archives, oldest archive first."""
        keys = sorted(set(product_keys))
        found: dict[str, list[MemberRef]] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(keys), _LOOKUP_CHUNK):
                stmt = (
                    select(scenes.c.product_key, archive_members.c.file_id, archive_members.c.path)
                    .join(files, files.c.id == archive_members.c.file_id)
                    .join(scenes, scenes.c.id == files.c.scene_pk)
                    .where(scenes.c.product_key.in_(keys[start:start + _LOOKUP_CHUNK]), files.c.state == AVAILABLE)
                    .order_by(archive_members.c.file_id, archive_members.c.id)
                )  # fmt: skip
                for key, file_id, path in conn.execute(stmt):
                    found.setdefault(key, []).append((file_id, path))
        return found


def member_route_href(base_url: str, ref: MemberRef) -> str:
    """The URL of a member under this API (``base_url`` ends with a slash)."""
    file_id, path = ref
    return f"{base_url}{FILES_PREFIX}/{file_id}/{MEMBERS_SEGMENT}/{quote(path, safe='/')}"


def link_members(item: dict[str, Any], members: Sequence[MemberRef], base_url: str) -> None:
    """Point each remote asset of ``item`` that names exactly one member at that member's route."""
    if not members:
        return
    by_name: dict[str, MemberRef | None] = {}
    for ref in members:
        name = ref[1].rsplit("/", 1)[-1]
        if name not in by_name:
            by_name[name] = ref  # the oldest archive's copy when two archives hold the same path
        elif (seen := by_name[name]) is not None and seen[1] != ref[1]:
            by_name[name] = None  # two members with this name: which one the asset means is unclear
    linked = False
    for asset in item.get("assets", {}).values():
        href = asset.get("href")
        if asset.get("eoharvest:local") or not isinstance(href, str):
            continue
        ref = by_name.get(unquote(urlsplit(href).path).rsplit("/", 1)[-1])
        if ref is None:
            continue
        alternates = dict(asset.get("alternate") or {})
        if href not in (a.get("href") for a in alternates.values() if isinstance(a, Mapping)):
            label = urlsplit(href).scheme or "remote"
            alternates[label if label not in alternates else f"{label}-{len(alternates)}"] = {"href": href}
        asset.update(href=member_route_href(base_url, ref), alternate=alternates)
        asset["eoharvest:local"] = True
        linked = True
    if linked and ALTERNATE_ASSETS not in item.setdefault("stac_extensions", []):
        item["stac_extensions"].append(ALTERNATE_ASSETS)
