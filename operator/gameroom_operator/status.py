"""Pure status decisions: what the room's status should say, given what was observed."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .health import Assessment, History

PHASES = ("Pending", "Starting", "Ready", "Degraded", "Maintenance", "Failed", "Terminating")
NOT_YET_ACTED_ON: tuple[str, ...] = ()  # every spec section is acted on
# Fields of status.health that change at every probe: kept up to date whenever the status is
# written for another reason, never a reason for a write on their own.
VOLATILE_HEALTH = ("lastProbeTime", "latencyMs")


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
    # /api/health on the game port, read apart from the admin API: None when it did not
    # answer in time (health_error says how), else its JSON.
    health_body: Mapping[str, Any] | None = None
    health_error: str = ""
    latency: float = 0.0  # seconds /api/health took


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
    assessment: Assessment | None = None  # the health concern's verdict of the last probe
    history: History = field(default_factory=History)
    health_since: str = ""
    last_probe_time: str = ""
    probe_latency_ms: int = 0
    failure_threshold: int = 3  # spec.health.failureThreshold: consecutiveFailures stops there
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
    healthy: tuple[str, str, str] | None = None  # None: from the last probe (healthy_condition)


def healthy_condition(obs: Observation) -> tuple[str, str, str]:
    """The Healthy condition: the last deep probe's verdict, its reason naming the check."""
    assessment = obs.assessment
    if assessment is None:
        return ("Unknown", "NotProbed", "No deep probe yet: the room's Pod is not ready.")
    if assessment.status == "healthy":
        return ("True", "Healthy", assessment.message or "Every check passes.")
    return ("False", assessment.reason, f"{assessment.severity}: {assessment.message}")


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
        return _not_serving("Failed", reason, message)
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
        return _not_serving("Failed", "ServerNotStarting", message)
    if rolled_out and not available and obs.previous_phase in SERVING_PHASES:
        message = (
            "The game server stopped passing its readiness probe; the kubelet restarts it "
            "if its liveness probe fails too."
        )
        return _not_serving("Degraded", "NotReady", message)
    probe = obs.probe
    # While the Pod is up but its first health report is still on its way (it follows the
    # Pod's readiness within a moment), still Starting: say Ready once, with what it reports.
    if not available or not rolled_out or probe is None:
        message = (
            "Rolling the game server to the new settings."
            if available and not rolled_out
            else "Waiting for the game server to become ready."
        )
        return Verdict(
            "Starting",
            ("False", "Starting", message),
            ("True", "Starting", message),
            ("False", "Starting", message),
        )
    assessment = obs.assessment
    if obs.history.exhausted and assessment is not None and assessment.failing:
        message = (
            f"Auto-heal gave up: {assessment.message} The restart budget "
            "(health.maxRestartsPerHour) is spent; see the AutoHealExhausted event."
        )
        healthy = ("False", assessment.reason, assessment.message)
        return _not_serving("Failed", "AutoHealExhausted", message, healthy)
    if assessment is not None and assessment.status != "healthy":
        serving = "True" if not assessment.failing else "False"
        message = f"{assessment.severity} {assessment.status}: {assessment.message}"
        return Verdict(
            "Degraded",
            (serving, assessment.reason, message),
            ("False", assessment.reason, message),
            ("True", assessment.reason, message),
            ("False", assessment.reason, message),
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


def _not_serving(
    phase: str, reason: str, message: str, healthy: tuple[str, str, str] | None = None
) -> Verdict:
    """A room that does not serve players and is not getting there (Failed, or a Pod that
    lost readiness): not Ready, not Progressing, Degraded, all for the same reason."""
    cause = (reason, message)
    return Verdict(phase, ("False", *cause), ("False", *cause), ("True", *cause), healthy)


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
    verdict: Verdict,
    previous: list[dict[str, Any]],
    generation: int,
    now: str,
    healthy: tuple[str, str, str] = ("Unknown", "NotProbed", "No deep probe yet."),
) -> list[dict[str, Any]]:
    """Every condition, keeping lastTransitionTime when a condition's status is unchanged."""
    before = {c.get("type"): c for c in previous or []}
    result = []
    reconciling, stalled = kstatus(verdict)
    for kind, (status, reason, message) in (
        ("Ready", verdict.ready),
        ("Progressing", verdict.progressing),
        ("Degraded", verdict.degraded),
        ("Healthy", healthy),
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


@dataclass(frozen=True)
class Condition:
    """A condition a concern owns (concerns.py); merge_parts keeps its lastTransitionTime."""

    type: str
    status: str  # "True" | "False" | "Unknown"
    reason: str
    message: str


@dataclass
class StatusPart:
    """What one concern contributes to a room's status: top-level fields and conditions."""

    fields: dict[str, Any] = field(default_factory=dict)
    conditions: list[Condition] = field(default_factory=list)


def merge_parts(
    status: dict[str, Any],
    parts: list[StatusPart],
    previous: dict[str, Any],
    generation: int,
    now: str,
) -> dict[str, Any]:
    """Add the concerns' fields and conditions to a status desired_status decided (in
    place), each condition keeping its lastTransitionTime while its status is unchanged."""
    before = {c.get("type"): c for c in previous.get("conditions") or []}
    for part in parts:
        status.update(part.fields)
        for cond in part.conditions:
            old = before.get(cond.type)
            same = old is not None and old.get("status") == cond.status
            since = old.get("lastTransitionTime") if same and old else None
            status["conditions"] = [c for c in status["conditions"] if c["type"] != cond.type]
            status["conditions"].append(
                {
                    "type": cond.type,
                    "status": cond.status,
                    "reason": cond.reason,
                    "message": cond.message,
                    "lastTransitionTime": since or now,
                    "observedGeneration": generation,
                }
            )
    return status


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
            verdict,
            previous.get("conditions", []),
            obs.applied_generation or 0,
            now,
            verdict.healthy or healthy_condition(obs),
        ),
        "url": obs.url,
        "image": obs.image,
        "revision": obs.config_hash,
        "version": (probe.version if probe and probe.reachable and probe.version else obs.version),
        "health": health_status(obs),
        "healthSummary": obs.assessment.summary if obs.assessment else "unknown",
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


