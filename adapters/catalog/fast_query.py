"""The SQLite fast path of ``query(CatalogFilter)``: fixed SQL text per filter *shape*.

Building a SQLAlchemy statement and its cache key costs about a millisecond per query, several
times what SQLite needs to answer it. Here the statement text is a pure function of the
filter's shape (which clauses are present, how many values each IN list has, the --where AST's
structure with its allow-listed fields and operators, the sort, the predicate), so it is built
once per shape and cached; every value, the AOI's WKB and its bounding boxes included, is a
bound parameter. No text from the user ever reaches the SQL: field names map through
:func:`_field_sql` (the allow-list ``sql_filters.COLUMNS``, built from the table definition),
operators through fixed tables, and an unknown name or operator is an error, never SQL.

The semantics are those of the portable SQLAlchemy path in
:meth:`SpatialiteCatalog.query_sqlalchemy` (``tests/integration/test_catalog_fast_query.py``
compares the two); both select ``rows.RECORD_COLUMNS`` and decode with ``rows.decode_records``:

* R*Tree pre-filter first (``id IN`` the union of the candidates of each AOI part's bbox),
  then the column filters, then the exact SpatiaLite predicate on the AOI bound as WKB (or built
  by ``BuildMbr`` from an :class:`~eoharvest.domain.aoi_box.AoiBox`'s four numbers);
* with a start time, a limit, the acquisition-time sort and many R*Tree candidates
  (:func:`walks`), the acquisition-time index is walked in order instead, each entry's id tested
  against the candidates, until the limit: the same rows without reading every candidate's row;
* a scene's download state is its most advanced file state, else ``none``;
* with ``distinct_products``, one row per product key: the lowest scene id among the rows that
  match every filter (the earliest-catalogued provider's row);
* sort with missing values last in both directions, ties by scene id.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

from eoharvest.adapters.catalog.columns import FIELD_COLUMNS, RECORD_COLUMNS, RTREE, SRID, db_datetime
from eoharvest.domain.aoi_box import AoiBox
from eoharvest.domain.catalog_fields import Comparison, Expr, Logical, Not
from eoharvest.domain.download_states import AVAILABLE, NONE, PROGRESS_ORDER

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from eoharvest.domain.catalog_query import CatalogFilter, CatalogRecord

_RTREE = RTREE
_PREDICATES = {"intersects": "ST_Intersects", "contains": "ST_Contains", "within": "ST_Within"}
_COMPARE = {"=": "=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}

# Constants of the code (never user values) that appear as SQL literals; checked to be plain words.
for _word in (*PROGRESS_ORDER, NONE):
    assert _word.isidentifier() and _word.islower(), _word
_RANK = " ".join(f"WHEN '{state}' THEN {i}" for i, state in enumerate(PROGRESS_ORDER))

#: Rows fetched from SQLite at a time: a result of any size is read in chunks this big.
CHUNK_ROWS = 1000


def _state_sql(alias: str) -> str:
    """A scene's download state: its most advanced file state, or 'none'."""
    return (
        f"coalesce((SELECT f.state FROM files AS f WHERE f.scene_pk = {alias}.id AND f.state != '{NONE}' "
        f"ORDER BY CASE f.state {_RANK} ELSE 99 END LIMIT 1), '{NONE}')"
    )


def _select_sql(column: str, alias: str) -> str:
    """SQL of one of :data:`RECORD_COLUMNS` (the footprint as WKB, the state computed), or of
    ``footprint_rfc7946``: the footprint as WKB with exterior rings counter-clockwise and holes
    clockwise (RFC 7946 §3.1.6), as GeoJSON output wants them."""
    if column == "footprint":
        return f"AsBinary({alias}.footprint)"
    if column == "footprint_rfc7946":
        return f"AsBinary(ST_ForcePolygonCCW({alias}.footprint))"
    if column == "download_state":
        return _state_sql(alias)
    return f"{alias}.{column}"


def _field_sql(name: str, alias: str) -> str:
    """SQL of an allow-listed field; anything else is a KeyError, never SQL."""
    if name == "state":
        return _state_sql(alias)
    return f"{alias}.{FIELD_COLUMNS[name]}"


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
    aoi_is_box = isinstance(aoi, AoiBox)
    if isinstance(aoi, AoiBox):  # the exact predicate's rectangle, built by SpatiaLite
        params += aoi.bbox
    elif aoi is not None:
        params.append(aoi.wkb)
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
        aoi_is_box,
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


