"""Deployment controller: ReplicaSets per pod template, rollouts, history and status."""

from __future__ import annotations

from typing import Any

import structlog

from kubesandbox.controllers.client import (
    DEPLOYMENTS,
    REPLICASETS,
    ApiError,
    ApiTransport,
    Informer,
    WorkQueue,
)
from kubesandbox.controllers.common import (
    Obj,
    controller_uid,
    is_terminating,
    owner_ref,
    utcnow,
)
from kubesandbox.controllers.events import EventRecorder
from kubesandbox.controllers.owners import OwnerIndex
from kubesandbox.controllers.rollout import (
    DESIRED_REPLICAS,
    HASH_LABEL,
    MAX_REPLICAS,
    REVISION,
    REVISION_HISTORY,
    RSView,
    ScalePlan,
    copyable_annotations,
    deployment_status,
    history_to_delete,
    next_revision,
    plan_recreate,
    plan_rolling_update,
    pod_template_hash,
    revision_of,
    rollout_timeout_remaining,
    surge_and_unavailable,
    templates_equal,
)

log = structlog.get_logger("kubesandbox.deployment")
Key = tuple[str, str]


def rs_view(rs: Obj) -> RSView:
    status = rs.get("status") or {}
    return RSView(
        name=rs["metadata"]["name"],
        replicas=int((rs.get("spec") or {}).get("replicas", 0)),
        available=int(status.get("availableReplicas", 0)),
        ready=int(status.get("readyReplicas", 0)),
        actual=int(status.get("replicas", 0)),
        revision=revision_of(rs),
        created=rs["metadata"].get("creationTimestamp", ""),
    )


def new_replicaset(deployment: Obj, revision: int, replicas: int, collision: int = 0) -> Obj:
    meta = deployment["metadata"]
    spec = deployment.get("spec") or {}
    # New dicts only along the paths that change; the rest is shared with the Deployment
    # (read-only here: the API server copies the body it is given).
    source = spec.get("template") or {}
    hash_ = pod_template_hash(source, collision)
    tmeta = {**(source.get("metadata") or {})}
    tmeta["labels"] = {**(tmeta.get("labels") or {}), HASH_LABEL: hash_}
    template = {**source, "metadata": tmeta}
    selector = {**(spec.get("selector") or {})}
    selector["matchLabels"] = {**(selector.get("matchLabels") or {}), HASH_LABEL: hash_}
    surge, _ = surge_and_unavailable(deployment)
    desired = int(spec.get("replicas", 1))
    annotations = copyable_annotations(deployment)
    annotations[REVISION] = str(revision)
    annotations[DESIRED_REPLICAS] = str(desired)
    annotations[MAX_REPLICAS] = str(desired + surge)
    rs_spec: Obj = {"replicas": replicas, "selector": selector, "template": template}
    if spec.get("minReadySeconds"):
        rs_spec["minReadySeconds"] = spec["minReadySeconds"]
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": f"{meta['name']}-{hash_}",
            "namespace": meta.get("namespace", "default"),
            "labels": dict(tmeta["labels"]),
            "annotations": annotations,
            "ownerReferences": [owner_ref(deployment)],
        },
        "spec": rs_spec,
    }


