"""File routes: the verified files of the catalog over HTTP, readable partially (GDAL's
``/vsicurl/``, browsers, stackstac).

A file is found **only through the catalog**: by its file id (``/files/{id}``) or by product
key and file name (``/files/{product_key}/{name}``), both matched as values against the
catalog's ``available`` rows, and a member of an extracted archive by its archive's file id
and its recorded path (``/files/{id}/members/{path}``, :mod:`.members`); nothing in the URL is
ever joined to a path. What the catalog then points at is served only while it is still what
was verified:

* a regular file, not a symbolic link, with no link among the folders between it and the
  product folder (included) (404);
* with the size, ``mtime_ns`` and inode recorded when it was verified (409, pointing at
  ``eoharvest verify --repair``). Rows verified before the catalog recorded ``mtime_ns`` and
  inode (revision 0006) are checked on their size only.

Responses carry a strong ``ETag`` (the recorded SHA-256), ``Last-Modified``, the content type of
the format (GeoTIFF with the COG profile when the file has GDAL's COG layout, JP2, zip, NetCDF,
JSON, XML), answer ``If-None-Match``/``If-Modified-Since`` with 304, and leave ``Range``,
``If-Range``, ``HEAD`` and 416 to Starlette's ``FileResponse``, which also hands a whole file to
an ASGI server that offers ``http.response.pathsend``: `eoharvest serve`'s uvicorn protocol does
(:mod:`.sendfile`, sendfile(2)); ranges are read in 1 MiB chunks.
"""

from __future__ import annotations

import logging
import os
import stat
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import select

from eoharvest.adapters.catalog.tables import files, scenes
from eoharvest.domain.catalog_query import CatalogRecord
from eoharvest.domain.download_states import AVAILABLE

log = logging.getLogger("eoharvest.serve")

FILES_PREFIX = "files"
REPAIR_HINT = "run `eoharvest verify --repair` to re-hash it (a file that still matches is served again)"
COG_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
GEOTIFF_TYPE = "image/tiff; application=geotiff"

_TYPES = {
    ".jp2": "image/jp2", ".j2k": "image/jp2",
    ".zip": "application/zip", ".tar": "application/x-tar", ".gz": "application/gzip", ".tgz": "application/gzip",
    ".nc": "application/netcdf", ".nc4": "application/netcdf", ".cdf": "application/netcdf",
    ".h5": "application/x-hdf5", ".hdf5": "application/x-hdf5", ".he5": "application/x-hdf5", ".hdf": "application/x-hdf",
    ".json": "application/json", ".geojson": "application/geo+json",
    ".xml": "application/xml", ".safe": "application/xml", ".xsd": "application/xml", ".kml": "application/vnd.google-earth.kml+xml",
    ".txt": "text/plain; charset=utf-8", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
    ".pdf": "application/pdf", ".html": "text/html; charset=utf-8",
}  # fmt: skip


@dataclass(frozen=True)
class CatalogFile:
    """An ``available`` row of the catalog's files table, as the file routes need it."""

    file_id: int
    product_key: str
    name: str
    local_path: str
    sha256: str
    size: int | None
    mtime_ns: int | None
    inode: int | None
    verified_at: datetime | None
    #: a member of an extracted archive: ``file_id`` is its archive's, ``name`` its path in the
    #: product folder (``/``-separated)
    member: bool = False

    @property
    def what(self) -> str:
        if self.member:
            return f"member {self.name!r} of file {self.file_id} ({self.product_key})"
        return f"file {self.file_id} ({self.product_key}/{self.name})"


