"""The SQLite fast path of ``query(CatalogFilter)``: fixed SQL text per filter *shape*.

Building a SQLAlchemy statement and its cache key costs about a millisecond per query, several
times what SQLite needs to answer it. Here the statement text is a pure function of the
filter's shape (which clauses are present, how many values each IN list has, the --where AST's
structure with its allow-listed fields and operators, the sort, the predicate), so it is built
once per shape and cached; every value, the AOI's WKB and its bounding boxes included, is a
bound parameter. No text from the user ever reaches the SQL: field names map through
:data:`_FIELD_SQL` (built from the table definition), operators through fixed tables, and an
unknown name or operator is an error, never SQL.

The semantics are those of the portable SQLAlchemy path in
:meth:`SpatialiteCatalog.query_sqlalchemy` (``tests/integration/test_catalog_fast_query.py``
compares the two):

* R*Tree pre-filter first (``id IN`` the union of the candidates of each AOI part's bbox),
  then the column filters, then the exact SpatiaLite predicate on the AOI bound as WKB;
* a scene's download state is its most advanced file state, else ``none``;
* with ``distinct_products``, one row per product key: the lowest scene id among the rows that
  match every filter (the earliest-catalogued provider's row);
* sort with missing values last in both directions, ties by scene id.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime, timezone
from functools import lru_cache
from typing import Any, Sequence

import shapely
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from eoharvest.adapters.catalog.rows import db_datetime
from eoharvest.adapters.catalog.sql_filters import COLUMNS
from eoharvest.adapters.catalog.tables import SRID, scenes_rtree
from eoharvest.domain.catalog_fields import Comparison, Expr, Logical, Not
from eoharvest.domain.catalog_query import CatalogFilter, CatalogRecord
from eoharvest.domain.download_states import AVAILABLE, NONE, PROGRESS_ORDER
from eoharvest.domain.footprint import Footprint
from eoharvest.domain.models import Checksum, Scene

_UTC = timezone.utc
_MISSING = object()
_RTREE = scenes_rtree.name
_PREDICATES = {"intersects": "ST_Intersects", "contains": "ST_Contains", "within": "ST_Within"}
_COMPARE = {"=": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}

# Constants of the code (never user values) that appear as SQL literals; checked to be plain words.
for _word in (*PROGRESS_ORDER, NONE):
    assert _word.isidentifier() and _word.islower(), _word
_RANK = " ".join(f"WHEN '{state}' THEN {i}" for i, state in enumerate(PROGRESS_ORDER))

#: Row columns, in this order (the last is the download state).
_SELECTED = ("id", "provider", "scene_id", "product_key", "scene_key", "platform", "acq_start",
             "cloud_cover", "size", "online", "links", "checksums", "raw", "footprint",
             "first_seen", "last_seen")  # fmt: skip


def _state_sql(alias: str) -> str:
    """A scene's download state: its most advanced file state, or 'none'."""
    return (
        f"coalesce((SELECT f.state FROM files AS f WHERE f.scene_pk = {alias}.id AND f.state != '{NONE}' "
        f"ORDER BY CASE f.state {_RANK} ELSE 99 END LIMIT 1), '{NONE}')"
    )


def _field_sql(name: str, alias: str) -> str:
    """SQL of an allow-listed field; anything else is a KeyError, never SQL."""
    if name == "state":
        return _state_sql(alias)
    return f"{alias}.{COLUMNS[name].name}"


def _bind(value: Any) -> Any:
    """A filter value as SQLAlchemy binds it in SQLite (datetimes as naive-UTC text)."""
    if isinstance(value, datetime):
        return db_datetime(value)
    if isinstance(value, bool):
        return int(value)
    return value


# -- shapes: the hashable structure of a filter, and its values in placeholder order ----------
def _where_shape(expr: Expr, params: list[Any]) -> tuple[Any, ...]:
    if isinstance(expr, Logical):
        if expr.op not in ("and", "or"):
            raise ValueError(f"unknown logical operator {expr.op!r}")
        return (expr.op, tuple(_where_shape(item, params) for item in expr.items))
    if isinstance(expr, Not):
        return ("not", _where_shape(expr.item, params))
    if not isinstance(expr, Comparison):
        raise TypeError(f"not a filter expression: {expr!r}")
    op = expr.op
    if op in ("isnull", "notnull"):
        return ("cmp", expr.field, op, 0)
    if op in ("in", "notin"):
        values = [_bind(v) for v in expr.value]
        params.extend(values)
        return ("cmp", expr.field, op, len(values))
    if op not in _COMPARE and op not in ("like", "notlike"):
        raise ValueError(f"unknown comparison operator {op!r}")
    params.append(_bind(expr.value))
    return ("cmp", expr.field, op, 1)


