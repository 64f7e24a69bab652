"""The health concern: the runbook's severities from a deep probe, and auto-heal with a budget.

Pure decisions over (spec.health, what the probe saw, the room's health history, now).
The controller probes, asks `assess` and `heal`, and carries out what they say.

The runbook's levels (a table in operator/README.md):

- P0 Critical, "complete outage": unreachable, or the database check fails
  (reasons Unreachable, DatabaseFailing).
- P1 High, "WebSocket connections failing": the WebSocket check fails, or the room refuses
  joins while not in maintenance (WebSocketFailing).
- P2 Medium, slow: the probe took over half of timeoutSeconds, the server's event-loop lag
  or broadcast latency is over its thresholds, or the database is slow (Slow).
- P3 Low, minor: the data volume above 80 % or low, other warnings (StorageLow, Warning).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

HOUR = 3600.0
STORAGE_USED_WARN_PERCENT = 80.0


class HealthSpec(BaseModel):
    """`spec.health`, as the CRD defaults and bounds it."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    period_seconds: int = Field(15, alias="periodSeconds", ge=1)
    timeout_seconds: int = Field(5, alias="timeoutSeconds", ge=1)
    failure_threshold: int = Field(3, alias="failureThreshold", ge=1)
    restart_unhealthy: bool = Field(True, alias="restartUnhealthy")
    max_restarts_per_hour: int = Field(3, alias="maxRestartsPerHour", ge=0)

    @classmethod
    def of(cls, spec: Mapping[str, Any]) -> HealthSpec:
        return cls.model_validate(spec.get("health") or {})


@dataclass(frozen=True)
class Report:
    """What one deep probe saw: /api/health's JSON (None when it did not answer)."""

    reachable: bool
    error: str = ""  # why it was not reachable (a stable category, not the error text)
    body: Mapping[str, Any] | None = None
    latency: float = 0.0  # seconds the probe took
    maintenance: bool = False  # the room is in maintenance (joins refused on purpose)


@dataclass(frozen=True)
class Assessment:
    status: str  # healthy | degraded | unhealthy | unknown
    severity: str = ""  # P0-P3, "" when healthy
    reason: str = ""  # Unreachable, DatabaseFailing, WebSocketFailing, Slow, StorageLow, Warning
    message: str = ""
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def failing(self) -> bool:
        """P0 and P1 count toward auto-heal; P2 and P3 never restart a room."""
        return self.severity in ("P0", "P1")

    @property
    def summary(self) -> str:
        """The Health printer column: `healthy`, `unhealthy/P0`."""
        return f"{self.status}/{self.severity}" if self.severity else self.status


def assess(report: Report, spec: HealthSpec) -> Assessment:
    """The runbook's severity of one probe (the table in this module's docstring)."""
    if not report.reachable or report.body is None:
        why = report.error or "no answer"
        return Assessment(
            "unhealthy",
            "P0",
            "Unreachable",
            f"/api/health did not answer within {spec.timeout_seconds}s ({why}).",
        )
    body = report.body
    raw: Mapping[str, Any] = body["checks"] if isinstance(body.get("checks"), Mapping) else {}
    checks = {name: _check(value) for name, value in raw.items() if isinstance(value, Mapping)}
    database = raw.get("database") or {}
    websocket = raw.get("websocket") or {}
    storage = raw.get("storage") or {}
    performance = body.get("performance") if isinstance(body.get("performance"), Mapping) else {}
    performance = performance or {}
    if database.get("status") == "fail":
        return Assessment(
            "unhealthy",
            "P0",
            "DatabaseFailing",
            f"The database check fails: {database.get('error', 'no detail')}.",
            checks,
        )
    refusing = websocket.get("acceptingJoins") is False and not (
        report.maintenance or body.get("maintenance") or body.get("draining")
    )
    if websocket.get("status") == "fail" or refusing:
        detail = websocket.get("error") or (
            "the room refuses joins although it is not in maintenance" if refusing else "failing"
        )
        return Assessment(
            "unhealthy", "P1", "WebSocketFailing", f"The WebSocket check fails: {detail}.", checks
        )
    slow = _slow(report, spec, database, performance)
    if slow:
        return Assessment("degraded", "P2", "Slow", slow, checks)
    used = storage.get("usedPercent")
    if storage.get("status") in ("warn", "fail") or (
        isinstance(used, int | float) and used > STORAGE_USED_WARN_PERCENT
    ):
        return Assessment(
            "degraded",
            "P3",
            "StorageLow",
            f"The data volume is {used}% full ({storage.get('freeBytes', '?')} bytes free).",
            checks,
        )
    warned = sorted(name for name, check in checks.items() if check.get("status") != "ok")
    if warned or body.get("status") not in ("healthy", None):
        return Assessment(
            "degraded", "P3", "Warning", f"Checks warn: {', '.join(warned) or 'overall'}.", checks
        )
    return Assessment("healthy", checks=checks, message="Every check passes.")


