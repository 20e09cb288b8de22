"""The search options a STAC API honours, checked and turned into item-search request members.

Pure functions (no HTTP); the provider table reads :data:`SEARCH_OPTIONS` at CLI start-up.
Request members follow STAC API - Item Search and its extensions (stac-api-spec v1.0.0):
``ids`` (core), ``query`` (Query extension), ``filter`` / ``filter-lang`` (Filter extension,
OGC CQL2 text or JSON) and ``sortby`` (Sort extension). Whether a server implements an
extension is read from the ``conformsTo`` list of its landing page.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from eoharvest.domain.errors import InputError

#: ``scenes(...)`` keywords a STAC source honours (besides platforms, AOI, dates, clouds).
SEARCH_OPTIONS = frozenset({"collections", "product_type", "ids", "query", "filter", "sortby", "page_size"})

#: Operators of the Query extension.
QUERY_OPERATORS = frozenset({"eq", "neq", "lt", "lte", "gt", "gte", "startsWith", "endsWith", "contains", "in"})

#: What each extension-backed option needs in ``conformsTo`` (any of the fragments).
CONFORMANCE = {
    "query": ("item-search#query",),
    "sortby": ("item-search#sort",),
    "filter": ("item-search#filter", "ogcapi-features-3/1.0/conf/filter"),
    "cql2-text": ("cql2/1.0/conf/cql2-text",),
    "cql2-json": ("cql2/1.0/conf/cql2-json",),
}

MAX_PAGE_SIZE = 10_000


def conforms(conformance: Iterable[str], need: str) -> bool:
    """Whether the landing page's conformance classes include the ``need`` of :data:`CONFORMANCE`."""
    fragments = CONFORMANCE[need]
    return any(fragment in c for c in conformance for fragment in fragments)


def supported_options(conformance: Iterable[str]) -> list[str]:
    """The options this particular server honours, for error messages."""
    classes = list(conformance)
    usable = set(SEARCH_OPTIONS)
    for option in ("query", "sortby", "filter"):
        if not conforms(classes, option):
            usable.discard(option)
    if not (conforms(classes, "cql2-text") or conforms(classes, "cql2-json")):
        usable.discard("filter")
    return sorted(usable)


def page_size(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PAGE_SIZE:
        raise InputError(f"page_size {value!r} must be a whole number from 1 to {MAX_PAGE_SIZE}")
    return value


def ids(value: Any) -> list[str]:
    """``ids``: one item id or a list of them."""
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, (list, tuple, set, frozenset)) or not names or not all(
        isinstance(n, str) and n for n in names
    ):
        raise InputError(f"ids {value!r} must be an item id or a list of item ids")
    return list(names)


def query(value: Any) -> dict[str, dict[str, Any]]:
    """``query``: ``{property: {operator: value}}`` (Query extension), e.g.
    ``{"s2:mgrs_tile": {"eq": "17TPJ"}, "sat:relative_orbit": {"in": [65, 66]}}``."""
    if not isinstance(value, Mapping) or not value:
        raise InputError(
            f"query {value!r} must be a mapping of property names to {{operator: value}}",
            hint='e.g. query={"s2:mgrs_tile": {"eq": "17TPJ"}}',
        )
    checked: dict[str, dict[str, Any]] = {}
    for name, condition in value.items():
        if not isinstance(name, str) or not name:
            raise InputError(f"query property {name!r} must be a property name")
        if not isinstance(condition, Mapping) or not condition:
            raise InputError(
                f"query[{name!r}] = {condition!r} must be a mapping of operators to values",
                hint=f"operators: {', '.join(sorted(QUERY_OPERATORS))}",
            )
        unknown = sorted(str(op) for op in condition if op not in QUERY_OPERATORS)
        if unknown:
            raise InputError(
                f"query[{name!r}] uses unknown operator(s) {', '.join(unknown)}",
                hint=f"operators of the STAC query extension: {', '.join(sorted(QUERY_OPERATORS))}",
            )
        checked[name] = dict(condition)
    return checked


def cql2_filter(value: Any) -> tuple[str, str | dict[str, Any]]:
    """``filter``: CQL2 text (a string) or CQL2 JSON (a mapping); returns (filter-lang, filter)."""
    if isinstance(value, str) and value.strip():
        return "cql2-text", value.strip()
    if isinstance(value, Mapping) and value:
        return "cql2-json", dict(value)
    raise InputError(
        f"filter {value!r} must be a CQL2 text expression or a CQL2 JSON object",
        hint="e.g. filter=\"s2:mgrs_tile = '17TPJ'\" or "
        "filter={'op': '=', 'args': [{'property': 's2:mgrs_tile'}, '17TPJ']}",
    )


def sortby(value: Any) -> list[dict[str, str]]:
    """``sortby``: ``"-properties.datetime"``, ``"+eo:cloud_cover"``, a list of such, or a list
    of ``{"field": ..., "direction": "asc"|"desc"}``; returned in the POST form."""
    entries = [value] if isinstance(value, (str, Mapping)) else value
    if not isinstance(entries, (list, tuple)) or not entries:
        raise InputError(f"sortby {value!r} must be a field name (prefix - for descending) or a list of them")
    out: list[dict[str, str]] = []
    for entry in entries:
        if isinstance(entry, str) and entry.strip(" +-"):
            text = entry.strip()
            direction = "desc" if text.startswith("-") else "asc"
            out.append({"field": text.lstrip("+- "), "direction": direction})
        elif (
            isinstance(entry, Mapping)
            and isinstance(entry.get("field"), str)
            and entry["field"]
            and entry.get("direction", "asc") in ("asc", "desc")
        ):
            out.append({"field": entry["field"], "direction": entry.get("direction", "asc")})
        else:
            raise InputError(
                f"sortby entry {entry!r} is neither a field name nor {{'field': ..., 'direction': 'asc'|'desc'}}"
            )
    return out


def cloud_cql2_json(low: float | None, high: float | None) -> dict[str, Any]:
    args: list[dict[str, Any]] = []
    if low is not None:
        args.append({"op": ">=", "args": [{"property": "eo:cloud_cover"}, low]})
    if high is not None:
        args.append({"op": "<=", "args": [{"property": "eo:cloud_cover"}, high]})
    return args[0] if len(args) == 1 else {"op": "and", "args": args}


def cloud_cql2_text(low: float | None, high: float | None) -> str:
    parts = []
    if low is not None:
        parts.append(f"eo:cloud_cover >= {low:g}")
    if high is not None:
        parts.append(f"eo:cloud_cover <= {high:g}")
    return " AND ".join(parts)


def cloud_query(low: float | None, high: float | None) -> dict[str, float]:
    condition: dict[str, float] = {}
    if low is not None:
        condition["gte"] = low
    if high is not None:
        condition["lte"] = high
    return condition
