"""Pure helpers shared by the controllers: owner references, pod predicates, time."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from typing import Any

Obj = dict[str, Any]

# The alphabet Kubernetes uses for generated name suffixes (no vowels, no confusables).
SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def safe_encode(value: int, length: int = 10) -> str:
    chars = []
    for _ in range(length):
        value, rem = divmod(value, len(SAFE_ALPHABET))
        chars.append(SAFE_ALPHABET[rem])
        if value == 0:
            break
    return "".join(chars)


def fnv32a(data: bytes) -> int:
    h = 0x811C9DC5
    for byte in data:
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def short_hash(obj: Any, length: int = 5) -> str:
    digest = int.from_bytes(hashlib.sha256(canonical(obj)).digest()[:8], "big")
    return safe_encode(digest, 16)[:length]


def parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    text = value.replace("Z", "+00:00")
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


_last_formatted: tuple[int, str] = (-1, "")


def fmt_time(value: dt.datetime) -> str:
    """RFC 3339 in whole seconds, UTC (the string of the last second asked is reused:
    statuses and events format "now" many times a second)."""
    global _last_formatted
    second = math.floor(value.timestamp())
    if _last_formatted[0] != second:
        text = dt.datetime.fromtimestamp(second, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        _last_formatted = (second, text)
    return _last_formatted[1]


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def owner_ref(owner: Obj, *, controller: bool = True, block: bool = True) -> Obj:
    meta = owner["metadata"]
    return {
        "apiVersion": owner.get("apiVersion", ""),
        "kind": owner.get("kind", ""),
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": controller,
        "blockOwnerDeletion": block,
    }


def controller_uid(obj: Obj) -> str | None:
    for ref in (obj.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return str(ref.get("uid"))
    return None


def is_terminating(obj: Obj) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def pod_phase(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase") or "Pending")


def pod_is_active(pod: Obj) -> bool:
    return not is_terminating(pod) and pod_phase(pod) not in ("Succeeded", "Failed")


def condition(obj: Obj, type_: str) -> Obj | None:
    for cond in (obj.get("status") or {}).get("conditions") or []:
        if cond.get("type") == type_:
            return dict(cond)
    return None


def pod_is_ready(pod: Obj) -> bool:
    cond = condition(pod, "Ready")
    return bool(cond and cond.get("status") == "True")


def pod_is_available(pod: Obj, min_ready_seconds: int, now: dt.datetime) -> bool:
    cond = condition(pod, "Ready")
    if not cond or cond.get("status") != "True":
        return False
    if min_ready_seconds <= 0:
        return True
    since = parse_time(cond.get("lastTransitionTime"))
    return since is None or (now - since).total_seconds() >= min_ready_seconds


def selector_matches(selector: Obj | None, labels: dict[str, str]) -> bool:
    """A LabelSelector (matchLabels + matchExpressions) against a label map.

    An empty selector matches everything; a missing one (None) matches nothing.
    """
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr.get("key"), expr.get("operator"), expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and key in labels and labels[key] in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def set_condition(conditions: list[Obj], new: Obj, now: str) -> list[Obj]:
    """Insert or update a condition, keeping lastTransitionTime when status is unchanged."""
    out: list[Obj] = []
    found = False
    for cond in conditions:
        if cond.get("type") != new["type"]:
            out.append(cond)
            continue
        found = True
        merged = {**cond, **new}
        if cond.get("status") == new.get("status"):
            merged["lastTransitionTime"] = cond.get("lastTransitionTime", now)
        else:
            merged["lastTransitionTime"] = now
        out.append(merged)
    if not found:
        out.append({"lastTransitionTime": now, **new})
    return out
