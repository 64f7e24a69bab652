"""Pure status decisions: phase and kstatus conditions from what the operator observed."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from gameroom_operator.health import Assessment, History
from gameroom_operator.status import (
    Observation,
    Probe,
    decide,
    desired_status,
    status_changed,
)

HASH = "abc123"


def deployment(ready: int = 1, config: str = HASH, generation: int = 1) -> dict[str, Any]:
    return {
        "metadata": {"generation": generation, "annotations": {"drawgame.dev/config-hash": config}},
        "status": {
            "observedGeneration": generation,
            "replicas": 1,
            "updatedReplicas": 1,
            "readyReplicas": ready,
        },
    }


READY = Observation(
    generation=2,
    applied_generation=2,
    deployment=deployment(),
    config_hash=HASH,
    probe=Probe(reachable=True, health="healthy", players=3, version="0.1.0"),
    url="http://r.ns.svc/",
    image="img:0.1.0",
    version="0.1.0",
)


def conditions(obs: Observation) -> dict[str, str]:
    verdict = decide(obs)
    return {
        "phase": verdict.phase,
        "Ready": verdict.ready[0],
        "Progressing": verdict.progressing[0],
        "Degraded": verdict.degraded[0],
    }


def test_ready_room() -> None:
    assert conditions(READY) == {
        "phase": "Ready",
        "Ready": "True",
        "Progressing": "False",
        "Degraded": "False",
    }


def test_before_first_apply_the_room_is_pending() -> None:
    obs = replace(READY, applied_generation=None, deployment=None, probe=None)
    assert conditions(obs)["phase"] == "Pending"
    assert conditions(obs)["Progressing"] == "True"


def test_waiting_for_the_pod_is_starting() -> None:
    obs = replace(READY, deployment=deployment(ready=0), probe=None)
    assert conditions(obs) == {
        "phase": "Starting",
        "Ready": "False",
        "Progressing": "True",
        "Degraded": "False",
    }


def test_old_pod_still_serving_new_settings_is_starting() -> None:
    obs = replace(READY, deployment=deployment(config="old"))
    verdict = decide(obs)
    assert verdict.phase == "Starting"
    assert "new settings" in verdict.ready[2]


def test_crash_looping_server_is_failed_with_its_cause() -> None:
    obs = replace(
        READY,
        deployment=deployment(ready=0),
        probe=None,
        pod_problem="CrashLoopBackOff: back-off 40s restarting failed container",
    )
    verdict = decide(obs)
    assert verdict.phase == "Failed"
    assert verdict.degraded[0] == "True"
    assert "CrashLoopBackOff" in verdict.ready[2]


def test_refused_objects_are_failed_and_name_the_error() -> None:
    obs = replace(READY, apply_error="Service is invalid: port", apply_error_permanent=True)
    verdict = decide(obs)
    assert verdict.phase == "Failed"
    assert "Service is invalid" in verdict.ready[2]


def test_transient_apply_error_before_first_apply_is_pending_and_says_why() -> None:
    obs = replace(READY, applied_generation=None, deployment=None, apply_error="timeout")
    verdict = decide(obs)
    assert verdict.phase == "Pending"
    assert verdict.ready[2] == "timeout"


UNHEALTHY = Assessment("unhealthy", "P0", "DatabaseFailing", "The database check fails: locked.")
SLOW = Assessment("degraded", "P2", "Slow", "The server is slow.")


def test_an_unhealthy_room_is_degraded_and_not_ready() -> None:
    obs = replace(READY, assessment=UNHEALTHY)
    assert conditions(obs) == {
        "phase": "Degraded",
        "Ready": "False",
        "Progressing": "False",
        "Degraded": "True",
    }
    assert decide(obs).degraded[1] == "DatabaseFailing"


def test_a_slow_room_is_degraded_but_still_ready() -> None:
    verdict = decide(replace(READY, assessment=SLOW))
    assert (verdict.phase, verdict.ready[0], verdict.degraded[1]) == ("Degraded", "True", "Slow")


def test_the_healthy_condition_names_the_failing_check() -> None:
    status = desired_status(replace(READY, assessment=UNHEALTHY), {}, "t")
    healthy = next(c for c in status["conditions"] if c["type"] == "Healthy")
    assert (healthy["status"], healthy["reason"]) == ("False", "DatabaseFailing")
    assert status["healthSummary"] == "unhealthy/P0"
    assert status["health"]["severity"] == "P0"
    fine = desired_status(replace(READY, assessment=Assessment("healthy")), {}, "t")
    assert next(c for c in fine["conditions"] if c["type"] == "Healthy")["status"] == "True"
    assert fine["healthSummary"] == "healthy" and "severity" not in fine["health"]


def test_a_spent_auto_heal_budget_is_failed_and_stalled() -> None:
    spent = History(consecutive_failures=5, restarts=(1.0, 2.0, 3.0), exhausted=True)
    obs = replace(READY, assessment=UNHEALTHY, history=spent)
    status = desired_status(obs, {}, "t")
    assert status["phase"] == "Failed"
    stalled = next(c for c in status["conditions"] if c["type"] == "Stalled")
    assert (stalled["status"], stalled["reason"]) == ("True", "AutoHealExhausted")
    assert status["health"]["restarts"]["count"] == 3


def test_a_probe_that_only_moves_its_time_and_latency_writes_nothing() -> None:
    first = replace(
        READY, assessment=Assessment("healthy"), last_probe_time="t1", probe_latency_ms=3
    )
    written = desired_status(first, {}, "t")
    later = replace(first, last_probe_time="t2", probe_latency_ms=9)
    assert not status_changed(written, desired_status(later, written, "t"))
    failing = replace(later, assessment=UNHEALTHY)
    assert status_changed(written, desired_status(failing, written, "t"))


def test_maintenance_is_ready_but_says_so() -> None:
    probe = Probe(reachable=True, health="healthy", maintenance_enabled=True)
    verdict = decide(replace(READY, probe=probe))
    assert verdict.phase == "Maintenance"
    assert verdict.ready[0] == "True"


def test_ready_waits_for_the_first_health_report() -> None:
    # One status write says Ready with what the room reports, not two in a row.
    verdict = decide(replace(READY, probe=None))
    assert verdict.phase == "Starting"
    assert "Waiting for the game server" in verdict.ready[2]


def test_maintenance_wanted_and_admin_api_unreachable() -> None:
    unreachable = Probe(reachable=False, error="connection refused")
    obs = replace(READY, probe=unreachable, maintenance_wanted=True)
    assert decide(obs).phase == "Maintenance"


def test_unreachable_admin_api_is_degraded_with_unknown_health() -> None:
    obs = replace(READY, probe=Probe(reachable=False, error="timed out"))
    verdict = decide(obs)
    assert verdict.phase == "Degraded"
    assert verdict.ready[0] == "True"  # the Pod still serves players
    assert verdict.degraded[:2] == ("True", "HealthUnknown")
    assert "timed out" in verdict.degraded[2]
    status = desired_status(obs, {"players": 4}, "2026-01-01T00:00:00Z")
    assert status["health"]["status"] == "unknown"
    assert status["healthSummary"] == "unknown"
    assert status["players"] == 4  # the last known count, not a made-up zero


def test_a_refused_admin_token_is_degraded_and_says_so() -> None:
    refused = Probe(reachable=False, error="/admin/stats answered 401 (the admin token ...)")
    verdict = decide(replace(READY, probe=refused))
    assert (verdict.phase, verdict.degraded[1]) == ("Degraded", "AdminTokenRefused")


def test_a_ready_room_that_loses_readiness_is_degraded_not_starting() -> None:
    lost = replace(READY, pod_ready=False, deployment=deployment(ready=0))
    assert decide(replace(lost, previous_phase="Ready")).degraded[:2] == ("True", "NotReady")
    assert decide(replace(lost, previous_phase="Ready")).phase == "Degraded"
    # a room that never was Ready is still starting
    assert decide(replace(lost, previous_phase="Starting")).phase == "Starting"


def test_a_room_ignoring_the_maintenance_switch_is_degraded() -> None:
    ignoring = replace(READY, maintenance_wanted=True, maintenance_error="still reports off")
    verdict = decide(ignoring)
    assert (verdict.phase, verdict.degraded[1]) == ("Degraded", "MaintenanceFailed")


def test_a_name_conflict_is_failed_with_its_own_reason() -> None:
    conflict = replace(
        READY,
        apply_error="Service duo-admin already exists and belongs to GameRoom duo-admin",
        apply_error_permanent=True,
        apply_error_reason="NameConflict",
    )
    verdict = decide(conflict)
    assert (verdict.phase, verdict.ready[:2]) == ("Failed", ("False", "NameConflict"))
    assert "belongs to GameRoom duo-admin" in verdict.ready[2]


def test_a_failed_repair_shows_in_the_conditions() -> None:
    failed = replace(READY, apply_error="repairing failed: 500", apply_error_reason="RepairFailed")
    verdict = decide(failed)
    assert (verdict.phase, verdict.degraded[:2]) == ("Degraded", ("True", "RepairFailed"))


def test_deleting_is_terminating() -> None:
    assert decide(replace(READY, deleting=True)).phase == "Terminating"


def test_spec_change_not_yet_applied_is_progressing() -> None:
    obs = replace(READY, generation=3)
    assert conditions(obs)["Progressing"] == "True"


def test_status_fields_and_transition_times() -> None:
    first = desired_status(READY, {}, "2026-01-01T00:00:00Z")
    assert first["phase"] == "Ready"
    assert first["observedGeneration"] == 2
    assert first["players"] == 3
    assert first["version"] == "0.1.0"
    assert first["url"] == "http://r.ns.svc/"
    assert first["revision"] == HASH
    ready = next(c for c in first["conditions"] if c["type"] == "Ready")
    assert ready["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    # Same facts later: nothing to write, transition times kept.
    again = desired_status(READY, first, "2026-01-01T01:00:00Z")
    assert again == first
    assert not status_changed(first, again)
    # Pod lost: Ready flips, and its transition time moves; Degraded's stays.
    lost = desired_status(
        replace(READY, deployment=deployment(ready=0), probe=None), first, "2026-01-01T02:00:00Z"
    )
    assert status_changed(first, lost)
    times = {c["type"]: c["lastTransitionTime"] for c in lost["conditions"]}
    assert times["Ready"] == "2026-01-01T02:00:00Z"
    assert times["Degraded"] == "2026-01-01T00:00:00Z"


def test_sections_not_yet_acted_on_are_reported() -> None:
    obs = replace(READY, spec_sections=("backup", "game", "health", "restore", "rollout"))
    assert desired_status(obs, {}, "t")["notActedOn"] == []


def test_a_ready_pod_of_the_current_template_is_ready_before_the_deployment_says_so() -> None:
    lagging = deployment(ready=0)
    obs = replace(
        READY,
        deployment=lagging,
        pod_ready=True,
        pod_config_hash=HASH,
        pod_image="img:0.1.0",
    )
    assert decide(obs).phase == "Ready"
    # A ready Pod of the old settings is not enough.
    assert decide(replace(obs, pod_config_hash="old")).phase == "Starting"
    assert decide(replace(obs, pod_image="img:0.0.9")).phase == "Starting"


def _kstatus(obs: Observation) -> dict[str, str]:
    status = desired_status(obs, {}, "2026-01-01T00:00:00Z")
    return {c["type"]: c["status"] for c in status["conditions"]}


def test_kstatus_reconciling_while_pending_or_starting_stalled_when_failed() -> None:
    pending = replace(READY, applied_generation=None, deployment=None, probe=None)
    starting = replace(READY, deployment=deployment(ready=0), probe=None)
    failed = replace(READY, apply_error="Service is invalid", apply_error_permanent=True)
    assert _kstatus(READY)["Reconciling"] == _kstatus(READY)["Stalled"] == "False"
    assert _kstatus(pending)["Reconciling"] == "True"
    assert _kstatus(pending)["Stalled"] == "False"
    assert _kstatus(starting)["Reconciling"] == "True"
    assert _kstatus(failed) == {
        "Ready": "False",
        "Progressing": "False",
        "Degraded": "True",
        "Healthy": "Unknown",
        "Reconciling": "False",
        "Stalled": "True",
    }
    stalled = next(
        c for c in desired_status(failed, {}, "t")["conditions"] if c["type"] == "Stalled"
    )
    assert "Service is invalid" in stalled["message"]


def test_consecutive_failures_in_status_stop_at_the_threshold() -> None:
    down = replace(READY, assessment=UNHEALTHY, failure_threshold=3)
    three = desired_status(replace(down, history=History(consecutive_failures=3)), {}, "t")
    nine = desired_status(replace(down, history=History(consecutive_failures=9)), three, "t")
    assert three["health"]["consecutiveFailures"] == nine["health"]["consecutiveFailures"] == 3
    assert not status_changed(three, nine)