def shape_and_params(criteria: CatalogFilter) -> tuple[tuple[Any, ...], list[Any]]:
    """The filter's shape (the statement cache key) and its values in placeholder order.

    The placeholder order is the order :func:`statement` writes the clauses in.
    """
    params: list[Any] = []
    aoi = criteria.aoi
    parts = 0
    if aoi is not None:
        for west, south, east, north in aoi.part_bboxes:
            params += (east, west, north, south)
            parts += 1
    if criteria.start is not None:
        params.append(db_datetime(criteria.start))
    if criteria.end is not None:
        params.append(db_datetime(criteria.end))
    if criteria.cloud_min is not None:
        params.append(criteria.cloud_min)
    if criteria.cloud_max is not None:
        params.append(criteria.cloud_max)
    params += criteria.platforms
    params += criteria.providers
    params += criteria.states
    where = _where_shape(criteria.where, params) if criteria.where is not None else None
    if aoi is not None:
        params.append(shapely.to_wkb(aoi.geometry))
    if criteria.limit:
        params.append(criteria.limit)
    shape = (
        parts,
        criteria.predicate if aoi is not None else None,
        criteria.start is not None,
        criteria.end is not None,
        criteria.cloud_min is not None,
        criteria.cloud_max is not None,
        len(criteria.platforms),
        len(criteria.providers),
        len(criteria.states),
        where,
        criteria.sort,
        bool(criteria.descending),
        bool(criteria.limit),
        bool(criteria.distinct_products),
    )
    return shape, params


# -- statements: SQL text from a shape (cached) ----------------------------------------------
def _marks(n: int) -> str:
    return ", ".join("?" * n)


def _where_sql(shape: tuple[Any, ...], alias: str) -> str:
    kind = shape[0]
    if kind in ("and", "or"):
        joiner = " AND " if kind == "and" else " OR "
        return "(" + joiner.join(_where_sql(item, alias) for item in shape[1]) + ")"
    if kind == "not":
        return f"(NOT {_where_sql(shape[1], alias)})"
    _, field, op, n = shape
    col = _field_sql(field, alias)
    if op == "isnull":
        return f"({col} IS NULL)"
    if op == "notnull":
        return f"({col} IS NOT NULL)"
    if op == "in":
        return f"({col} IN ({_marks(n)}))"
    if op == "notin":
        return f"({col} NOT IN ({_marks(n)}))"
    if op == "like":
        return f"(lower({col}) LIKE lower(?) ESCAPE '\\')"
    if op == "notlike":
        return f"(lower({col}) NOT LIKE lower(?) ESCAPE '\\')"
    return f"({col} {_COMPARE[op]} ?)"


def _conditions(shape: tuple[Any, ...], alias: str) -> list[str]:
    parts, predicate, start, end, cloud_min, cloud_max, platforms, providers, states, where = shape[:10]
    a = alias
    conds: list[str] = []
    if parts:
        box = f"SELECT pkid FROM {_RTREE} WHERE xmin <= ? AND xmax >= ? AND ymin <= ? AND ymax >= ?"
        conds.append(f"{a}.id IN ({' UNION ALL '.join([box] * parts)})")
    if start:
        conds.append(f"{a}.acq_start >= ?")
    if end:
        conds.append(f"{a}.acq_start <= ?")
    # Scenes without a cloud value (SAR) pass a cloud filter, as in SearchQuery.cloud_accepts.
    if cloud_min:
        conds.append(f"({a}.cloud_cover IS NULL OR {a}.cloud_cover >= ?)")
    if cloud_max:
        conds.append(f"({a}.cloud_cover IS NULL OR {a}.cloud_cover <= ?)")
    if platforms:
        conds.append(f"{a}.platform IN ({_marks(platforms)})")
    if providers:
        conds.append(f"{a}.provider IN ({_marks(providers)})")
    if states:
        conds.append(f"{_state_sql(a)} IN ({_marks(states)})")
    if where is not None:
        conds.append(_where_sql(where, a))
    if parts:
        # SpatiaLite predicates return 1/0/-1 (-1 on error), so compare with 1 explicitly. Last:
        # SQLite tests the terms in the order written, and this one runs GEOS.
        conds.append(f"{_PREDICATES[predicate]}({a}.footprint, GeomFromWKB(?, {SRID})) = 1")
    return conds or ["1"]


