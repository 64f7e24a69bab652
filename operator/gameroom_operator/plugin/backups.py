"""`kubectl gameroom backup NAME`, `backups NAME` and `restore NAME --backup X`.

- backup: a Job from the room's CronJob (`<room>-backup`), exactly as
  `kubectl create job --from=cronjob/<room>-backup` makes it; the operator reads its result
  into status.backup, which this verb waits for.
- backups: the backups the room's destination holds (name, time, size, rows, verified). It
  runs `gameserver list-backups` as a short Job with the CronJob's image, volume and
  credentials (the plugin never talks to a room or a bucket itself), reads its log and
  deletes it.
- restore: sets spec.restore {backupName, requestId} (a new requestId each time unless
  given) and waits for status.restore to answer that requestId.
"""

from __future__ import annotations

import argparse
import copy
import json
import secrets
import time
from typing import Any

from .cli import Context, UsageError, add_room_verb, poll, wait_and_emit
from .client import ROOM_RESOURCE, Kube, PluginError
from .output import age, headed, table

MANAGER = "kubectl-gameroom"
DESTINATION_FLAGS = ("--destination", "--s3-endpoint", "--s3-region")


def register(subparsers: Any) -> None:
    add_room_verb(
        subparsers,
        "backup",
        help="take a backup now (a Job from the room's backup CronJob) and wait for its result",
        run=run_backup,
        timeout=300.0,
        timeout_help="default 5m",
        no_wait="return once the Job exists",
    )
    add_room_verb(
        subparsers,
        "backups",
        help="list the backups the room's destination holds (a short Job reads it)",
        run=run_backups,
        timeout=120.0,
        timeout_help="default 2m",
    )
    restore = add_room_verb(
        subparsers,
        "restore",
        help="restore the room in place from one of its backups (spec.restore)",
        run=run_restore,
        timeout=600.0,
        timeout_help="default 10m",
        no_wait="return once the spec is set",
    )
    restore.add_argument("--backup", required=True, help="backup-YYYYmmdd-HHMMSS.sql, or latest")
    restore.add_argument(
        "--request-id", help="names this restore (default: a new one, so it always runs)"
    )


def _stamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S", time.gmtime())


def _cronjob(kube: Kube, name: str) -> dict[str, Any]:
    cronjob = kube.maybe("cronjob", f"{name}-backup")
    if cronjob is None:
        kube.room(name)  # a missing room says so
        raise PluginError(
            f"gameroom {name} has no backup CronJob {name}-backup: set spec.backup.enabled: true"
        )
    return cronjob


# ---- backup -----------------------------------------------------------------------------


def run_backup(args: argparse.Namespace, ctx: Context) -> int:
    kube = ctx.kube
    _cronjob(kube, args.name)
    job = f"{args.name}-backup-{_stamp()}-{secrets.token_hex(2)}"
    kube.run("create", "job", f"--from=cronjob/{args.name}-backup", job)
    result: dict[str, Any] = {"room": args.name, "job": job, "result": None}
    found = wait_and_emit(
        ctx,
        args,
        result,
        "result",
        lambda: _backup_result(kube, args.name, job),
        _backup_human,
        f"Job {job} gave no result",
    )
    if found is not None and not found.get("succeeded"):
        raise PluginError(f"backup Job {job} failed: {found.get('reason')}")
    return 0


def _backup_result(kube: Kube, name: str, job: str) -> dict[str, Any] | None:
    backup = (kube.room(name).get("status") or {}).get("backup") or {}
    good = backup.get("lastSuccessful") or {}
    if good.get("job") == job:
        return {"succeeded": True, **good}
    bad = backup.get("lastFailure") or {}
    if bad.get("job") == job:
        return {"succeeded": False, **bad}
    return None


def _backup_human(data: dict[str, Any]) -> str:
    result = data.get("result")
    if result is None:
        return f"job.batch/{data['job']} created"
    if not result.get("succeeded"):
        return f"job.batch/{data['job']} failed: {result.get('reason')}"
    return headed(
        f"gameroom {data['room']}: backed up by job.batch/{data['job']}",
        [
            ("Name", result.get("name")),
            ("Time", result.get("time")),
            ("Size", result.get("sizeBytes")),
            ("Rows", result.get("rows")),
            ("Verified", result.get("verified")),
            ("SHA-256", result.get("sha256")),
        ],
    )


# ---- backups ----------------------------------------------------------------------------


