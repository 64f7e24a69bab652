"""`kubectl gameroom report NAME`: an incident bundle (tar.gz), the runbook's "preserve
evidence, timeline of events" in one command.

The bundle holds the room and every child as YAML (Secrets with their values redacted), the
Pods and ReplicaSets, the events as a timeline, each Pod's current and previous logs, the
room's health, the status screen, and the room's ControllerRevisions and Jobs when there are
any. What could not be read is listed in MISSING.txt rather than failing the bundle.
"""

from __future__ import annotations

import argparse
import io
import json
import tarfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import rooms, status
from .cli import Context, add_room_verb
from .client import Kube, PluginError, to_yaml

# Server-side bookkeeping that only makes the YAML longer.
_NOISE = ("managedFields",)


def register(subparsers: Any) -> None:
    parser = add_room_verb(
        subparsers,
        "report",
        help="write an incident bundle (tar.gz): objects, events timeline, logs, health",
        run=run,
    )
    parser.add_argument(
        "-f",
        "--file",
        help="where to write it (default ./gameroom-NAME-YYYYmmddTHHMMSSZ.tar.gz)",
    )


def redact_secret(secret: dict[str, Any]) -> dict[str, Any]:
    """A Secret with every value replaced by its size: a bundle gets shared, tokens must not."""
    clean = dict(secret)
    for field in ("data", "stringData"):
        if isinstance(secret.get(field), dict):
            clean[field] = {
                key: f"<redacted, {len(value or '')} characters>"
                for key, value in secret[field].items()
            }
    annotations = dict((secret.get("metadata") or {}).get("annotations") or {})
    if "kubectl.kubernetes.io/last-applied-configuration" in annotations:
        annotations["kubectl.kubernetes.io/last-applied-configuration"] = "<redacted>"
        clean["metadata"] = {**secret["metadata"], "annotations": annotations}
    return clean


def tidy(obj: dict[str, Any]) -> dict[str, Any]:
    metadata = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _NOISE}
    return {**obj, "metadata": metadata}


def timeline(events: list[dict[str, Any]]) -> str:
    lines = []
    for event in events:
        summary = rooms.event_summary(event)
        count = f" (x{summary['count']})" if summary["count"] > 1 else ""
        lines.append(
            f"{summary['time']}  {summary['type'] or '-':7}  {summary['reason']:<22} "
            f"{summary['object']:<40} {summary['message']}{count}"
        )
    return "\n".join(lines) + "\n"


class Bundle:
    """The members of the tar.gz, collected in memory, and what could not be read."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.files: dict[str, bytes] = {}
        self.missing: list[str] = []
        self._lock = threading.Lock()

    def add(self, path: str, content: str) -> None:
        with self._lock:
            self.files[f"{self.root}/{path}"] = content.encode()

    def attempt(self, what: str, action: Any) -> Any:
        try:
            return action()
        except PluginError as error:
            with self._lock:
                self.missing.append(f"{what}: {error}")
            return None

    def write(self, target: Path) -> None:
        now = time.time()
        with tarfile.open(target, "w:gz") as archive:
            for path, content in self.files.items():
                info = tarfile.TarInfo(path)
                info.size = len(content)
                info.mtime = int(now)
                info.mode = 0o644
                archive.addfile(info, io.BytesIO(content))


def _children(kube: Kube, name: str, bundle: Bundle) -> list[dict[str, Any]]:
    """Every child in one kubectl call; kind by kind when one kind may not be listed."""
    selector = f"{rooms.ROOM_LABEL}={name}"
    try:
        return kube.items(",".join(rooms.CHILD_KINDS), "-l", selector)
    except PluginError:
        found: list[dict[str, Any]] = []
        for kind in rooms.CHILD_KINDS:
            found += bundle.attempt(kind, lambda k=kind: kube.items(k, "-l", selector)) or []
        return found


def _owned(kube: Kube, uid: str) -> list[dict[str, Any]]:
    """Revisions (rollouts) and Jobs (backups, restores) the room owns, whatever their labels."""
    items = kube.items("controllerrevisions,jobs")
    return [
        item
        for item in items
        if any(o.get("uid") == uid for o in item["metadata"].get("ownerReferences") or [])
    ]


def _folder(obj: dict[str, Any]) -> str:
    """The kind's plural, as kubectl names resources: networkpolicies, ingresses."""
    kind = str(obj["kind"]).lower()
    if kind.endswith("y"):
        return f"{kind[:-1]}ies"
    return f"{kind}es" if kind.endswith("s") else f"{kind}s"


