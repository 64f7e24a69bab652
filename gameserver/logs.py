"""Structured logging: JSON when not on a terminal, readable console otherwise.

In JSON mode every line the process writes is one JSON object carrying `level`
(debug, info, warning, error, critical): structlog's own events, records of the
standard library (aiohttp, asyncio) and the lines a failed start writes, so
`jq 'select(.level=="error")'` reads the whole log.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import MutableMapping
from datetime import UTC, datetime
from typing import Any, TextIO

import structlog

_SECRET_KEYS = frozenset({"token", "admin_token", "authorization", "password", "secret"})


def _redact(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        if key.lower() in _SECRET_KEYS:
            event[key] = "[redacted]"
    return event


def default_format() -> str:
    return "console" if sys.stderr.isatty() else "json"


def configure(fmt: str | None = None, level: int = logging.INFO) -> None:
    """Set up structlog (and stdlib logging, for aiohttp) once per process."""
    if fmt is None:
        fmt = default_format()
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _redact,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    # aiohttp and asyncio log through the standard library: render them the same way,
    # tracebacks included as text (not as a Python tuple's repr).
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processor=renderer,
            foreign_pre_chain=[
                structlog.stdlib.add_logger_name,
                structlog.processors.add_log_level,
                structlog.processors.TimeStamper(fmt="iso", utc=True),
                _redact,
                structlog.processors.format_exc_info,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.WARNING)
    # Python's warnings would otherwise be printed as plain text.
    logging.captureWarnings(True)


def fatal(message: str, fmt: str | None = None, stream: TextIO | None = None) -> None:
    """A line for a start that failed, possibly before logging was set up: JSON with
    `level` in JSON mode, else `gameserver: message`."""
    out = stream or sys.stderr
    if (fmt or default_format()) == "json":
        line = {
            "event": "cannot_start",
            "error": message,
            "level": "error",
            "logger": "gameserver",
            "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        }
        print(json.dumps(line, ensure_ascii=False), file=out, flush=True)
    else:
        print(f"gameserver: {message}", file=out, flush=True)
