"""CDSE OData product attributes as search options: which exist, their types, their clauses.

A search keyword named like an OData attribute (``relativeOrbitNumber=65``, ``tileId="17TPJ"``)
becomes an ``Attributes/OData.CSC.<Type>Attribute/any(...)`` clause of ``$filter`` (CDSE OData
documentation, "Query by attributes"). The attribute lists per collection are those the
catalogue publishes: ``Attributes(SENTINEL-1)`` as recorded (corpus cdse_odata/06) and the
attributes of recorded SENTINEL-2 products (cdse_odata/07); other collections accept the
attributes every product carries. The OpenSearch names users of that API know map to their
OData attributes (``sensorMode`` -> ``operationalMode``, ``polarisation`` ->
``polarisationChannels``).

Pure and free of heavy imports: the provider table reads :data:`SEARCH_OPTIONS` at start-up.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timezone
from typing import Any

from eoharvest.domain.errors import InputError

_S = "String"
_I = "Integer"
_D = "Double"
_T = "DateTimeOffset"
_B = "Boolean"

#: Attributes every CDSE product carries (present in both recorded collections).
COMMON: dict[str, str] = {
    "origin": _S, "orbitNumber": _I, "relativeOrbitNumber": _I, "processingDate": _T,
    "operationalMode": _S, "processingLevel": _S, "processorVersion": _S, "platformShortName": _S,
    "instrumentShortName": _S, "platformSerialIdentifier": _S, "productType": _S,
}  # fmt: skip

#: Per platform, as published by the catalogue (see the module docstring).
BY_PLATFORM: dict[str, dict[str, str]] = {
    "Sentinel-1": {
        **COMMON,
        "datatakeID": _I, "timeliness": _S, "cycleNumber": _I, "sliceNumber": _I, "totalSlices": _I,
        "productClass": _S, "processorName": _S, "orbitDirection": _S, "swathIdentifier": _S,
        "processingCenter": _S, "segmentStartTime": _T, "sliceProductFlag": _B, "productGeneration": _T,
        "processingBaseline": _S, "productComposition": _S, "polarisationChannels": _S,
        "productConsolidation": _S, "instrumentConfigurationID": _I, "startTimeFromAscendingNode": _D,
        "completionTimeFromAscendingNode": _D,
    },
    "Sentinel-2": {
        **COMMON,
        "tileId": _S, "datastripId": _S, "productGroupId": _S, "beginningDateTime": _T, "endingDateTime": _T,
    },
}  # fmt: skip

#: OpenSearch parameter names (CDSE OpenSearch, corpus cdse_opensearch/06) -> OData attributes.
ALIASES = {"sensorMode": "operationalMode", "polarisation": "polarisationChannels"}

#: Attributes covered by other keywords.
COVERED = {"cloudCover": "cloud_min / cloud_max"}

#: Comparison operators accepted in ``{"ge": 10, "le": 20}`` conditions.
OPERATORS = ("eq", "lt", "le", "gt", "ge")

#: Every attribute keyword (for the provider table); ``product_type`` and ``page_size`` are the
#: source's own.
SEARCH_OPTIONS = frozenset({"product_type", "page_size"}) | frozenset(
    name for table in BY_PLATFORM.values() for name in table
) | frozenset(ALIASES)


def attribute_names(platform: str) -> dict[str, str]:
    """The attributes (name -> OData value type) of ``platform``'s collection."""
    return BY_PLATFORM.get(platform, COMMON)


def attribute_clause(keyword: str, value: Any, platforms: list[str]) -> str:
    """The ``$filter`` clause for ``keyword=value`` over a search of ``platforms``.

    ``value`` is one value, a list (any of them), or for numbers and times a mapping of
    operators (``{"ge": 10, "le": 20}``). InputError names the keyword or value and says what
    the collections accept.
    """
    name = ALIASES.get(keyword, keyword)
    if name in COVERED:
        raise InputError(f"{keyword} is not a search option here", hint=f"use {COVERED[name]}")
    missing = [p for p in platforms if name not in attribute_names(p)]
    if missing:
        known = sorted(attribute_names(missing[0]))
        raise InputError(
            f"{keyword} is not an attribute of {', '.join(missing)} products in the CDSE catalogue",
            hint=f"{missing[0]} accepts: {', '.join(known)}; search the platforms that have it",
        )
    kind = attribute_names(platforms[0])[name] if platforms else COMMON.get(name, _S)
    prefix = f"att/OData.CSC.{kind}Attribute/Value"
    if isinstance(value, Mapping):
        if kind not in (_I, _D, _T) or not value:
            raise InputError(f"{keyword}={value!r}: operator conditions apply to numbers and times only")
        bad = [op for op in value if op not in OPERATORS]
        if bad:
            raise InputError(f"{keyword}: unknown operator(s) {', '.join(map(str, bad))}", hint=f"use {', '.join(OPERATORS)}")
        condition = " and ".join(f"{prefix} {op} {_literal(keyword, kind, v)}" for op, v in value.items())
    elif isinstance(value, (list, tuple, set, frozenset)):
        if not value:
            raise InputError(f"{keyword}=[] lists no value")
        alternatives = [f"{prefix} eq {_literal(keyword, kind, v)}" for v in value]
        condition = "(" + " or ".join(alternatives) + ")" if len(alternatives) > 1 else alternatives[0]
    else:
        condition = f"{prefix} eq {_literal(keyword, kind, value)}"
    return f"Attributes/OData.CSC.{kind}Attribute/any(att:att/Name eq '{name}' and {condition})"


def _literal(keyword: str, kind: str, value: Any) -> str:
    """An OData literal of ``kind`` (OData 4.01 ABNF: strings quoted with '' escaping)."""
    if kind == _S:
        if not isinstance(value, str) or not value:
            raise InputError(f"{keyword}={value!r} must be text")
        if any(ch in value for ch in "\r\n\x00"):
            raise InputError(f"{keyword}={value!r} contains control characters")
        return "'" + value.replace("'", "''") + "'"
    if kind == _B:
        if not isinstance(value, bool):
            raise InputError(f"{keyword}={value!r} must be True or False")
        return "true" if value else "false"
    if kind == _I:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(f"{keyword}={value!r} must be a whole number")
        return str(value)
    if kind == _D:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            raise InputError(f"{keyword}={value!r} must be a number")
        return repr(float(value))
    return _time(keyword, value)


def _time(keyword: str, value: Any) -> str:
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise InputError(f"{keyword}={value!r} is not an ISO 8601 time") from None
        moment = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    else:
        raise InputError(f"{keyword}={value!r} must be a datetime, a date or ISO 8601 text")
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