@lru_cache(maxsize=512)
def statement(shape: tuple[Any, ...]) -> str:
    """The SQL of a filter shape; placeholders in :func:`shape_and_params` order."""
    sort, descending, limited, distinct = shape[10:]
    columns = ", ".join(
        f"AsBinary(s.{c})" if c == "footprint" else f"s.{c}" for c in _SELECTED
    ) + f", {_state_sql('s')}"
    if distinct:
        # The lowest id per product key among the matching rows (row_number() = 1 over id).
        matching = " AND ".join(_conditions(shape, "m"))
        source = (
            f"scenes AS s WHERE s.id IN "
            f"(SELECT min(m.id) FROM scenes AS m WHERE {matching} GROUP BY m.product_key)"
        )
    else:
        source = "scenes AS s WHERE " + " AND ".join(_conditions(shape, "s"))
    order = f"s.{COLUMNS[sort].name} {'DESC' if descending else 'ASC'} NULLS LAST, s.id ASC"
    return f"SELECT {columns} FROM {source} ORDER BY {order}" + (" LIMIT ?" if limited else "")


_LOCAL_PATHS = (
    "SELECT scene_pk, local_path FROM files WHERE state = '{}' AND scene_pk IN ({}) ORDER BY id"
)


# -- rows -> records ---------------------------------------------------------------------------
_EMPTY_JSON: dict[str, Any] = {"{}": {}, "[]": []}


def records(rows: Sequence[tuple[Any, ...]], paths: dict[int, list[str]]) -> list[CatalogRecord]:
    """CatalogRecords of raw rows (in :data:`_SELECTED` order plus the state).

    Per-row work is what remains of a query at limit 100, so it is kept small: one vectorised
    WKB decode for all footprints, one parse per distinct timestamp text (first/last_seen are
    shared by every scene of an ingest batch), no JSON parser for the empty defaults.
    """
    if not rows:
        return []
    geometries = shapely.from_wkb([r[13] for r in rows])
    stamps: dict[str | None, datetime | None] = {None: None}
    parse = datetime.fromisoformat
    loads = json.loads

    def when(text: str | None) -> datetime | None:
        value = stamps.get(text, _MISSING)
        if value is _MISSING:
            value = stamps[text] = parse(text).replace(tzinfo=_UTC)  # type: ignore[arg-type]
        return value  # type: ignore[return-value]

    out = []
    for r, geometry in zip(rows, geometries):
        text = r[10]
        links = _EMPTY_JSON[text] if text in _EMPTY_JSON else loads(text)
        text = r[12]
        raw = {} if text == "{}" else loads(text)
        text = r[11]
        scene = Scene(
            platformname=r[5],
            scene_id=r[2],
            footprint=None if geometry is None else Footprint(geometry),
            acq_date=when(r[6]),
            cloudcover_percentage=r[7],
            download_links=tuple(links.get("hrefs", ())) if links else (),
            filenames=tuple(links.get("names", ())) if links else (),
            raw=raw if isinstance(raw, dict) else {"raw": raw},
            provider=r[1],
            product_key=r[3],
            scene_key=r[4],
            size=r[8],
            checksums=() if text == "[]" else tuple(Checksum(a, v, s) for a, v, s in loads(text)),
            online=bool(r[9]),
        )
        pk = r[0]
        out.append(
            CatalogRecord(
                scene=scene,
                download_state=r[16],
                first_seen=when(r[14]),  # type: ignore[arg-type]
                last_seen=when(r[15]),  # type: ignore[arg-type]
                local_paths=tuple(paths[pk]) if pk in paths else (),
            )
        )
    return out


def query(engine: Engine, criteria: CatalogFilter) -> list[CatalogRecord]:
    """Run ``criteria`` on a SQLite reader engine, in one read transaction."""
    shape, params = shape_and_params(criteria)
    sql = statement(shape)
    with engine.connect() as conn:
        driver = conn.connection.driver_connection
        dbapi = conn.dialect.dbapi
        assert driver is not None and dbapi is not None
        try:
            cursor = driver.cursor()
            try:
                cursor.execute("BEGIN")
                try:
                    rows = cursor.execute(sql, params).fetchall()
                    paths = _local_paths(cursor, [r[0] for r in rows if r[16] == AVAILABLE])
                finally:
                    cursor.execute("ROLLBACK")  # a read transaction: nothing to keep
            finally:
                cursor.close()
        except dbapi.Error as exc:
            # As SQLAlchemy would raise it (OperationalError and friends).
            raise DBAPIError.instance(sql, params, exc, dbapi.Error, dialect=conn.dialect) from exc
    return records(rows, paths)


def _local_paths(cursor: Any, scene_pks: list[int]) -> dict[int, list[str]]:
    """Local paths of the verified files of ``scene_pks``, oldest file first.

    Only scenes whose state is "available" can have any: that state wins over every other.
    """
    found: dict[int, list[str]] = defaultdict(list)
    for start in range(0, len(scene_pks), 500):
        chunk = scene_pks[start : start + 500]
        for pk, path in cursor.execute(_LOCAL_PATHS.format(AVAILABLE, _marks(len(chunk))), chunk):
            found[pk].append(path)
    return found
