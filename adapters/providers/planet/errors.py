"""Planet's error bodies as messages, hints and error classes.

Three shapes occur: validation and quota errors ``{"field": {"<path>": [{"message"}]},
"general": [{"message"}]}``, auth errors ``{"message": "...", "errors": []}`` and not-found
``{"message": "..."}``. Status 429 means two different things: too many requests (retry after
``Retry-After``) or a used-up download quota ("Download quota has been exceeded."), which no
retry can fix today.
"""

from __future__ import annotations

from typing import Any, Mapping

from eoharvest.domain.errors import AuthError
from eoharvest.domain.redaction import redact

KEY_HELP = "give Planet(api_key), set PL_API_KEY, or log in with the Planet CLI (~/.planet.json)"


def messages(payload: Any) -> list[str]:
    """Every message of an error body, field errors prefixed with their path."""
    if not isinstance(payload, Mapping):
        return []
    found: list[str] = []
    if isinstance(payload.get("message"), str) and payload["message"]:
        found.append(payload["message"])
    for entry in payload.get("general") or []:
        if isinstance(entry, Mapping) and isinstance(entry.get("message"), str):
            found.append(entry["message"])
    fields = payload.get("field")
    if isinstance(fields, Mapping):
        for path, entries in fields.items():
            for entry in entries if isinstance(entries, list) else []:
                if isinstance(entry, Mapping) and isinstance(entry.get("message"), str):
                    found.append(f"{path}: {entry['message']}")
    return [redact(m)[:300] for m in found]


def said(payload: Any) -> str:
    return "; ".join(messages(payload)) or "no message"


def planet_error_hint(status: int, payload: Any) -> str | None:
    """The ``error_hint`` of the Data API's JsonApi: what Planet said, and what to do."""
    text = said(payload)
    if status == 401:
        return f"Planet says {text!r}: the API key is missing or wrong; {KEY_HELP}"
    if status == 403:
        return f"Planet says {text!r}: the key's plan does not allow this"
    if status == 400:
        return f"Planet refused the request: {text}"
    if messages(payload):
        return f"Planet says: {text}"
    return None


def is_quota(payload: Any) -> bool:
    """A 429 that says the download quota is used up (not a request-rate limit)."""
    return any("quota" in m.lower() for m in messages(payload))


def quota_error(payload: Any) -> AuthError:
    """The terminal error of a used-up download quota: the run's other Planet downloads are
    not attempted (an AuthError stops a provider for the run)."""
    return AuthError(
        f"planet: the API key's download quota is used up ({said(payload)}); no further assets are "
        "activated or downloaded in this run",
        hint="wait until the quota renews or raise it with Planet; activations already placed are kept "
        "and followed by the next run",
    )
