"""`kubectl gameroom history|rollback|rollout`: a room's revisions, going back to one, and
applying a waiting update now.

The revisions are the room's ControllerRevisions (the operator's rollout concern writes
them); a rollback patches the room's spec back to a revision's image and settings, so the
spec stays the source of truth, and records why in `kubernetes.io/change-cause`.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

from ..rollout import (
    CHANGE_CAUSE,
    OUTCOME_ANNOTATION,
    OUTCOME_REASON_ANNOTATION,
    REVISION_LABEL,
    ROLLOUT_NOW_ANNOTATION,
    ROLLOUT_RETRY_ANNOTATION,
    SETTINGS_SECTIONS,
    WAITING_FOR_WINDOW,
)
from .cli import Context, UsageError, add_verb
from .client import Kube, PluginError
from .output import age, fields, table


def register(subparsers: Any) -> None:
    history = add_verb(
        subparsers,
        "history",
        help="list the room's revisions: image, settings, outcome, change-cause",
        run=run_history,
    )
    history.add_argument("name", help="the GameRoom's name")
    rollback = add_verb(
        subparsers,
        "rollback",
        help="patch the room's spec back to an earlier revision (the last good one by default)",
        run=run_rollback,
    )
    rollback.add_argument("name", help="the GameRoom's name")
    rollback.add_argument(
        "--to-revision", type=int, default=0, help="the revision to go back to (see history)"
    )
    rollout = add_verb(
        subparsers,
        "rollout",
        help="apply a waiting update now (--now), or roll a rolled-back revision out again "
        "(--retry)",
        run=run_rollout,
    )
    rollout.add_argument("name", help="the GameRoom's name")
    how = rollout.add_mutually_exclusive_group(required=True)
    how.add_argument(
        "--now",
        action="store_true",
        help="do not wait for the turn to end or for the maintenance window (spec.rollout.window)",
    )
    how.add_argument(
        "--retry",
        action="store_true",
        help="roll the revision that was rolled back (or halted) out again, though the spec did "
        "not change: verified as before, rolled back again if it fails",
    )


def revisions(kube: Kube, name: str) -> list[dict[str, Any]]:
    """The room's revisions, oldest first, as history shows them."""
    items = kube.items("controllerrevisions", "-l", f"{REVISION_LABEL}={name}")
    shown = []
    for item in sorted(items, key=lambda r: int(r.get("revision") or 0)):
        meta = item.get("metadata") or {}
        annotations = meta.get("annotations") or {}
        data = item.get("data") or {}
        shown.append(
            {
                "revision": int(item.get("revision") or 0),
                "image": data.get("image", ""),
                "settingsHash": data.get("settingsHash", ""),
                "settings": data.get("settings") or {},
                "liveSettings": data.get("liveSettings") is True,
                "outcome": annotations.get(OUTCOME_ANNOTATION, ""),
                "reason": annotations.get(OUTCOME_REASON_ANNOTATION, ""),
                "changeCause": annotations.get(CHANGE_CAUSE, ""),
                "created": data.get("created") or meta.get("creationTimestamp", ""),
                "name": meta.get("name", ""),
            }
        )
    return shown


def run_history(args: argparse.Namespace, ctx: Context) -> int:
    room = ctx.kube.room(args.name)
    rollout = (room.get("status") or {}).get("rollout") or {}
    data = {
        "room": args.name,
        "rollout": rollout,
        "revisions": revisions(ctx.kube, args.name),
    }
    ctx.emit(data, _history_human)
    return 0


def _history_human(data: dict[str, Any]) -> str:
    rollout = data["rollout"]
    current, update = rollout.get("currentRevision"), rollout.get("updateRevision")
    rows = []
    for revision in data["revisions"]:
        mark = " ".join(
            m
            for m, on in (
                ("current", revision["revision"] == current),
                ("update", revision["revision"] == update and update != current),
            )
            if on
        )
        rows.append(
            (
                revision["revision"],
                revision["image"],
                revision["settingsHash"],
                revision["outcome"] or "-",
                revision["reason"],
                revision["changeCause"],
                age(revision["created"]),
                mark,
            )
        )
    head = fields(
        [
            ("Rollout", rollout.get("phase", "")),
            ("Reason", rollout.get("reason", "")),
            ("Message", rollout.get("message", "")),
        ]
    )
    listing = table(
        ("revision", "image", "settings", "outcome", "reason", "change-cause", "age", ""), rows
    )
    return f"{head}\n\n{listing}" if head else listing


def run_rollback(args: argparse.Namespace, ctx: Context) -> int:
    kube = ctx.kube
    room = kube.room(args.name)
    known = revisions(kube, args.name)
    if not known:
        raise PluginError(f"gameroom {args.name} has no revisions yet")
    rollout = (room.get("status") or {}).get("rollout") or {}
    number = args.to_revision or _last_good(known, rollout)
    if not number:
        raise PluginError(f"gameroom {args.name} has no earlier Succeeded revision to go back to")
    target = next((r for r in known if r["revision"] == number), None)
    if target is None:
        listed = ", ".join(str(r["revision"]) for r in known)
        raise UsageError(f"gameroom {args.name} has no revision {number} (it has {listed})")
    cause = f"kubectl gameroom rollback --to-revision {number}"
    patch = rollback_patch(room.get("spec") or {}, target, cause)
    kube.run("patch", "gameroom", args.name, "--type=merge", "-p", json.dumps(patch))
    result = {
        "room": args.name,
        "toRevision": number,
        "image": target["image"],
        "settingsHash": target["settingsHash"],
        "changeCause": cause,
    }
    ctx.emit(result, _rollback_human)
    return 0


