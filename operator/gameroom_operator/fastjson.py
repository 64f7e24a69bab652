"""Faster decoding of Kopf's watch streams.

Kopf decodes every watch event with the standard library's ``json``: with a thousand rooms
starting at once that is a fifth of the operator's CPU (Pods and Deployments carry their
managedFields). orjson turns the same text into the same Python objects several times
faster. ``install()`` hands it to Kopf's API module only, and only when that module still
looks the way this was written for (it imports ``json`` and calls ``json.loads``);
otherwise Kopf is left as it is.
"""

from __future__ import annotations

import json
import types
from typing import Any

import orjson


def loads(text: str | bytes) -> Any:
    """orjson's decoding, falling back to json's for what orjson refuses (NaN, Infinity,
    integers beyond 64 bits), so results and errors are those of ``json.loads``."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def install() -> bool:
    """Use ``loads`` for Kopf's watch streams; True when installed."""
    try:
        from kopf._cogs.clients import api
    except ImportError:
        return False
    current = getattr(api, "json", None)
    if isinstance(current, types.SimpleNamespace) and current.loads is loads:
        return True
    if current is not json:
        return False
    api.json = types.SimpleNamespace(  # type: ignore[assignment]
        loads=loads, dumps=json.dumps, JSONDecodeError=json.JSONDecodeError
    )
    return True