def _conditions(shape: tuple[Any, ...], alias: str, walk: bool = False) -> list[str]:
    parts, predicate, start, end, cloud_min, cloud_max, platforms, providers, states, where = shape[:10]
    aoi_is_box = shape[14]
    a = alias
    conds: list[str] = []
    if parts:
        # With ``walk`` the unary + keeps SQLite from driving the query by these ids: it walks the
        # acquisition-time index instead and tests each entry's id against the R*Tree's set.
        conds.append(f"{'+' if walk else ''}{a}.id IN ({_rtree_union(parts)})")
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
        aoi = f"BuildMbr(?, ?, ?, ?, {SRID})" if aoi_is_box else f"GeomFromWKB(?, {SRID})"
        conds.append(f"{_PREDICATES[predicate]}({a}.footprint, {aoi}) = 1")
    return conds or ["1"]


def _rtree_union(parts: int) -> str:
    box = f"SELECT pkid FROM {_RTREE} WHERE xmin <= ? AND xmax >= ? AND ymin <= ? AND ymax >= ?"
    return " UNION ALL ".join([box] * parts)


@lru_cache(maxsize=512)
def statement(shape: tuple[Any, ...], selected: tuple[str, ...] = RECORD_COLUMNS, walk: bool = False) -> str:
    """The SQL of a filter shape selecting ``selected`` (names of :data:`RECORD_COLUMNS`);
    placeholders in :func:`shape_and_params` order, or with ``walk`` (see :func:`walks`) those
    of :func:`walk_params`."""
    sort, descending, limited, distinct, _box = shape[10:]
    columns = ", ".join(_select_sql(name, "s") for name in selected)
    order = f"s.{FIELD_COLUMNS[sort]} {'DESC' if descending else 'ASC'} NULLS LAST, s.id ASC"
    if walk:
        conds = " AND ".join(_conditions(shape, "s", walk=True))
        if distinct:  # the same rows as below: no matching row of the product has a lower id
            others = " AND ".join(_conditions(shape, "o", walk=True))
            conds += (
                " AND NOT EXISTS (SELECT 1 FROM scenes AS o WHERE o.product_key = s.product_key "
                f"AND o.id < s.id AND {others})"
            )
        return f"SELECT {columns} FROM scenes AS s WHERE {conds} ORDER BY {order} LIMIT ?"
    if distinct:
        # The lowest id per product key among the matching rows (row_number() = 1 over id).
        matching = " AND ".join(_conditions(shape, "m"))
        source = (
            f"scenes AS s WHERE s.id IN "
            f"(SELECT min(m.id) FROM scenes AS m WHERE {matching} GROUP BY m.product_key)"
        )
    else:
        source = "scenes AS s WHERE " + " AND ".join(_conditions(shape, "s"))
    return f"SELECT {columns} FROM {source} ORDER BY {order}" + (" LIMIT ?" if limited else "")


#: Walk the acquisition-time index rather than fetch every R*Tree candidate row when
#: ``candidates² * WALK_RATIO > limit * scenes``: a walk reads about ``limit * scenes /
#: candidates`` index entries (in order, a few bytes each, stopping at the limit), the other
#: plan reads every candidate's row at a random place (~10x an index entry). At 1M scenes a
#: 100-row query over 32k candidates reads ~3k entries instead of 32k rows.
WALK_RATIO = 10


def walks(cursor: Any, shape: tuple[Any, ...], params: Sequence[Any], limit: int | None) -> bool:
    """Whether ``shape`` (with ``params``) is answered by walking the acquisition-time index:
    an AOI, a start time, sorted by acquisition time, a limit, and many R*Tree candidates."""
    parts, start, sort, limited = shape[0], shape[2], shape[10], shape[12]
    if not (parts and start and sort == "acq_date" and limited and limit):
        return False
    (candidates,) = cursor.execute(f"SELECT count(*) FROM ({_rtree_union(parts)})", params[: 4 * parts]).fetchone()
    (scenes,) = cursor.execute("SELECT coalesce(max(id), 0) FROM scenes").fetchone()
    return bool(candidates * candidates * WALK_RATIO > limit * scenes)