def _last_good(known: list[dict[str, Any]], rollout: dict[str, Any]) -> int:
    """The revision a bare `rollback` goes to: the newest Succeeded one other than what
    the spec asks for now."""
    asked = rollout.get("updateRevision")
    good = [r["revision"] for r in known if r["outcome"] == "Succeeded" and r["revision"] != asked]
    return max(good, default=0)


def rollback_patch(spec: dict[str, Any], target: dict[str, Any], cause: str) -> dict[str, Any]:
    """A merge patch that makes the spec ask for the target revision: its image and its
    settings sections as they were (keys added since are removed). A revision made with
    spec.rollout.liveSettings holds no settings: they are live, the spec's stay."""
    patch_spec: dict[str, Any] = {"image": target["image"]}
    live = bool(target.get("liveSettings"))
    if bool((spec.get("rollout") or {}).get("liveSettings")) != live:
        patch_spec["rollout"] = {"liveSettings": live}
    settings = target["settings"]
    for section in SETTINGS_SECTIONS if not live else ():
        now = spec.get(section) or {}
        then = settings.get(section)
        if then is None:
            patch_spec[section] = None
        else:
            patch_spec[section] = {**{k: None for k in now if k not in then}, **then}
    return {"metadata": {"annotations": {CHANGE_CAUSE: cause}}, "spec": patch_spec}


def _rollback_human(data: dict[str, Any]) -> str:
    return (
        f"gameroom {data['room']} spec patched back to revision {data['toRevision']} "
        f"(image {data['image']}, settings {data['settingsHash']}); the operator rolls it "
        f"out. Follow with: kubectl gameroom history {data['room']}"
    )


def run_rollout(args: argparse.Namespace, ctx: Context) -> int:
    kube = ctx.kube
    room = kube.room(args.name)
    rollout = (room.get("status") or {}).get("rollout") or {}
    if args.retry:
        return _retry(args, ctx, rollout)
    phase = rollout.get("phase")
    if phase in ("RolledBack", "Failed"):
        # As Argo Rollouts: a revision that failed is not retried until the spec changes;
        # --now is for an update that waits, a retry is asked for by its own name.
        done = "was rolled back" if phase == "RolledBack" else "failed and was halted"
        raise PluginError(
            f"gameroom {args.name}: revision {rollout.get('updateRevision')} {done} "
            f"({rollout.get('reason') or 'no reason'}) and is not retried until the spec "
            f"changes; nothing waits to be applied now. To try it again as it is: kubectl "
            f"gameroom rollout {args.name} --retry; or fix the spec (a new revision)"
        )
    if phase != "Waiting":
        raise PluginError(
            f"gameroom {args.name} has no update waiting (rollout phase "
            f"{phase or 'unknown'}): nothing to apply now"
        )
    asked = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    kube.run("annotate", "gameroom", args.name, f"{ROLLOUT_NOW_ANNOTATION}={asked}", "--overwrite")
    waited_for = (
        "the maintenance window"
        if rollout.get("reason") == WAITING_FOR_WINDOW
        else "the turn to end"
    )
    result = {
        "room": args.name,
        "revision": rollout.get("updateRevision"),
        "asked": asked,
        "waitedFor": rollout.get("reason") or "",
    }
    ctx.emit(
        result,
        lambda d: (
            f"gameroom {d['room']}: revision {d['revision']} is applied now, without waiting "
            f"for {waited_for} (players are told first)."
        ),
    )
    return 0


def _retry(args: argparse.Namespace, ctx: Context, rollout: dict[str, Any]) -> int:
    phase = rollout.get("phase")
    if phase not in ("RolledBack", "Failed"):
        raise PluginError(
            f"gameroom {args.name} has no rolled-back or halted revision to retry (rollout "
            f"phase {phase or 'unknown'})"
        )
    asked = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    ctx.kube.run(
        "annotate", "gameroom", args.name, f"{ROLLOUT_RETRY_ANNOTATION}={asked}", "--overwrite"
    )
    result = {
        "room": args.name,
        "revision": rollout.get("updateRevision"),
        "was": phase,
        "reason": rollout.get("reason") or "",
        "asked": asked,
    }
    ctx.emit(
        result,
        lambda d: (
            f"gameroom {d['room']}: revision {d['revision']} ({d['was']}: {d['reason']}) is "
            "rolled out again, as a new update would be (WaitForIdle and the maintenance "
            "window apply; rollout --now skips them); it is verified and rolled back again if "
            f"it fails. Follow with: kubectl gameroom history {d['room']}"
        ),
    )
    return 0
