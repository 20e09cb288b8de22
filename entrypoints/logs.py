"""Logging for the CLI and daemon: standard `logging`, every record redacted, optional JSON."""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone

from eoharvest.domain.redaction import escape_control, redact


class RedactingFilter(logging.Filter):
    """Renders the message once, masks secrets in it (and in any traceback), escapes control chars."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the record
            message = str(record.msg)
        record.msg = escape_control(redact(message))
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_text:
            payload["exception"] = record.exc_text
        for key in ("provider", "scene_id", "search", "job_id", "counts"):
            if hasattr(record, key):
                payload[key] = getattr(record, key)
        return json.dumps(payload, ensure_ascii=False)


# Loggers that create records we must scrub at the source, whoever handles them (a library
# user's own handlers and pytest's caplog included): httpx logs every request URL, and a
# signed URL carries its token in the query string.
_SOURCE_LOGGERS = ("httpx", "httpcore.http11", "httpcore.connection", "httpcore.http2", "apscheduler")


def install_log_redaction() -> None:
    """Scrub secrets from records at the loggers that create them (idempotent)."""
    names = list(_SOURCE_LOGGERS) + [
        name for name in logging.Logger.manager.loggerDict if name == "eoharvest" or name.startswith("eoharvest.")
    ]
    for name in names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactingFilter) for f in logger.filters):
            logger.addFilter(RedactingFilter())


def remove_handlers() -> None:
    """Detach the handlers :func:`configure_logging` added (tests, embedding applications)."""
    for name in ("eoharvest", "httpx", "httpcore", "apscheduler"):
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            if getattr(old, "_eoharvest", False):
                logger.removeHandler(old)


def configure_logging(level: str = "WARNING", *, json_lines: bool = False, stream=None) -> None:
    """Route the ``eoharvest`` loggers (and httpx's) to stderr through the redacting filter.

    Records still propagate to the root logger, which has no handler in the CLI."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(
        JsonFormatter() if json_lines else logging.Formatter("%(levelname)s %(name)s: %(message)s")
    )
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        numeric = logging.WARNING
    for name in ("eoharvest", "httpx", "httpcore", "apscheduler"):
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            if getattr(old, "_eoharvest", False):
                logger.removeHandler(old)
        handler._eoharvest = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
        # Third-party wire logs stay quiet unless DEBUG was asked for explicitly.
        logger.setLevel(numeric if name == "eoharvest" else max(numeric, logging.WARNING))
