"""events.k8s.io/v1 Events as a view of the core/v1 Events: one store, two shapes, with
kube-apiserver's field conversions (note <-> message, regarding <-> involvedObject, ...)."""

from __future__ import annotations

from typing import Any

EVENTS_V1 = ("events.k8s.io", "events")
CORE_EVENTS = ("", "events")
# (core/v1 field, events.k8s.io/v1 field)
_FIELDS = (
    ("involvedObject", "regarding"),
    ("related", "related"),
    ("message", "note"),
    ("reason", "reason"),
    ("type", "type"),
    ("action", "action"),
    ("eventTime", "eventTime"),
    ("series", "series"),
    ("reportingComponent", "reportingController"),
    ("reportingInstance", "reportingInstance"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
)


def to_v1(event: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "kind": "Event",
        "apiVersion": "events.k8s.io/v1",
        "metadata": event.get("metadata") or {},
    }
    for core, v1 in _FIELDS:
        if event.get(core) not in (None, "", {}):
            out[v1] = event[core]
    return out


def to_core(event: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": "Event", "apiVersion": "v1", "metadata": event.get("metadata")}
    for core, v1 in _FIELDS:
        if event.get(v1) is not None:
            out[core] = event[v1]
    return out