class FileRefused(Exception):
    """Why a file is not served: ``status`` (404 or 409) and a message naming the file."""

    def __init__(self, status: int, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.hint = hint


class FileIndex:
    """Look-ups of available files in the catalog's reader engine (values bound, never paths)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    def _select(self) -> Any:
        return (
            select(files.c.id, scenes.c.product_key, files.c.name, files.c.local_path, files.c.sha256,
                   files.c.size, files.c.mtime_ns, files.c.inode, files.c.verified_at)
            .join(scenes, scenes.c.id == files.c.scene_pk)
            .where(files.c.state == AVAILABLE, files.c.local_path.is_not(None), files.c.sha256.is_not(None))
        )  # fmt: skip

    def _one(self, stmt: Any) -> CatalogFile | None:
        with self.engine.connect() as conn:
            row = conn.execute(stmt.order_by(files.c.id).limit(1)).first()
        return None if row is None else CatalogFile(*row)

    def by_id(self, file_id: int) -> CatalogFile | None:
        return self._one(self._select().where(files.c.id == file_id))

    def by_name(self, product_key: str, name: str) -> CatalogFile | None:
        """The oldest available copy of file ``name`` of ``product_key`` (from any provider)."""
        return self._one(self._select().where(scenes.c.product_key == product_key, files.c.name == name))


def file_route_href(record: CatalogRecord, path: str, base_url: str) -> str:
    """The local href of a verified file: its route under this API (``ApiOptions.local_href``).

    A product kept only unpacked (the archive's row points at the product folder) has no file
    to serve: its href stays a ``file://`` URI."""
    key = record.scene.product_key
    if not key or os.path.isdir(path):
        return Path(path).as_uri()
    return f"{base_url}{FILES_PREFIX}/{quote(key, safe='')}/{quote(Path(path).name, safe='')}"


def content_type(path: str, head: bytes) -> str:
    """The media type of ``path`` from its extension; a TIFF is a GeoTIFF, with the COG profile
    when its first bytes carry GDAL's COG layout marker (``LAYOUT=IFDS_BEFORE_DATA``)."""
    suffix = Path(path).suffix.lower()
    if suffix in (".tif", ".tiff") or head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return COG_TYPE if b"LAYOUT=IFDS_BEFORE_DATA" in head else GEOTIFF_TYPE
    if head.startswith(b"\x00\x00\x00\x0cjP  \r\n\x87\n") or head.startswith(b"\xff\x4f\xff\x51"):
        return "image/jp2"
    return _TYPES.get(suffix, "application/octet-stream")


def check_file(entry: CatalogFile) -> os.stat_result:
    """The file's ``stat`` if it is still what the catalog verified, else :class:`FileRefused`.

    Neither the file nor any folder between it and the product folder (included) may be a
    symbolic link: a link inside the archive can point anywhere, so it is never followed."""
    what = entry.what
    path = Path(entry.local_path)
    depth = entry.name.count("/") + 1 if entry.member else 1
    try:
        folders = [os.lstat(folder) for folder in path.parents[:depth]]
        st = os.lstat(path)
    except FileNotFoundError:
        raise FileRefused(409, f"{what} is verified in the catalog but missing on disk", REPAIR_HINT) from None
    except (OSError, IndexError) as exc:
        raise FileRefused(404, f"{what} cannot be read ({getattr(exc, 'strerror', exc)})") from None
    if stat.S_ISLNK(st.st_mode) or any(stat.S_ISLNK(folder.st_mode) for folder in folders):
        log.warning("not serving %s: it or a folder above it in the product is a symbolic link", what)
        raise FileRefused(404, f"{what} is not a regular file in the archive")
    if not stat.S_ISREG(st.st_mode):
        raise FileRefused(404, f"{what} is not a regular file in the archive")
    changed = []
    if entry.size is not None and st.st_size != entry.size:
        changed.append(f"size {st.st_size} instead of {entry.size}")
    if entry.mtime_ns is not None and st.st_mtime_ns != entry.mtime_ns:
        changed.append("modification time")
    if entry.inode is not None and st.st_ino != entry.inode:
        changed.append("inode (the file was replaced)")
    if changed:
        when = f" at {entry.verified_at.isoformat()}Z" if entry.verified_at else ""
        raise FileRefused(409, f"{what} changed on disk since it was verified{when}: {', '.join(changed)}",
                          REPAIR_HINT)  # fmt: skip
    return st


def _etag_matches(header: str, etag: str) -> bool:
    """If-None-Match: weak comparison, ``*`` or a list."""
    if header.strip() == "*":
        return True
    bare = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == bare for tag in header.split(","))


def _not_modified_since(header: str, mtime: float) -> bool:
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError):
        return False
    if since.tzinfo is None:
        since = since.replace(tzinfo=timezone.utc)
    return int(mtime) <= since.timestamp()


