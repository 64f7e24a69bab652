"""`kubectl gameroom restart NAME`: a graceful restart of the room's game server."""

from __future__ import annotations

import argparse
import time
from typing import Any

from . import rooms
from .cli import Context, add_room_verb, poll
from .client import PluginError
from .output import fields

# Shown to the user: why the restart annotation and not a Pod delete.
WHY = (
    "`kubectl rollout restart` (the kubectl.kubernetes.io/restartedAt annotation on the Pod "
    "template): with the room's Recreate strategy the old Pod stops first (SIGTERM, the server "
    "saves the room within its grace period) and only then does the new Pod start, so two "
    "servers never share the room's database; players resume their seats. Deleting the Pod "
    "instead would start its replacement at once, beside the old Pod still saving. The "
    "operator keeps annotations others add, and the annotation changes neither the image nor "
    "the settings."
)


def register(subparsers: Any) -> None:
    add_room_verb(
        subparsers,
        "restart",
        help="restart the room's game server gracefully (players resume their seats)",
        run=run,
        timeout=180.0,
        timeout_help="how long to wait for the new Pod to be Ready (default 180s)",
        no_wait="return once the Pod is being deleted",
    )


def run(args: argparse.Namespace, ctx: Context) -> int:
    kube = ctx.kube
    name = args.name
    kube.room(name)  # a missing room fails here with kubectl's NotFound
    pod = rooms.serving_pod(kube, name)
    old = pod["metadata"]["name"] if pod else None
    grace = int(pod["spec"].get("terminationGracePeriodSeconds") or 30) if pod else None
    started = time.monotonic()
    kube.run("rollout", "restart", f"deployment/{name}")
    result: dict[str, Any] = {
        "room": name,
        "method": "rollout-restart",
        "previousPod": old,
        "gracePeriodSeconds": grace,
        "why": WHY,
        "newPod": None,
        "readySeconds": None,
    }
    if not args.no_wait:
        new = poll(lambda: _ready_replacement(kube, name, old), args.timeout)
        if new is None:
            ctx.emit(result, _human)
            raise PluginError(
                f"no new Pod of gameroom {name} was Ready within {args.timeout:g}s "
                f"(kubectl gameroom status {name} says why)"
            )
        result["newPod"] = new
        result["readySeconds"] = round(time.monotonic() - started, 1)
    ctx.emit(result, _human)
    return 0


def _ready_replacement(kube: Any, name: str, old: str | None) -> str | None:
    """The new Pod once it is Ready and the old one is gone (Recreate: one at a time)."""
    found = rooms.pods(kube, name)
    if any(p["metadata"]["name"] == old for p in found):
        return None
    for pod in found:
        if pod["metadata"].get("deletionTimestamp"):
            continue
        conditions = (pod.get("status") or {}).get("conditions") or []
        if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
            return str(pod["metadata"]["name"])
    return None


def _human(data: dict[str, Any]) -> str:
    lines = [
        f"gameroom {data['room']} restarted: Pod {data['previousPod'] or '(none)'} stops "
        f"first (grace period {data['gracePeriodSeconds']}s), then a new Pod starts",
        f"Why: {data['why']}",
    ]
    if data["newPod"]:
        lines.append(
            fields([("New Pod", data["newPod"]), ("Ready after", f"{data['readySeconds']}s")])
        )
    return "\n".join(lines)
