"""An in-memory CatalogRepository with the same observable behaviour as the SpatiaLite one.

``tests/integration/test_catalog_contract.py`` runs one behaviour suite against both.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable, Mapping, Sequence

from eoharvest.adapters.catalog.rows import as_multipolygon
from eoharvest.domain.catalog_fields import Comparison, Expr, Logical, Not, like_to_regex
from eoharvest.domain.catalog_query import (
    AvailableFile,
    CatalogFilter,
    CatalogRecord,
    CatalogStats,
    ExtractedMember,
    SceneFile,
    StoredFile,
    StoredMember,
    state_of,
)
from eoharvest.domain.download_states import AVAILABLE, FILE_STATES, can_move
from eoharvest.domain.errors import CatalogError
from eoharvest.domain.footprint import Footprint
from eoharvest.domain.models import Checksum, Scene
from eoharvest.domain.orders import Order, OrderFilter, OrderKey, counts
from eoharvest.domain.watch import SearchLease, SearchState


@dataclass
class _Row:
    id: int
    scene: Scene
    first_seen: datetime
    last_seen: datetime


@dataclass
class _File:
    id: int
    scene_row: int
    name: str
    href: str | None
    size: int | None
    checksum: Checksum | None
    state: str = "none"
    local_path: str | None = None
    sha256: str | None = None
    verified_at: datetime | None = None
    asset: str | None = None


@dataclass
class InMemoryCatalog:
    """Dicts instead of tables; ``closed`` records that close() was called."""

    rows: dict[tuple[str, str], _Row] = field(default_factory=dict)
    files: dict[int, _File] = field(default_factory=dict)
    jobs: dict[int, dict[str, Any]] = field(default_factory=dict)
    searches: dict[str, Mapping[str, object]] = field(default_factory=dict)
    sync_states: dict[str, SearchState] = field(default_factory=dict)
    enabled: dict[str, bool] = field(default_factory=dict)
    leases: dict[str, SearchLease] = field(default_factory=dict)
    orders: dict[int, Order] = field(default_factory=dict)
    #: archive file id -> (member id, member) of its last extraction
    members: dict[int, list[tuple[int, ExtractedMember]]] = field(default_factory=dict)
    closed: bool = False
    _ids: Any = field(default_factory=itertools.count)

    def upsert_scenes(self, scenes: Iterable[Scene], *, seen_at: datetime | None = None) -> int:
        now = seen_at or datetime.now(timezone.utc)
        new = 0
        for scene in scenes:
            fp = as_multipolygon(scene.footprint.geometry) if scene.footprint else None
            stored = dataclasses.replace(
                scene, footprint=Footprint(fp) if fp is not None else None,
                raw=json.loads(json.dumps(dict(scene.raw), default=str)),
                _downloader_factory=None,
            )  # fmt: skip
            row = self.rows.get(scene.identity)
            if row is None:
                self.rows[scene.identity] = _Row(next(self._ids) + 1, stored, now, now)
                new += 1
            else:
                row.scene, row.last_seen = stored, now
        return new

    def get_scene(self, provider: str, scene_id: str) -> Scene | None:
        row = self.rows.get((provider, scene_id))
        return row.scene if row else None

    def count(self) -> int:
        return len(self.rows)

    def _state(self, row: _Row) -> str:
        return state_of([f.state for f in self.files.values() if f.scene_row == row.id])

    def query(self, criteria: CatalogFilter) -> list[CatalogRecord]:
        matched = [r for r in sorted(self.rows.values(), key=lambda r: r.id) if self._matches(r, criteria)]
        if criteria.distinct_products:
            seen: set[str] = set()
            matched = [r for r in matched if not (r.scene.product_key in seen or seen.add(r.scene.product_key or ""))]
        key = criteria.sort
        present = [r for r in matched if _field(r, key, self) is not None]
        missing = [r for r in matched if _field(r, key, self) is None]
        present.sort(key=lambda r: _field(r, key, self), reverse=criteria.descending)
        ordered = present + missing
        if criteria.limit:
            ordered = ordered[: criteria.limit]
        return [
            CatalogRecord(
                r.scene, self._state(r), r.first_seen, r.last_seen,
                tuple(f.local_path or "" for f in self.files.values() if f.scene_row == r.id and f.state == "available"),
            )  # fmt: skip
            for r in ordered
        ]

    def _matches(self, row: _Row, c: CatalogFilter) -> bool:
        s = row.scene
        if c.aoi is not None:
            if s.footprint is None:
                return False
            geom, aoi = s.footprint.geometry, c.aoi.geometry
            test = {"intersects": geom.intersects, "contains": geom.contains, "within": geom.within}
            if not test[c.predicate](aoi):
                return False
        if c.start and (s.acq_date is None or s.acq_date < c.start):
            return False
        if c.end and (s.acq_date is None or s.acq_date > c.end):
            return False
        if not _cloud_ok(s.cloudcover_percentage, c):
            return False
        if c.platforms and s.platformname not in c.platforms:
            return False
        if c.providers and s.provider not in c.providers:
            return False
        if c.states and self._state(row) not in c.states:
            return False
        return c.where is None or _eval(c.where, row, self) is True

    def stats(self) -> CatalogStats:
        per_platform: dict[str, int] = {}
        per_year: dict[int, int] = {}
        per_state: dict[str, int] = {}
        for row in self.rows.values():
            s = row.scene
            per_platform[s.platformname] = per_platform.get(s.platformname, 0) + 1
            if s.acq_date:
                per_year[s.acq_date.year] = per_year.get(s.acq_date.year, 0) + 1
            state = self._state(row)
            per_state[state] = per_state.get(state, 0) + 1
        available = [f for f in self.files.values() if f.state == "available"]
        return CatalogStats(
            scenes=len(self.rows),
            products=len({r.scene.product_key for r in self.rows.values()}),
            per_platform=dict(sorted(per_platform.items())),
            per_year=dict(sorted(per_year.items())),
            per_state=dict(sorted(per_state.items())),
            archive_bytes=sum(f.size or 0 for f in available),
            files_available=len(available),
        )

    def record_file(self, provider: str, scene_id: str, name: str, *, href: str | None = None,
                    size: int | None = None, checksum: Checksum | None = None, asset: str | None = None) -> int:  # fmt: skip
        row = self.rows.get((provider, scene_id))
        if row is None:
            raise CatalogError(f"scene {provider}:{scene_id} is not in the catalog", hint="upsert it first")
        for f in self.files.values():
            if f.scene_row == row.id and f.name == name:
                f.href, f.size, f.checksum = href, size, checksum
                f.asset = asset if asset is not None else f.asset
                return f.id
        file_id = len(self.files) + 1
        self.files[file_id] = _File(file_id, row.id, name, href, size, checksum, asset=asset)
        return file_id

    def set_file_state(self, file_id: int, state: str, *, local_path: str | None = None,
                       sha256: str | None = None) -> None:  # fmt: skip
        if state not in FILE_STATES:
            raise CatalogError(f"unknown file state {state!r}")
        f = self.files.get(file_id)
        if f is None:
            raise CatalogError(f"file {file_id} is not in the catalog")
        if state == "available":
            if not local_path or not sha256:
                raise CatalogError(f"file {file_id} cannot be available without a local path and SHA-256")
            f.local_path, f.sha256, f.verified_at = local_path, sha256.lower(), datetime.now(timezone.utc)
            if os.path.isfile(local_path):  # as the catalog does: the size found when verified
                f.size = os.path.getsize(local_path)
        f.state = state

    def record_extraction(self, file_id: int, *, local_path: str, sha256: str,
                          members: Sequence[ExtractedMember]) -> None:  # fmt: skip
        for member in members:
            if not os.path.isfile(member.local_path):
                raise CatalogError(f"extracted member '{member.local_path}' is not a regular file on disk")
        self.set_file_state(file_id, "available", local_path=local_path, sha256=sha256)
        self.members[file_id] = [(next(self._ids), m) for m in members]

    def stored_members(self, product_key: str | None = None) -> list[StoredMember]:
        keys = {f.id: self._scene_of(f).product_key for f in self.files.values()}
        return [
            StoredMember(member_id, file_id, str(keys[file_id]), m.path, m.local_path, m.sha256.lower())
            for file_id, rows in sorted(self.members.items())
            if self.files[file_id].state == AVAILABLE and product_key in (None, keys[file_id])
            for member_id, m in rows
        ]

    def refresh_member(self, member_id: int) -> None:
        if not any(mid == member_id for rows in self.members.values() for mid, _ in rows):
            raise CatalogError(f"archive member {member_id} is not in the catalog")

    def _scene_of(self, f: _File) -> Scene:
        return next(r.scene for r in self.rows.values() if r.id == f.scene_row)

    def available_files(self, product_key: str) -> list[str]:
        return [r.path for r in self.available_file_records(product_key)]

    def available_file_records(self, product_key: str) -> list[AvailableFile]:
        providers = {r.id: r.scene.provider for r in self.rows.values() if r.scene.product_key == product_key}
        return [
            AvailableFile(f.local_path, providers[f.scene_row], f.name, f.asset, f.size, f.sha256, f.checksum)
            for f in sorted(self.files.values(), key=lambda f: f.id)
            if f.scene_row in providers and f.state == AVAILABLE and f.local_path
        ]

    def scene_files(self, provider: str, scene_id: str) -> list[SceneFile]:
        row = self.rows.get((provider, scene_id))
        if row is None:
            return []
        newest = {job["file_id"]: job["state"] for _, job in sorted(self.jobs.items())}
        return [SceneFile(f.name, f.state, f.asset, f.local_path, newest.get(f.id))
                for f in sorted(self.files.values(), key=lambda f: f.id) if f.scene_row == row.id]  # fmt: skip

    def stored_files(self, product_key: str | None = None) -> list[StoredFile]:
        scenes = {r.id: r.scene for r in self.rows.values()}
        found = []
        for f in sorted(self.files.values(), key=lambda f: f.id):
            s = scenes[f.scene_row]
            if f.state != AVAILABLE or f.local_path is None or product_key not in (None, s.product_key):
                continue
            assert s.product_key is not None and f.sha256 is not None  # set with the scene / the state
            found.append(StoredFile(f.id, s.provider, s.scene_id, s.product_key, f.name, f.local_path, f.sha256))
        return found

    def enqueue_download(self, file_id: int) -> int:
        job_id = len(self.jobs) + 1
        self.jobs[job_id] = {"file_id": file_id, "state": "queued", "owner": None}
        self.files[file_id].state = "queued"
        return job_id

    def claim_job(self, owner: str, lease_seconds: float) -> int | None:
        for job_id, job in sorted(self.jobs.items()):
            if job["state"] == "queued":
                job.update(state="fetching", owner=owner)
                self.files[job["file_id"]].state = "fetching"
                return job_id
        return None

    def transition_job(self, job_id: int, state: str, *, error_class: str | None = None,
                       error_message: str | None = None) -> None:  # fmt: skip
        job = self.jobs.get(job_id)
        if job is None:
            raise CatalogError(f"download job {job_id} does not exist")
        if not can_move(job["state"], state):
            raise CatalogError(f"download job {job_id} cannot go from {job['state']} to {state}")
        job["state"] = state
        if state != "available":
            self.files[job["file_id"]].state = state

    def job_state(self, job_id: int) -> str | None:
        job = self.jobs.get(job_id)
        return job["state"] if job else None

    def save_search(self, name: str, query: Mapping[str, object], *, enabled: bool = True) -> None:
        self.searches[name] = json.loads(json.dumps(dict(query), default=str))
        self.enabled[name] = enabled

    def search_enabled(self) -> dict[str, bool]:
        return {name: self.enabled.get(name, True) for name in sorted(self.searches)}

    def set_search_enabled(self, name: str, enabled: bool) -> bool:
        if name not in self.searches:
            return False
        self.enabled[name] = enabled
        return True

    def saved_searches(self) -> dict[str, Mapping[str, object]]:
        return dict(sorted(self.searches.items()))

    def close(self) -> None:
        self.closed = True

    # -- sync daemon state ---------------------------------------------------------------
    def search_states(self) -> dict[str, SearchState]:
        return {name: state for name, state in sorted(self.sync_states.items()) if name in self.searches}

    def put_search_state(self, name: str, state: SearchState) -> bool:
        if name not in self.searches:
            return False
        self.sync_states[name] = state
        return True

    def remove_search(self, name: str) -> bool:
        self.sync_states.pop(name, None)
        self.enabled.pop(name, None)
        self.leases.pop(name, None)
        return self.searches.pop(name, None) is not None

    # -- saved-search leases ---------------------------------------------------------------
    def take_search_lease(self, name: str, owner: str, seconds: float, *, replacing: str | None = None) -> bool:
        if name not in self.searches:
            return False
        now = datetime.now(timezone.utc)
        held = self.leases.get(name)
        if held is not None and held.expires_at > now and held.owner not in (owner, replacing):
            return False
        since = held.acquired_at if held is not None and held.owner == owner else now
        self.leases[name] = SearchLease(owner, since, now + timedelta(seconds=seconds))
        return True

    def search_lease(self, name: str) -> SearchLease | None:
        return self.leases.get(name) if name in self.searches else None

    def release_search_lease(self, name: str, owner: str) -> None:
        if name in self.leases and self.leases[name].owner == owner:
            del self.leases[name]

    def verified_bytes_since(self, since: datetime) -> int:
        return sum(
            f.size or 0 for f in self.files.values()
            if f.state == AVAILABLE and f.verified_at is not None and f.verified_at >= since
        )  # fmt: skip

    # -- orders ------------------------------------------------------------------------------
    def create_order(self, order: Order) -> Order | None:
        if any(o.key == order.key or o.label == order.label for o in self.orders.values()):
            return None
        order_id = max(self.orders, default=0) + 1
        stored = dataclasses.replace(order, id=order_id, version=0, last_error=_clip(order.last_error))
        self.orders[order_id] = stored
        return stored

    def update_order(self, order: Order) -> Order | None:
        current = self.orders.get(order.id or -1)
        if current is None or current.version != order.version:
            return None
        stored = dataclasses.replace(order, version=order.version + 1, last_error=_clip(order.last_error))
        self.orders[current.id or -1] = stored
        return stored

    def get_order(self, key: OrderKey) -> Order | None:
        return next((o for o in self.orders.values() if o.key == key), None)

    def claim_order_poll(self, order: Order, owner: str, now: datetime, until: datetime) -> Order | None:
        current = self.orders.get(order.id or -1)
        if current is None or current.version != order.version or not current.poll_due(now):
            return None
        stored = dataclasses.replace(current, poll_owner=owner, poll_until=until, version=current.version + 1)
        self.orders[order.id or -1] = stored
        return stored

    def order_by_id(self, order_id: int) -> Order | None:
        return self.orders.get(order_id)

    def find_orders(self, criteria: OrderFilter) -> list[Order]:
        return [o for _, o in sorted(self.orders.items()) if criteria.matches(o)]

    def delete_order(self, order: Order) -> bool:
        current = self.orders.get(order.id or -1)
        if current is None or current.version != order.version:
            return False
        del self.orders[order.id or -1]
        return True

    def order_counts(self) -> dict[str, int]:
        return counts(self.orders.values())


def _clip(text: str | None) -> str | None:
    return text[:2000] if text else text


def _cloud_ok(cloud: float | None, c: CatalogFilter) -> bool:
    if cloud is None:
        return True
    return not ((c.cloud_min is not None and cloud < c.cloud_min) or (c.cloud_max is not None and cloud > c.cloud_max))


def _field(row: _Row, name: str, catalog: InMemoryCatalog) -> Any:
    s = row.scene
    return {
        "provider": lambda: s.provider, "scene_id": lambda: s.scene_id,
        "product_key": lambda: s.product_key, "scene_key": lambda: s.scene_key,
        "platform": lambda: s.platformname, "acq_date": lambda: s.acq_date,
        "cloud": lambda: s.cloudcover_percentage, "size": lambda: s.size, "online": lambda: s.online,
        "state": lambda: catalog._state(row), "first_seen": lambda: row.first_seen,
        "last_seen": lambda: row.last_seen,
    }[name]()  # fmt: skip


def _eval(expr: Expr, row: _Row, catalog: InMemoryCatalog) -> bool | None:
    """SQL three-valued logic: None is UNKNOWN, and a row matches only on True."""
    if isinstance(expr, Not):
        inner = _eval(expr.item, row, catalog)
        return None if inner is None else not inner
    if isinstance(expr, Logical):
        values = [_eval(item, row, catalog) for item in expr.items]
        decisive = False if expr.op == "and" else True
        if decisive in values:
            return decisive
        return None if None in values else not decisive
    assert isinstance(expr, Comparison)
    value = _field(row, expr.field, catalog)
    if expr.op in ("isnull", "notnull"):
        return (value is None) == (expr.op == "isnull")
    if value is None:
        return None
    op, arg = expr.op, expr.value
    if op in ("like", "notlike"):
        return bool(like_to_regex(arg).fullmatch(value)) == (op == "like")
    if op in ("in", "notin"):
        return (value in arg) == (op == "in")
    return {"=": value == arg, "!=": value != arg, "<": value < arg, "<=": value <= arg,
            ">": value > arg, ">=": value >= arg}[op]  # fmt: skip


def catalog_scene(
    scene_id: str,
    *,
    provider: str = "cdse",
    bbox: tuple[float, float, float, float] = (10.0, 45.0, 11.0, 46.0),
    footprint: Footprint | None = None,
    when: datetime = datetime(2024, 5, 1, 10, 30, tzinfo=timezone.utc),
    cloud: float | None = 10.0,
    platform: str = "Sentinel-2",
    product_key: str | None = None,
    scene_key: str | None = None,
    **extra: Any,
) -> Scene:
    """A Scene for catalog tests: a 1-degree box unless ``footprint`` is given."""
    return Scene(
        platformname=platform,
        scene_id=scene_id,
        footprint=footprint or Footprint.from_bbox(*bbox),
        acq_date=when,
        cloudcover_percentage=cloud,
        provider=provider,
        product_key=product_key,
        scene_key=scene_key,
        **extra,
    )
