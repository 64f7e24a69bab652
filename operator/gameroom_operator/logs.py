"""Structured logging: JSON lines in containers, readable lines on a terminal.

The operator writes through structlog and Kopf (and the libraries under it) writes
through the standard library; both end in one renderer, so every line has the same
keys: `event`, `level` (debug, info, warning, error, critical), `timestamp`, plus
`logger` and, for Kopf's per-object records, `object` (kind, namespace, name).
`kubectl logs deploy/gameroom-operator | jq 'select(.level=="error")'` finds every
error, Kopf's included (Kopf's own JSON formatter would have called it `severity`).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import kopf
import structlog


def _kopf_object(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Kopf attaches the object a record is about as `k8s_ref`; keep it as `object`."""
    record = event.get("_record")
    ref = getattr(record, "k8s_ref", None)
    if isinstance(ref, dict) and ref:
        event["object"] = {k: ref[k] for k in ("kind", "namespace", "name") if ref.get(k)}
    return event


def renderer_for(fmt: str) -> structlog.types.Processor:
    if fmt == "json":
        return structlog.processors.JSONRenderer()
    return structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())


def stdlib_formatter(fmt: str) -> logging.Formatter:
    """Renders standard-library records (Kopf, kubernetes, aiohttp) like our own."""
    return structlog.stdlib.ProcessorFormatter(
        processor=renderer_for(fmt),
        foreign_pre_chain=[
            structlog.stdlib.add_logger_name,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _kopf_object,
            structlog.processors.format_exc_info,
        ],
    )


def configure(log_format: str, level: str = "INFO") -> None:
    fmt = log_format if log_format != "auto" else ("console" if sys.stderr.isatty() else "json")
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer_for(fmt),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    # Kopf installs its stream handler (and sets the root level) here; its records then
    # go through our formatter instead of Kopf's own.
    kopf.configure(
        verbose=level == "DEBUG",
        quiet=level in ("WARNING", "ERROR"),
        log_format=kopf.LogFormat.JSON if fmt == "json" else kopf.LogFormat.PLAIN,
    )
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler(sys.stderr))
    formatter = stdlib_formatter(fmt)
    for handler in root.handlers:
        handler.setFormatter(formatter)
    if level != "DEBUG":
        # Kopf logs every handled event of every room at INFO; our own logs say what changed.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
