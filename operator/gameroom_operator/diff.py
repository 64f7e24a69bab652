"""Pure comparison of a rendered child with the live object: decides whether to write at all."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from kubernetes.utils import parse_quantity

from .names import INGRESS_CLASS_ANNOTATION, USER_KEYS_ANNOTATION

# Fields the API server owns or the cluster fills in; never compared.
_SERVER_FIELDS = frozenset(
    {"resourceVersion", "uid", "creationTimestamp", "generation", "managedFields", "selfLink"}
)


# Keys whose values are resource quantities: the API server stores them canonically
# ("0.5" -> "500m", "1.5Gi" -> "1536Mi"), so they are compared by value.
_QUANTITY_KEYS = frozenset({"cpu", "memory", "storage", "ephemeral-storage", "sizeLimit"})


def _quantity(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    try:
        return Decimal(parse_quantity(value))
    except (ValueError, ArithmeticError):
        return None


def _scalar_equal(desired: Any, live: Any, path: str) -> bool:
    # The API server may give back 1 for "1" (int-or-string fields) and the reverse.
    if str(desired) == str(live):
        return True
    if path.rsplit(".", 1)[-1] in _QUANTITY_KEYS or ".resources." in path:
        wanted, found = _quantity(desired), _quantity(live)
        return wanted is not None and wanted == found
    return False


def covers(live: Any, desired: Any, path: str = "") -> str | None:
    """None if `live` already has everything `desired` asks for, else the first differing path.

    Fields the server adds (defaults, status) are ignored; a None in `desired` means the
    field must be absent (or empty) in `live`.
    """
    return next(_differences(live, desired, path), None)


def differences(live: Any, desired: Any) -> list[str]:
    """Every path where `live` differs from `desired` (same rules as `covers`), without the
    leading dot: what an event tells an admin was put back."""
    return [path.lstrip(".") or "." for path in _differences(live, desired, "")]


def _differences(live: Any, desired: Any, path: str) -> Iterator[str]:
    if desired is None:
        if live not in (None, {}, [], ""):
            yield path or "."
        return
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            yield path or "."
            return
        for key, value in desired.items():
            if key not in _SERVER_FIELDS:
                yield from _differences(live.get(key), value, f"{path}.{key}")
        return
    if isinstance(desired, list):
        if not isinstance(live, list) or len(live) != len(desired):
            yield path or "."
            return
        for index, (live_item, desired_item) in enumerate(zip(live, desired, strict=True)):
            yield from _differences(live_item, desired_item, f"{path}[{index}]")
        return
    if isinstance(desired, bool) or isinstance(live, bool):
        if desired is not live:
            yield path or "."
        return
    if not (desired == live or _scalar_equal(desired, live, path)):
        yield path or "."


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


KeyPath = tuple[str | int, ...]


def user_key_paths(value: Any, prefix: KeyPath) -> list[KeyPath]:
    """Every dict key path in `value` (into lists by index), for the user-keys annotation."""
    paths: list[KeyPath] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if item is None:
                continue
            paths.append((*prefix, key))
            paths.extend(user_key_paths(item, (*prefix, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            paths.extend(user_key_paths(item, (*prefix, index)))
    return paths


def encode_key_paths(paths: list[KeyPath]) -> str:
    return json.dumps(sorted(paths, key=json.dumps), separators=(",", ":"))


def _recorded_paths(live: dict[str, Any]) -> list[list[Any]]:
    raw = (live.get("metadata", {}).get("annotations") or {}).get(USER_KEYS_ANNOTATION)
    if not raw:
        return []
    try:
        paths = json.loads(raw)
    except ValueError:
        return []
    return [p for p in paths if isinstance(p, list)] if isinstance(paths, list) else []


def for_live(desired: dict[str, Any], live: dict[str, Any] | None) -> dict[str, Any]:
    """What to compare with and write to `live`: removed keys as null, a PVC only ever grown."""
    if live is None:
        return desired
    if desired.get("kind") == "PersistentVolumeClaim":
        return _pvc_for_live(desired, live)
    if desired.get("kind") == "Ingress":
        return _ingress_for_live(desired, live)
    return with_removals(desired, live)


def _ingress_for_live(desired: dict[str, Any], live: dict[str, Any]) -> dict[str, Any]:
    """An IngressClass the room set before and no longer sets is removed with its record."""
    recorded = ((live.get("metadata") or {}).get("annotations") or {}).get(INGRESS_CLASS_ANNOTATION)
    if not recorded or desired["spec"].get("ingressClassName"):
        return desired
    result = copy.deepcopy(desired)
    result["spec"]["ingressClassName"] = None
    result["metadata"]["annotations"] = {INGRESS_CLASS_ANNOTATION: None}
    return result


def _pvc_for_live(desired: dict[str, Any], live: dict[str, Any]) -> dict[str, Any]:
    """A PVC's spec is immutable except for growing its storage request: never ask more.

    The storage class and access modes stay as created; a smaller size is not applied (a
    volume cannot shrink), a larger one is (the storage class must allow expansion).
    """
    result = copy.deepcopy(desired)
    wanted = desired.get("spec", {}).get("resources", {}).get("requests", {}).get("storage")
    current = (live.get("spec") or {}).get("resources", {}).get("requests", {}).get("storage")
    wanted_bytes, current_bytes = _quantity(wanted), _quantity(current)
    size = wanted
    if current_bytes is not None and (wanted_bytes is None or wanted_bytes <= current_bytes):
        size = current
    result["spec"] = {"resources": {"requests": {"storage": size}}}
    return result


def with_removals(desired: dict[str, Any], live: dict[str, Any] | None) -> dict[str, Any]:
    """`desired` plus a None marker for each key applied last time and no longer rendered.

    The live child's USER_KEYS_ANNOTATION lists the key paths that came from the room's spec
    when it was last written (pod labels, annotations, nodeSelector, affinity, resources). A
    key listed there that `desired` no longer has is sent as null, so a merge patch removes
    it. Paths through lists are skipped: a merge patch replaces a list whole.
    """
    recorded = _recorded_paths(live) if live else []
    missing = []
    for path in recorded:
        if not path or not all(isinstance(part, str) for part in path):
            continue
        node: Any = desired
        for part in path[:-1]:
            node = node.get(part) if isinstance(node, dict) else None
            if not isinstance(node, dict):
                break
        else:
            if path[-1] not in node:
                missing.append(path)
    if not missing:
        return desired  # the common case: nothing was removed, nothing to copy
    # Copy only the dicts on the way to each marker: `desired` may be shared (rendered
    # once per spec) and must not change.
    result = dict(desired)
    for path in missing:
        node = result
        for part in path[:-1]:
            node[part] = dict(node[part])
            node = node[part]
        node[path[-1]] = None
    return result


def edited_by_others(
    known: dict[str, Any] | None, event: dict[str, Any], event_type: str | None
) -> bool:
    """True when a watch event shows a child's spec changed past the version last known.

    `known` is the child as the operator last wrote or saw it. A spec change bumps
    metadata.generation; status updates (controllers, kubelet) do not, so they never count.
    """
    if event_type != "MODIFIED" or known is None:
        return False
    before = (known.get("metadata") or {}).get("generation") or 0
    after = (event.get("metadata") or {}).get("generation") or 0
    return bool(before) and after > before
