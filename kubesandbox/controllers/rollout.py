"""Pure Deployment rollout decisions, following kube-controller-manager's deployment
controller: pod-template-hash, revisions, Recreate and RollingUpdate scaling math,
history cleanup and the Progressing/Available conditions."""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from dataclasses import dataclass, field

from kubesandbox.controllers.common import (
    Obj,
    canonical,
    fmt_time,
    fnv32a,
    parse_time,
    safe_encode,
    set_condition,
)

HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
REVISION_HISTORY = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
# Annotations the deployment controller does not copy from a Deployment to its ReplicaSets.
_SKIPPED_ANNOTATIONS = {
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION,
    REVISION_HISTORY,
    DESIRED_REPLICAS,
    MAX_REPLICAS,
}


def pod_template_hash(template: Obj, collision_count: int = 0) -> str:
    """A stable, label-safe hash of a pod template: 32-bit FNV-1a, safe-encoded, as Kubernetes.

    Kubernetes feeds FNV the Go-printed template; here it is the SHA-256 digest of the
    template's canonical JSON (FNV over the few-KB JSON itself, a byte loop in Python, cost
    more than the rest of creating a ReplicaSet)."""
    data = hashlib.sha256(canonical(_hashless_view(template or {}))).digest()
    if collision_count:
        data += str(collision_count).encode()
    return safe_encode(fnv32a(data))


def _hashless_view(template: Obj) -> Obj:
    """The template without the pod-template-hash label, copying only the path to it."""
    meta = template.get("metadata")
    labels = (meta or {}).get("labels")
    if not labels or HASH_LABEL not in labels:
        return template
    kept = {k: v for k, v in labels.items() if k != HASH_LABEL}
    return {**template, "metadata": {**(meta or {}), "labels": kept}}


def templates_equal(a: Obj, b: Obj) -> bool:
    """Equal apart from the pod-template-hash label (Kubernetes' EqualIgnoreHash).

    A deep comparison of the JSON values, without copying or serializing the templates:
    the Deployment controller asks this for every owned ReplicaSet on every reconcile.
    """
    return _hashless_view(a or {}) == _hashless_view(b or {})


def revision_of(obj: Obj) -> int:
    try:
        return int(((obj.get("metadata") or {}).get("annotations") or {}).get(REVISION, "0"))
    except ValueError:
        return 0


def copyable_annotations(deployment: Obj) -> dict[str, str]:
    annotations = (deployment.get("metadata") or {}).get("annotations") or {}
    return {k: v for k, v in annotations.items() if k not in _SKIPPED_ANNOTATIONS}


def resolve_int_or_percent(value: object, total: int, round_up: bool) -> int:
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    text = str(value)
    if text.endswith("%"):
        fraction = int(text[:-1]) * total / 100
        return math.ceil(fraction) if round_up else math.floor(fraction)
    return int(text)


