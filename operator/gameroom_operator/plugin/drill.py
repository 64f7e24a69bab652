"""`kubectl gameroom drill NAME`: a disaster-recovery drill, run now.

It proves a backup restorable the way a real recovery would use it: a scratch GameRoom
`<name>-drill-<random>` is created as a clone of the room's backup (`spec.restore.fromRoom`,
the operator restores it into the scratch room, which verifies the dump first), the game
server's smoke test plays against the scratch room from inside the cluster, the row count
the scratch room reports after the restore is compared with the backup's, and the scratch
room is deleted (also when the drill fails; `--keep` keeps it for a look). The room itself
is never touched. The scratch room is owned by the room, so deleting the room removes a
kept one too.
"""

from __future__ import annotations

import argparse
import json
import secrets
import time
from typing import Any

from . import smoke
from .cli import Context, add_verb, duration, poll
from .client import ROOM_RESOURCE, Kube, PluginError
from .output import fields


def register(subparsers: Any) -> None:
    parser = add_verb(
        subparsers,
        "drill",
        help="restore a backup into a scratch room, smoke-test it, compare rows, delete it",
        run=run,
    )
    parser.add_argument("name", help="the GameRoom's name")
    parser.add_argument(
        "--backup", default="latest", help="backup-YYYYmmdd-HHMMSS.sql or latest (default)"
    )
    parser.add_argument("--timeout", type=duration, default=300.0, help="default 5m")
    parser.add_argument("--keep", action="store_true", help="keep the scratch room")


def scratch_room(room: dict[str, Any], name: str, backup: str) -> dict[str, Any]:
    meta = room["metadata"]
    spec = room.get("spec") or {}
    scratch: dict[str, Any] = {
        "restore": {"fromRoom": meta["name"], "backupName": backup, "requestId": "drill"},
    }
    for key in ("image", "imagePullPolicy", "imagePullSecrets", "game", "resources"):
        if key in spec:
            scratch[key] = spec[key]
    if (spec.get("backup") or {}).get("destination"):
        # The clone reads the room's backups where the room keeps them (an s3 bucket).
        scratch["backup"] = {"enabled": False, "destination": spec["backup"]["destination"]}
    return {
        "apiVersion": "drawgame.dev/v1alpha1",
        "kind": "GameRoom",
        "metadata": {
            "name": name,
            "namespace": meta["namespace"],
            "labels": {"drawgame.dev/drill-of": meta["name"]},
            "ownerReferences": [
                {
                    "apiVersion": room["apiVersion"],
                    "kind": "GameRoom",
                    "name": meta["name"],
                    "uid": meta["uid"],
                }
            ],
        },
        "spec": scratch,
    }


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


def run(args: argparse.Namespace, ctx: Context) -> int:
    kube = ctx.kube
    started = time.monotonic()
    room = kube.room(args.name)
    last = ((room.get("status") or {}).get("backup") or {}).get("lastSuccessful") or {}
    name = f"{args.name[:26]}-drill-{secrets.token_hex(3)}"
    kube.run("create", "-f", "-", stdin=json.dumps(scratch_room(room, name, args.backup)))
    result: dict[str, Any] = {"room": args.name, "scratchRoom": name, "backup": args.backup}
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
            outcome = poll(lambda: smoke._finished(kube, job_name), args.timeout)
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
                    ("Rows restored", data.get("restoredRows")),
                    ("Rows in backup", data.get("backupRows")),
                    ("Smoke test", "passed" if smoke_test.get("passed") else "failed"),
                    ("Duration", f"{data.get('durationSeconds')}s"),
                ],
                indent=2,
            ),
        ]
    )
