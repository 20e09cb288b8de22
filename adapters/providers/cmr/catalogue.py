"""CMR collections: short name (+ version) -> concept id, and keyword listings.

One ``collections.json`` request resolves every short name of a search (CMR Search API
documentation, "Collection Search By Parameters"; the ATOM entries carry ``id``,
``short_name``, ``version_id``, ``data_center``, ``cloud_hosted`` and ``coordinate_system``).
A short name that lives at several CMR providers is searched at one of them (the one given with
``provider_id``, else a cloud-hosted one), and the search says which one it used.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from typing import Any, Mapping, Sequence
from urllib.parse import urlencode

from eoharvest.adapters.http.jsonapi import JsonApi
from eoharvest.adapters.providers.cmr.query import MAX_PAGE_SIZE, CollectionName
from eoharvest.domain.errors import InputError, ProviderResponseError

log = logging.getLogger("eoharvest.cmr")


@dataclass(frozen=True)
class CollectionInfo:
    """One CMR collection as the collection search describes it."""

    concept_id: str
    short_name: str
    version: str
    provider_id: str
    title: str = ""
    cloud_hosted: bool = False
    #: GEODETIC (great-circle polygon edges) unless CMR says CARTESIAN
    geodetic: bool = True

    @property
    def label(self) -> str:
        return f"{self.short_name} v{self.version} at {self.provider_id} ({self.concept_id})"


def collection_from_atom(entry: Any) -> CollectionInfo | None:
    """A ``collections.json`` entry, or None when it lacks an id, short name or provider."""
    if not isinstance(entry, Mapping):
        return None
    values = [entry.get(k) for k in ("id", "short_name", "data_center")]
    if not all(isinstance(v, str) and v for v in values):
        return None
    return CollectionInfo(
        concept_id=str(entry["id"]),
        short_name=str(entry["short_name"]),
        version=str(entry.get("version_id") or ""),
        provider_id=str(entry["data_center"]),
        title=str(entry.get("title") or entry.get("dataset_id") or ""),
        cloud_hosted=entry.get("cloud_hosted") is True,
        geodetic=str(entry.get("coordinate_system") or "GEODETIC").upper() != "CARTESIAN",
    )


def _version_key(version: str) -> tuple[tuple[int, ...], str]:
    return tuple(int(n) for n in re.findall(r"\d+", version)), version


class CollectionCatalogue:
    """Collection look-ups against ``<cmr_url>/collections.json`` (cached per process)."""

    def __init__(self, api: JsonApi, cmr_url: str) -> None:
        self.api = api
        self.cmr_url = cmr_url.rstrip("/")
        self._cache: dict[tuple[str, ...], tuple[CollectionInfo, ...]] = {}
        self._lock = threading.Lock()
        self.requests = 0

    def _entries(self, params: Sequence[tuple[str, str]]) -> tuple[int | None, list[CollectionInfo]]:
        self.requests += 1
        answer = self.api.exchange("GET", f"{self.cmr_url}/collections.json?{urlencode(list(params))}")
        feed = answer.body.get("feed") if isinstance(answer.body, Mapping) else None
        entries = feed.get("entry") if isinstance(feed, Mapping) else None
        if not isinstance(entries, list):
            raise ProviderResponseError("cmr: collection search answer has no feed.entry list")
        hits = answer.headers.get("CMR-Hits", "")
        found = [info for info in map(collection_from_atom, entries) if info is not None]
        return (int(hits) if hits.isdigit() else None), found

    def _cached(self, key: tuple[str, ...], params: Sequence[tuple[str, str]]) -> tuple[CollectionInfo, ...]:
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        _, found = self._entries(params)
        if found:  # a collection that is missing now may be published later
            with self._lock:
                self._cache[key] = tuple(found)
        return tuple(found)

    def resolve(
        self, names: Sequence[CollectionName], concept_ids: Sequence[str], provider_id: str | None
    ) -> tuple[CollectionInfo, ...]:
        """Concept ids for short names (one request) and the description of given concept ids."""
        chosen: list[CollectionInfo] = []
        if concept_ids:
            params = [("concept_id[]", c) for c in concept_ids] + [("page_size", str(MAX_PAGE_SIZE))]
            known = {c.concept_id: c for c in self._cached(("ids", *concept_ids), params)}
            missing = [c for c in concept_ids if c not in known]
            if missing:
                raise InputError(f"CMR has no collection {', '.join(missing)}",
                                 hint="find concept ids with `eoharvest providers cmr collections --keyword ...`")  # fmt: skip
            chosen.extend(known[c] for c in concept_ids)
        if names:
            shorts = sorted({n.short_name for n in names})
            params = [("short_name[]", s) for s in shorts] + [("page_size", str(MAX_PAGE_SIZE))]
            if provider_id:
                params.append(("provider", provider_id))
            found = self._cached(("names", provider_id or "", *shorts), params)
            for name in names:
                pick = self._pick(name, [c for c in found if c.short_name.upper() == name.short_name.upper()], provider_id)
                if pick is not None and pick not in chosen:
                    chosen.append(pick)
        if not chosen:
            wanted = ", ".join(_describe(n) for n in names) or ", ".join(concept_ids)
            raise InputError(f"CMR has none of the collections {wanted}",
                             hint="list what exists with `eoharvest providers cmr collections --keyword ...`")  # fmt: skip
        return tuple(chosen)

    def _pick(self, name: CollectionName, candidates: list[CollectionInfo], provider_id: str | None) -> CollectionInfo | None:
        if name.version is not None:
            candidates = [c for c in candidates if c.version == name.version]
        if not candidates:
            if name.explicit:
                where = f" at {provider_id}" if provider_id else ""
                raise InputError(f"CMR has no collection {_describe(name)}{where}",
                                 hint=f"list candidates with `eoharvest providers cmr collections --keyword {name.short_name}`")  # fmt: skip
            log.debug("cmr: %s is not in CMR; skipped", _describe(name))
            return None
        newest = max(_version_key(c.version) for c in candidates)
        candidates = [c for c in candidates if _version_key(c.version) == newest]
        candidates.sort(key=lambda c: (not c.cloud_hosted, c.provider_id))
        pick = candidates[0]
        if len(candidates) > 1:
            others = ", ".join(c.provider_id for c in candidates[1:])
            log.warning("cmr: %s v%s is also at %s; searching %s — choose with provider_id=... or "
                        "collection_concept_id=...", pick.short_name, pick.version, others, pick.label)  # fmt: skip
        elif name.version is None and name.explicit:
            log.info("cmr: searching %s (the newest version)", pick.label)
        return pick

    def search(self, keyword: str, *, limit: int = 50, provider_id: str | None = None) -> tuple[int | None, list[CollectionInfo]]:
        """Collections matching ``keyword`` (CMR's keyword search), at most ``limit``; and the hits."""
        if not keyword.strip():
            raise InputError("the keyword is empty", hint="e.g. --keyword HLS")
        params = [("keyword", keyword.strip()), ("page_size", str(max(1, min(limit, MAX_PAGE_SIZE))))]
        if provider_id:
            params.append(("provider", provider_id))
        return self._entries(params)


def _describe(name: CollectionName) -> str:
    return f"{name.short_name} version {name.version}" if name.version else name.short_name
