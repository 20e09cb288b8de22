"""Copy a catalog into another one, across back ends (SpatiaLite <-> PostGIS), resumably.

Rows are matched by their natural keys, never by ids (the target assigns its own):

===============  ==========================================  ===========================
table            natural key                                 refers to
===============  ==========================================  ===========================
scenes           (provider, scene_id)
files            scene's (provider, scene_id), name          scenes
archive_members  file's (provider, scene_id, name), path     files
searches         name
search_state     search's name                               searches
orders           (provider, product_key, selection); label
===============  ==========================================  ===========================

Each chunk is read from the source in id order and written to the target in one transaction
with ``INSERT ... ON CONFLICT DO NOTHING``: a row already in the target (an earlier, interrupted
copy, or the target's own data) is kept as it is, never overwritten. So a copy killed half-way
leaves only whole chunks behind, and running it again completes it; a finished copy run again
changes nothing. At the end every source row must have its counterpart in the target
(:class:`CopyReport`), otherwise the copy is reported incomplete.

Not copied: saved-search leases (they belong to the processes running a pass now) and the
download job queue (``download_jobs``/``download_attempts``, which no flow uses).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Sequence

from sqlalchemy import Connection, Engine, LargeBinary, Table, bindparam, func, select, tuple_, type_coerce
from sqlalchemy.dialects import postgresql, sqlite

from eoharvest.adapters.catalog.orders import orders
from eoharvest.adapters.catalog.sync_state import search_state
from eoharvest.adapters.catalog.tables import SRID, archive_members, files, scenes, searches
from eoharvest.adapters.failpoints import crash_point
from eoharvest.domain.errors import CatalogError

CHUNK = 2_000
_LOOKUP_CHUNK = 500  # keys per IN (...) lookup: well below SQLite's bound-parameter limit


@dataclass
class TableCopy:
    """Rows of one table: in the source, newly written to the target, already there."""

    table: str
    source: int = 0
    copied: int = 0
    present: int = 0

    @property
    def complete(self) -> bool:
        return self.copied + self.present == self.source


@dataclass
class CopyReport:
    tables: list[TableCopy] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return all(t.complete for t in self.tables)

    def as_dict(self) -> dict[str, Any]:
        return {t.table: {"source": t.source, "copied": t.copied, "already_present": t.present} for t in self.tables}


def _insert(target: Engine | Connection, table: Table) -> Any:
    dialect_insert = postgresql.insert if target.dialect.name == "postgresql" else sqlite.insert
    return dialect_insert(table)


def _chunks(source: Connection, stmt: Any, id_column: Any, size: int) -> Iterator[Sequence[Any]]:
    """Rows of ``stmt`` in ``id_column`` order, ``size`` at a time (keyset paging: no OFFSET)."""
    last = None
    while True:
        page = stmt.order_by(id_column).limit(size)
        if last is not None:
            page = page.where(id_column > last)
        rows = source.execute(page).all()
        if not rows:
            return
        yield rows
        last = rows[-1].id


def _existing(target: Connection, key_columns: Sequence[Any], keys: Sequence[tuple[Any, ...]], *extra: Any) -> dict[tuple[Any, ...], Any]:
    """Target rows whose key is in ``keys``: key -> the row's ``extra`` columns (or True)."""
    found: dict[tuple[Any, ...], Any] = {}
    for start in range(0, len(keys), _LOOKUP_CHUNK):
        part = list(keys[start : start + _LOOKUP_CHUNK])
        where = tuple_(*key_columns).in_(part) if len(key_columns) > 1 else key_columns[0].in_([k[0] for k in part])
        for row in target.execute(select(*key_columns, *extra).where(where)):
            found[tuple(row[: len(key_columns)])] = row[len(key_columns)] if extra else True
    return found


