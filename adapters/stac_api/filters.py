"""CQL2 (text and JSON) and the ``query`` extension -> the catalog's filter AST.

Parsing is the ``cql2`` library's (the reference implementation's Python binding): text and
JSON both become CQL2 JSON, which this module walks. It supports what the catalog can answer
exactly: ``and``/``or``/``not``, comparisons, ``like``, ``in``, ``between`` and ``isNull`` on the
queryables of :mod:`.fields`. Two things are lifted out of the expression when they are
top-level conjuncts: ``s_intersects(geometry, <GeoJSON>)`` (the search AOI) and ``collection``
comparisons (the collections filter). Anything else is a 400 naming what is not supported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from eoharvest.adapters.stac_api.fields import COLLECTION, catalog_field
from eoharvest.domain.catalog_fields import FIELDS, Comparison, Expr, Logical, Not
from eoharvest.domain.errors import InputError
from eoharvest.domain.footprint import Footprint

_COMPARE = {"=": "=", "<>": "!=", "!=": "!=", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_FLIPPED = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "=": "=", "!=": "!="}
_QUERY_OPS = {"eq": "=", "neq": "!=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
MAX_FILTER_LENGTH = 20_000


@dataclass(frozen=True)
class Conditions:
    """What a filter asks of the catalog: an AST, an AOI and collection ids (each optional)."""

    where: Expr | None = None
    aoi: Footprint | None = None
    collections: tuple[str, ...] | None = None


def parse_filter(value: str | dict[str, Any] | None, lang: str | None) -> Conditions:
    """A ``filter`` parameter (CQL2 text, or CQL2 JSON as text or a dict) as catalog conditions."""
    if value is None or value == "":
        return Conditions()
    import cql2

    text = value if isinstance(value, str) else json.dumps(value)
    if len(text) > MAX_FILTER_LENGTH:
        raise InputError(f"the filter is {len(text)} characters long; the limit is {MAX_FILTER_LENGTH}")
    try:
        if isinstance(value, dict) or lang == "cql2-json":
            expr = cql2.parse_json(text)
        else:
            expr = cql2.parse_text(text)
        tree = expr.to_json()
    except (cql2.ParseError, cql2.ValidationError, ValueError) as exc:
        raise InputError(f"not a valid CQL2 filter: {text[:200]!r}: {exc}", hint="see /queryables") from None
    return _split(tree)


def _split(tree: Any) -> Conditions:
    conjuncts = tree["args"] if _op(tree) == "and" else [tree]
    rest: list[Expr] = []
    aoi: Footprint | None = None
    collections: set[str] | None = None
    for item in conjuncts:
        op = _op(item)
        if op == "s_intersects":
            if aoi is not None:
                raise InputError("only one s_intersects() per filter is supported")
            aoi = _aoi(item["args"])
        elif op in ("=", "in") and _property(item["args"][0]) == COLLECTION:
            wanted = {str(v) for v in _values(item["args"][1])}
            collections = wanted if collections is None else collections & wanted
        else:
            rest.append(_expr(item))
    where = None if not rest else rest[0] if len(rest) == 1 else Logical("and", tuple(rest))
    return Conditions(where, aoi, None if collections is None else tuple(sorted(collections)))


def _op(node: Any) -> str | None:
    return str(node.get("op")).lower() if isinstance(node, dict) and "op" in node else None


def _property(node: Any) -> str | None:
    return str(node["property"]) if isinstance(node, dict) and "property" in node else None


def _values(node: Any) -> list[Any]:
    return list(node) if isinstance(node, list) else [node]


def _literal(node: Any) -> Any:
    if isinstance(node, dict):
        for key in ("timestamp", "date"):
            if key in node:
                return node[key]
        raise InputError(f"unsupported value in the filter: {json.dumps(node)[:120]}",
                         hint="use numbers, 'text', TRUE/FALSE, TIMESTAMP('...') or DATE('...')")  # fmt: skip
    return node


def _aoi(args: list[Any]) -> Footprint:
    geometry = args[1] if _property(args[0]) == "geometry" else args[0]
    if _property(geometry) is not None or not isinstance(geometry, dict):
        raise InputError("s_intersects() needs the geometry property and a literal geometry")
    if "bbox" in geometry:
        return Footprint.from_provider_bbox(*_bbox4(geometry["bbox"]))
    return Footprint.from_provider_geojson(geometry)


def _bbox4(values: list[Any]) -> tuple[float, float, float, float]:
    if len(values) == 6:
        values = [values[0], values[1], values[3], values[4]]
    if len(values) != 4:
        raise InputError(f"a BBOX needs 4 or 6 numbers, got {values!r}")
    west, south, east, north = (float(v) for v in values)
    return west, south, east, north


def _expr(node: Any) -> Expr:
    op = _op(node)
    args = node.get("args", []) if isinstance(node, dict) else []
    if op in ("and", "or"):
        return Logical(op, tuple(_expr(a) for a in args))
    if op == "not":
        return Not(_expr(args[0]))
    if op == "isnull":
        return _compare(args[0], "isnull", None)
    if op == "like":
        return _compare(args[0], "like", _literal(args[1]))
    if op == "in":
        return _compare(args[0], "in", tuple(_literal(v) for v in _values(args[1])))
    if op == "between":
        return Logical("and", (_compare(args[0], ">=", _literal(args[1])), _compare(args[0], "<=", _literal(args[2]))))
    if op in _COMPARE and len(args) == 2:
        left, right = args
        if _property(left) is None and _property(right) is not None:
            return _compare(right, _FLIPPED[_COMPARE[op]], _literal(left))
        return _compare(left, _COMPARE[op], _literal(right))
    raise InputError(
        f"the filter operator {op!r} is not supported here",
        hint="use and/or/not, = <> < <= > >=, like, in, between, isNull; s_intersects and collection "
        "only as top-level AND terms",
    )


def _compare(prop: Any, op: str, value: Any) -> Comparison:
    name = _property(prop)
    if name is None:
        raise InputError(f"expected a property on the left of {op!r}, got {json.dumps(prop)[:80]}")
    if name == COLLECTION:
        raise InputError("collection can only be compared with = or IN as a top-level AND term")
    field = catalog_field(name)
    spec = FIELDS[field]
    if op == "isnull":
        return Comparison(field, "isnull", None)
    try:
        if op == "in":
            return Comparison(field, "in", tuple(spec.convert("in", v) for v in value))
        return Comparison(field, op, spec.convert(op, value))
    except InputError as exc:
        raise InputError(str(exc).replace("--where: ", f"filter on {name}: "), hint=exc.hint) from None


def parse_query(query: str | dict[str, Any] | None) -> Expr | None:
    """The ``query`` extension (``{"eo:cloud_cover": {"lt": 20}}``) as a catalog AST."""
    if not query:
        return None
    if isinstance(query, str):
        try:
            query = json.loads(query)
        except ValueError:
            raise InputError(f"query is not JSON: {query[:120]!r}", hint='e.g. {"eo:cloud_cover": {"lt": 20}}') from None
    if not isinstance(query, dict):
        raise InputError("query must be a JSON object of property -> {operator: value}")
    items: list[Expr] = []
    for name, ops in query.items():
        if not isinstance(ops, dict):
            raise InputError(f"query: {name!r} needs an object such as {{\"eq\": ...}}, got {ops!r}")
        for op, value in ops.items():
            if op in _QUERY_OPS:
                items.append(_compare({"property": name}, _QUERY_OPS[op], value))
            elif op == "in":
                items.append(_compare({"property": name}, "in", tuple(_values(value))))
            elif op in ("startsWith", "endsWith", "contains") and isinstance(value, str):
                escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                pattern = {"startsWith": f"{escaped}%", "endsWith": f"%{escaped}", "contains": f"%{escaped}%"}[op]
                items.append(_compare({"property": name}, "like", pattern))
            else:
                raise InputError(f"query: unsupported operator {op!r} on {name!r}",
                                 hint="eq neq lt lte gt gte in startsWith endsWith contains")  # fmt: skip
    if not items:
        return None
    return items[0] if len(items) == 1 else Logical("and", tuple(items))
