"""Recognising CDSE error bodies and turning them into hints.

Three shapes occur: OData validation errors ``{"detail": [{"type","loc","msg",...}]}`` (422),
zipper errors ``{"code": "DAT-ZIP-...", "message": ...}`` and Keycloak errors
``{"error": "invalid_grant", "error_description": ...}``.
"""

from __future__ import annotations

from typing import Any, Mapping

from eoharvest.domain.redaction import redact

MAX_SKIP = 10000

_ZIPPER_HINTS = {
    "DAT-ZIP-100": "CDSE allows 4 concurrent downloads per account; the download is retried with backoff",
    "DAT-ZIP-604": "the download host got no token (was the Authorization header dropped on a redirect?)",
    "DAT-ZIP-109": "the access token expired; it is refreshed once and the request retried",
    "DAT-ZIP-609": "this token's audience is not accepted; use a cdse-public password login",
    "DAT-ZIP-104": "malformed OData path: product Ids go unquoted in Products(<Id>)",
}


def describe_error(payload: Any) -> str | None:
    """A one-line summary of a CDSE error body, or None when ``payload`` is not one."""
    if not isinstance(payload, Mapping):
        return None
    detail = payload.get("detail")
    if isinstance(detail, list) and detail and all(isinstance(d, Mapping) for d in detail):
        parts = []
        for item in detail:
            where = ".".join(str(p) for p in item.get("loc") or [])
            parts.append(f"{where}: {item.get('msg')}" if where else str(item.get("msg")))
        return redact("; ".join(parts))[:300]
    if isinstance(detail, Mapping) and ("ErrorMessage" in detail or "ErrorCode" in detail):
        return redact(str(detail.get("ErrorMessage") or detail.get("ErrorCode")))[:300]
    code, message = payload.get("code"), payload.get("message")
    if isinstance(code, str) and isinstance(message, str):
        return redact(f"{code}: {message}")[:300]
    error = payload.get("error")
    if isinstance(error, str) and ("error_description" in payload or error.islower()):
        return redact(f"{error}: {payload.get('error_description') or ''}".rstrip(": "))[:300]
    return None


def is_skip_limit_error(payload: Any) -> bool:
    """True for the 422 a ``$skip`` above 10000 gets (cdse_odata/19)."""
    if not isinstance(payload, Mapping) or not isinstance(payload.get("detail"), list):
        return False
    return any(
        isinstance(d, Mapping) and "$skip" in [str(p) for p in d.get("loc") or []] for d in payload["detail"]
    )


def odata_error_hint(status: int, payload: Any) -> str | None:
    """The ``error_hint`` of the catalogue's JsonApi: what the user can do about an error body."""
    if is_skip_limit_error(payload):
        return (
            f"CDSE refuses $skip above {MAX_SKIP}; eoharvest splits large searches into time windows, "
            "so this means a narrower date range or a smaller area is needed"
        )
    if isinstance(payload, Mapping) and payload.get("code") in _ZIPPER_HINTS:
        return _ZIPPER_HINTS[str(payload["code"])]
    summary = describe_error(payload)
    if status == 422 and summary:
        return f"CDSE rejected the query ({summary}); check the platform, product type and area"
    if status in (401, 403):
        return "searching engineering-level product types needs a login; check the credentials"
    return summary
