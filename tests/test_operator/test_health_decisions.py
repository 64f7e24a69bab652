"""The health concern's pure decisions: severities and auto-heal with a budget."""

from __future__ import annotations

from typing import Any

import pytest
from gameroom_operator.health import (
    HOUR,
    Assessment,
    HealthSpec,
    History,
    Report,
    assess,
    heal,
    next_budget_in,
)

SPEC = HealthSpec.of({"health": {"periodSeconds": 15, "timeoutSeconds": 4, "failureThreshold": 3}})


def body(**overrides: Any) -> dict[str, Any]:
    checks: dict[str, Any] = {
        "database": {"status": "ok", "latencyMs": 1.2},
        "websocket": {"status": "ok", "acceptingJoins": True},
        "storage": {"status": "ok", "usedPercent": 12.5, "freeBytes": 10**9},
    }
    for name, value in overrides.pop("checks", {}).items():
        checks[name] = {**checks[name], **value}
    return {
        "status": "healthy",
        "checks": checks,
        "performance": {"status": "ok", "eventLoopLagMs": 1, "broadcastP95Ms": 0.4},
        "maintenance": False,
        **overrides,
    }


CASES = [
    ("healthy", Report(True, body=body(), latency=0.01), ("healthy", "", "")),
    ("timed out", Report(False, error="timed out"), ("unhealthy", "P0", "Unreachable")),
    ("refused", Report(False, error="connection failed"), ("unhealthy", "P0", "Unreachable")),
    (
        "database fails",
        Report(True, body=body(status="unhealthy", checks={"database": {"status": "fail"}})),
        ("unhealthy", "P0", "DatabaseFailing"),
    ),
    (
        "websocket fails",
        Report(True, body=body(checks={"websocket": {"status": "fail"}})),
        ("unhealthy", "P1", "WebSocketFailing"),
    ),
    (
        "refuses joins outside maintenance",
        Report(True, body=body(checks={"websocket": {"acceptingJoins": False}})),
        ("unhealthy", "P1", "WebSocketFailing"),
    ),
    (
        "refuses joins in maintenance",
        Report(True, body=body(maintenance=True, checks={"websocket": {"acceptingJoins": False}})),
        ("healthy", "", ""),
    ),
    ("slow probe", Report(True, body=body(), latency=2.5), ("degraded", "P2", "Slow")),
    (
        "event loop lag",
        Report(True, body=body(status="degraded", performance={"status": "warn"})),
        ("degraded", "P2", "Slow"),
    ),
    (
        "slow database",
        Report(True, body=body(status="degraded", checks={"database": {"status": "warn"}})),
        ("degraded", "P2", "Slow"),
    ),
    (
        "storage above 80%",
        Report(True, body=body(checks={"storage": {"usedPercent": 85.0}})),
        ("degraded", "P3", "StorageLow"),
    ),
    (
        "storage low",
        Report(True, body=body(status="degraded", checks={"storage": {"status": "warn"}})),
        ("degraded", "P3", "StorageLow"),
    ),
]


@pytest.mark.parametrize(("report", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_severity(report: Report, expected: tuple[str, str, str]) -> None:
    verdict = assess(report, SPEC)
    assert (verdict.status, verdict.severity, verdict.reason) == expected
    assert verdict.summary == (f"{expected[0]}/{expected[1]}" if expected[1] else "healthy")


def test_checks_in_status_leave_out_what_changes_at_every_probe() -> None:
    verdict = assess(Report(True, body=body(), latency=0.01), SPEC)
    assert verdict.checks["database"] == {"status": "ok"}
    assert verdict.checks["storage"] == {"status": "ok", "usedPercent": 12}
    assert assess(Report(True, body=body(), latency=0.02), SPEC) == verdict


def test_the_spec_defaults_are_the_crds() -> None:
    spec = HealthSpec.of({})
    assert (spec.period_seconds, spec.timeout_seconds, spec.failure_threshold) == (15, 5, 3)
    assert spec.restart_unhealthy and spec.max_restarts_per_hour == 3


P0 = Assessment("unhealthy", "P0", "DatabaseFailing", "The database check fails: x.")
P2 = Assessment("degraded", "P2", "Slow", "slow")
NOW = 100_000.0


def failing(times: int, restarts: tuple[float, ...] = ()) -> History:
    history = History(restarts=restarts)
    for _ in range(times):
        history = history.after(P0)
    return history


@pytest.mark.parametrize(
    ("history", "kwargs", "restart", "exhausted"),
    [
        (failing(2), {}, False, False),  # below the threshold
        (failing(3), {}, True, False),  # at the threshold
        (failing(3), {"maintenance": True}, False, False),
        (failing(3), {"rollout_verifying": True}, False, False),
        (failing(3), {"kubelet_restarting": True}, False, False),
        (failing(3, (NOW - 100, NOW - 50)), {}, True, False),  # 2 of 3 spent
        (failing(3, (NOW - 300, NOW - 100, NOW - 50)), {}, False, True),  # budget spent
        (failing(3, (NOW - HOUR - 1, NOW - 100, NOW - 50)), {}, True, False),  # one aged out
    ],
    ids=[
        "below-threshold",
        "at-threshold",
        "maintenance",
        "rollout-verifying",
        "kubelet-restarting",
        "budget-left",
        "budget-spent",
        "window-moved",
    ],
)
def test_auto_heal(
    history: History, kwargs: dict[str, bool], restart: bool, exhausted: bool
) -> None:
    decided = heal(SPEC, P0, history, NOW, **kwargs)
    assert (decided.restart, decided.exhausted) == (restart, exhausted)
    if exhausted:
        assert decided.reason == "AutoHealExhausted" and "maxRestartsPerHour=3" in decided.message


def test_slow_or_minor_never_restarts_and_flapping_starts_the_count_again() -> None:
    assert not heal(SPEC, P2, failing(10), NOW).restart
    flapping = failing(2).after(P2).after(P0).after(P0)
    assert flapping.consecutive_failures == 2
    assert not heal(SPEC, P0, flapping, NOW).restart


def test_restart_unhealthy_false_never_restarts() -> None:
    spec = HealthSpec.of({"health": {"restartUnhealthy": False}})
    assert heal(spec, P0, failing(5), NOW) == heal(spec, P0, History(), NOW)
    assert not heal(spec, P0, failing(5), NOW).restart


def test_the_budget_comes_back_when_the_oldest_restart_leaves_the_hour() -> None:
    history = failing(3, (NOW - 3000, NOW - 100, NOW - 50))
    assert next_budget_in(SPEC, history, NOW) == pytest.approx(600)
    assert next_budget_in(SPEC, failing(3, (NOW - 100,)), NOW) is None
