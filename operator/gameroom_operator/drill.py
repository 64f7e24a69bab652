"""Disaster-recovery drills, decided (spec.backup.drill): pure functions, no I/O.

A drill restores the room's newest verified backup into a scratch GameRoom (a clone through
spec.restore.fromRoom, named `<room>-drill-<random>`, labelled with the room it drills and
owned by it, so it goes with the room), waits until the scratch room restored and is Ready,
plays the game server's smoke test against it, compares the rows it restored with the
backup's, records status.backup.lastDrill and deletes the scratch room. The executor is
drills.py; the plugin's `kubectl gameroom drill NAME` asks for one with DRILL_NOW_ANNOTATION.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from . import GROUP
from .backup import next_runs, parse_time

DRILL_NOW_ANNOTATION = f"{GROUP}/drill-now"
DRILL_OF_LABEL = f"{GROUP}/drill-of"
SCRATCH_INFIX = "-drill-"
# The whole drill (restore, Ready, smoke test) must end within this: a scratch room that
# never gets Ready is a failed drill, deleted, never a room left running for ever.
DRILL_TIMEOUT_SECONDS = 300.0


@dataclass(frozen=True)
class DrillSpec:
    schedule: str  # '' when only asked for by annotation
    time_zone: str
    enabled: bool

    @classmethod
    def of(cls, effective: dict[str, Any]) -> DrillSpec:
        backup = effective.get("backup") or {}
        drill = backup.get("drill") or {}
        return cls(
            schedule=str(drill.get("schedule") or ""),
            time_zone=str(backup.get("timeZone") or ""),
            enabled=bool(drill) and drill.get("enabled", True) is not False,
        )


def due(
    spec: DrillSpec,
    last: dict[str, Any] | None,
    asked: str,
    answered: str,
    since: datetime,
    now: datetime,
) -> tuple[bool, float | None]:
    """Whether a drill starts now, and else the seconds until the schedule's next one.

    An annotation value not answered yet asks for one now (whatever the schedule). The
    schedule's next drill is its first run after the last drill, or after `since` (when the
    operator first saw the schedule) when there was none."""
    if asked and asked != answered:
        return True, None
    if not spec.enabled or not spec.schedule:
        return False, None
    base = parse_time((last or {}).get("time")) or since
    runs = next_runs(spec.schedule, spec.time_zone, base)
    if not runs:
        return False, None
    if runs[0] <= now:
        return True, None
    return False, (runs[0] - now).total_seconds()


@dataclass(frozen=True)
class Scratch:
    """What the executor saw of the scratch room (None for one that is gone)."""

    restore_phase: str  # '', Running, Succeeded, Failed
    restore_message: str
    restored_rows: int | None
    backup_name: str
    ready: bool


@dataclass(frozen=True)
class Step:
    action: str  # wait, smoke (start the smoke-test Job), finish (record, clean up)
    phase: str  # Restoring, WaitingReady, SmokeTest, Succeeded, Failed
    message: str = ""


def step(
    scratch: Scratch | None,
    smoke_started: bool,
    smoke_outcome: str | None,
    backup_rows: int | None,
    started: datetime,
    now: datetime,
    timeout: float = DRILL_TIMEOUT_SECONDS,
    resumed: bool = False,
) -> Step:
    """The next step of a drill in progress (`resumed`: read back from status.backup.drill
    by a restarted operator)."""
    if scratch is None:
        if resumed:
            # Never created (the operator stopped between recording the drill and creating
            # the room) or deleted meanwhile: either way no drill ran to its end.
            return Step(
                "finish",
                "Failed",
                "the scratch room is gone: the operator restarted during the drill and had "
                "no scratch room to finish it with",
            )
        return Step("finish", "Failed", "the scratch room is gone")
    if scratch.restore_phase == "Failed":
        return Step("finish", "Failed", f"the backup did not restore: {scratch.restore_message}")
    if smoke_outcome is not None:
        if smoke_outcome != "Complete":
            return Step("finish", "Failed", "the smoke test failed against the scratch room")
        if backup_rows is not None and scratch.restored_rows != backup_rows:
            return Step(
                "finish",
                "Failed",
                f"the scratch room holds {scratch.restored_rows} rows, the backup {backup_rows}",
            )
        return Step(
            "finish",
            "Succeeded",
            f"restored {scratch.restored_rows} rows and passed the smoke test",
        )
    if now - started > timedelta(seconds=timeout):
        where = (
            "its smoke test did not finish"
            if smoke_started
            else "the scratch room was not restored and Ready"
        )
        return Step("finish", "Failed", f"timed out after {timeout:g}s: {where}")
    if scratch.restore_phase != "Succeeded":
        return Step("wait", "Restoring")
    if not scratch.ready:
        return Step("wait", "WaitingReady")
    if not smoke_started:
        return Step("smoke", "SmokeTest")
    return Step("wait", "SmokeTest")


def observe(room: dict[str, Any] | None) -> Scratch | None:
    """A scratch GameRoom as the drill needs it."""
    if room is None or (room.get("metadata") or {}).get("deletionTimestamp"):
        return None
    status = room.get("status") or {}
    restore = status.get("restore") or {}
    rows = restore.get("rows")
    return Scratch(
        restore_phase=str(restore.get("phase") or ""),
        restore_message=str(restore.get("message") or ""),
        restored_rows=int(rows) if isinstance(rows, int) else None,
        backup_name=str(restore.get("backupName") or ""),
        ready=any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in status.get("conditions") or []
        ),
    )


def scratch_name(room: str, suffix: str) -> str:
    """`<room>-drill-<suffix>`: the reserved infix and a random suffix keep it from any
    room a user names (the room's name is cut so it stays a valid name)."""
    return f"{room[:26]}{SCRATCH_INFIX}{suffix}"


def scratch_room(room: dict[str, Any], name: str, backup: str) -> dict[str, Any]:
    """The scratch GameRoom: a clone of `backup` of `room`, owned by `room`."""
    meta = room["metadata"]
    spec = room.get("spec") or {}
    scratch: dict[str, Any] = {
        "restore": {"fromRoom": {"name": meta["name"], "backupName": backup}, "requestId": "drill"},
    }
    for key in ("image", "imagePullPolicy", "imagePullSecrets", "game", "resources"):
        if key in spec:
            scratch[key] = spec[key]
    if (spec.get("backup") or {}).get("destination"):
        # The clone reads the room's backups where the room keeps them (an s3 bucket).
        scratch["backup"] = {"enabled": False, "destination": spec["backup"]["destination"]}
    return {
        "apiVersion": room.get("apiVersion") or f"{GROUP}/v1alpha1",
        "kind": "GameRoom",
        "metadata": {
            "name": name,
            "namespace": meta["namespace"],
            "labels": {DRILL_OF_LABEL: meta["name"]},
            "ownerReferences": [
                {
                    "apiVersion": room.get("apiVersion") or f"{GROUP}/v1alpha1",
                    "kind": "GameRoom",
                    "name": meta["name"],
                    "uid": meta["uid"],
                }
            ],
        },
        "spec": scratch,
    }