def list_job(cronjob: dict[str, Any], name: str) -> dict[str, Any]:
    """A Job that runs `gameserver list-backups` with the CronJob's image, destination
    flags, volumes and credentials; not the operator's (no owner, other labels)."""
    meta = cronjob["metadata"]
    template = copy.deepcopy(cronjob["spec"]["jobTemplate"]["spec"]["template"])
    container = template["spec"]["containers"][0]
    given = list(container.get("args") or [])
    args = ["list-backups"]
    for flag in DESTINATION_FLAGS:
        if flag in given and given.index(flag) + 1 < len(given):
            args += [flag, given[given.index(flag) + 1]]
    container["args"] = args
    room = (meta.get("labels") or {}).get("drawgame.dev/room", "")
    labels = {
        "app.kubernetes.io/name": "gameroom",
        "app.kubernetes.io/component": "list-backups",
        "app.kubernetes.io/managed-by": MANAGER,
        "drawgame.dev/backups-of": room,
    }
    template["metadata"] = {"labels": labels}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": meta["namespace"], "labels": labels},
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": 300,
            "ttlSecondsAfterFinished": 300,
            "template": template,
        },
    }


def run_backups(args: argparse.Namespace, ctx: Context) -> int:
    kube = ctx.kube
    cronjob = _cronjob(kube, args.name)
    name = f"{args.name}-list-{_stamp()}-{secrets.token_hex(2)}"
    kube.run("create", "-f", "-", stdin=json.dumps(list_job(cronjob, name)))
    try:
        outcome = poll(lambda: kube.job_outcome(name), args.timeout, interval=0.5)
        if outcome is None:
            raise PluginError(f"Job {name} did not finish within {args.timeout:g}s")
        log = kube.run("logs", f"job/{name}", check=False)
        if outcome != "Complete":
            raise PluginError(f"listing the backups failed: {log.stderr or log.stdout}".strip())
        try:
            backups = json.loads(log.stdout)
        except ValueError as error:
            raise PluginError(f"Job {name} printed no listing: {log.stdout[-500:]}") from error
    finally:
        kube.run("delete", "job", name, "--wait=false", check=False)
    ctx.emit({"room": args.name, "backups": backups}, _backups_human)
    return 0


def _backups_human(data: dict[str, Any]) -> str:
    rows = [
        (b["name"], b["time"], age(b["time"]), b.get("sizeBytes"), b.get("rows"), b["verified"])
        for b in data["backups"]
    ]
    if not rows:
        return f"gameroom {data['room']} has no backups yet"
    return table(("name", "time", "age", "size", "rows", "verified"), rows)


# ---- restore ----------------------------------------------------------------------------


def run_restore(args: argparse.Namespace, ctx: Context) -> int:
    backup = args.backup
    if backup != "latest" and not (backup.startswith("backup-") and backup.endswith(".sql")):
        raise UsageError("--backup is backup-YYYYmmdd-HHMMSS.sql or latest")
    request = args.request_id or f"restore-{_stamp()}-{secrets.token_hex(2)}"
    kube = ctx.kube
    previous = (kube.room(args.name).get("status") or {}).get("restore") or {}
    if previous.get("requestId") == request:
        raise UsageError(
            f"request {request} already ran ({previous.get('phase')}): a requestId runs once"
        )
    # A clone restoring in place later: its fromRoom goes (a restore names one source).
    patch = {"spec": {"restore": {"backupName": backup, "requestId": request, "fromRoom": None}}}
    kube.run("patch", ROOM_RESOURCE, args.name, "--type=merge", "-p", json.dumps(patch))
    result: dict[str, Any] = {"room": args.name, "requestId": request, "restore": None}
    done = wait_and_emit(
        ctx,
        args,
        result,
        "restore",
        lambda: _restored(kube, args.name, request),
        _restore_human,
        f"restore {request} did not finish",
    )
    if done is not None and done.get("phase") != "Succeeded":
        raise PluginError(f"restore {request} failed: {done.get('message')}")
    return 0


def _restored(kube: Kube, name: str, request: str) -> dict[str, Any] | None:
    restore = (kube.room(name).get("status") or {}).get("restore") or {}
    if restore.get("requestId") == request and restore.get("phase") in ("Succeeded", "Failed"):
        return dict(restore)
    return None


def _restore_human(data: dict[str, Any]) -> str:
    restore = data.get("restore")
    if restore is None:
        return f"gameroom {data['room']}: restore {data['requestId']} asked for"
    return headed(
        f"gameroom {data['room']}: restore {data['requestId']} {restore.get('phase')}",
        [
            ("Backup", restore.get("backupName")),
            ("Rows", restore.get("rows")),
            ("Job", restore.get("job")),
            ("Message", restore.get("message")),
        ],
    )
