"""Pure status decisions: what the room's status should say, given what was observed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PHASES = ("Pending", "Starting", "Ready", "Degraded", "Maintenance", "Failed", "Terminating")
NOT_YET_ACTED_ON = ("health", "rollout", "backup", "restore")


@dataclass(frozen=True)
class Probe:
    """What the room's own APIs said at the last probe."""

    reachable: bool
    error: str = ""
    health: str = "Unknown"  # healthy | degraded | unhealthy | Unknown
    players: int = 0
    spectators: int = 0
    version: str = ""
    maintenance_enabled: bool = False
    maintenance_message: str = ""


@dataclass(frozen=True)
class Observation:
    generation: int
    applied_generation: int | None  # last generation whose children were all applied
    apply_error: str = ""  # why the last apply failed, empty when it worked
    apply_error_permanent: bool = False  # the API refused the objects (not a transient error)
    # The condition reason while apply_error is set: ApplyFailed, ApplyRetrying, NameConflict
    # (a child's name belongs to another owner), RepairFailed (putting back drift failed).
    apply_error_reason: str = ""
    deleting: bool = False
    deployment: dict[str, Any] | None = None  # the live Deployment (metadata+spec+status)
    config_hash: str = ""  # the hash the rendered Deployment carries
    pod_problem: str = ""  # e.g. "CrashLoopBackOff: back-off restarting failed container"
    pod_ready: bool = False
    pod_config_hash: str = ""  # the config-hash annotation of the ready Pod
    pod_image: str = ""
    probe: Probe | None = None
    maintenance_wanted: bool = False
    maintenance_error: str = ""  # the room did not follow the maintenance switch: why
    previous_phase: str = ""  # the phase the status says now
    url: str = ""
    image: str = ""
    version: str = ""
    spec_sections: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Verdict:
    phase: str
    ready: tuple[str, str, str]  # status, reason, message
    progressing: tuple[str, str, str]
    degraded: tuple[str, str, str]


def _deployment_state(obs: Observation) -> tuple[bool, bool, str]:
    """(rolled out, available, problem) of the room's Deployment."""
    dep = obs.deployment
    if dep is None:
        return False, False, ""
    status = dep.get("status") or {}
    meta = dep.get("metadata") or {}
    annotations = meta.get("annotations") or {}
    current_config = annotations.get("drawgame.dev/config-hash", "")
    observed = status.get("observedGeneration", 0) >= meta.get("generation", 0)
    updated = status.get("updatedReplicas", 0) >= 1 and status.get("replicas", 0) <= 1
    ready = status.get("readyReplicas", 0) >= 1
    rolled_out = observed and updated and (not obs.config_hash or current_config == obs.config_hash)
    problem = ""
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Progressing" and condition.get("status") == "False":
            problem = f"{condition.get('reason', 'NotProgressing')}: {condition.get('message', '')}"
        if condition.get("type") == "ReplicaFailure" and condition.get("status") == "True":
            problem = f"{condition.get('reason', 'ReplicaFailure')}: {condition.get('message', '')}"
    # A ready Pod from the current template is proof enough, and comes before the
    # Deployment's status catches up (the Deployment controller may lag behind under load).
    current_pod = (
        obs.pod_ready
        and bool(obs.config_hash)
        and obs.pod_config_hash == obs.config_hash
        and (not obs.image or obs.pod_image == obs.image)
    )
    if current_pod:
        return True, True, problem
    return rolled_out, ready, problem