def _read_head(path: str, size: int = 1024) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(size)
    except OSError:
        return b""


def add_file_routes(app: Any, engine: Any) -> None:
    """``GET``/``HEAD /files/{file_id}``, ``/files/{product_key}/{name}`` and
    ``/files/{file_id}/members/{member path}`` (:mod:`.members`) on ``app``."""
    from starlette.responses import FileResponse, JSONResponse, Response

    from eoharvest.adapters.stac_api.members import MEMBERS_SEGMENT, MemberIndex

    class ChunkedFile(FileResponse):
        chunk_size = 1024 * 1024  # ranges (and servers without pathsend): fewer thread hops than 64 KiB

    index = FileIndex(engine)
    members = MemberIndex(engine)

    def refused(exc: FileRefused) -> Response:
        description = str(exc) + (f" ({exc.hint})" if exc.hint else "")
        return JSONResponse({"code": "FileChanged" if exc.status == 409 else "NotFound", "description": description},
                            status_code=exc.status)  # fmt: skip

    def not_found(what: str) -> Response:
        return JSONResponse({"code": "NotFound", "description": f"no verified file {what} in the catalog "
                             "(file routes take a file id, a product key and a file name, or an archive's file id and a member "
                             "path, from the items' asset hrefs)"},
                            status_code=404)  # fmt: skip

    def respond(request: Any, entry: CatalogFile | None, what: str) -> Response:
        if entry is None:
            return not_found(what)
        try:
            st = check_file(entry)
        except FileRefused as exc:
            return refused(exc)
        etag = f'"{entry.sha256}"'
        headers = {"etag": etag, "last-modified": formatdate(st.st_mtime, usegmt=True),
                   "cache-control": "no-cache"}  # fmt: skip
        inm = request.headers.get("if-none-match")
        ims = request.headers.get("if-modified-since")
        if (inm is not None and _etag_matches(inm, etag)) or (inm is None and ims and _not_modified_since(ims, st.st_mtime)):
            return Response(status_code=304, headers=headers)
        media = content_type(entry.local_path, _read_head(entry.local_path))
        return ChunkedFile(entry.local_path, headers=headers, media_type=media, stat_result=st)

    def file_id(raw: str) -> int | None:
        return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 18 else None

    def by_id(request: Any) -> Response:
        raw = request.path_params["file_id"]
        number = file_id(raw)
        if number is None:
            return not_found(repr(raw))
        return respond(request, index.by_id(number), f"with id {raw}")

    def member(request: Any) -> Response:
        raw, path = request.path_params["file_id"], request.path_params["member_path"]
        number = file_id(raw)
        what = f"member {path!r} of archive file {raw!r}"
        if number is None:
            return not_found(what)
        # the path is a value matched against the recorded member paths, never a filesystem path
        return respond(request, members.by_path(number, path), what)

    def by_name(request: Any) -> Response:
        key, name = request.path_params["product_key"], request.path_params["name"]
        return respond(request, index.by_name(key, name), f"{name!r} of product {key!r}")

    # Sync endpoints: Starlette runs them (catalog look-up and stat) in its thread pool.
    app.router.add_route(f"/{FILES_PREFIX}/{{file_id}}", by_id, methods=["GET", "HEAD"], include_in_schema=False)
    app.router.add_route(f"/{FILES_PREFIX}/{{product_key}}/{{name}}", by_name, methods=["GET", "HEAD"],
                         include_in_schema=False)  # fmt: skip
    app.router.add_route(f"/{FILES_PREFIX}/{{file_id}}/{MEMBERS_SEGMENT}/{{member_path:path}}", member,
                         methods=["GET", "HEAD"], include_in_schema=False)  # fmt: skip
