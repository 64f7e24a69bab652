"""`kubectl gameroom status NAME`: the room on one screen."""

from __future__ import annotations

import argparse
from typing import Any

from . import rooms
from .cli import Context, add_room_verb
from .client import Kube, PluginError
from .output import age, fields, table

RECENT_EVENTS = 10


def register(subparsers: Any) -> None:
    add_room_verb(
        subparsers,
        "status",
        help="the room on one screen: phase, health, players, rollout, backups, events",
        run=run,
    )


def collect(kube: Kube, name: str) -> dict[str, Any]:
    room = kube.room(name)
    status = room.get("status") or {}
    spec = room.get("spec") or {}
    health = status.get("health") or {}
    checks = health.get("checks") or {}
    failing = {
        check: value
        for check, value in checks.items()
        if isinstance(value, dict) and value.get("status") not in (None, "ok", "pass", "healthy")
    }
    # The room is what must be readable; Pods and events the user may not be allowed to
    # list are left out with kubectl's reason rather than failing the whole screen.
    unreadable: list[str] = []
    try:
        pods = [rooms.pod_summary(p) for p in rooms.pods(kube, name)]
    except PluginError as error:
        pods, unreadable = [], [*unreadable, f"pods: {error}"]
    try:
        found = rooms.related_events(kube, name, {p["name"] for p in pods})
        events = [rooms.event_summary(e) for e in found]
    except PluginError as error:
        events, unreadable = [], [*unreadable, f"events: {error}"]
    return {
        "name": name,
        "namespace": room["metadata"].get("namespace"),
        "phase": status.get("phase") or "Pending",
        "ready": rooms.condition(room, "Ready").get("status", "Unknown"),
        "message": rooms.condition(room, "Ready").get("message"),
        "url": status.get("url"),
        "image": spec.get("image"),
        "version": status.get("version"),
        "players": status.get("players"),
        "spectators": status.get("spectators"),
        "maxPlayers": (spec.get("game") or {}).get("maxPlayers"),
        "maintenance": status.get("maintenance")
        or {"enabled": bool((spec.get("maintenance") or {}).get("enabled"))},
        "health": {
            "status": health.get("status", "unknown"),
            "severity": health.get("severity"),
            "reason": health.get("reason"),
            "message": health.get("message"),
            "since": health.get("since"),
            "lastProbeTime": health.get("lastProbeTime"),
            "failingChecks": failing,
            "restarts": health.get("restarts"),
        },
        "conditions": status.get("conditions") or [],
        # Written by the rollout and backup concerns when they run; shown when present.
        "rollout": status.get("rollout"),
        "backups": {
            key: status[key] for key in ("lastBackup", "backup", "backups") if key in status
        },
        "pods": pods,
        "events": events[-RECENT_EVENTS:],
        "unreadable": unreadable,
    }


def human(data: dict[str, Any]) -> str:
    health = data["health"]
    players = data["players"]
    if players is not None and data["maxPlayers"]:
        players = f"{players}/{data['maxPlayers']}"
    maintenance = data["maintenance"]
    sections = [
        fields(
            [
                ("GameRoom", f"{data['namespace']}/{data['name']}"),
                ("Phase", data["phase"]),
                (
                    "Ready",
                    f"{data['ready']}" + (f" ({data['message']})" if data["message"] else ""),
                ),
                ("Players", players),
                ("Spectators", data["spectators"]),
                ("Image", data["image"]),
                ("Version", data["version"]),
                ("URL", data["url"]),
                (
                    "Maintenance",
                    "on" + (f": {maintenance.get('message')}" if maintenance.get("message") else "")
                    if maintenance.get("enabled")
                    else "off",
                ),
            ]
        ),
        "",
        "Health",
        fields(
            [
                ("Status", health["status"]),
                ("Severity", health["severity"]),
                ("Reason", health["reason"]),
                ("Message", health["message"]),
                ("Since", health["since"]),
                (
                    "Auto-heal restarts",
                    (health.get("restarts") or {}).get("count"),
                ),
            ],
            indent=2,
        ),
    ]
    if health["failingChecks"]:
        sections.append(
            "  "
            + table(
                ["check", "status", "detail"],
                [
                    [name, value.get("status"), _detail(value)]
                    for name, value in sorted(health["failingChecks"].items())
                ],
            ).replace("\n", "\n  ")
        )
    rollout = data.get("rollout")
    if rollout:
        sections += ["", "Rollout", fields(_flat(rollout), indent=2)]
    if data["backups"]:
        sections += ["", "Backups", fields(_flat(data["backups"]), indent=2)]
    sections += ["", "Pods"]
    sections.append(
        "  "
        + table(
            ["name", "phase", "ready", "restarts", "reason", "age"],
            [
                [
                    p["name"],
                    p["phase"],
                    p["ready"],
                    p["restarts"],
                    p["reason"] or "",
                    age(p["created"]),
                ]
                for p in data["pods"]
            ],
        ).replace("\n", "\n  ")
        if data["pods"]
        else "  (none)"
    )
    sections += ["", "Recent events"]
    sections.append(
        "  "
        + table(
            ["age", "type", "reason", "object", "message"],
            [
                [age(e["time"]), e["type"], e["reason"], e["object"], e["message"]]
                for e in data["events"]
            ],
        ).replace("\n", "\n  ")
        if data["events"]
        else "  (none)"
    )
    if data["unreadable"]:
        sections += ["", "Not shown", *(f"  {line}" for line in data["unreadable"])]
    return "\n".join(s for s in sections if s is not None)


def _detail(check: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in check.items() if k != "status")


def _flat(value: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested status fields as `a.b: value` lines."""
    pairs: list[tuple[str, Any]] = []
    for key, item in value.items():
        if isinstance(item, dict):
            pairs += _flat(item, f"{prefix}{key}.")
        else:
            pairs.append((f"{prefix}{key}", item))
    return pairs


def run(args: argparse.Namespace, ctx: Context) -> int:
    ctx.emit(collect(ctx.kube, args.name), human)
    return 0
