"""Recognise wrong content served with 200: login pages and "not ready" JSON."""

from __future__ import annotations

_HTML_MARKERS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<?xml version")
_JSON_STARTS = (b"{", b"[")


def wrong_content_reason(first_bytes: bytes, content_type: str | None, expected_media: str | None) -> str | None:
    """Why the start of a download body is not the product, or None if it may be.

    Looks at the declared content type and at the bytes themselves, because error pages are
    also served as application/octet-stream.
    """
    declared = (content_type or "").split(";")[0].strip().lower()
    expected = (expected_media or "").split(";")[0].strip().lower()
    head = first_bytes[:512].lstrip().lower()
    if declared in ("text/html", "application/xhtml+xml") and "html" not in expected:
        return f"expected a file, got {declared} (a login or error page?)"
    if any(head.startswith(marker) for marker in _HTML_MARKERS[:4]) and "html" not in expected:
        return "expected a file, got an HTML page (a login or error page?)"
    if (
        declared in ("application/json", "text/json", "application/problem+json")
        and "json" not in expected
        and head.startswith(_JSON_STARTS)
    ):
        preview = first_bytes[:120].decode("utf-8", "replace")
        return f"expected a file, got a JSON message: {preview}"
    return None
