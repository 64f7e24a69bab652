"""Reading a room and what belongs to it, shared by the verbs."""

from __future__ import annotations

from typing import Any

from .client import Kube

INSTANCE_LABEL = "app.kubernetes.io/instance"
ROOM_LABEL = "drawgame.dev/room"
# The kinds the operator creates for a room, all labelled drawgame.dev/room=<room>.
CHILD_KINDS = (
    "deployments",
    "services",
    "configmaps",
    "secrets",
    "persistentvolumeclaims",
    "networkpolicies",
    "ingresses",
)


def pods(kube: Kube, name: str) -> list[dict[str, Any]]:
    """The room's Pods, newest first (the Deployment's selector labels)."""
    items = kube.items("pods", "-l", f"{INSTANCE_LABEL}={name},app.kubernetes.io/name=gameroom")
    return sorted(items, key=lambda p: p["metadata"].get("creationTimestamp") or "", reverse=True)


def serving_pod(kube: Kube, name: str) -> dict[str, Any] | None:
    """The Pod players are on: running and not being deleted, else the newest one."""
    found = pods(kube, name)
    alive = [p for p in found if not p["metadata"].get("deletionTimestamp")]
    running = [p for p in alive if (p.get("status") or {}).get("phase") == "Running"]
    for group in (running, alive, found):
        if group:
            return group[0]
    return None


def pod_summary(pod: dict[str, Any]) -> dict[str, Any]:
    status = pod.get("status") or {}
    containers = status.get("containerStatuses") or []
    ready = sum(1 for c in containers if c.get("ready"))
    waiting = [
        (c.get("state") or {}).get("waiting", {}).get("reason")
        for c in containers
        if (c.get("state") or {}).get("waiting")
    ]
    return {
        "name": pod["metadata"]["name"],
        "phase": "Terminating" if pod["metadata"].get("deletionTimestamp") else status.get("phase"),
        "ready": f"{ready}/{len(containers) or len(pod['spec'].get('containers') or [])}",
        "restarts": sum(int(c.get("restartCount") or 0) for c in containers),
        "reason": next((w for w in waiting if w), None),
        "node": pod["spec"].get("nodeName"),
        "ip": status.get("podIP"),
        "created": pod["metadata"].get("creationTimestamp"),
    }


def event_time(event: dict[str, Any]) -> str:
    return str(
        event.get("lastTimestamp")
        or event.get("eventTime")
        or (event.get("series") or {}).get("lastObservedTime")
        or event.get("firstTimestamp")
        or event["metadata"].get("creationTimestamp")
        or ""
    )


def related_events(
    kube: Kube, name: str, extra_names: set[str] | None = None
) -> list[dict[str, Any]]:
    """Events of the room, its children and its Pods, oldest first: the room's timeline.

    Events carry no labels, so they are matched by the involved object's name: the room's
    own name, names starting with `<room>-` (children and Pods are named so) and any names
    given; objects of another room named `<room>-x` could match too, hence `kind` in output.
    """
    names = {name, *(extra_names or set())}
    events = [
        e
        for e in kube.items("events")
        if (e.get("involvedObject") or {}).get("name") in names
        or str((e.get("involvedObject") or {}).get("name", "")).startswith(f"{name}-")
    ]
    # RFC 3339 UTC times sort as strings.
    return sorted(events, key=event_time)


def event_summary(event: dict[str, Any]) -> dict[str, Any]:
    involved = event.get("involvedObject") or {}
    return {
        "time": event_time(event),
        "type": event.get("type"),
        "reason": event.get("reason"),
        "object": f"{involved.get('kind', '').lower()}/{involved.get('name', '')}",
        "count": int(event.get("count") or (event.get("series") or {}).get("count") or 1),
        "message": (event.get("message") or event.get("note") or "").strip(),
    }


def condition(room: dict[str, Any], kind: str) -> dict[str, Any]:
    for item in (room.get("status") or {}).get("conditions") or []:
        if item.get("type") == kind:
            return dict(item)
    return {}