def decide(obs: Observation) -> Verdict:
    """The room's phase and its three conditions."""
    if obs.deleting:
        return Verdict(
            "Terminating",
            ("False", "Terminating", "The room is being deleted."),
            ("True", "Terminating", "Deleting the room's children."),
            ("False", "Terminating", "The room is being deleted."),
        )
    if obs.apply_error and obs.apply_error_permanent:
        reason = obs.apply_error_reason or "ApplyFailed"
        message = (
            f"The room's objects were refused: {obs.apply_error}"
            if reason == "ApplyFailed"
            else obs.apply_error
        )
        return Verdict(
            "Failed",
            ("False", reason, message),
            ("False", reason, message),
            ("True", reason, message),
        )
    rolled_out, available, dep_problem = _deployment_state(obs)
    problem = obs.pod_problem or dep_problem
    if obs.deployment is None or obs.applied_generation is None:
        message = obs.apply_error or "Creating the room's objects."
        reason = "ApplyRetrying" if obs.apply_error else "Creating"
        return Verdict(
            "Pending",
            ("False", reason, message),
            ("True", reason, message),
            ("False", reason, message) if not obs.apply_error else ("True", reason, message),
        )
    if problem and not (available and rolled_out):
        message = f"The game server does not start: {problem}"
        return Verdict(
            "Failed",
            ("False", "ServerNotStarting", message),
            ("False", "ServerNotStarting", message),
            ("True", "ServerNotStarting", message),
        )
    if rolled_out and not available and obs.previous_phase in SERVING_PHASES:
        message = (
            "The game server stopped passing its readiness probe; the kubelet restarts it "
            "if its liveness probe fails too."
        )
        return Verdict(
            "Degraded",
            ("False", "NotReady", message),
            ("False", "NotReady", message),
            ("True", "NotReady", message),
        )
    if not available or not rolled_out:
        message = (
            "Rolling the game server to the new settings."
            if available
            else "Waiting for the game server to become ready."
        )
        return Verdict(
            "Starting",
            ("False", "Starting", message),
            ("True", "Starting", message),
            ("False", "Starting", message),
        )
    probe = obs.probe
    if probe is None:
        # The Pod is up but its first health report is still on its way (it follows the
        # Pod's readiness within a moment): say Ready once, with what the room reports.
        message = "Waiting for the game server to become ready."
        return Verdict(
            "Starting",
            ("False", "Starting", message),
            ("True", "Starting", message),
            ("False", "Starting", message),
        )
    if probe.reachable and probe.health in ("degraded", "unhealthy"):
        message = f"The room reports itself {probe.health}."
        return Verdict(
            "Degraded",
            ("False", "Unhealthy", message),
            ("False", "Unhealthy", message),
            ("True", "Unhealthy", message),
        )
    pending_apply = obs.applied_generation < obs.generation
    progressing = (
        ("True", "Applying", obs.apply_error or "Applying the latest spec.")
        if pending_apply
        else ("False", "RolledOut", "The room runs its latest spec.")
    )
    reported = probe is not None and probe.reachable
    maintenance = probe.maintenance_enabled if reported else obs.maintenance_wanted
    if maintenance and not obs.maintenance_error:
        return Verdict(
            "Maintenance",
            ("True", "Maintenance", "The room is up in maintenance mode: it refuses new joins."),
            progressing,
            ("False", "Maintenance", "Maintenance mode was asked for in the spec."),
        )
    trouble = _trouble(obs, probe)
    if trouble is not None:
        reason, message = trouble
        return Verdict(
            "Degraded",
            ("True", "Ready", f"The room is ready for players, but: {message}"),
            progressing,
            ("True", reason, message),
        )
    return Verdict(
        "Ready",
        ("True", "Ready", "The room is ready for players."),
        progressing,
        ("False", "Ready", "The room is healthy."),
    )


SERVING_PHASES = ("Ready", "Degraded", "Maintenance")


def _trouble(obs: Observation, probe: Probe) -> tuple[str, str] | None:
    """(reason, message) of what keeps a serving room from being called healthy."""
    if obs.apply_error and obs.apply_error_reason == "RepairFailed":
        return "RepairFailed", obs.apply_error
    if not probe.reachable:
        if "401" in probe.error:
            return (
                "AdminTokenRefused",
                "the room refuses the operator's admin token (its Pod has another one): "
                "players, health and maintenance are unknown until the Pod is rolled.",
            )
        return (
            "HealthUnknown",
            f"the room's health and admin APIs did not answer ({probe.error}); "
            "players and health are unknown.",
        )
    if obs.maintenance_error:
        return "MaintenanceFailed", obs.maintenance_error
    return None


