"""Scene <-> row mapping, both ways. Geometry travels as WKB; times are stored as naive UTC."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from eoharvest.adapters.catalog.columns import RECORD_COLUMNS, db_datetime, to_naive_utc
from eoharvest.adapters.json_codec import dumps_compact, dumps_compact_utf8
from eoharvest.adapters.json_record import JsonRecord
from eoharvest.domain.catalog_query import CatalogRecord
from eoharvest.domain.footprint import Footprint
from eoharvest.domain.models import Checksum, Scene

_COMPACT = {"separators": (",", ":"), "default": str, "ensure_ascii": False}


def to_aware_utc(value: datetime | str | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):  # raw driver rows (bench, fast paths) give text
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def as_multipolygon(geometry: BaseGeometry | None) -> MultiPolygon | None:
    """The areal part of a footprint as a MultiPolygon (the column type), or None."""
    if geometry is None or geometry.is_empty:
        return None
    if isinstance(geometry, MultiPolygon):
        return geometry
    if isinstance(geometry, Polygon):
        return MultiPolygon([geometry])
    polygons = [g for g in getattr(geometry, "geoms", ()) if isinstance(g, Polygon)]
    for g in getattr(geometry, "geoms", ()):
        if isinstance(g, MultiPolygon):
            polygons.extend(g.geoms)
    return MultiPolygon(polygons) if polygons else None


def scene_rows(scenes: Iterable[Scene], now: datetime) -> list[dict[str, Any]]:
    """Insert parameters for ``scenes``; within one batch the last copy of an identity wins."""
    by_identity: dict[tuple[str, str], Scene] = {}
    for scene in scenes:
        by_identity[(scene.provider, scene.scene_id)] = scene
    unique = list(by_identity.values())
    geometries = [as_multipolygon(s.footprint.geometry if s.footprint else None) for s in unique]
    wkbs = shapely.to_wkb(geometries) if geometries else []
    valid = shapely.is_valid(geometries) if geometries else []
    seen = to_naive_utc(now)
    rows = []
    for scene, wkb, ok in zip(unique, wkbs, valid):
        rows.append(
            {
                "provider": scene.provider,
                "scene_id": scene.scene_id,
                "product_key": scene.product_key or scene.scene_id,
                "scene_key": scene.scene_key,
                "platform": scene.platformname,
                "acq_start": to_naive_utc(scene.acq_date),
                "acq_end": to_naive_utc(_acq_end(scene)),
                "cloud_cover": scene.cloudcover_percentage,
                "size": scene.size,
                "online": scene.online,
                "links": json.dumps(
                    {"hrefs": scene.download_links, "names": scene.filenames}, **_COMPACT
                ),
                "checksums": json.dumps(
                    [[c.algorithm, c.value, c.source] for c in scene.checksums], **_COMPACT
                ),
                "raw": _raw_str(scene.raw),
                "fp_wkb": wkb,
                "geometry_valid": bool(ok) and wkb is not None,
                "first_seen": seen,
                "last_seen": seen,
            }
        )
    return rows


#: Columns written by :func:`encode_scenes`, in tuple order (``footprint`` is WKB; the SQL wraps
#: it in GeomFromWKB). ``id``, ``first_seen`` are handled by the repository.
ENCODED_COLUMNS = (
    "provider", "scene_id", "product_key", "scene_key", "platform", "acq_start", "acq_end",
    "cloud_cover", "size", "online", "links", "checksums", "raw", "footprint", "geometry_valid",
    "last_seen",
)  # fmt: skip
_ENCODER = json.JSONEncoder(**_COMPACT)  # one encoder: json.dumps(**kwargs) builds one per call
_MULTI_PREFIX = b"\x01\x06\x00\x00\x00\x01\x00\x00\x00"  # little-endian MultiPolygon of 1 part
_POLYGON, _MULTIPOLYGON = 3, 6


@dataclass(frozen=True)
class EncodedScenes:
    """Driver-ready parameters of a batch of scenes, unique by identity (the last copy wins)."""

    keys: list[tuple[str, str]]
    values: list[tuple[Any, ...]]


def footprint_wkbs(scenes: Sequence[Scene]) -> tuple[list[bytes | None], list[bool]]:
    """2-D little-endian MultiPolygon WKB of each footprint (None if none) and its validity."""
    geoms = np.array([s.footprint.geometry if s.footprint else None for s in scenes], dtype=object)
    types = shapely.get_type_id(geoms)
    odd = ~np.isin(types, (_POLYGON, _MULTIPOLYGON)) & (types >= 0)
    if odd.any():  # collections and the like: keep their areal parts
        geoms[odd] = [as_multipolygon(g) for g in geoms[odd]]
        types = shapely.get_type_id(geoms)
    empty = shapely.is_empty(geoms)
    geoms[empty] = None
    wkbs = shapely.to_wkb(geoms, output_dimension=2, byte_order=1)
    valid = shapely.is_valid(geoms)
    # A Polygon's WKB becomes a 1-part MultiPolygon by prefixing the collection header.
    prefix = _MULTI_PREFIX
    out: list[bytes | None] = [
        prefix + wkb if type_id == _POLYGON and wkb is not None else wkb
        for wkb, type_id in zip(wkbs.tolist(), types.tolist())
    ]
    return out, [bool(v) and w is not None for v, w in zip(valid.tolist(), out)]


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)


def db_datetimes(values: Sequence[datetime | None]) -> list[str | None]:
    """``[db_datetime(v) for v in values]``, formatted by numpy for all of them at once: half
    the time of one ``isoformat`` per value, most of a bulk ingest's encoding cost otherwise."""
    present = [v for v in values if v is not None]
    if not present:
        return [None] * len(values)
    try:
        micros = np.array([(v - _EPOCH) // _MICROSECOND for v in present], dtype="datetime64[us]")
    except TypeError:  # a naive datetime (not a Scene's): the exact per-value conversion
        return [db_datetime(v) for v in values]
    text = np.datetime_as_string(micros)  # YYYY-MM-DDTHH:MM:SS.ffffff, UTC
    text.view(np.uint32).reshape(len(present), -1)[:, 10] = ord(" ")  # the T, as in isoformat(" ")
    out: list[str | None] = text.tolist()
    if len(present) == len(values):
        return out
    formatted = iter(out)
    return [None if v is None else next(formatted) for v in values]


def encode_scenes(scenes: Iterable[Scene], now: datetime) -> EncodedScenes:
    """Insert parameters for ``scenes`` as tuples in :data:`ENCODED_COLUMNS` order."""
    by_identity = {(scene.provider, scene.scene_id): scene for scene in scenes}
    unique = list(by_identity.values())
    if not unique:
        return EncodedScenes([], [])
    wkbs, valid = footprint_wkbs(unique)
    starts = db_datetimes([scene.acq_date for scene in unique])
    seen = db_datetime(now)
    encode = _ENCODER.encode
    compact = dumps_compact
    values = []
    append = values.append
    for scene, start, wkb, ok in zip(unique, starts, wkbs, valid):
        raw = scene.raw
        append(
            (
                scene.provider,
                scene.scene_id,
                scene.product_key or scene.scene_id,
                scene.scene_key,
                scene.platformname,
                start,
                db_datetime(_acq_end(scene)) if raw else None,
                scene.cloudcover_percentage,
                scene.size,
                1 if scene.online else 0,
                compact({"hrefs": scene.download_links, "names": scene.filenames}),
                encode([[c.algorithm, c.value, c.source] for c in scene.checksums]) if scene.checksums else "[]",
                _raw_text(raw),  # bulk.py binds it as CAST(? AS TEXT)
                wkb,
                1 if ok else 0,
                seen,
            )
        )
    return EncodedScenes(list(by_identity), values)


def _acq_end(scene: Scene) -> datetime | None:
    raw = scene.raw if isinstance(scene.raw, Mapping) else {}
    end = raw.get("end_datetime") if isinstance(raw, Mapping) else None
    if isinstance(end, str):
        try:
            parsed = datetime.fromisoformat(end.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)
    return None


def _plain(raw: Any) -> Any:
    return dict(raw) if isinstance(raw, Mapping) else raw


def _raw_str(raw: Any) -> str:
    """:func:`_raw_text` as a str (for drivers binding text, e.g. PostGIS)."""
    if type(raw) is JsonRecord:
        return raw.data.decode("utf-8")
    return json.dumps(_plain(raw), **_COMPACT)


def _raw_text(raw: Any) -> bytes | str:
    """The raw record's JSON as UTF-8 bytes or text: a record kept as received is stored as it
    came (its bytes; nothing decoded or re-encoded), anything else as compact JSON."""
    if type(raw) is JsonRecord:
        return raw.data if raw else "{}"
    return dumps_compact_utf8(_plain(raw)) if raw else "{}"


_FOOTPRINT = RECORD_COLUMNS.index("footprint")
_MISSING = object()
_EMPTY_JSON: dict[str, Any] = {"{}": {}, "[]": []}


def decode_records(rows: Sequence[Sequence[Any]], paths: Mapping[int, Sequence[str]]) -> list[CatalogRecord]:
    """CatalogRecords of rows selected in :data:`RECORD_COLUMNS` order; ``paths`` maps a scene's
    ``id`` to the local paths of its verified files.

    Rows may come from the DB-API driver (times as text) or from SQLAlchemy (times as naive
    datetimes); both hold naive UTC. Per-row work is most of what a limit-100 query costs on the
    fast path, so it is kept small: one vectorised WKB decode for all footprints, one parse per
    distinct timestamp (first/last_seen are shared by every scene of an ingest batch), no JSON
    parser for the empty defaults.
    """
    if not rows:
        return []
    geometries = shapely.from_wkb([r[_FOOTPRINT] for r in rows])
    stamps: dict[Any, datetime | None] = {None: None}
    loads, parse, utc = json.loads, datetime.fromisoformat, timezone.utc

    def when(value: Any) -> datetime | None:
        stamp = stamps.get(value, _MISSING)
        if stamp is _MISSING:
            # Stored times are naive UTC: driver text is parsed inline (the hot case), anything
            # else (SQLAlchemy's datetimes) goes through to_aware_utc.
            stamp = stamps[value] = parse(value).replace(tzinfo=utc) if type(value) is str else to_aware_utc(value)
        return stamp  # type: ignore[return-value]

    out = []
    # The unpacking below is RECORD_COLUMNS, in order.
    for (pk, provider, scene_id, product_key, scene_key, platform, acq_start, cloud_cover, size, online,
         links_text, checksums_text, raw_text, _wkb, first_seen, last_seen, state), geometry in zip(rows, geometries):  # fmt: skip
        links = _EMPTY_JSON[links_text] if links_text in _EMPTY_JSON else loads(links_text)
        raw = {} if raw_text == "{}" else loads(raw_text)
        scene = Scene(
            platformname=platform,
            scene_id=scene_id,
            footprint=None if geometry is None else Footprint(geometry),
            acq_date=when(acq_start),
            cloudcover_percentage=cloud_cover,
            download_links=tuple(links.get("hrefs", ())) if links else (),
            filenames=tuple(links.get("names", ())) if links else (),
            raw=raw if isinstance(raw, dict) else {"raw": raw},
            provider=provider,
            product_key=product_key,
            scene_key=scene_key,
            size=size,
            checksums=() if checksums_text == "[]" else tuple(Checksum(a, v, s) for a, v, s in loads(checksums_text)),
            online=bool(online),
        )
        out.append(
            CatalogRecord(
                scene=scene,
                download_state=state,
                first_seen=when(first_seen),  # type: ignore[arg-type]
                last_seen=when(last_seen),  # type: ignore[arg-type]
                local_paths=tuple(paths[pk]) if pk in paths else (),
            )
        )
    return out


def checksum_columns(checksum: Checksum | None) -> dict[str, Any]:
    if checksum is None:
        return {"checksum_algorithm": None, "checksum_value": None, "checksum_source": "none"}
    return {
        "checksum_algorithm": checksum.algorithm,
        "checksum_value": checksum.value,
        "checksum_source": checksum.source,
    }