def _check(value: Mapping[str, Any]) -> dict[str, Any]:
    """A check as status shows it: its status and the values that say why (no latencies,
    which change at every probe and would cost a status write each)."""
    kept: dict[str, Any] = {"status": str(value.get("status", "unknown"))}
    for key in ("error", "acceptingJoins", "schemaVersion"):
        if key in value:
            kept[key] = value[key]
    if isinstance(value.get("usedPercent"), int | float):
        kept["usedPercent"] = int(value["usedPercent"])
    return kept


def _slow(
    report: Report,
    spec: HealthSpec,
    database: Mapping[str, Any],
    performance: Mapping[str, Any],
) -> str:
    if report.latency > spec.timeout_seconds / 2:
        return (
            f"/api/health took {report.latency * 1000:.0f} ms "
            f"(over half of timeoutSeconds={spec.timeout_seconds})."
        )
    if performance.get("status") in ("warn", "fail"):
        return (
            f"The server is slow: event-loop lag {performance.get('eventLoopLagMs', '?')} ms, "
            f"broadcast p95 {performance.get('broadcastP95Ms', '?')} ms."
        )
    if database.get("status") == "warn":
        return f"The database is slow: {database.get('latencyMs', '?')} ms per query."
    return ""


@dataclass(frozen=True)
class History:
    """What the operator remembers of a room's health between probes."""

    consecutive_failures: int = 0  # probes in a row at P0 or P1
    restarts: tuple[float, ...] = ()  # times (epoch seconds) of auto-heal restarts
    last_reason: str = ""
    exhausted: bool = False  # the budget was spent: Stalled until the window or spec allows

    def after(self, assessment: Assessment) -> History:
        failures = self.consecutive_failures + 1 if assessment.failing else 0
        return History(failures, self.restarts, self.last_reason, self.exhausted)

    def restarted(self, now: float, reason: str) -> History:
        return History(0, (*self.restarts, now), reason, False)


@dataclass(frozen=True)
class Heal:
    restart: bool = False
    exhausted: bool = False  # the budget is spent: phase Failed, Stalled=True, no restart
    reason: str = ""
    message: str = ""


def heal(
    spec: HealthSpec,
    assessment: Assessment,
    history: History,
    now: float,
    maintenance: bool = False,
    rollout_verifying: bool = False,
    kubelet_restarting: bool = False,
) -> Heal:
    """Whether to restart the room's Pod now (auto-heal), and whether the budget is spent.

    Only P0/P1 after `failureThreshold` probes in a row; never in maintenance, while a
    rollout verifies a new version (the rollout decides then), or while the kubelet is
    restarting the container itself (CrashLoopBackOff: its job, not ours).
    """
    if not spec.restart_unhealthy or maintenance or rollout_verifying or kubelet_restarting:
        return Heal()
    if not assessment.failing or history.consecutive_failures < spec.failure_threshold:
        return Heal()
    recent = [t for t in history.restarts if now - t < HOUR]
    if len(recent) >= spec.max_restarts_per_hour:
        return Heal(
            exhausted=True,
            reason="AutoHealExhausted",
            message=(
                f"{assessment.reason}: {len(recent)} restarts in the last hour spent the "
                f"budget (health.maxRestartsPerHour={spec.max_restarts_per_hour}); no more "
                "restarts until the hour allows one or the spec changes."
            ),
        )
    return Heal(
        restart=True,
        reason=assessment.reason,
        message=(
            f"Restarting the room's Pod: {assessment.message} "
            f"({history.consecutive_failures} failed probes in a row, "
            f"restart {len(recent) + 1} of {spec.max_restarts_per_hour} this hour)."
        ),
    )


def next_budget_in(spec: HealthSpec, history: History, now: float) -> float | None:
    """Seconds until the oldest restart leaves the hour's window (when exhausted)."""
    recent = sorted(t for t in history.restarts if now - t < HOUR)
    if len(recent) < spec.max_restarts_per_hour or not recent:
        return None
    return max(HOUR - (now - recent[0]), 0.0)
