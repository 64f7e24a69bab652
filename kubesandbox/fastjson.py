"""JSON encoding and decoding for the hot paths (orjson when it can, the standard library
when it cannot: integers beyond 64 bits, NaN, non-string keys). Same results either way,
compact separators."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

try:
    import orjson
except ImportError:  # pragma: no cover - orjson is in the sandbox extra
    orjson = None  # type: ignore[assignment]


def dumps(
    obj: Any, *, default: Callable[[Any], Any] | None = None, sort_keys: bool = False
) -> bytes:
    """Compact UTF-8 JSON bytes."""
    if orjson is not None:
        try:
            return orjson.dumps(
                obj, default=default, option=orjson.OPT_SORT_KEYS if sort_keys else 0
            )
        except TypeError:
            pass  # orjson.JSONEncodeError: fall back to the standard library's rules
    return json.dumps(
        obj, separators=(",", ":"), default=default, sort_keys=sort_keys, ensure_ascii=False
    ).encode()


def loads(data: bytes | bytearray | str) -> Any:
    """Parse JSON; invalid input raises json.JSONDecodeError (a ValueError) as before."""
    if orjson is not None:
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass  # let the standard library decide (and word the error)
    return json.loads(data)
