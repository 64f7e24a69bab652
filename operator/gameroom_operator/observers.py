"""The watches of a room's children, turned into what the executor needs: the room's
Deployment, Pod and Jobs recorded in its RoomState, and a pass queued when something
changed. A child is matched to its room by owner reference (children.room_of): a label
can be removed by anyone who can edit the object. A child that drifted from what the room
renders, or was deleted, asks for a repair (DriftRepaired).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import names as n
from .children import Action, plan, room_of
from .diff import edited_by_others
from .kube import api_path
from .render import render_children
from .rollout import pod_failure
from .state import RoomState

if TYPE_CHECKING:
    from .controller import Controller


class ChildObservers:
    def __init__(self, controller: Controller) -> None:
        self.ctl = controller
        # The rendering each room's child events are compared with, made once per spec
        # and token (a room's Deployment alone has half a dozen events on its way to Ready).
        self._renders: dict[tuple[str, str], tuple[Any, str, list[dict[str, Any]]]] = {}
        # Per room, what its Deployment carried when last found as rendered (see
        # deployment_drifted).
        self._clean: dict[tuple[str, str], tuple[Any, ...]] = {}

    def owner_state(self, body: dict[str, Any]) -> RoomState | None:
        meta = body.get("metadata") or {}
        room = (meta.get("labels") or {}).get(n.ROOM_LABEL)
        # Children's events may come before their room's (at start-up): keep what they say.
        return self.ctl.state(meta.get("namespace", ""), room) if room else None

    async def observe_deployment(self, body: dict[str, Any], event_type: str | None) -> None:
        owner = room_of(body)
        if event_type == "DELETED":
            meta = body.get("metadata") or {}
            self.retry_conflicts(str(meta.get("namespace", "")), f"Deployment/{meta.get('name')}")
        if owner is None:
            return
        namespace = str((body.get("metadata") or {}).get("namespace", ""))
        # Children's events may come before their room's (at start-up): keep what they say.
        state = self.ctl.state(namespace, owner[0])
        if state.uid and state.uid != owner[1]:
            return  # a leftover of an earlier room of the same name
        known = state.deployment
        state.deployment = None if event_type == "DELETED" else slim_deployment(body)
        state.settled = False
        if not state.uid:
            self.forget_orphan(state)
            return
        if self.repairable(state, owner[1]) and (
            event_type == "DELETED"
            or edited_by_others(known, body, event_type)
            or (event_type == "MODIFIED" and self.deployment_drifted(state, body))
        ):
            # Someone deleted or edited the room's Deployment (kubectl edit/scale/label):
            # put it back now, not at the next resync.
            state.repair_wanted = True
        self.ctl.queue.add((namespace, owner[0]))

    async def observe_child(self, body: dict[str, Any], event_type: str | None) -> None:
        """Any change to a room's Service, ConfigMap, PVC, NetworkPolicy or Ingress: put back
        what differs from the rendering now, not at the next resync. The room is found by
        the owner reference (a label can be removed by anyone who can edit the object).
        A deletion may also free a name that a room is waiting for (NameConflict)."""
        if event_type is None:
            return  # the initial listing: each room's first reconcile reads its children
        meta = body.get("metadata") or {}
        namespace = str(meta.get("namespace", ""))
        if event_type == "DELETED":
            self.retry_conflicts(namespace, f"{body.get('kind')}/{meta.get('name')}")
        owner = room_of(body)
        state = self.ctl.rooms.get((namespace, owner[0])) if owner else None
        if state is None or owner is None or not self.repairable(state, owner[1]):
            return
        if event_type != "DELETED" and not self.drifted(state, body):
            return
        self.schedule_repair(state)

    def repairable(self, state: RoomState, uid: str) -> bool:
        return (
            bool(state.uid)
            and state.uid == uid
            and not state.deleting
            and state.applied_generation is not None
            and state.conflict is None
        )

    def drifted(self, state: RoomState, live: dict[str, Any]) -> bool:
        """Whether a child's event shows it differs from what the room renders (the event
        of the operator's own write compares equal, so repairs never loop)."""
        if state.token is None:
            return False
        meta = live.get("metadata") or {}
        for child in self.rendering(state, state.token):
            if child["kind"] == live.get("kind") and child["metadata"]["name"] == meta.get("name"):
                return plan(child, live, state.uid).action is not Action.NONE
        return True  # ours but no longer rendered (a removed Ingress): the reconcile deletes it

    def deployment_drifted(self, state: RoomState, body: dict[str, Any]) -> bool:
        """`drifted` for a Deployment event, remembered while nothing it compares can have
        changed: any spec change bumps metadata.generation, so the Deployment controller's
        status updates (half a dozen per room on its way to Ready), which keep the
        generation, labels, annotations and owners, need no second comparison."""
        meta = body.get("metadata") or {}
        mark = (
            state.room,
            state.token,
            meta.get("generation"),
            meta.get("labels"),
            meta.get("annotations"),
            meta.get("ownerReferences"),
        )
        key = (state.namespace, state.name)
        known = self._clean.get(key)
        if known is not None and known[0] is mark[0] and known[1:] == mark[1:]:
            return False
        drifted = self.drifted(state, body)
        if drifted:
            self._clean.pop(key, None)
        else:
            if len(self._clean) > 2 * len(self.ctl.rooms) + 100:
                self._clean = {k: v for k, v in self._clean.items() if k in self.ctl.rooms}
            self._clean[key] = mark
        return drifted

    def rendering(self, state: RoomState, token: str) -> list[dict[str, Any]]:
        """The room's children as rendered for its current spec (shared: never changed)."""
        key = (state.namespace, state.name)
        room = state.room
        cached = self._renders.get(key)
        if cached is not None and cached[0] is room and cached[1] == token:
            return cached[2]
        if len(self._renders) > 2 * len(self.ctl.rooms) + 100:
            self._renders = {k: v for k, v in self._renders.items() if k in self.ctl.rooms}
        children = render_children(room, token, self.ctl.options)
        self._renders[key] = (room, token, children)
        return children

    def schedule_repair(self, state: RoomState) -> None:
        state.repair_wanted = True
        self.ctl.queue.add((state.namespace, state.name))

    def retry_conflicts(self, namespace: str, label: str) -> None:
        """An object was deleted: a room that waits for its name tries again."""
        for state in list(self.ctl.rooms.values()):
            conflict = state.conflict
            if state.namespace == namespace and conflict is not None and conflict.label == label:
                state.refused_generation = None
                self.ctl.queue.add((state.namespace, state.name))

    async def read_pod(self, state: RoomState) -> None:
        """At the first reconcile of a run, read the Pod instead of waiting for its event.

        Without this a resumed room would get a status from before its Pod is known, and
        then another one: two writes where none is needed.
        """
        selector = ",".join(f"{k}={v}" for k, v in n.selector_labels(state.name).items())
        path = api_path("v1", "pods", state.namespace)
        pods = await self.ctl.kube.request("GET", path, params={"labelSelector": selector})
        live = [p for p in pods.get("items") or [] if not p["metadata"].get("deletionTimestamp")]
        if live and not state.pod_seen:
            self.set_pod(state, live[0])
        state.pod_seen = True

    @staticmethod
    def set_pod(state: RoomState, pod: dict[str, Any]) -> None:
        state.pod_ip, state.pod_ready, state.pod_problem = pod_facts(pod)
        state.pod_failure = pod_failure(pod)
        state.pod_name = str((pod.get("metadata") or {}).get("name", ""))
        annotations = (pod.get("metadata") or {}).get("annotations") or {}
        state.pod_config_hash = annotations.get(n.CONFIG_HASH_ANNOTATION, "")
        containers = (pod.get("spec") or {}).get("containers") or [{}]
        state.pod_image = str(containers[0].get("image", ""))

    async def observe_pod(self, body: dict[str, Any], event_type: str | None) -> None:
        state = self.owner_state(body)
        if state is None:
            return
        state.pod_seen = True
        state.settled = False
        was_ready = state.pod_ready
        if event_type == "DELETED" or (body.get("metadata") or {}).get("deletionTimestamp"):
            if (body.get("metadata") or {}).get("name") == state.pod_name:
                state.pod_ip, state.pod_ready, state.pod_problem = "", False, ""
                state.pod_failure = ""
                state.pod_name = ""
        else:
            self.set_pod(state, body)
        if not state.uid:
            self.forget_orphan(state)
            return
        if state.pod_ready and not was_ready:
            # Probe at once (before telling anyone the room is Ready): one status write.
            state.next_probe_at = 0.0
        elif not state.pod_ready:
            state.probe = None
            state.assessment = None
        self.ctl.queue.add((state.namespace, state.name))

    def forget_orphan(self, state: RoomState) -> None:
        """Drop what children's events told about a room that is gone (or not yet seen)."""
        if state.deployment is None and not state.pod_name and not state.jobs:
            self.ctl.rooms.pop((state.namespace, state.name), None)

    async def observe_job(self, body: dict[str, Any], event_type: str | None) -> None:
        """A Job of a room (backup, restore, smoke test): recorded in state.jobs for the
        concern that started it, and the room's pass queued."""
        meta = body.get("metadata") or {}
        owner = room_of(body)
        if owner is not None:
            # The Job listing may come before the room's event (an operator restarted after
            # creating a restore Job): keep it, or a Job that has finished is never read.
            state = self.ctl.state(str(meta.get("namespace", "")), owner[0])
            if state.uid and state.uid != owner[1]:
                return
        else:
            # A Job a CronJob of the room started: owned by that CronJob, which the room
            # owns; the room label says which room (the concern checks the CronJob's name).
            room = (meta.get("labels") or {}).get(n.ROOM_LABEL)
            by_cronjob = any(
                o.get("controller") and o.get("kind") == "CronJob"
                for o in meta.get("ownerReferences") or []
            )
            if not room or not by_cronjob:
                return
            state = self.ctl.state(str(meta.get("namespace", "")), room)
        name = str(meta.get("name", ""))
        if event_type == "DELETED":
            state.jobs.pop(name, None)
        else:
            state.jobs[name] = slim_job(body)
        state.settled = False
        if state.uid:  # else the room's own event queues it
            self.ctl.queue.add((state.namespace, state.name))