def _file_ids(target: Connection, keys: Sequence[tuple[Any, ...]]) -> dict[tuple[Any, ...], int]:
    """Target file ids by (provider, scene_id, file name)."""
    found: dict[tuple[Any, ...], int] = {}
    for start in range(0, len(keys), _LOOKUP_CHUNK):
        stmt = (select(scenes.c.provider, scenes.c.scene_id, files.c.name, files.c.id)
                .join(scenes, scenes.c.id == files.c.scene_pk)
                .where(tuple_(scenes.c.provider, scenes.c.scene_id, files.c.name).in_(list(keys[start:start + _LOOKUP_CHUNK]))))  # fmt: skip
        found.update({(provider, scene_id, name): file_id for provider, scene_id, name, file_id in target.execute(stmt)})
    return found


class CatalogCopier:
    """Copies ``source`` into ``target`` (SQLAlchemy engines on two catalogs at head revision)."""

    def __init__(self, source: Engine, target: Engine, *, chunk: int = CHUNK,
                 progress: Callable[[str, int], None] | None = None) -> None:  # fmt: skip
        self.source, self.target, self.chunk = source, target, chunk
        self.progress = progress or (lambda table, done: None)

    def run(self) -> CopyReport:
        report = CopyReport()
        for name, step in (("scenes", self._scenes), ("files", self._files), ("archive_members", self._members),
                           ("searches", self._searches), ("search_state", self._search_state),
                           ("orders", self._orders)):  # fmt: skip
            counts = TableCopy(name)
            report.tables.append(counts)
            with self.source.connect() as source:
                for n, (copied, present) in enumerate(step(source), 1):
                    counts.copied += copied
                    counts.present += present
                    counts.source += copied + present
                    self.progress(name, counts.source)
                    crash_point(f"copy-{name}-{n}")  # kill -9 trials: stopped after chunk n
            self._recount(counts)
        return report

    def _recount(self, counts: TableCopy) -> None:
        """The source's row count now; a row added to it during the copy shows as missing."""
        table = {"scenes": scenes, "files": files, "archive_members": archive_members, "searches": searches,
                 "search_state": search_state, "orders": orders}[counts.table]  # fmt: skip
        with self.source.connect() as source:
            counts.source = source.execute(select(func.count()).select_from(table)).scalar_one()

    def _write(self, table: Table, values: list[dict[str, Any]], keys: list[tuple[Any, ...]],
               key_columns: Sequence[Any], insert: Any = None) -> tuple[int, int]:  # fmt: skip
        """Insert the rows of ``values`` whose key the target lacks; (copied, present)."""
        with self.target.begin() as target:
            present = _existing(target, key_columns, keys)
            new = [v for v, k in zip(values, keys) if k not in present]
            if new:
                target.execute((insert if insert is not None else _insert(target, table)).on_conflict_do_nothing(), new)
            # Counted, not assumed: every key of the chunk must now be in the target.
            if len(_existing(target, key_columns, keys)) != len(set(keys)):
                raise CatalogError(f"copying {table.name}: some rows did not arrive in the target", hint="run the copy again")
        return len(new), len(values) - len(new)

    # -- tables ------------------------------------------------------------------------------
    def _scenes(self, source: Connection) -> Iterator[tuple[int, int]]:
        columns = [c for c in scenes.columns if c.name not in ("id", "footprint")]
        wkb = type_coerce(func.ST_AsBinary(scenes.c.footprint), LargeBinary).label("fp_wkb")
        stmt = select(scenes.c.id, *columns, wkb)
        insert = _insert(self.target, scenes).values(
            {c.name: bindparam(c.name) for c in columns}
            | {"footprint": func.ST_GeomFromWKB(bindparam("fp_wkb", type_=LargeBinary), SRID)}
        )
        for rows in _chunks(source, stmt, scenes.c.id, self.chunk):
            values = [{**{c.name: row._mapping[c.name] for c in columns}, "fp_wkb": row.fp_wkb} for row in rows]
            keys = [(v["provider"], v["scene_id"]) for v in values]
            yield self._write(scenes, values, keys, (scenes.c.provider, scenes.c.scene_id), insert)

    def _files(self, source: Connection) -> Iterator[tuple[int, int]]:
        columns = [c for c in files.columns if c.name not in ("id", "scene_pk")]
        stmt = select(files.c.id, scenes.c.provider, scenes.c.scene_id, *columns).join(scenes, scenes.c.id == files.c.scene_pk)
        for rows in _chunks(source, stmt, files.c.id, self.chunk):
            scene_keys = sorted({(r.provider, r.scene_id) for r in rows})
            with self.target.connect() as target:
                scene_ids = _existing(target, (scenes.c.provider, scenes.c.scene_id), scene_keys, scenes.c.id)
            values, keys = [], []
            for row in rows:
                scene_pk = scene_ids.get((row.provider, row.scene_id))
                if scene_pk is None:
                    raise CatalogError(f"copying files: the scene {row.provider}:{row.scene_id} is missing in the target",
                                       hint="run the copy again")  # fmt: skip
                values.append({"scene_pk": scene_pk, **{c.name: row._mapping[c.name] for c in columns}})
                keys.append((scene_pk, row.name))
            yield self._write(files, values, keys, (files.c.scene_pk, files.c.name))

    def _members(self, source: Connection) -> Iterator[tuple[int, int]]:
        columns = [c for c in archive_members.columns if c.name not in ("id", "file_id")]
        stmt = (select(archive_members.c.id, scenes.c.provider, scenes.c.scene_id, files.c.name.label("file_name"), *columns)
                .join(files, files.c.id == archive_members.c.file_id).join(scenes, scenes.c.id == files.c.scene_pk))  # fmt: skip
        for rows in _chunks(source, stmt, archive_members.c.id, self.chunk):
            with self.target.connect() as target:
                file_ids = _file_ids(target, sorted({(r.provider, r.scene_id, r.file_name) for r in rows}))
            values, keys = [], []
            for row in rows:
                file_id = file_ids.get((row.provider, row.scene_id, row.file_name))
                if file_id is None:
                    raise CatalogError(f"copying archive members: the file {row.provider}:{row.scene_id}/{row.file_name} "
                                       "is missing in the target", hint="run the copy again")  # fmt: skip
                values.append({"file_id": file_id, **{c.name: row._mapping[c.name] for c in columns}})
                keys.append((file_id, row.path))
            yield self._write(archive_members, values, keys, (archive_members.c.file_id, archive_members.c.path))

    def _searches(self, source: Connection) -> Iterator[tuple[int, int]]:
        columns = [c for c in searches.columns if c.name != "id"]
        for rows in _chunks(source, select(searches.c.id, *columns), searches.c.id, self.chunk):
            values = [{c.name: row._mapping[c.name] for c in columns} for row in rows]
            yield self._write(searches, values, [(v["name"],) for v in values], (searches.c.name,))

    def _search_state(self, source: Connection) -> Iterator[tuple[int, int]]:
        columns = [c for c in search_state.columns if c.name != "search_id"]
        stmt = select(searches.c.id, searches.c.name, *columns).join(search_state, search_state.c.search_id == searches.c.id)
        for rows in _chunks(source, stmt, searches.c.id, self.chunk):
            with self.target.connect() as target:
                ids = _existing(target, (searches.c.name,), [(r.name,) for r in rows], searches.c.id)
            values = [{"search_id": ids[(r.name,)], **{c.name: r._mapping[c.name] for c in columns}} for r in rows]
            yield self._write(search_state, values, [(v["search_id"],) for v in values], (search_state.c.search_id,))

    def _orders(self, source: Connection) -> Iterator[tuple[int, int]]:
        columns = [c for c in orders.columns if c.name != "id"]
        for rows in _chunks(source, select(orders.c.id, *columns), orders.c.id, self.chunk):
            values = [{c.name: row._mapping[c.name] for c in columns} for row in rows]
            keys = [(v["provider"], v["product_key"], v["selection"]) for v in values]
            yield self._write(orders, values, keys, (orders.c.provider, orders.c.product_key, orders.c.selection))
