"""The PostGIS form of ``query(CatalogFilter)``: GiST bounding-box probes, then the exact predicate.

SpatiaLite's fast path (:mod:`fast_query`) probes the R*Tree table by hand because SQLite
never uses it on its own. PostgreSQL's planner does use the GiST index of ``scenes.footprint``,
but only through the ``&&`` (bounding boxes overlap) operator. An AOI cut at the antimeridian
is a MultiPolygon whose single bounding box spans the whole globe, so the probe is made per
part: ``footprint && envelope(part 1) OR footprint && envelope(part 2)`` (a BitmapOr of index
scans), then the exact predicate on the AOI bound as WKB. The exact test is PostGIS's
``_ST_Intersects``/``_ST_Contains``/``_ST_Within``: the same GEOS predicates without the index
support of their public names, which would add ``footprint && <whole AOI>`` and let the
planner pick that globe-wide box over the per-part probes.

The semantics are those of every other path (``tests/integration/test_postgis_catalog.py``
compares the answers with SpatiaLite's on the same scenes): the same filters from
:mod:`sql_filters`, text compared and sorted by code point as SQLite does, missing values
last, ties by scene id, one row per product key (the lowest matching id) unless
``distinct_products`` is off. All values are bound parameters.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import shapely
from sqlalchemy import ColumnElement, Engine, LargeBinary, bindparam, func, or_, select, type_coerce

from eoharvest.adapters.catalog import downloads
from eoharvest.adapters.catalog.rows import RECORD_COLUMNS, decode_records
from eoharvest.adapters.catalog.sql_filters import download_state, filter_clauses, order_by
from eoharvest.adapters.catalog.tables import SRID, scenes
from eoharvest.domain.catalog_query import CatalogFilter, CatalogRecord
from eoharvest.domain.download_states import AVAILABLE
from eoharvest.domain.footprint import Footprint

DIALECT = "postgresql"


def record_columns() -> list[Any]:
    """The select list of :data:`RECORD_COLUMNS` (footprint as WKB, the state computed)."""
    special = {
        "footprint": type_coerce(func.ST_AsBinary(scenes.c.footprint), LargeBinary).label("fp_wkb"),
        "download_state": download_state(),
    }
    return [special[name] if name in special else scenes.c[name] for name in RECORD_COLUMNS]


def bbox_probe(aoi: Footprint) -> ColumnElement[bool]:
    """``footprint && envelope`` for each part of the AOI: what the GiST index answers."""
    probes = [
        scenes.c.footprint.op("&&")(func.ST_MakeEnvelope(west, south, east, north, SRID))
        for west, south, east, north in aoi.part_bboxes
    ]
    return probes[0] if len(probes) == 1 else or_(*probes)


#: The exact predicates, without index support (the probe above is the index condition).
_EXACT = {"intersects": "_ST_Intersects", "contains": "_ST_Contains", "within": "_ST_Within"}


def spatial_conditions(aoi: Footprint, predicate: str) -> list[ColumnElement[bool]]:
    exact = getattr(func, _EXACT[predicate])
    geometry = func.ST_GeomFromWKB(bindparam("aoi_wkb", shapely.to_wkb(aoi.geometry), LargeBinary), SRID)
    return [bbox_probe(aoi), exact(scenes.c.footprint, geometry)]


def statement(criteria: CatalogFilter) -> Any:
    """The SELECT of ``criteria`` (every value bound)."""
    conds = filter_clauses(replace(criteria, aoi=None), DIALECT)
    if criteria.aoi is not None:
        conds = [*spatial_conditions(criteria.aoi, criteria.predicate), *conds]
    columns = record_columns()
    if criteria.distinct_products:
        ranked = (
            select(scenes.c.id, func.row_number().over(partition_by=scenes.c.product_key, order_by=scenes.c.id).label("rank"))
            .where(*conds)
            .subquery()
        )
        stmt = select(*columns).join(ranked, ranked.c.id == scenes.c.id).where(ranked.c.rank == 1)
    else:
        stmt = select(*columns).where(*conds)
    stmt = stmt.order_by(*order_by(criteria, DIALECT))
    if criteria.limit:
        stmt = stmt.limit(criteria.limit)
    return stmt


def query(engine: Engine, criteria: CatalogFilter) -> list[CatalogRecord]:
    """Run ``criteria`` on a PostgreSQL engine (the catalog's autocommit reader)."""
    stmt = statement(criteria)
    with engine.connect() as conn:
        rows = conn.execute(stmt).all()
        # Only a scene whose state is "available" has verified files (that state wins over all
        # others): most answers need no second round trip.
        available = [r.id for r in rows if r.download_state == AVAILABLE]
        paths = downloads.local_paths(conn, available) if available else {}
    return decode_records(rows, paths)
