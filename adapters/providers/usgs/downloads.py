"""Pure parsing of the M2M download flow: ``download-options`` -> ``download-request`` ->
``download-retrieve``.

``download-options`` lists, per scene, products (the Level-2 bundle, browse images served by
``wms``) and under the bundle its ``secondaryDownloads``: one entry per band file, each with its
*own* ``entityId`` (``L2SR_LC08_..._SR_B4_TIF``), which ``download-request`` must be given with
that entry's ``id`` as ``productId``. The band is named only in the entry's display id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from eoharvest.adapters.providers.usgs.datasets import asset_name, file_name
from eoharvest.domain.errors import InputError, ProviderResponseError

#: systems that deliver data files (``wms`` delivers browse images)
DATA_SYSTEMS = frozenset({"dds", "ls_zip", "dds_zip", "ls_dds"})


@dataclass(frozen=True)
class M2mFile:
    """One downloadable file of a scene, as ``download-options`` describes it."""

    entity_id: str
    product_id: str
    display_id: str
    filename: str
    size: int | None
    available: bool
    #: Earth Search asset name for a band file; None for the bundle
    asset: str | None = None

    @property
    def request(self) -> dict[str, str]:
        return {"entityId": self.entity_id, "productId": self.product_id}


@dataclass(frozen=True)
class SceneFiles:
    """What a scene offers: the bundle (a ``.tar``) and the band files."""

    bundle: M2mFile | None
    files: tuple[M2mFile, ...]

    def select(self, scene_id: str, assets: Sequence[str] | None) -> list[M2mFile]:
        """The bundle (``assets`` None) or the band files named in ``assets``."""
        if assets is None:
            if self.bundle is None:
                raise ProviderResponseError(f"usgs: download-options offers no product bundle for {scene_id}")
            return [self.bundle]
        by_asset = {f.asset: f for f in self.files if f.asset}
        unknown = [a for a in assets if a not in by_asset]
        if unknown:
            known = ", ".join(sorted(by_asset)) or "none (only the bundle)"
            raise InputError(f"usgs offers no asset {', '.join(unknown)} for {scene_id}", hint=f"assets: {known}")
        return [by_asset[a] for a in sorted(set(assets))]


def _size(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)) and value > 0:
        return int(value)
    return None


def _is_bundle(option: Mapping[str, Any]) -> bool:
    name = str(option.get("productName") or "").lower()
    return "bundle" in name or str(option.get("downloadSystem") or "").lower() in DATA_SYSTEMS


def scene_files(options: Any, entity_id: str, display_id: str) -> SceneFiles:
    """The bundle and band files of one scene in a ``download-options`` answer."""
    if not isinstance(options, list):
        raise ProviderResponseError(f"usgs: download-options answered {type(options).__name__}, not a list")
    bundle: M2mFile | None = None
    files: list[M2mFile] = []
    for option in options:
        if not isinstance(option, Mapping) or option.get("entityId") not in (entity_id, None):
            continue
        if not _is_bundle(option) or not isinstance(option.get("id"), str):
            continue
        candidate = M2mFile(entity_id, option["id"], str(option.get("displayId") or display_id),
                            f"{display_id}.tar", _size(option.get("filesize")), option.get("available") is True)  # fmt: skip
        if bundle is None or ("bundle" in str(option.get("productName")).lower() and candidate.available):
            bundle = candidate
        for secondary in option.get("secondaryDownloads") or []:
            if isinstance(secondary, Mapping):
                file = _secondary(secondary, display_id)
                if file is not None:
                    files.append(file)
    return SceneFiles(bundle, tuple(files))


def _secondary(entry: Mapping[str, Any], display_id: str) -> M2mFile | None:
    entity, product, shown = entry.get("entityId"), entry.get("id"), entry.get("displayId")
    if not isinstance(entity, str) or not isinstance(product, str):
        return None
    if not isinstance(shown, str) or not shown:
        # the entity id repeats the display id after a prefix: L2SR_<display id with _TIF>
        shown = entity.split("_", 1)[1] if entity.count("_") > 1 else entity
    name = file_name(shown)
    return M2mFile(entity, product, shown, name, _size(entry.get("filesize")), entry.get("available") is not False,
                   asset_name(display_id, name))  # fmt: skip


@dataclass(frozen=True)
class RequestAnswer:
    """A ``download-request`` answer, reduced to what an order needs."""

    available: tuple[Mapping[str, Any], ...]
    preparing: tuple[Mapping[str, Any], ...]
    duplicates: tuple[str, ...]
    failed: tuple[Mapping[str, Any], ...]

    @property
    def download_ids(self) -> tuple[str, ...]:
        ids = (str(d.get("downloadId")) for d in (*self.available, *self.preparing) if d.get("downloadId") is not None)
        return tuple(dict.fromkeys(ids))


def request_answer(data: Any) -> RequestAnswer:
    if not isinstance(data, Mapping):
        raise ProviderResponseError(f"usgs: download-request answered {type(data).__name__}, not an object")
    return RequestAnswer(
        tuple(_objects(data.get("availableDownloads"))),
        tuple(_objects(data.get("preparingDownloads"))),
        tuple(_duplicates(data.get("duplicateProducts"))),
        tuple(_objects(data.get("failed"))),
    )


def _objects(value: Any) -> Iterable[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _duplicates(value: Any) -> list[str]:
    """``duplicateProducts`` comes as a list (of ids or objects) or as a map: what was already
    requested, by product or download id."""
    if isinstance(value, Mapping):
        return [str(k) for k in value] + [str(v) for v in value.values() if isinstance(v, (str, int))]
    if isinstance(value, list):
        found: list[str] = []
        for item in value:
            if isinstance(item, (str, int)):
                found.append(str(item))
            elif isinstance(item, Mapping):
                found += [str(item[k]) for k in ("productId", "entityId", "downloadId") if item.get(k) is not None]
        return found
    return []


@dataclass(frozen=True)
class Retrieved:
    """A ``download-retrieve`` answer: per entity id, the ready URL (or None while requested)."""

    urls: Mapping[str, str | None]

    def state_of(self, wanted: Sequence[M2mFile]) -> tuple[int, int]:
        """How many of ``wanted`` are (known, ready)."""
        known = [f for f in wanted if f.entity_id in self.urls]
        return len(known), sum(1 for f in known if self.urls[f.entity_id])


def retrieved(data: Any) -> Retrieved:
    if not isinstance(data, Mapping):
        raise ProviderResponseError(f"usgs: download-retrieve answered {type(data).__name__}, not an object")
    urls: dict[str, str | None] = {}
    for item in _objects(data.get("requested")):
        if isinstance(item.get("entityId"), str):
            urls.setdefault(item["entityId"], None)
    for item in _objects(data.get("available")):
        url = item.get("url")
        if isinstance(item.get("entityId"), str) and isinstance(url, str) and url.startswith(("https://", "http://")):
            urls[item["entityId"]] = url
    return Retrieved(urls)
