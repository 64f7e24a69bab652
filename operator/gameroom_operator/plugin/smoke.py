"""`kubectl gameroom smoke-test NAME`: the game server's smoke test, run inside the cluster.

It runs `python -m gameserver smoke-test --url <the room's URL>` as a Job with the image the
room runs, so the test goes the way players' traffic goes (the Service, cluster DNS, the
room's NetworkPolicy, which lets anyone reach the game port), needs no port-forward and no
local game server install. The Job's log is the report; its outcome is the exit code.
"""

from __future__ import annotations

import argparse
import json
import re
import secrets
from typing import Any

from .cli import Context, add_room_verb, duration, poll
from .client import Kube, PluginError

RUN_AS = 10001  # the image's user
_CHECK = re.compile(r"^\s+(ok|FAIL|skipped)\s+(\S+)\s+(?:(\d+) ms)?\s*(.*)$")
COMPONENT = "smoke-test"
MANAGER = "kubectl-gameroom"


def register(subparsers: Any) -> None:
    parser = add_room_verb(
        subparsers,
        "smoke-test",
        help="play a short bot session against the room from inside the cluster (a Job)",
        run=run,
        timeout=180.0,
        timeout_help="how long to wait for the Job to finish (default 180s)",
    )
    parser.add_argument(
        "--step-timeout",
        type=duration,
        default=20.0,
        help="bound on each step of the test (default 20s)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the Job (deleted by default)")


def job_manifest(room: dict[str, Any], image: str, step_timeout: float) -> dict[str, Any]:
    name = room["metadata"]["name"]
    url = (room.get("status") or {}).get("url")
    labels = {
        "app.kubernetes.io/name": "gameroom",
        "app.kubernetes.io/component": COMPONENT,
        "app.kubernetes.io/managed-by": MANAGER,
        # Not drawgame.dev/room: the operator must not take it for its own rollout check.
        "drawgame.dev/smoke-test-of": name,
    }
    security = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": RUN_AS,
        "runAsGroup": RUN_AS,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "containers": [
            {
                "name": COMPONENT,
                "image": image,
                "command": ["python", "-m", "gameserver", "smoke-test"],
                "args": ["--url", str(url), "--timeout", f"{step_timeout:g}"],
                "securityContext": security,
                "resources": {
                    "requests": {"cpu": "50m", "memory": "64Mi"},
                    "limits": {"memory": "256Mi"},
                },
                # The read-only root filesystem leaves /tmp as the only place to write.
                "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108
            }
        ],
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "16Mi"}}],
    }
    pull_secrets = (room.get("spec") or {}).get("imagePullSecrets")
    if pull_secrets:
        pod_spec["imagePullSecrets"] = pull_secrets
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": f"{name[:40]}-smoke-{secrets.token_hex(3)}",
            "namespace": room["metadata"]["namespace"],
            "labels": labels,
        },
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": 600,
            # Left behind by an interrupted run, the Job still goes away.
            "ttlSecondsAfterFinished": 3600,
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }


def parse_report(text: str) -> list[dict[str, Any]]:
    checks = []
    for line in text.splitlines():
        found = _CHECK.match(line)
        if found:
            outcome, name, ms, detail = found.groups()
            checks.append(
                {
                    "name": name,
                    "outcome": outcome,
                    "ms": int(ms) if ms else None,
                    "detail": detail.strip(),
                }
            )
    return checks


def _image(kube: Kube, room: dict[str, Any]) -> str:
    """The image the room's Deployment runs (what serves players), else the spec's."""
    deployment = kube.maybe("deployment", room["metadata"]["name"])
    if deployment:
        for container in deployment["spec"]["template"]["spec"].get("containers") or []:
            if container.get("name") == "gameserver":
                return str(container["image"])
    return str(room["spec"]["image"])


def run(args: argparse.Namespace, ctx: Context) -> int:
    kube = ctx.kube
    room = kube.room(args.name)
    if not (room.get("status") or {}).get("url"):
        raise PluginError(f"gameroom {args.name} has no URL yet (phase {_phase(room)})")
    manifest = job_manifest(room, _image(kube, room), args.step_timeout)
    job = manifest["metadata"]["name"]
    kube.run("create", "-f", "-", stdin=json.dumps(manifest))
    why = ""
    try:
        outcome = poll(lambda: kube.job_outcome(job), args.timeout)
        pods = kube.items("pods", "-l", f"job-name={job}")
        text = "".join(kube.run("logs", p["metadata"]["name"], check=False).stdout for p in pods)
        if not text.strip():
            why = _stuck(pods)
    finally:
        if not args.keep:
            kube.run("delete", "job", job, "--wait=false", "--cascade=background", check=False)
    if outcome is None:
        raise PluginError(f"the smoke-test Job {job} did not finish within {args.timeout:g}s{why}")
    if not text.strip():
        raise PluginError(f"the smoke-test Job {job} {outcome.lower()} without a report{why}")
    checks = parse_report(text)
    passed = outcome == "Complete"
    result = {
        "room": args.name,
        "job": job,
        "kept": bool(args.keep),
        "passed": passed,
        "checks": checks,
        "report": text.rstrip("\n"),
    }
    ctx.emit(result, lambda data: f"{data['report']}\n(Job {job}{', kept' if args.keep else ''})")
    return 0 if passed else 1


def _stuck(pods: list[dict[str, Any]]) -> str:
    """Why the Job's container never wrote a report (an image pull error, say)."""
    for pod in pods:
        for container in (pod.get("status") or {}).get("containerStatuses") or []:
            for state in (container.get("state") or {}).values():
                if isinstance(state, dict) and state.get("reason"):
                    detail = state.get("message") or ""
                    return f": {state['reason']}" + (f" ({detail})" if detail else "")
    return ""


def _phase(room: dict[str, Any]) -> str:
    return str((room.get("status") or {}).get("phase") or "Pending")
