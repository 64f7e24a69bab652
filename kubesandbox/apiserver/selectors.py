"""Label and field selectors: parsing and matching (pure functions)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .errors import bad_request


@dataclass(frozen=True)
class Requirement:
    key: str
    op: str  # "=", "!=", "in", "notin", "exists", "!"
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key)
        if self.op == "=":
            return present and value == self.values[0]
        if self.op == "!=":
            return not present or value != self.values[0]
        if self.op == "in":
            return present and value in self.values
        if self.op == "notin":
            return not present or value not in self.values
        if self.op == "exists":
            return present
        return not present  # "!"


_SET_RE = re.compile(r"^\s*([A-Za-z0-9_./-]+)\s+(in|notin)\s*\(([^)]*)\)\s*$")
_EQ_RE = re.compile(r"^\s*([A-Za-z0-9_./-]+)\s*(==|=|!=)\s*([A-Za-z0-9_.-]*)\s*$")
_KEY_RE = re.compile(r"^\s*(!?)\s*([A-Za-z0-9_./-]+)\s*$")


def _split_top(text: str) -> list[str]:
    parts, depth, current = [], 0, ""
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    if current.strip():
        parts.append(current)
    return parts


def parse_label_selector(text: str | None) -> list[Requirement]:
    if not text:
        return []
    reqs: list[Requirement] = []
    for part in _split_top(text):
        if m := _SET_RE.match(part):
            values = tuple(v.strip() for v in m.group(3).split(",") if v.strip())
            reqs.append(Requirement(m.group(1), m.group(2), values))
        elif m := _EQ_RE.match(part):
            op = "!=" if m.group(2) == "!=" else "="
            reqs.append(Requirement(m.group(1), op, (m.group(3),)))
        elif m := _KEY_RE.match(part):
            reqs.append(Requirement(m.group(2), "!" if m.group(1) else "exists"))
        else:
            raise bad_request(
                f'unable to parse requirement: found "{part.strip()}", '
                "expected: key, !key, key=value, key!=value, key in (a,b) or key notin (a,b)"
            )
    return reqs


def labels_match(reqs: list[Requirement], labels: dict[str, str] | None) -> bool:
    labels = labels or {}
    return all(r.matches(labels) for r in reqs)


def label_selector_to_string(selector: dict[str, Any] | None) -> str:
    """metav1.LabelSelector -> its string form (as `kubectl` and Scale.status.selector use)."""
    if not selector:
        return ""
    parts = [f"{k}={v}" for k, v in sorted((selector.get("matchLabels") or {}).items())]
    for expr in selector.get("matchExpressions") or []:
        op = expr.get("operator", "")
        key = expr.get("key", "")
        values = ",".join(sorted(expr.get("values") or []))
        if op == "In":
            parts.append(f"{key} in ({values})")
        elif op == "NotIn":
            parts.append(f"{key} notin ({values})")
        elif op == "Exists":
            parts.append(key)
        elif op == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)


def selector_matches(selector: dict[str, Any] | None, labels: dict[str, str] | None) -> bool:
    """Match a metav1.LabelSelector object; an empty selector matches everything."""
    if selector is None:
        return False
    return labels_match(parse_label_selector(label_selector_to_string(selector)), labels)


@dataclass(frozen=True)
class FieldRequirement:
    path: str
    negate: bool
    value: str


SUPPORTED_FIELDS: dict[str, set[str]] = {
    "pods": {
        "status.phase",
        "spec.nodeName",
        "spec.restartPolicy",
        "spec.schedulerName",
        "spec.serviceAccountName",
        "status.podIP",
        "status.nominatedNodeName",
    },
    "events": {
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "reportingComponent",
        "source",
        "type",
    },
    "secrets": {"type"},
    # events.k8s.io/v1 Events (stored in their own shape): kube's field label conversions.
    "events.k8s.io/events": {
        "regarding.kind",
        "regarding.namespace",
        "regarding.name",
        "regarding.uid",
        "regarding.apiVersion",
        "regarding.resourceVersion",
        "regarding.fieldPath",
        "reason",
        "reportingController",
        "type",
    },
    "namespaces": {"status.phase"},
    "jobs": {"status.successful"},
    "replicasets": {"status.replicas"},
}


def parse_field_selector(text: str | None, plural: str, group: str = "") -> list[FieldRequirement]:
    if not text:
        return []
    out: list[FieldRequirement] = []
    fields = SUPPORTED_FIELDS.get(f"{group}/{plural}") or SUPPORTED_FIELDS.get(plural, set())
    allowed = {"metadata.name", "metadata.namespace"} | fields
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "!=" in part:
            path, value = part.split("!=", 1)
            negate = True
        elif "==" in part:
            path, value = part.split("==", 1)
            negate = False
        elif "=" in part:
            path, value = part.split("=", 1)
            negate = False
        else:
            raise bad_request(f"invalid selector: '{part}'; can't understand '{part}'")
        path = path.strip()
        if path not in allowed:
            raise bad_request(f"field label not supported: {path}")
        out.append(FieldRequirement(path, negate, value.strip()))
    return out


def _field_value(obj: dict[str, Any], path: str) -> str:
    if path == "source" and "source" in obj:
        return str((obj.get("source") or {}).get("component", ""))
    cur: Any = obj
    for piece in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(piece)
    if cur is None:
        return ""
    return str(cur) if not isinstance(cur, bool) else str(cur).lower()


def fields_match(reqs: list[FieldRequirement], obj: dict[str, Any]) -> bool:
    for r in reqs:
        equal = _field_value(obj, r.path) == r.value
        if equal == r.negate:
            return False
    return True