def health_status(obs: Observation) -> dict[str, Any]:
    """status.health: the last deep probe as a user reads it (kubectl get -o yaml)."""
    assessment = obs.assessment
    history = obs.history
    health: dict[str, Any] = {
        "status": assessment.status if assessment else "unknown",
        # Counted up to the threshold only: a room that stays down costs no write per probe.
        "consecutiveFailures": min(history.consecutive_failures, obs.failure_threshold),
    }
    if assessment is not None:
        if assessment.severity:
            health["severity"] = assessment.severity
            health["reason"] = assessment.reason
        health["message"] = assessment.message
        health["checks"] = assessment.checks
        health["latencyMs"] = obs.probe_latency_ms
        health["lastProbeTime"] = obs.last_probe_time
    if obs.health_since:
        health["since"] = obs.health_since
    if history.restarts:
        health["restarts"] = {
            "count": len(history.restarts),
            "lastTime": _rfc3339(history.restarts[-1]),
            "lastReason": history.last_reason,
            # The restarts of the last hour: the budget survives an operator restart.
            "recent": [_rfc3339(t) for t in history.restarts[-20:]],
        }
    if history.exhausted:
        health["autoHealExhausted"] = True
    return health


def _rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def history_from(status: Mapping[str, Any]) -> tuple[History, str]:
    """The health history and `since` a room's stored status carries (an operator that
    restarts keeps counting the auto-heal budget where the last one left it)."""
    health = status.get("health")
    if not isinstance(health, Mapping):
        return History(), ""
    restarts = health.get("restarts") if isinstance(health.get("restarts"), Mapping) else {}
    times: list[float] = []
    for text in (restarts or {}).get("recent") or []:
        try:
            times.append(
                datetime.strptime(str(text), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
            )
        except ValueError:
            continue
    history = History(
        consecutive_failures=int(health.get("consecutiveFailures") or 0),
        restarts=tuple(times),
        last_reason=str((restarts or {}).get("lastReason") or ""),
        exhausted=bool(health.get("autoHealExhausted")),
    )
    return history, str(health.get("since") or "")


def _steady(value: Any, key: str) -> Any:
    if key == "health" and isinstance(value, dict):
        return {k: v for k, v in value.items() if k not in VOLATILE_HEALTH}
    return value


def status_changed(current: dict[str, Any], desired: dict[str, Any]) -> bool:
    """True when a status write is needed (fields we do not manage are left alone; a probe
    that only moved lastProbeTime or latencyMs needs none)."""
    return any(
        _steady(current.get(key), key) != _steady(value, key) for key, value in desired.items()
    )


def prober_stalled(age: float, probe_interval: float) -> bool:
    """True when the room prober's last pass is too old: /healthz then answers 503.

    Bounded by the probe interval alone (six missed passes, at least a minute): the resync
    runs in its own task and never delays the prober.
    """
    return age > max(60.0, probe_interval * 6)
