"""Pure comparison of a rendered child with the live object: decides whether to write at all."""

from __future__ import annotations

from typing import Any

# Fields the API server owns or the cluster fills in; never compared.
_SERVER_FIELDS = frozenset(
    {"resourceVersion", "uid", "creationTimestamp", "generation", "managedFields", "selfLink"}
)


def _quantity_equal(desired: Any, live: Any) -> bool:
    # The API server may give back 1 for "1" (int-or-string fields) and the reverse.
    return str(desired) == str(live)


def covers(live: Any, desired: Any, path: str = "") -> str | None:
    """None if `live` already has everything `desired` asks for, else the first differing path.

    Fields the server adds (defaults, status) are ignored; a None in `desired` means the
    field must be absent (or empty) in `live`.
    """
    if desired is None:
        return None if live in (None, {}, [], "") else path or "."
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            return path or "."
        for key, value in desired.items():
            if key in _SERVER_FIELDS:
                continue
            found = covers(live.get(key), value, f"{path}.{key}")
            if found is not None:
                return found
        return None
    if isinstance(desired, list):
        if not isinstance(live, list) or len(live) != len(desired):
            return path or "."
        for index, (live_item, desired_item) in enumerate(zip(live, desired, strict=True)):
            found = covers(live_item, desired_item, f"{path}[{index}]")
            if found is not None:
                return found
        return None
    if isinstance(desired, bool) or isinstance(live, bool):
        return None if desired is live else path or "."
    if desired == live or _quantity_equal(desired, live):
        return None
    return path or "."


def merge_patch(desired: dict[str, Any]) -> dict[str, Any]:
    """A JSON merge patch that makes a live object match `desired` (None -> removes the field).

    Lists are replaced whole, which is what we want: the room owns its containers, ports and
    volumes completely.
    """
    patch = {key: value for key, value in desired.items() if key not in ("apiVersion", "kind")}
    metadata = dict(patch.get("metadata", {}))
    for key in ("name", "namespace"):
        metadata.pop(key, None)
    patch["metadata"] = metadata
    return patch