def kstatus(verdict: Verdict) -> tuple[tuple[str, str, str], tuple[str, str, str]]:
    """kstatus' abnormal-true conditions (Reconciling, Stalled) for a verdict.

    Reconciling is True while the room is Pending or Starting (or a new spec is being
    applied), Stalled is True when it is Failed; tools such as kstatus, Flux and Argo CD
    read these two.
    """
    _, progress_reason, progress_message = verdict.progressing
    if verdict.phase in ("Pending", "Starting") or (
        verdict.phase != "Failed" and verdict.progressing[0] == "True"
    ):
        reconciling = ("True", progress_reason, progress_message)
    else:
        reconciling = ("False", verdict.phase, "Nothing left to do for the current spec.")
    if verdict.phase == "Failed":
        stalled = ("True", verdict.ready[1], verdict.ready[2])
    else:
        stalled = ("False", verdict.phase, "The room is not stuck.")
    return reconciling, stalled


def conditions(
    verdict: Verdict, previous: list[dict[str, Any]], generation: int, now: str
) -> list[dict[str, Any]]:
    """Every condition, keeping lastTransitionTime when a condition's status is unchanged."""
    before = {c.get("type"): c for c in previous or []}
    result = []
    reconciling, stalled = kstatus(verdict)
    for kind, (status, reason, message) in (
        ("Ready", verdict.ready),
        ("Progressing", verdict.progressing),
        ("Degraded", verdict.degraded),
        ("Reconciling", reconciling),
        ("Stalled", stalled),
    ):
        old = before.get(kind)
        if old is not None and not old.get("lastTransitionTime"):
            old = None
        since = now if old is None or old.get("status") != status else old["lastTransitionTime"]
        result.append(
            {
                "type": kind,
                "status": status,
                "reason": reason,
                "message": message,
                "lastTransitionTime": since,
                "observedGeneration": generation,
            }
        )
    return result


def desired_status(obs: Observation, previous: dict[str, Any], now: str) -> dict[str, Any]:
    """The whole status the room should have; compare with `previous` to decide on a write."""
    verdict = decide(obs)
    probe = obs.probe
    status: dict[str, Any] = {
        "phase": verdict.phase,
        "observedGeneration": obs.applied_generation
        if obs.applied_generation is not None
        else previous.get("observedGeneration", 0),
        "conditions": conditions(
            verdict, previous.get("conditions", []), obs.applied_generation or 0, now
        ),
        "url": obs.url,
        "image": obs.image,
        "revision": obs.config_hash,
        "version": (probe.version if probe and probe.reachable and probe.version else obs.version),
        "health": probe.health if probe and probe.reachable else "Unknown",
        "players": probe.players if probe and probe.reachable else previous.get("players", 0),
        "spectators": probe.spectators
        if probe and probe.reachable
        else previous.get("spectators", 0),
        "notActedOn": [s for s in NOT_YET_ACTED_ON if s in obs.spec_sections],
    }
    if probe and probe.reachable:
        status["maintenance"] = {
            "enabled": probe.maintenance_enabled,
            "message": probe.maintenance_message,
        }
    elif "maintenance" in previous:
        status["maintenance"] = previous["maintenance"]
    if "lastBackup" in previous:
        status["lastBackup"] = previous["lastBackup"]
    return status


def status_changed(current: dict[str, Any], desired: dict[str, Any]) -> bool:
    """True when a status write is needed (fields we do not manage are left alone)."""
    return any(current.get(key) != value for key, value in desired.items())


def prober_stalled(age: float, probe_interval: float) -> bool:
    """True when the room prober's last pass is too old: /healthz then answers 503.

    Bounded by the probe interval alone (six missed passes, at least a minute): the resync
    runs in its own task and never delays the prober.
    """
    return age > max(60.0, probe_interval * 6)
