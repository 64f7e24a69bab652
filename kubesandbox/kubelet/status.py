"""Pure Pod status computation from the kubelet's view of its containers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubesandbox.controllers.common import set_condition

Obj = dict[str, Any]


@dataclass
class ContainerView:
    """The kubelet's record of one container (init or regular)."""

    name: str
    image: str
    init: bool = False
    restart_count: int = 0
    state: Obj = field(default_factory=lambda: {"waiting": {"reason": "PodInitializing"}})
    last_state: Obj = field(default_factory=dict)
    ready: bool = False
    started: bool = False
    container_id: str = ""
    # True when the container has stopped for good (its restartPolicy will not restart it).
    done: bool = False

    def status(self) -> Obj:
        out: Obj = {
            "name": self.name,
            "image": self.image,
            "imageID": f"sandbox://{self.image}",
            "ready": self.ready,
            "restartCount": self.restart_count,
            "started": self.started,
            "state": self.state,
            "lastState": self.last_state,
        }
        if self.container_id:
            out["containerID"] = self.container_id
        return out

    @property
    def running(self) -> bool:
        return "running" in self.state

    @property
    def exit_code(self) -> int | None:
        term = self.state.get("terminated")
        return None if term is None else int(term.get("exitCode", 0))


def compute_phase(init: list[ContainerView], main: list[ContainerView], restart_policy: str) -> str:
    if any(c.done and (c.exit_code or 0) != 0 for c in init):
        return "Failed"
    if not all(c.done and c.exit_code == 0 for c in init):
        return "Pending"
    if any(c.running for c in main):
        return "Running"
    if all(c.done for c in main) and main:
        return "Succeeded" if all(c.exit_code == 0 for c in main) else "Failed"
    if any(c.restart_count > 0 or c.last_state or c.done for c in main):
        return "Running"  # restarting (back-off) or some containers finished for good
    return "Pending"


def pod_status(
    old_status: Obj,
    *,
    init: list[ContainerView],
    main: list[ContainerView],
    restart_policy: str,
    pod_ip: str,
    host_ip: str,
    start_time: str,
    now: str,
    reason: str | None = None,
    message: str | None = None,
    containers: list[Obj] | None = None,
) -> Obj:
    phase = compute_phase(init, main, restart_policy)
    initialized = all(c.done and c.exit_code == 0 for c in init)
    containers_ready = initialized and bool(main) and all(c.ready for c in main)
    if phase in ("Succeeded", "Failed"):
        containers_ready = False
    conditions = [dict(c) for c in old_status.get("conditions") or []]

    def put(type_: str, ok: bool, why: str | None = None, text: str | None = None) -> None:
        nonlocal conditions
        cond: Obj = {"type": type_, "status": "True" if ok else "False", "lastProbeTime": None}
        if not ok and why:
            cond["reason"] = why
        if not ok and text:
            cond["message"] = text
        if ok:
            cond["reason"] = None
            cond["message"] = None
        conditions = set_condition(conditions, cond, now)

    not_ready = [c.name for c in main if not c.ready]
    put("PodReadyToStartContainers", True)
    pending_init = [c.name for c in init if not (c.done and c.exit_code == 0)]
    put(
        "Initialized",
        initialized,
        "ContainersNotInitialized",
        f"containers with incomplete status: [{' '.join(pending_init)}]",
    )
    text = f"containers with unready status: [{' '.join(not_ready)}]"
    why = "PodCompleted" if phase in ("Succeeded", "Failed") else "ContainersNotReady"
    put("ContainersReady", containers_ready, why, text)
    put("Ready", containers_ready, why, text)
    put("PodScheduled", True)
    order = ["PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"]
    conditions.sort(key=lambda c: order.index(c["type"]) if c["type"] in order else 99)
    for cond in conditions:
        for key in ("reason", "message"):
            if cond.get(key) is None:
                cond.pop(key, None)
    status: Obj = {
        "phase": phase,
        "conditions": conditions,
        "hostIP": host_ip,
        "hostIPs": [{"ip": host_ip}],
        "podIP": pod_ip,
        "podIPs": [{"ip": pod_ip}],
        "startTime": start_time,
        "qosClass": old_status.get("qosClass") or qos_class(containers or []),
        "containerStatuses": [c.status() for c in main],
    }
    if init:
        status["initContainerStatuses"] = [c.status() for c in init]
    if reason:
        status["reason"] = reason
    if message:
        status["message"] = message
    return status


def backoff_delay(restarts_in_a_row: int, base: float, cap: float) -> float:
    """CrashLoopBackOff: the first restart is immediate, then base, 2*base, ... up to cap."""
    if restarts_in_a_row <= 0:
        return 0.0
    return float(min(cap, base * 2 ** (restarts_in_a_row - 1)))


def should_restart(restart_policy: str, exit_code: int) -> bool:
    if restart_policy == "Always":
        return True
    if restart_policy == "OnFailure":
        return exit_code != 0
    return False


def qos_class(containers: list[Obj]) -> str:
    """Guaranteed (limits = requests for cpu and memory everywhere), Burstable or BestEffort."""
    any_set = False
    guaranteed = bool(containers)
    for container in containers:
        resources = container.get("resources") or {}
        limits = resources.get("limits") or {}
        requests = {**limits, **(resources.get("requests") or {})}
        if limits or resources.get("requests"):
            any_set = True
        for name in ("cpu", "memory"):
            if name not in limits or str(requests.get(name)) != str(limits[name]):
                guaranteed = False
    if not any_set:
        return "BestEffort"
    return "Guaranteed" if guaranteed else "Burstable"
