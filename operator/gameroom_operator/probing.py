"""The health concern's executor: probe each room when due, assess it (health.py), heal
it within its budget, and switch maintenance mode through the room's admin API.

The decisions are pure functions in health.py (severity, auto-heal) and maintenance.py;
this module does their I/O: the probe, the Pod restart, the maintenance call and the
events of each transition.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import structlog

from . import metrics
from . import names as n
from .concerns import Executor, StatusPart
from .health import Assessment, HealthSpec, Report, assess, heal, next_budget_in
from .kube import ApiError, api_path
from .maintenance import maintenance_differs
from .state import RoomState, now_text

log = structlog.get_logger("gameroom_operator")

# What `kubectl rollout restart` sets on a Pod template; the operator keeps it (it renders no
# such annotation), so a restart is never undone as drift.
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


class HealthConcern:
    """Deep probes, severity, auto-heal and maintenance for every room."""

    name = "health"

    def __init__(self, executor: Executor, probe_interval: float, concurrency: int) -> None:
        self.executor = executor
        self.probe_interval = probe_interval
        self._probe_slots = asyncio.Semaphore(concurrency)

    def status(self, state: RoomState) -> StatusPart:
        # status.health and the Healthy condition are decided with the rest of the room's
        # status (status.health_status, from the Observation).
        return StatusPart()

    async def step(self, state: RoomState) -> float:
        """Probe when due, assess, heal. Returns seconds to the next probe."""
        return await self._health(state)

    def _maintenance_differs(self, state: RoomState) -> bool:
        return maintenance_differs(state.room.effective["maintenance"], state.probe)

    def _period(self, spec: HealthSpec) -> float:
        """The room's probe period; --probe-interval, when set, caps it (tests, demos)."""
        period = float(spec.period_seconds)
        return min(period, self.probe_interval) if self.probe_interval else period

    async def _health(self, state: RoomState) -> float:
        """The health concern: probe when due, assess, heal. Returns seconds to the next probe."""
        spec = state.health_spec
        period = self._period(spec)
        now = time.monotonic()
        if not state.pod_ready or not state.pod_ip or not state.token:
            return period
        if state.probe is not None and now < state.next_probe_at:
            return state.next_probe_at - now
        state.next_probe_at = now + period
        before = _health_facts(state)
        async with self._probe_slots:
            started = time.perf_counter()
            probe = await self.executor.room_client.probe(
                state.pod_ip, state.token, timeout=float(spec.timeout_seconds)
            )
            metrics.PROBE_SECONDS.observe(time.perf_counter() - started)
            state.probe = probe
            if self._maintenance_differs(state):
                await self._switch_maintenance(state)
            elif probe.reachable:
                state.maintenance_error = ""
        report = Report(
            reachable=probe.health_body is not None,
            error=probe.health_error,
            body=probe.health_body,
            latency=probe.latency,
            maintenance=bool(state.room.effective["maintenance"]["enabled"]),
        )
        assessment = assess(report, spec)
        if not assessment.failing:
            state.probe_latency_ms = int(probe.latency * 1000)
        state.last_probe_time = now_text()
        if assessment.severity:
            metrics.PROBE_FAILURES.labels(severity=assessment.severity).inc()
        await self._assessed(state, assessment)
        wall = time.time()
        decided = heal(
            spec,
            assessment,
            state.history,
            wall,
            maintenance=bool(state.room.effective["maintenance"]["enabled"]),
            rollout_verifying=state.verifying,
            kubelet_restarting=bool(state.pod_problem),
        )
        if decided.restart:
            await self._restart_pod(state, decided.reason, decided.message)
            state.history = state.history.restarted(wall, decided.reason)
        elif decided.exhausted and not state.history.exhausted:
            # The phase turns Failed: _write_status posts the one AutoHealExhausted Warning.
            state.history = replace(state.history, exhausted=True)
            log.warning("autoheal_exhausted", room=state.name, ns=state.namespace)
        if state.history.exhausted:
            again = next_budget_in(spec, state.history, wall)
            if again is not None and again <= 0:
                state.history = replace(state.history, exhausted=False)
        if _health_facts(state) != before:
            state.settled = False
        return period

    async def _assessed(self, state: RoomState, assessment: Assessment) -> None:
        """Record a probe's verdict; an event on each transition only (Warning for P0/P1)."""
        state.history = state.history.after(assessment)
        if not assessment.failing and state.history.exhausted:
            state.history = replace(state.history, exhausted=False)
        state.assessment = assessment
        verdict = (assessment.status, assessment.severity, assessment.reason)
        if state.announced is None:
            # First probe of this run: what the stored status says was told already.
            stored = state.status.get("health")
            if isinstance(stored, dict) and stored.get("status") not in (None, "unknown"):
                state.announced = (
                    str(stored.get("status")),
                    str(stored.get("severity", "")),
                    str(stored.get("reason", "")),
                )
            else:
                state.announced = ("healthy", "", "")
        if verdict == state.announced:
            return
        state.announced = verdict
        state.health_since = now_text()
        if assessment.status == "healthy":
            await self.executor.event(state, "Normal", "Healthy", "The room is healthy again.")
        else:
            kind = "Warning" if assessment.severity in ("P0", "P1") else "Normal"
            message = f"{assessment.severity} {assessment.status}: {assessment.message}"
            await self.executor.event(state, kind, assessment.reason, message)

    async def _restart_pod(self, state: RoomState, reason: str, message: str) -> None:
        """Auto-heal: restart the room's server as `kubectl rollout restart` does (the
        restartedAt annotation on the Pod template). The room's Recreate strategy then stops
        the old Pod (the server saves its state on SIGTERM) before the new one starts, so two
        servers never share the room's database; players resume their seats. Deleting the
        Pod instead would let its ReplicaSet start the new one at once, beside it."""
        if not state.pod_name:
            return
        path = api_path("apps/v1", "deployments", state.namespace, n.deployment(state.name))
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
        try:
            await self.executor.kube.merge_patch(path, patch)
        except ApiError as error:
            log.warning("autoheal_failed", room=state.name, error=error.message)
            return
        metrics.AUTOHEAL_RESTARTS.inc()
        log.warning("autoheal_restart", room=state.name, ns=state.namespace, reason=reason)
        await self.executor.event(state, "Warning", "AutoHealRestart", message)
        state.probe = None

    async def _switch_maintenance(self, state: RoomState) -> None:
        """Ask the room to switch maintenance mode, then read it back: the event says what
        the room confirmed. A room that refuses or ignores the switch gets one Warning
        `MaintenanceFailed` (per distinct failure) and the Degraded condition, not an event
        per probe; the switch is tried again at each probe."""
        wanted = state.room.effective["maintenance"]
        on = bool(wanted["enabled"])
        assert state.token is not None
        try:
            await self.executor.room_client.set_maintenance(
                state.pod_ip, state.token, on, str(wanted["message"])
            )
        except Exception as error:  # noqa: BLE001 - reported, retried next probe
            failure = f"the room refused the maintenance switch through its admin API: {error}"
        else:
            state.probe = await self.executor.room_client.probe(state.pod_ip, state.token)
            if not self._maintenance_differs(state):
                state.maintenance_error = ""
                await self.executor.event(
                    state,
                    "Normal",
                    "MaintenanceOn" if on else "MaintenanceOff",
                    "Maintenance mode switched on: new joins are refused."
                    if on
                    else "Maintenance mode switched off: the room accepts players again.",
                )
                return
            failure = (
                f"the room accepted the maintenance switch but still reports maintenance "
                f"{'off' if on else 'on'}"
            )
        log.warning("maintenance_failed", room=state.name, ns=state.namespace, error=failure)
        if failure != state.maintenance_error:
            state.maintenance_error = failure
            await self.executor.event(
                state, "Warning", "MaintenanceFailed", failure[:1].upper() + failure[1:] + "."
            )


def _health_facts(state: RoomState) -> tuple[Any, ...]:
    """What a probe can change of the status (its volatile time and latency left out)."""
    probe = state.probe
    seen = (
        (
            probe.reachable,
            probe.error,
            probe.players,
            probe.spectators,
            probe.version,
            probe.maintenance_enabled,
            probe.maintenance_message,
        )
        if probe is not None
        else None
    )
    return (seen, state.assessment, state.history, state.maintenance_error, state.health_since)