def walk_params(shape: tuple[Any, ...], params: Sequence[Any]) -> list[Any]:
    """The placeholders of ``statement(shape, walk=True)``: the conditions' values (twice with
    ``distinct_products``), then the limit."""
    conditions, limit = list(params[:-1]), params[-1]
    return [*conditions, *conditions, limit] if shape[13] else [*conditions, limit]


_LOCAL_PATHS = (
    "SELECT scene_pk, local_path FROM files WHERE state = '{}' AND scene_pk IN ({}) ORDER BY id"
)


@dataclass(frozen=True)
class RowChunk:
    """Up to :data:`CHUNK_ROWS` result rows (columns as selected) and the local paths of the
    verified files of those scenes, by scene id."""

    rows: list[tuple[Any, ...]]
    paths: dict[int, list[str]]


def stream_rows(
    engine: Engine, criteria: CatalogFilter, selected: Sequence[str] = RECORD_COLUMNS
) -> Iterator[RowChunk]:
    """The rows matching ``criteria``, in order, chunk by chunk: the one place a catalog query
    on an engine is dispatched to its database. ``selected`` must include ``id`` and
    ``download_state``.

    SQLite is read here, in one read transaction held while the chunks are consumed (close the
    iterator to end it early); other databases have their own query path.
    """
    if engine.dialect.name != "sqlite":
        raise NotImplementedError(f"no streaming query path for {engine.dialect.name}")
    return _engine_rows(engine, criteria, tuple(selected))


def query(engine: Engine, criteria: CatalogFilter) -> list[CatalogRecord]:
    """Run ``criteria`` on a SQLite reader engine, in one read transaction."""
    from eoharvest.adapters.catalog.rows import decode_records

    rows: list[tuple[Any, ...]] = []
    paths: dict[int, list[str]] = {}
    for chunk in stream_rows(engine, criteria):
        rows += chunk.rows
        paths.update(chunk.paths)
    return decode_records(rows, paths)


def _engine_rows(engine: Engine, criteria: CatalogFilter, selected: tuple[str, ...]) -> Iterator[RowChunk]:
    from sqlalchemy.exc import DBAPIError

    with engine.connect() as conn:
        driver, dbapi = conn.connection.driver_connection, conn.dialect.dbapi
        assert driver is not None and dbapi is not None

        def as_sqlalchemy_error(exc: Exception, sql: str, params: Sequence[Any]) -> Exception:
            # As SQLAlchemy would raise it (OperationalError and friends).
            return DBAPIError.instance(sql, params, exc, dbapi.Error, dialect=conn.dialect)  # type: ignore[union-attr]

        yield from sqlite_rows(driver, dbapi.Error, criteria, selected, as_sqlalchemy_error)


def sqlite_rows(
    connection: Any,
    error: type[Exception],
    criteria: CatalogFilter,
    selected: Sequence[str] = RECORD_COLUMNS,
    translate: Callable[[Exception, str, Sequence[Any]], Exception] | None = None,
) -> Iterator[RowChunk]:
    """:func:`stream_rows` on a DB-API ``connection`` to a SpatiaLite catalog (no transaction
    open); the driver's ``error`` is re-raised as ``translate(exc, sql, params)`` if given."""
    selected = tuple(selected)
    shape, params = shape_and_params(criteria)
    sql = statement(shape, selected)
    id_at, state_at = selected.index("id"), selected.index("download_state")
    cursor = connection.cursor()
    paths_cursor = connection.cursor()
    try:
        cursor.execute("BEGIN")
        try:
            if walks(cursor, shape, params, criteria.limit):
                sql, params = statement(shape, selected, walk=True), walk_params(shape, params)
            cursor.execute(sql, params)
            while rows := cursor.fetchmany(CHUNK_ROWS):
                available = [r[id_at] for r in rows if r[state_at] == AVAILABLE]
                yield RowChunk(rows, _local_paths(paths_cursor, available))
        finally:
            cursor.execute("ROLLBACK")  # a read transaction: nothing to keep
    except error as exc:
        if translate is None:
            raise
        raise translate(exc, sql, params) from exc
    finally:
        paths_cursor.close()
        cursor.close()


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
