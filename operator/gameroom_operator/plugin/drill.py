"""`kubectl gameroom drill NAME`: a disaster-recovery drill, run now.

By default the operator runs it (drill.py, drills.py in the operator): the verb sets the
annotation drawgame.dev/drill-now to a new value and waits until status.backup.lastDrill
answers that value. The operator restores the room's newest verified backup into a scratch
GameRoom `<name>-drill-<random>` (a clone, owned by the room), waits until it is Ready, plays
the smoke test against it, compares its rows with the backup's, records lastDrill and
deletes the scratch room, as it does on spec.backup.drill's schedule.

`--backup X` (an older backup) or `--keep` (keep the scratch room for a look) run the drill
from this client instead, with the same steps: the operator's drill always takes the newest
backup and always deletes its scratch room. The room itself is never touched.
"""

from __future__ import annotations

import argparse
import json
import secrets
import time
from typing import Any

from ..drill import DRILL_NOW_ANNOTATION, scratch_name, scratch_room
from . import smoke
from .cli import Context, add_room_verb, poll
from .client import ROOM_RESOURCE, Kube, PluginError
from .output import fields


def register(subparsers: Any) -> None:
    parser = add_room_verb(
        subparsers,
        "drill",
        help="restore a backup into a scratch room, smoke-test it, compare rows, delete it",
        run=run,
        timeout=300.0,
        timeout_help="default 5m",
    )
    parser.add_argument(
        "--backup",
        default="latest",
        help="backup-YYYYmmdd-HHMMSS.sql or latest (default); a named one runs from this client",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the scratch room (runs from this client)"
    )


def run(args: argparse.Namespace, ctx: Context) -> int:
    if args.backup != "latest" or args.keep:
        return run_here(args, ctx)
    kube = ctx.kube
    kube.room(args.name)  # a clear error for a room that does not exist
    asked = f"{int(time.time())}-{secrets.token_hex(3)}"
    kube.run("annotate", ROOM_RESOURCE, args.name, f"{DRILL_NOW_ANNOTATION}={asked}", "--overwrite")

    def answered() -> dict[str, Any] | None:
        status = kube.room(args.name).get("status") or {}
        last = (status.get("backup") or {}).get("lastDrill") or {}
        return last if last.get("request") == asked else None

    # The operator's own deadline for a drill is 5 minutes; a little more for its passes.
    last = poll(answered, args.timeout, interval=1.0)
    if last is None:
        raise PluginError(
            f"the operator did not finish the drill of {args.name} in {args.timeout:g}s "
            f"(annotation {DRILL_NOW_ANNOTATION}={asked}; is the operator running?)"
        )
    result = {
        "room": args.name,
        "result": last.get("result"),
        "backup": last.get("backupName"),
        "time": last.get("time"),
        "durationSeconds": last.get("durationSeconds"),
        "message": last.get("message"),
        "by": "operator",
    }
    ctx.emit(result, _human)
    if result["result"] != "Succeeded":
        raise PluginError(f"the drill failed: {last.get('message')}")
    return 0


def _ready_and_restored(kube: Kube, name: str) -> dict[str, Any] | None:
    room = kube.room(name)
    status = room.get("status") or {}
    restore = status.get("restore") or {}
    if restore.get("phase") == "Failed":
        return room
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    return room if ready and restore.get("phase") == "Succeeded" else None


def run_here(args: argparse.Namespace, ctx: Context) -> int:
    kube = ctx.kube
    started = time.monotonic()
    room = kube.room(args.name)
    last = ((room.get("status") or {}).get("backup") or {}).get("lastSuccessful") or {}
    name = scratch_name(args.name, secrets.token_hex(3))
    kube.run("create", "-f", "-", stdin=json.dumps(scratch_room(room, name, args.backup)))
    result: dict[str, Any] = {
        "room": args.name,
        "scratchRoom": name,
        "backup": args.backup,
        "by": "client",
    }
    try:
        scratch = poll(lambda: _ready_and_restored(kube, name), args.timeout, interval=1.0)
        if scratch is None:
            raise PluginError(
                f"scratch room {name} was not restored and Ready in {args.timeout:g}s"
            )
        restore = scratch["status"]["restore"]
        result.update(backup=restore.get("backupName"), restore=restore)
        if restore.get("phase") != "Succeeded":
            result["result"] = "Failed"
            raise PluginError(f"the backup did not restore: {restore.get('message')}")
        result["restoredRows"] = restore.get("rows")
        if last.get("name") == restore.get("backupName"):
            result["backupRows"] = last.get("rows")
        image = smoke._image(kube, scratch)
        job = smoke.job_manifest(scratch, image, 20.0)
        kube.run("create", "-f", "-", stdin=json.dumps(job))
        job_name = job["metadata"]["name"]
        try:
            outcome = poll(lambda: kube.job_outcome(job_name), args.timeout)
            pods = kube.items("pods", "-l", f"job-name={job_name}")
            text = "".join(
                kube.run("logs", p["metadata"]["name"], check=False).stdout for p in pods
            )
        finally:
            kube.run("delete", "job", job_name, "--wait=false", check=False)
        result["smokeTest"] = {
            "passed": outcome == "Complete",
            "checks": smoke.parse_report(text),
        }
        rows_ok = "backupRows" not in result or result["backupRows"] == result["restoredRows"]
        result["result"] = "Succeeded" if outcome == "Complete" and rows_ok else "Failed"
    finally:
        result["durationSeconds"] = round(time.monotonic() - started, 1)
        if not args.keep:
            kube.run("delete", ROOM_RESOURCE, name, "--wait=false", check=False)
    ctx.emit(result, _human)
    if result["result"] != "Succeeded":
        raise PluginError(f"the drill failed: {_why(result)}")
    return 0


def _why(result: dict[str, Any]) -> str:
    if result.get("message"):
        return str(result["message"])
    smoke_test = result.get("smokeTest") or {}
    if not smoke_test.get("passed"):
        failed = [c["name"] for c in smoke_test.get("checks") or [] if c["outcome"] == "FAIL"]
        return "the smoke test failed" + (f" ({', '.join(failed)})" if failed else "")
    return (
        f"the scratch room holds {result.get('restoredRows')} rows, "
        f"the backup {result.get('backupRows')}"
    )


def _human(data: dict[str, Any]) -> str:
    smoke_test = data.get("smokeTest") or {}
    return "\n".join(
        [
            f"gameroom {data['room']}: drill {data.get('result', 'Failed')}",
            fields(
                [
                    ("Backup", data.get("backup")),
                    ("Scratch room", data.get("scratchRoom")),
                    ("Verdict", data.get("message")),
                    ("Rows restored", data.get("restoredRows")),
                    ("Rows in backup", data.get("backupRows")),
                    ("Smoke test", _smoke(data, smoke_test)),
                    ("Duration", f"{data.get('durationSeconds')}s"),
                ],
                indent=2,
            ),
        ]
    )


def _smoke(data: dict[str, Any], smoke_test: dict[str, Any]) -> str | None:
    if data.get("by") == "operator":
        return None  # the operator's verdict says it
    return "passed" if smoke_test.get("passed") else "failed"
