"""ReplicaSet controller: keeps the number of active Pods at spec.replicas."""

from __future__ import annotations

import time
from typing import Any

import structlog

from kubesandbox.controllers.client import PODS, REPLICASETS, ApiTransport, Informer, WorkQueue
from kubesandbox.controllers.common import (
    Obj,
    is_terminating,
    owner_ref,
    parse_time,
    pod_is_active,
    pod_is_available,
    pod_is_ready,
    selector_matches,
    utcnow,
)
from kubesandbox.controllers.events import EventRecorder
from kubesandbox.controllers.owners import OwnerIndex

log = structlog.get_logger("kubesandbox.replicaset")
Key = tuple[str, str]
BURST = 500


def pod_from_template(owner: Obj, template: Obj, name_prefix: str) -> Obj:
    """A Pod for the template. Its labels, annotations and spec are the template's own
    (read-only: the API server copies a body it is given, nothing here writes into it)."""
    meta = template.get("metadata") or {}
    pod_meta: Obj = {
        "generateName": f"{name_prefix}-",
        "namespace": owner["metadata"].get("namespace", "default"),
        "labels": meta.get("labels") or {},
        "ownerReferences": [owner_ref(owner)],
    }
    if meta.get("annotations"):
        pod_meta["annotations"] = meta["annotations"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": pod_meta,
        "spec": template.get("spec") or {},
    }


def deletion_rank(pod: Obj) -> tuple[int, int, int, float]:
    """Pods to remove first: unscheduled, pending, not ready, then the newest."""
    status = pod.get("status") or {}
    created = parse_time(pod["metadata"].get("creationTimestamp"))
    phase_rank = {"Pending": 0, "Unknown": 1, "Running": 2}.get(status.get("phase", ""), 0)
    return (
        0 if status.get("podIP") else -1,
        phase_rank,
        1 if pod_is_ready(pod) else 0,
        -created.timestamp() if created else 0.0,  # the newest first
    )


class Expectations:
    """Creates/deletes issued but not yet seen in the cache (as kube's ControllerExpectations)."""

    def __init__(self, ttl: float = 5.0) -> None:
        self.ttl = ttl
        self._pending: dict[str, tuple[set[str], int, float]] = {}

    def expect(self, uid: str, deletes: set[str], creates: int) -> None:
        self._pending[uid] = (set(deletes), creates, time.monotonic())

    def created(self, uid: str) -> None:
        entry = self._pending.get(uid)
        if entry:
            dels, adds, at = entry
            self._pending[uid] = (dels, max(0, adds - 1), at)

    def deleted(self, uid: str, name: str) -> None:
        entry = self._pending.get(uid)
        if entry:
            entry[0].discard(name)

    def satisfied(self, uid: str) -> bool:
        entry = self._pending.get(uid)
        if entry is None:
            return True
        dels, adds, at = entry
        if (not dels and adds <= 0) or time.monotonic() - at > self.ttl:
            self._pending.pop(uid, None)
            return True
        return False


class ReplicaSetController:
    def __init__(
        self, client: ApiTransport, replicasets: Informer, pods: Informer, recorder: EventRecorder
    ) -> None:
        self.client = client
        self.replicasets = replicasets
        self.pods = pods
        self.recorder = recorder
        self.queue = WorkQueue("replicaset", self.reconcile, workers=16)
        self.expectations = Expectations()
        self.owners = OwnerIndex()
        replicasets.add_handler(self._on_rs)
        pods.add_handler(self._on_pod)

    def _on_rs(self, kind: str, rs: Obj, old: Obj | None) -> None:
        self.queue.add(self.owners.owner_event(kind, rs))

    def _on_pod(self, kind: str, pod: Obj, old: Obj | None) -> None:
        uid = self.owners.child_event(kind, pod)
        if uid is None:
            return
        name = pod["metadata"]["name"]
        if kind == "DELETED":
            self.expectations.deleted(uid, name)
        else:
            if kind == "ADDED":
                self.expectations.created(uid)
            if is_terminating(pod):
                self.expectations.deleted(uid, name)
        key = self.owners.owner_key(uid)
        if key is not None:
            self.queue.add(key)

    def owned_pods(self, uid: str) -> list[Obj]:
        return self.owners.children(uid, self.pods.cache)

    async def reconcile(self, key: Key) -> float | None:
        rs = self.replicasets.cache.get(key)
        if rs is None or is_terminating(rs):
            return None
        meta = rs["metadata"]
        uid = meta["uid"]
        spec = rs.get("spec") or {}
        pods = self.owned_pods(uid)
        active = [p for p in pods if pod_is_active(p)]
        desired = int(spec.get("replicas", 1))
        if self.expectations.satisfied(uid):
            diff = len(active) - desired
            if diff < 0:
                await self._create(rs, min(-diff, BURST))
            elif diff > 0:
                doomed = sorted(active, key=deletion_rank)[:diff]
                self.expectations.expect(uid, {p["metadata"]["name"] for p in doomed}, 0)
                for pod in doomed:
                    await self.client.delete(PODS.item(key[0], pod["metadata"]["name"]))
                    await self.recorder.record(
                        rs, "Normal", "SuccessfulDelete", f"Deleted pod: {pod['metadata']['name']}"
                    )
        return await self._sync_status(rs, active)

    async def _create(self, rs: Obj, count: int) -> None:
        meta = rs["metadata"]
        self.expectations.expect(meta["uid"], set(), count)
        template = (rs.get("spec") or {}).get("template") or {}
        for _ in range(count):
            body = pod_from_template(rs, template, meta["name"])
            created = await self.client.create(PODS.collection(meta.get("namespace")), body)
            await self.recorder.record(
                rs, "Normal", "SuccessfulCreate", f"Created pod: {created['metadata']['name']}"
            )

    async def _sync_status(self, rs: Obj, active: list[Obj]) -> float | None:
        spec = rs.get("spec") or {}
        min_ready = int(spec.get("minReadySeconds", 0))
        now = utcnow()
        template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        ready = sum(1 for p in active if pod_is_ready(p))
        available = sum(1 for p in active if pod_is_available(p, min_ready, now))
        labelled = sum(
            1
            for p in active
            if selector_matches({"matchLabels": template_labels}, p["metadata"].get("labels") or {})
        )
        status: Obj = {
            "replicas": len(active),
            "fullyLabeledReplicas": labelled,
            "readyReplicas": ready,
            "availableReplicas": available,
            "observedGeneration": rs["metadata"].get("generation", 1),
        }
        old = rs.get("status") or {}
        if any(old.get(k, 0) != v for k, v in status.items()):
            patch: dict[str, Any] = {"status": status}
            meta = rs["metadata"]
            await self.client.patch(
                REPLICASETS.item(meta.get("namespace"), meta["name"], "status"), patch
            )
        if ready > available:
            return float(min_ready) / 2 or 0.5
        return None
