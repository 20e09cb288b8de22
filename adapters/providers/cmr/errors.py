"""CMR and Earthdata Login error answers, turned into messages and error classes.

CMR answers errors as ``{"errors": ["..."]}`` (CMR Search API documentation, "Errors").
Earthdata Login's API answers ``{"error": "invalid_credentials", "error_description": ...}``;
a data host protected by it answers a missing EULA or application approval with
``{"error_description": "EULA Acceptance Failure", "resolution_url": ...}`` (or, in the OAuth
redirect, ``?error=access_denied&error_msg=...``) — or with an HTML page served with 200.
"""

from __future__ import annotations

import json
import re
from typing import Any, Mapping
from urllib.parse import parse_qs, urlsplit

from eoharvest.domain.errors import AuthError, InputError, ProviderResponseError
from eoharvest.domain.redaction import redact

EULA_HELP = "accept it (or approve the application) in your browser while logged in, then run the same command again"
_RESOLUTION = re.compile(r"https?://[^\s\"'<>]+/(?:approve_app|accept_eula|users/[^\s\"'<>/]+/unaccepted_eulas)[^\s\"'<>]*")
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def cmr_messages(payload: Any) -> list[str]:
    """The ``errors`` list of a CMR error body (text items only)."""
    if isinstance(payload, Mapping) and isinstance(payload.get("errors"), list):
        return [redact(str(e))[:300] for e in payload["errors"] if isinstance(e, (str, int, float))]
    return []


def cmr_error_hint(status: int, payload: Any) -> str | None:
    """The ``error_hint`` of the search JsonApi: what CMR said, and what to do about it."""
    messages = cmr_messages(payload)
    if status == 401:
        return "eoharvest searches CMR without a token; a token was added on the way (a proxy?)"
    if messages:
        return "CMR says: " + "; ".join(messages)
    return None


def search_refused(payload: Any, shown_url: str) -> InputError | ProviderResponseError:
    """The error for a CMR 400: the user's values (InputError) or eoharvest's paging (provider)."""
    messages = cmr_messages(payload) or ["(no error message)"]
    text = "; ".join(messages)
    if "search-after" in text.lower() or "scroll" in text.lower():
        return ProviderResponseError(f"cmr refused the paging of {shown_url}: {text}",
                                     hint="run the search again; report it if it persists")  # fmt: skip
    return InputError(f"cmr refused the search: {text}",
                      hint="check the search options (collection, dates, area, page_size)")  # fmt: skip


def login_error_hint(status: int, payload: Any) -> str | None:
    """The ``error_hint`` of the Earthdata Login token API."""
    if isinstance(payload, Mapping) and payload.get("error"):
        detail = redact(f"{payload.get('error')}: {payload.get('error_description') or ''}".rstrip(": "))[:200]
        if status == 401:
            return f"Earthdata Login says {detail}; check the username and password"
        return f"Earthdata Login says {detail}"
    return None


def eula_error(payload: Any, *, host: str, login_url: str) -> AuthError | None:
    """An AuthError naming the EULA/application and where to accept it, when ``payload`` (a JSON
    object or the text of a page) says one is missing; else None."""
    description = resolution = None
    if isinstance(payload, Mapping):
        description, resolution = payload.get("error_description") or payload.get("error_msg"), payload.get("resolution_url")
        text = json.dumps(payload)
    else:
        text = str(payload)
    lowered = text.lower()
    if not any(word in lowered for word in ("eula", "approve_app", "unaccepted", "authorize the application", "not authorized")):
        return None
    if not isinstance(resolution, str):
        found = _RESOLUTION.search(text)
        resolution = found.group(0) if found else f"{login_url.rstrip('/')}/application_search"
    what = str(description) if isinstance(description, str) else page_title(text) or "a EULA or an application approval is missing"
    return AuthError(
        f"cmr: {host} needs an Earthdata Login agreement: {redact(what)[:200]}; accept it at {redact(resolution)}",
        hint=EULA_HELP,
    )


def page_title(text: str) -> str | None:
    match = _TITLE.search(text)
    return " ".join(match.group(1).split())[:120] if match else None


def redirect_refusal(url: str, *, login_url: str) -> AuthError | None:
    """The AuthError for an OAuth redirect back with ``error=`` (the login refused to hand out a
    code: a EULA or an application not approved), else None."""
    query = parse_qs(urlsplit(url).query)
    if "error" not in query:
        return None
    error = query.get("error", [""])[0]
    detail = query.get("error_msg", query.get("error_description", [""]))[0]
    resolution = query.get("resolution_url", [""])[0] or f"{login_url.rstrip('/')}/application_search"
    host = urlsplit(url).hostname or "the data host"
    return AuthError(
        f"cmr: Earthdata Login refused access to {host} ({redact(error)}: {redact(detail)[:200] or 'no detail'}); "
        f"accept the EULA or approve the application at {redact(resolution)}",
        hint=EULA_HELP,
    )