def _logs(kube: Kube, pod: dict[str, Any], bundle: Bundle) -> None:
    pod_name = pod["metadata"]["name"]
    restarts = sum(
        int(c.get("restartCount") or 0)
        for c in (pod.get("status") or {}).get("containerStatuses") or []
    )
    for previous in (False, True) if restarts else (False,):
        args = ["logs", pod_name, "--all-containers"] + (["--previous"] if previous else [])
        text = bundle.attempt(
            f"logs of {pod_name}{' (previous)' if previous else ''}",
            lambda a=args: kube.run(*a, timeout=300).stdout,
        )
        if text is not None:
            bundle.add(f"logs/{pod_name}{'.previous' if previous else ''}.log", text)


def collect(kube: Kube, name: str, bundle: Bundle) -> dict[str, Any]:
    room = kube.room(name)  # the one part without which there is no report
    uid = room["metadata"]["uid"]
    bundle.add("gameroom.yaml", to_yaml(tidy(room)))
    bundle.add("health.json", json.dumps((room.get("status") or {}).get("health") or {}, indent=2))
    # Each part is a kubectl call or two; taken side by side, the bundle takes the time of
    # the slowest part rather than of all of them.
    with ThreadPoolExecutor(max_workers=6) as pool:
        parts = {
            "children": pool.submit(
                bundle.attempt, "children", lambda: _children(kube, name, bundle)
            ),
            "pods": pool.submit(bundle.attempt, "pods", lambda: rooms.pods(kube, name)),
            "replicasets": pool.submit(
                bundle.attempt,
                "replicasets",
                lambda: kube.items("replicasets", "-l", f"{rooms.INSTANCE_LABEL}={name}"),
            ),
            "owned": pool.submit(bundle.attempt, "revisions and jobs", lambda: _owned(kube, uid)),
            "events": pool.submit(
                bundle.attempt, "events", lambda: rooms.related_events(kube, name)
            ),
            "status": pool.submit(bundle.attempt, "status", lambda: status.collect(kube, name)),
        }
        pods = parts["pods"].result() or []
        log_jobs = [pool.submit(_logs, kube, pod, bundle) for pod in pods]
        for item in parts["children"].result() or []:
            if item["kind"] == "Secret":
                item = redact_secret(item)
            bundle.add(
                f"children/{_folder(item)}/{item['metadata']['name']}.yaml", to_yaml(tidy(item))
            )
        for pod in pods:
            bundle.add(f"pods/{pod['metadata']['name']}.yaml", to_yaml(tidy(pod)))
        for item in parts["replicasets"].result() or []:
            bundle.add(f"replicasets/{item['metadata']['name']}.yaml", to_yaml(tidy(item)))
        for item in parts["owned"].result() or []:
            bundle.add(f"{_folder(item)}/{item['metadata']['name']}.yaml", to_yaml(tidy(item)))
        events = parts["events"].result()
        if events is not None:
            bundle.add("events.txt", timeline(events))
            bundle.add("events.yaml", to_yaml([tidy(e) for e in events]))
        screen = parts["status"].result()
        if screen is not None:
            bundle.add("status.txt", status.human(screen) + "\n")
        for job in log_jobs:
            job.result()
    return room


def run(args: argparse.Namespace, ctx: Context) -> int:
    kube = ctx.kube
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    root = f"gameroom-{args.name}-{stamp}"
    target = Path(args.file or f"{root}.tar.gz")
    bundle = Bundle(root)
    room = collect(kube, args.name, bundle)
    bundle.add(
        "README.txt",
        f"Incident bundle of gameroom {room['metadata'].get('namespace')}/{args.name}, "
        f"taken {stamp} by kubectl gameroom report.\n"
        "events.txt is the timeline (oldest first); logs/ holds each Pod's current and, after "
        "a restart, previous logs; Secrets' values are redacted.\n",
    )
    if bundle.missing:
        bundle.add("MISSING.txt", "\n".join(bundle.missing) + "\n")
    try:
        bundle.write(target)
    except OSError as error:
        raise PluginError(f"cannot write {target}: {error}") from error
    result = {
        "room": args.name,
        "file": str(target),
        "bytes": target.stat().st_size,
        "members": sorted(bundle.files),
        "missing": bundle.missing,
    }
    ctx.emit(result, _human)
    return 0


def _human(data: dict[str, Any]) -> str:
    lines = [
        f"wrote {data['file']} ({data['bytes']} bytes, {len(data['members'])} files)",
        *(f"  {member}" for member in data["members"]),
    ]
    if data["missing"]:
        lines.append("could not collect (see MISSING.txt):")
        lines += [f"  {item}" for item in data["missing"]]
    return "\n".join(lines)