def slim_deployment(deployment: dict[str, Any]) -> dict[str, Any]:
    """What the status decisions read of a Deployment (a whole one is ~100 objects)."""
    meta = deployment.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    return {
        "metadata": {
            "generation": meta.get("generation", 0),
            "annotations": {k: v for k, v in annotations.items() if k == n.CONFIG_HASH_ANNOTATION},
        },
        "status": dict(deployment.get("status") or {}),
    }


def slim_job(job: dict[str, Any]) -> dict[str, Any]:
    """What the concerns read of a Job: its labels, annotations, times and status."""
    meta = job.get("metadata") or {}
    return {
        "metadata": {
            "name": meta.get("name", ""),
            "labels": dict(meta.get("labels") or {}),
            "annotations": dict(meta.get("annotations") or {}),
            "creationTimestamp": meta.get("creationTimestamp"),
            "ownerReferences": list(meta.get("ownerReferences") or []),
        },
        "status": dict(job.get("status") or {}),
    }


_PROBLEM_REASONS = (
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
)


def pod_facts(pod: dict[str, Any]) -> tuple[str, bool, str]:
    """(pod IP, ready, problem) of a room's Pod."""
    status = pod.get("status") or {}
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )
    problem = ""
    for container in status.get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") in _PROBLEM_REASONS:
            problem = f"{waiting['reason']}: {waiting.get('message', '')}".strip()
    if status.get("phase") == "Failed":
        problem = problem or f"Pod failed: {status.get('message', status.get('reason', ''))}"
    return str(status.get("podIP") or ""), ready and status.get("phase") == "Running", problem
