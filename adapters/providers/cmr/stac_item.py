"""A CMR scene as a STAC Item (for ``eoharvest catalog export --format stac``).

Built from the UMM-G record kept as the scene's raw record: one asset per granule file, named
as for ``--assets`` (``B04``, ``Fmask``), with ``file:size`` and ``file:checksum`` (a multihash,
STAC File extension v2.1.0), the acquisition range, ``eo:cloud_cover`` and the CMR collection
(``cmr:collection``, ``<short name>.v<version>``: the item has no STAC collection to link to).
The export fills in the geometry from the catalogued footprint and points downloaded assets at
their local files.
"""

from __future__ import annotations

from typing import Any, Mapping

from eoharvest.adapters.providers.cmr.items import acquisition, data_files
from eoharvest.domain.models import Checksum, Scene

STAC_VERSION = "1.0.0"
EXTENSIONS = (
    "https://stac-extensions.github.io/eo/v1.1.0/schema.json",
    "https://stac-extensions.github.io/file/v2.1.0/schema.json",
)
#: multihash codes (https://github.com/multiformats/multicodec) of the algorithms UMM-G uses
_MULTIHASH = {"md5": "d501", "sha1": "11", "sha256": "12", "sha512": "13"}


def multihash(checksum: Checksum) -> str | None:
    """``file:checksum`` text for a checksum: code, digest length, digest (all hex)."""
    code = _MULTIHASH.get(checksum.algorithm)
    if code is None:
        return None
    return f"{code}{len(checksum.value) // 2:02x}{checksum.value}"


def _iso(value: Any) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def stac_item(scene: Scene) -> tuple[dict[str, Any], dict[str, str]]:
    """The STAC Item of a CMR scene (its raw record must be the UMM-G item) and, per asset,
    the file name it is downloaded under."""
    raw: Mapping[str, Any] = scene.raw if isinstance(scene.raw, Mapping) else {}
    umm: Mapping[str, Any] = raw["umm"] if isinstance(raw.get("umm"), Mapping) else {}
    meta: Mapping[str, Any] = raw["meta"] if isinstance(raw.get("meta"), Mapping) else {}
    start, end = acquisition(umm)
    props: dict[str, Any] = {
        "datetime": _iso(start or scene.acq_date),
        "start_datetime": _iso(start),
        "end_datetime": _iso(end),
        "platform": scene.platformname,
        "cmr:concept_id": meta.get("concept-id"),
        "cmr:provider_id": meta.get("provider-id"),
        "cmr:revision_date": meta.get("revision-date"),
    }
    if scene.cloudcover_percentage is not None:
        props["eo:cloud_cover"] = scene.cloudcover_percentage
    assets: dict[str, Any] = {}
    for file in data_files(raw) if umm else []:
        asset: dict[str, Any] = {"href": file.url, "title": file.filename, "roles": ["data"]}
        if file.media_type:
            asset["type"] = file.media_type
        if file.size is not None:
            asset["file:size"] = file.size
        hashed = next((h for h in map(multihash, file.checksums) if h), None)
        if hashed:
            asset["file:checksum"] = hashed
        assets[file.asset] = asset
    reference: Mapping[str, Any] = umm["CollectionReference"] if isinstance(umm.get("CollectionReference"), Mapping) else {}
    short, version = reference.get("ShortName"), reference.get("Version")
    item: dict[str, Any] = {
        "type": "Feature",
        "stac_version": STAC_VERSION,
        "stac_extensions": list(EXTENSIONS),
        "id": scene.scene_id,
        "geometry": scene.footprint.geojson if scene.footprint else None,
        "bbox": list(scene.footprint.bbox) if scene.footprint else None,
        "properties": {k: v for k, v in props.items() if v is not None},
        "links": [],
        "assets": assets,
    }
    if short:
        item["properties"]["cmr:collection"] = f"{short}.v{version}" if version else str(short)
    files = {key: str(asset["title"]) for key, asset in assets.items()}
    return item, files