def surge_and_unavailable(deployment: Obj) -> tuple[int, int]:
    """maxSurge (rounded up) and maxUnavailable (rounded down); both 0 means 1 unavailable."""
    spec = deployment.get("spec") or {}
    desired = int(spec.get("replicas", 1))
    strategy = spec.get("strategy") or {}
    if strategy.get("type") == "Recreate":
        return 0, desired
    rolling = strategy.get("rollingUpdate") or {}
    surge = resolve_int_or_percent(rolling.get("maxSurge", "25%"), desired, True)
    unavailable = resolve_int_or_percent(rolling.get("maxUnavailable", "25%"), desired, False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


@dataclass
class RSView:
    """What the rollout math needs to know about one ReplicaSet."""

    name: str
    replicas: int  # spec.replicas
    available: int = 0  # status.availableReplicas
    ready: int = 0
    actual: int = 0  # status.replicas (pods that exist)
    revision: int = 0
    created: str = ""


@dataclass
class ScalePlan:
    """Target spec.replicas per ReplicaSet name; only changed ones are listed."""

    scale: dict[str, int] = field(default_factory=dict)


def plan_rolling_update(
    desired: int, new: RSView, olds: list[RSView], max_surge: int, max_unavailable: int
) -> ScalePlan:
    plan = ScalePlan()
    all_rs = [new, *olds]
    # Scale up the new ReplicaSet within the surge budget.
    current_total = sum(rs.replicas for rs in all_rs)
    if new.replicas > desired:
        plan.scale[new.name] = desired
        new_target = desired
    elif new.replicas < desired:
        max_total = desired + max_surge
        room = max(0, max_total - current_total)
        new_target = new.replicas + min(room, desired - new.replicas)
        if new_target != new.replicas:
            plan.scale[new.name] = new_target
    else:
        new_target = new.replicas
    # Scale down old ReplicaSets without going below minAvailable.
    old_total = sum(rs.replicas for rs in olds)
    if old_total == 0:
        return plan
    all_pods = sum(rs.replicas for rs in all_rs)
    min_available = desired - max_unavailable
    new_unavailable = max(0, new.replicas - new.available)
    budget = all_pods - min_available - new_unavailable
    if budget <= 0:
        return plan
    # First remove unhealthy old replicas (they do not count as available anyway).
    targets = {rs.name: rs.replicas for rs in olds}
    for rs in sorted(olds, key=lambda r: (r.revision, r.created)):
        if budget <= 0:
            break
        unhealthy = max(0, targets[rs.name] - rs.available)
        cut = min(unhealthy, budget)
        if cut:
            targets[rs.name] -= cut
            budget -= cut
    # Then scale down healthy old replicas while availability stays >= minAvailable.
    total_available = sum(rs.available for rs in all_rs)
    budget = max(0, total_available - min_available)
    for rs in sorted(olds, key=lambda r: (r.revision, r.created)):
        if budget <= 0:
            break
        cut = min(targets[rs.name], budget)
        targets[rs.name] -= cut
        budget -= cut
    for rs in olds:
        if targets[rs.name] != rs.replicas:
            plan.scale[rs.name] = targets[rs.name]
    return plan


def plan_recreate(desired: int, new: RSView, olds: list[RSView], old_pods_exist: bool) -> ScalePlan:
    """Scale every old ReplicaSet to 0, wait until their pods are gone, then scale up."""
    plan = ScalePlan()
    for rs in olds:
        if rs.replicas != 0:
            plan.scale[rs.name] = 0
    if plan.scale or old_pods_exist:
        if new.replicas != 0 and any(rs.replicas or rs.actual for rs in olds):
            plan.scale[new.name] = 0
        return plan
    if new.replicas != desired:
        plan.scale[new.name] = desired
    return plan


def history_to_delete(olds: list[RSView], limit: int | None) -> list[str]:
    """Old ReplicaSets with no replicas beyond revisionHistoryLimit, oldest first."""
    if limit is None:
        limit = 10
    idle = [rs for rs in olds if rs.replicas == 0 and rs.actual == 0]
    idle.sort(key=lambda r: (r.revision, r.created))
    excess = len(idle) - limit
    return [rs.name for rs in idle[:excess]] if excess > 0 else []


def deployment_status(
    deployment: Obj,
    new: RSView | None,
    olds: list[RSView],
    now: dt.datetime,
    *,
    new_rs_created: bool = False,
) -> Obj:
    """The Deployment's status: counts, observedGeneration and conditions."""
    spec = deployment.get("spec") or {}
    old_status = deployment.get("status") or {}
    desired = int(spec.get("replicas", 1))
    all_rs = ([new] if new else []) + olds
    replicas = sum(rs.actual for rs in all_rs)
    updated = new.actual if new else 0
    ready = sum(rs.ready for rs in all_rs)
    available = sum(rs.available for rs in all_rs)
    _, max_unavailable = surge_and_unavailable(deployment)
    stamp = fmt_time(now)
    conditions = [dict(c) for c in old_status.get("conditions") or []]

    min_available = desired - max_unavailable
    if available >= min_available:
        conditions = set_condition(
            conditions,
            {
                "type": "Available",
                "status": "True",
                "reason": "MinimumReplicasAvailable",
                "message": "Deployment has minimum availability.",
                "lastUpdateTime": stamp,
            },
            stamp,
        )
    else:
        conditions = set_condition(
            conditions,
            {
                "type": "Available",
                "status": "False",
                "reason": "MinimumReplicasUnavailable",
                "message": "Deployment does not have minimum availability.",
                "lastUpdateTime": stamp,
            },
            stamp,
        )

    rs_name = new.name if new else ""
    complete = (
        new is not None
        and updated == desired
        and replicas == desired
        and available >= desired
        and new.available >= desired
    )
    progressing = _progressing(old_status, new, updated, available, ready)
    previous = next((c for c in conditions if c.get("type") == "Progressing"), None)
    deadline = spec.get("progressDeadlineSeconds", 600)
    if spec.get("paused"):
        cond = {
            "type": "Progressing",
            "status": "Unknown",
            "reason": "DeploymentPaused",
            "message": "Deployment is paused",
            "lastUpdateTime": stamp,
        }
    elif complete:
        cond = {
            "type": "Progressing",
            "status": "True",
            "reason": "NewReplicaSetAvailable",
            "message": f'ReplicaSet "{rs_name}" has successfully progressed.',
            "lastUpdateTime": (
                previous.get("lastUpdateTime", stamp)
                if previous and previous.get("reason") == "NewReplicaSetAvailable"
                else stamp
            ),
        }
    elif new_rs_created or progressing or previous is None:
        reason = "NewReplicaSetCreated" if new_rs_created else "ReplicaSetUpdated"
        verb = "Created new" if new_rs_created else "is progressing"
        message = (
            f'Created new replica set "{rs_name}"'
            if new_rs_created
            else f'ReplicaSet "{rs_name}" {verb}.'
        )
        cond = {
            "type": "Progressing",
            "status": "True",
            "reason": reason,
            "message": message,
            "lastUpdateTime": stamp,
        }
    else:
        cond = dict(previous)
        last = parse_time(previous.get("lastUpdateTime"))
        if (
            previous.get("reason") != "ProgressDeadlineExceeded"
            and previous.get("reason") != "NewReplicaSetAvailable"
            and last is not None
            and deadline is not None
            and (now - last).total_seconds() > int(deadline)
        ):
            cond = {
                "type": "Progressing",
                "status": "False",
                "reason": "ProgressDeadlineExceeded",
                "message": f'ReplicaSet "{rs_name}" has timed out progressing.',
                "lastUpdateTime": stamp,
            }
        elif previous.get("reason") == "NewReplicaSetAvailable":
            # The rollout finished before but lost pods: progressing again.
            cond = {
                "type": "Progressing",
                "status": "True",
                "reason": "ReplicaSetUpdated",
                "message": f'ReplicaSet "{rs_name}" is progressing.',
                "lastUpdateTime": stamp,
            }
    conditions = set_condition(conditions, cond, stamp)
    status: Obj = {
        "observedGeneration": (deployment.get("metadata") or {}).get("generation", 1),
        "replicas": replicas,
        "updatedReplicas": updated,
        "readyReplicas": ready,
        "availableReplicas": available,
        "unavailableReplicas": max(0, desired - available),
        "conditions": sorted(conditions, key=lambda c: c["type"]),
    }
    if "collisionCount" in old_status:
        status["collisionCount"] = old_status["collisionCount"]
    return status


def _progressing(
    old_status: Obj, new: RSView | None, updated: int, available: int, ready: int
) -> bool:
    """Kubernetes counts progress when the new RS grows or more pods become ready/available."""
    if new is None:
        return False
    return (
        updated > int(old_status.get("updatedReplicas", 0))
        or available > int(old_status.get("availableReplicas", 0))
        or ready > int(old_status.get("readyReplicas", 0))
    )


def next_revision(all_rs: list[RSView]) -> int:
    return max((rs.revision for rs in all_rs), default=0) + 1


def rollout_timeout_remaining(deployment: Obj, now: dt.datetime) -> float | None:
    """Seconds until the progress deadline can expire, for requeueing."""
    spec = deployment.get("spec") or {}
    deadline = spec.get("progressDeadlineSeconds", 600)
    for cond in (deployment.get("status") or {}).get("conditions") or []:
        if cond.get("type") == "Progressing" and cond.get("reason") in (
            "ReplicaSetUpdated",
            "NewReplicaSetCreated",
            "FoundNewReplicaSet",
        ):
            last = parse_time(cond.get("lastUpdateTime"))
            if last is None:
                return None
            return max(0.0, int(deadline) - (now - last).total_seconds()) + 0.5
    return None