class DeploymentController:
    def __init__(
        self,
        client: ApiTransport,
        deployments: Informer,
        replicasets: Informer,
        pods: Informer,
        recorder: EventRecorder,
    ) -> None:
        self.client = client
        self.deployments = deployments
        self.replicasets = replicasets
        self.pods = pods
        self.recorder = recorder
        self.queue = WorkQueue("deployment", self.reconcile, workers=16)
        self.owners = OwnerIndex(track_child_uids=True)  # also rs uid -> deployment uid
        self.pod_owners = OwnerIndex()  # rs uid -> its pods, for Recreate's "old pods gone?"
        # templates_equal outcomes by the identity of the two templates (both held, so an
        # id is not reused while its entry lives): cached objects are never changed in
        # place, and a ReplicaSet's or Deployment's template stays the same dict across
        # versions that do not touch it, so most reconciles compare nothing.
        self._same_template: dict[tuple[int, int], tuple[Obj, Obj, bool]] = {}
        deployments.add_handler(self._on_deployment)
        replicasets.add_handler(self._on_rs)
        pods.add_handler(self._on_pod)

    def _on_deployment(self, kind: str, obj: Obj, old: Obj | None) -> None:
        self.queue.add(self.owners.owner_event(kind, obj))

    def _on_rs(self, kind: str, rs: Obj, old: Obj | None) -> None:
        uid = self.owners.child_event(kind, rs)
        if uid is None:
            return
        key = self.owners.owner_key(uid)
        if key is not None:
            self.queue.add(key)

    def _on_pod(self, kind: str, pod: Obj, old: Obj | None) -> None:
        rs_uid = self.pod_owners.child_event(kind, pod)
        # Recreate waits for old pods to be gone: a pod deletion may unblock a rollout.
        if kind != "DELETED" or rs_uid is None:
            return
        owner = self.owners.owner_of_child(rs_uid)
        key = self.owners.owner_key(owner)
        if key is not None:
            self.queue.add(key)

    def _templates_equal(self, rs_template: Obj, template: Obj) -> bool:
        key = (id(rs_template), id(template))
        seen = self._same_template.get(key)
        if seen is not None and seen[0] is rs_template and seen[1] is template:
            return seen[2]
        same = templates_equal(rs_template, template)
        if len(self._same_template) >= 8192:
            self._same_template.clear()
        self._same_template[key] = (rs_template, template, same)
        return same

    def owned_replicasets(self, uid: str) -> list[Obj]:
        return self.owners.children(uid, self.replicasets.cache)

    async def reconcile(self, key: Key) -> float | None:
        deployment = self.deployments.cache.get(key)
        if deployment is None or is_terminating(deployment):
            return None
        meta = deployment["metadata"]
        spec = deployment.get("spec") or {}
        namespace = meta.get("namespace", "default")
        desired = int(spec.get("replicas", 1))
        template = spec.get("template") or {}
        all_rs = self.owned_replicasets(meta["uid"])
        new_rs = next(
            (
                rs
                for rs in all_rs
                if self._templates_equal((rs.get("spec") or {}).get("template") or {}, template)
            ),
            None,
        )
        olds = [rs for rs in all_rs if rs is not new_rs]
        old_views = [rs_view(rs) for rs in olds]
        created = False
        if spec.get("paused"):
            return await self._sync_status(deployment, new_rs, olds, created)

        if new_rs is None:
            revision = next_revision(old_views)
            if spec.get("strategy", {}).get("type") == "Recreate":
                old_pods = any(v.replicas or v.actual for v in old_views)
                initial = 0 if old_pods else desired
            else:
                surge, unavailable = surge_and_unavailable(deployment)
                probe = RSView(name="", replicas=0)
                plan = plan_rolling_update(desired, probe, old_views, surge, unavailable)
                initial = plan.scale.get("", 0)
            new_rs = await self._create_rs(deployment, revision, initial)
            if new_rs is None:
                return 0.5
            created = True
            if initial:
                await self.recorder.record(
                    deployment,
                    "Normal",
                    "ScalingReplicaSet",
                    f"Scaled up replica set {new_rs['metadata']['name']} from 0 to {initial}",
                )
        else:
            new_rs = await self._ensure_revision(deployment, new_rs, old_views)

        new_view = rs_view(new_rs)
        strategy = (spec.get("strategy") or {}).get("type", "RollingUpdate")
        if strategy == "Recreate":
            old_pods_exist = any(v.actual > 0 for v in old_views) or self._old_pods_exist(olds)
            plan = plan_recreate(desired, new_view, old_views, old_pods_exist)
        else:
            surge, unavailable = surge_and_unavailable(deployment)
            plan = plan_rolling_update(desired, new_view, old_views, surge, unavailable)
        scaled = await self._apply(deployment, plan, [new_rs, *olds])
        new_rs = scaled.get(new_rs["metadata"]["name"], new_rs)
        olds = [scaled.get(rs["metadata"]["name"], rs) for rs in olds]

        limit = spec.get("revisionHistoryLimit")
        for name in history_to_delete(old_views, None if limit is None else int(limit)):
            await self.client.delete(REPLICASETS.item(namespace, name))

        if meta.get("annotations", {}).get(REVISION) != str(revision_of(new_rs)):
            await self.client.patch(
                DEPLOYMENTS.item(namespace, meta["name"]),
                {"metadata": {"annotations": {REVISION: str(revision_of(new_rs))}}},
            )
        return await self._sync_status(deployment, new_rs, olds, created)

    def _old_pods_exist(self, olds: list[Obj]) -> bool:
        cache = self.pods.cache
        return any(self.pod_owners.children(rs["metadata"]["uid"], cache) for rs in olds)

    async def _create_rs(self, deployment: Obj, revision: int, replicas: int) -> Obj | None:
        namespace = deployment["metadata"].get("namespace", "default")
        collision = int((deployment.get("status") or {}).get("collisionCount", 0))
        body = new_replicaset(deployment, revision, replicas, collision)
        try:
            created: Obj = await self.client.create(REPLICASETS.collection(namespace), body)
        except ApiError as exc:
            if exc.status != 409:
                raise
            existing = await self.client.get(REPLICASETS.item(namespace, body["metadata"]["name"]))
            if existing is not None and controller_uid(existing) == deployment["metadata"]["uid"]:
                return existing
            # A hash collision with someone else's ReplicaSet: bump collisionCount and retry.
            await self.client.patch(
                DEPLOYMENTS.item(namespace, deployment["metadata"]["name"], "status"),
                {"status": {"collisionCount": collision + 1}},
            )
            return None
        return created

    async def _ensure_revision(self, deployment: Obj, new_rs: Obj, old_views: list[RSView]) -> Obj:
        """A rollback makes an old ReplicaSet new again: it gets the next revision.

        Returns the new ReplicaSet as it is now (the cached object is never changed: it is
        shared with the informer, and in process with the API server's store)."""
        current = revision_of(new_rs)
        highest = max((v.revision for v in old_views), default=0)
        if current > highest:
            # Annotations (e.g. kubernetes.io/change-cause) follow the Deployment to its new RS.
            wanted = copyable_annotations(deployment)
            have = new_rs["metadata"].get("annotations") or {}
            if any(have.get(k) != v for k, v in wanted.items()):
                updated = await self.client.patch(
                    REPLICASETS.item(
                        new_rs["metadata"].get("namespace"), new_rs["metadata"]["name"]
                    ),
                    {"metadata": {"annotations": wanted}},
                )
                return {**new_rs, "metadata": updated["metadata"]}
            return new_rs
        annotations = dict(new_rs["metadata"].get("annotations") or {})
        history = [h for h in annotations.get(REVISION_HISTORY, "").split(",") if h]
        history.append(str(current))
        patch = {
            "metadata": {
                "annotations": {
                    **copyable_annotations(deployment),
                    REVISION: str(highest + 1),
                    REVISION_HISTORY: ",".join(history),
                }
            }
        }
        updated = await self.client.patch(
            REPLICASETS.item(new_rs["metadata"].get("namespace"), new_rs["metadata"]["name"]),
            patch,
        )
        return {**new_rs, "metadata": updated["metadata"]}

    async def _apply(self, deployment: Obj, plan: ScalePlan, rses: list[Obj]) -> dict[str, Obj]:
        """Scale ReplicaSets per the plan; returns the scaled ones by name, as they are now."""
        by_name = {rs["metadata"]["name"]: rs for rs in rses}
        scaled: dict[str, Obj] = {}
        for name, target in plan.scale.items():
            rs = by_name.get(name)
            if rs is None:
                continue
            before = int((rs.get("spec") or {}).get("replicas", 0))
            updated = await self.client.patch(
                REPLICASETS.item(rs["metadata"].get("namespace"), name),
                {"spec": {"replicas": target}},
            )
            scaled[name] = {**rs, "spec": updated.get("spec", rs.get("spec"))}
            verb = "up" if target > before else "down"
            await self.recorder.record(
                deployment,
                "Normal",
                "ScalingReplicaSet",
                f"Scaled {verb} replica set {name} from {before} to {target}",
            )
        return scaled

    async def _sync_status(
        self, deployment: Obj, new_rs: Obj | None, olds: list[Obj], created: bool
    ) -> float | None:
        now = utcnow()
        new_view = rs_view(new_rs) if new_rs else None
        status = deployment_status(
            deployment, new_view, [rs_view(r) for r in olds], now, new_rs_created=created
        )
        old = deployment.get("status") or {}

        def comparable(s: Obj) -> tuple[Obj, list[tuple[Any, Any, Any]]]:
            conds = [
                (c.get("type"), c.get("status"), c.get("reason")) for c in s.get("conditions") or []
            ]
            return {k: v for k, v in s.items() if k != "conditions"}, conds

        if comparable(status) != comparable(old):
            meta = deployment["metadata"]
            patched = await self.client.patch(
                DEPLOYMENTS.item(meta.get("namespace"), meta["name"], "status"),
                {"status": status},
            )
            deployment = {**deployment, "status": patched.get("status", status)}
        return rollout_timeout_remaining(deployment, now)


__all__ = ["DeploymentController", "new_replicaset"]
