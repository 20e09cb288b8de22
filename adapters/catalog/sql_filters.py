"""CatalogFilter and --where ASTs -> SQLAlchemy expressions, every value a bound parameter."""

from __future__ import annotations

from typing import Any

import shapely
from sqlalchemy import (
    ColumnElement,
    String,
    LargeBinary,
    and_,
    bindparam,
    case,
    func,
    not_,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.sql.elements import Label

from eoharvest.adapters.catalog.rows import to_naive_utc
from eoharvest.adapters.catalog.tables import SRID, files, scenes, scenes_rtree
from eoharvest.domain.catalog_fields import Comparison, Expr, Logical, Not
from eoharvest.domain.catalog_query import CatalogFilter
from eoharvest.domain.download_states import PROGRESS_ORDER
from eoharvest.domain.footprint import Footprint

_STATE_ORDER = PROGRESS_ORDER


def download_state() -> Label[Any]:
    """A scene's download state: its most advanced file state, or 'none'."""
    rank = case({s: i for i, s in enumerate(_STATE_ORDER)}, value=files.c.state, else_=99)
    best = (
        select(files.c.state)
        .where(files.c.scene_pk == scenes.c.id, files.c.state != "none")
        .order_by(rank)
        .limit(1)
        .correlate(scenes)
        .scalar_subquery()
    )
    return func.coalesce(best, "none").label("download_state")


COLUMNS: dict[str, Any] = {
    "provider": scenes.c.provider,
    "scene_id": scenes.c.scene_id,
    "product_key": scenes.c.product_key,
    "scene_key": scenes.c.scene_key,
    "platform": scenes.c.platform,
    "acq_date": scenes.c.acq_start,
    "cloud": scenes.c.cloud_cover,
    "size": scenes.c.size,
    "online": scenes.c.online,
    "first_seen": scenes.c.first_seen,
    "last_seen": scenes.c.last_seen,
}


def _column(name: str) -> Any:
    return download_state() if name == "state" else COLUMNS[name]


def _value(value: Any) -> Any:
    return to_naive_utc(value) if hasattr(value, "tzinfo") else value


def byte_order(col: Any, dialect: str) -> Any:
    """``col`` compared and sorted by code point, as SQLite's default BINARY collation does;
    PostgreSQL would otherwise use the database's locale (``a`` < ``B`` < ``b``)."""
    if dialect == "postgresql" and isinstance(col.type, String):
        return col.collate("C")
    return col


def where_clause(expr: Expr, dialect: str = "sqlite") -> ColumnElement[bool]:
    """The SQL condition of a parsed --where AST."""
    if isinstance(expr, Logical):
        parts = [where_clause(item, dialect) for item in expr.items]
        return and_(*parts) if expr.op == "and" else or_(*parts)
    if isinstance(expr, Not):
        return not_(where_clause(expr.item, dialect))
    assert isinstance(expr, Comparison)
    col, op, value = _column(expr.field), expr.op, expr.value
    if op == "isnull":
        return col.is_(None)
    if op == "notnull":
        return col.is_not(None)
    if op in ("in", "notin"):
        values = [_value(v) for v in value]
        return col.in_(values) if op == "in" else col.not_in(values)
    if op in ("like", "notlike"):
        matched = col.ilike(value, escape="\\")
        return matched if op == "like" else not_(matched)
    bound = _value(value)
    if op in ("<", "<=", ">", ">="):
        col = byte_order(col, dialect)  # equality needs no collation (and keeps the indexes usable)
    if op == "=":
        return col == bound
    if op == "!=":
        return col != bound
    if op == "<":
        return col < bound
    if op == "<=":
        return col <= bound
    if op == ">":
        return col > bound
    return col >= bound


def _rtree_candidates(aoi: Footprint) -> Any:
    """Scene ids whose footprint bbox meets one of the AOI's part bboxes, from the R*Tree."""
    rt = scenes_rtree.c
    selects = [
        select(rt.pkid).where(rt.xmin <= east, rt.xmax >= west, rt.ymin <= north, rt.ymax >= south)
        for west, south, east, north in aoi.part_bboxes
    ]
    return selects[0] if len(selects) == 1 else union_all(*selects)


def spatial_clause(aoi: Footprint, predicate: str, dialect: str) -> ColumnElement[bool]:
    """Index prefilter (R*Tree on SpatiaLite; PostGIS uses GiST by itself) + exact predicate."""
    aoi_geom = func.ST_GeomFromWKB(bindparam("aoi_wkb", shapely.to_wkb(aoi.geometry), LargeBinary), SRID)
    fn = {"intersects": func.ST_Intersects, "contains": func.ST_Contains, "within": func.ST_Within}
    exact = fn[predicate](scenes.c.footprint, aoi_geom)
    if dialect != "sqlite":
        return exact
    # SpatiaLite predicates return 1/0/-1 (-1 on error), so compare with 1 explicitly.
    return and_(scenes.c.id.in_(_rtree_candidates(aoi)), exact == 1)


def filter_clauses(criteria: CatalogFilter, dialect: str) -> list[ColumnElement[bool]]:
    """All conditions of ``criteria`` (AND-ed by the caller).

    SQLite tests the terms of a WHERE in the order written, so the R*Tree candidate set comes
    first and the exact (GEOS) spatial predicate last, after the cheap column filters.
    """
    conds: list[ColumnElement[bool]] = []
    exact: list[ColumnElement[bool]] = []
    if criteria.aoi is not None:
        spatial = spatial_clause(criteria.aoi, criteria.predicate, dialect)
        if dialect == "sqlite":
            prefilter, test = spatial.clauses  # type: ignore[attr-defined]
            conds.append(prefilter)
            exact.append(test)
        else:
            exact.append(spatial)
    if criteria.start is not None:
        conds.append(scenes.c.acq_start >= to_naive_utc(criteria.start))
    if criteria.end is not None:
        conds.append(scenes.c.acq_start <= to_naive_utc(criteria.end))
    # Scenes without a cloud value (SAR) pass a cloud filter, as in SearchQuery.cloud_accepts.
    if criteria.cloud_min is not None:
        conds.append(or_(scenes.c.cloud_cover.is_(None), scenes.c.cloud_cover >= criteria.cloud_min))
    if criteria.cloud_max is not None:
        conds.append(or_(scenes.c.cloud_cover.is_(None), scenes.c.cloud_cover <= criteria.cloud_max))
    if criteria.platforms:
        conds.append(scenes.c.platform.in_(criteria.platforms))
    if criteria.providers:
        conds.append(scenes.c.provider.in_(criteria.providers))
    if criteria.states:
        conds.append(download_state().in_(criteria.states))
    if criteria.where is not None:
        conds.append(where_clause(criteria.where, dialect))
    conds.extend(exact)
    return conds or [true()]


def order_by(criteria: CatalogFilter, dialect: str = "sqlite") -> list[Any]:
    col = byte_order(COLUMNS[criteria.sort], dialect)
    primary = col.desc() if criteria.descending else col.asc()
    return [primary.nulls_last(), scenes.c.id.asc()]

