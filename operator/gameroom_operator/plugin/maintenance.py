"""`kubectl gameroom maintenance NAME on|off [--message M]`: switch maintenance mode.

It patches the room's spec (the spec stays the source of truth, so the switch survives a
restart and shows in `kubectl get gameroom -o yaml`), then waits until the room itself
reports the mode: the operator switches it through the room's admin API, without a restart.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from .cli import Context, UsageError, add_room_verb, poll
from .client import ROOM_RESOURCE, Kube, PluginError
from .output import fields
from .rooms import condition

MAX_MESSAGE = 280  # the CRD's maxLength for spec.maintenance.message


def register(subparsers: Any) -> None:
    parser = add_room_verb(
        subparsers,
        "maintenance",
        help="switch maintenance mode on or off (new joins refused, players stay)",
        run=run,
        timeout=60.0,
        timeout_help="how long to wait for the room to confirm (default 60s)",
        no_wait="return once the spec is patched",
    )
    parser.add_argument("mode", choices=("on", "off"))
    parser.add_argument(
        "--message", help=f"shown to players while maintenance is on (≤ {MAX_MESSAGE} chars)"
    )


def run(args: argparse.Namespace, ctx: Context) -> int:
    on = args.mode == "on"
    if args.message is not None and len(args.message) > MAX_MESSAGE:
        raise UsageError(f"--message is {len(args.message)} characters; at most {MAX_MESSAGE}")
    wanted: dict[str, Any] = {"enabled": on}
    if args.message is not None:
        wanted["message"] = args.message
    kube = ctx.kube
    patch = json.dumps({"spec": {"maintenance": wanted}})
    kube.run("patch", ROOM_RESOURCE, args.name, "--type=merge", "-p", patch)
    result: dict[str, Any] = {
        "room": args.name,
        "maintenance": wanted,
        "confirmed": None,
    }
    if not args.no_wait:
        reported = poll(lambda: _confirmed(kube, args.name, wanted), args.timeout)
        result["confirmed"] = bool(reported)
        if not reported:
            ctx.emit(result, _human)
            raise PluginError(_unconfirmed(kube, args.name, args.timeout))
        result["maintenance"] = reported
    ctx.emit(result, _human)
    return 0


def _confirmed(kube: Kube, name: str, wanted: dict[str, Any]) -> dict[str, Any] | None:
    """status.maintenance once the room reports what was asked (the operator read it back)."""
    room = kube.room(name)
    status = room.get("status") or {}
    if status.get("observedGeneration", 0) < room["metadata"].get("generation", 0):
        return None
    reported = status.get("maintenance") or {}
    if bool(reported.get("enabled")) != wanted["enabled"]:
        return None
    if wanted["enabled"] and "message" in wanted and reported.get("message") != wanted["message"]:
        return None
    return dict(reported) or {"enabled": False}


def _unconfirmed(kube: Kube, name: str, timeout: float) -> str:
    room = kube.room(name)
    degraded = condition(room, "Degraded")
    why = (
        f": {degraded.get('reason')}: {degraded.get('message')}"
        if degraded.get("status") == "True"
        else ""
    )
    return (
        f"the spec of gameroom {name} is patched, but the room did not report the mode "
        f"within {timeout:g}s{why}"
    )


def _human(data: dict[str, Any]) -> str:
    wanted = data["maintenance"]
    state = "on" if wanted.get("enabled") else "off"
    head = f"gameroom {data['room']}: maintenance {state}"
    if data["confirmed"]:
        head += " (confirmed by the room)"
    elif data["confirmed"] is None:
        head += " (spec patched; not waiting for the room)"
    return "\n".join([head, fields([("Message", wanted.get("message"))], indent=2)]).rstrip()
