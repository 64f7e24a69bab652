"""Health checks that act: severities, the Healthy condition, auto-heal and its budget.

The rooms run the stand-in image `drawgame.test/sickroom:<mode>` (tests/test_operator/
standins/sickroom): a kubesandbox image rule starts it instead of the game, and its tag
says how it is sick. Every room uses spec.health's shortest period (5 s), so each case
waits on the operator's own timers, and the rooms are created together so their timers
run side by side.

With `--cluster=kubeconfig` they run on a real cluster: there the stand-in is an image per
mode, `$SICKROOM_IMAGE:<mode>` (default `drawgame.test/sickroom`), built from the
Dockerfile beside it; `make e2e-kind` (tools/e2e-kind.sh) builds every mode and loads them
into its kind cluster. Elsewhere, build and push them yourself and set SICKROOM_IMAGE to
their repository.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from .harness import (
    SICKROOM_IMAGE,
    Kubectl,
    OperatorProcess,
    condition,
    install_crd,
    new_namespace,
    run_operator,
    standin_sandbox,
    wait_for,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

IMAGE = SICKROOM_IMAGE  # tagged with the mode
PERIOD = 5  # spec.health.periodSeconds: the CRD's minimum
THRESHOLD = 2

ROOMS: dict[str, dict[str, Any]] = {
    # name: (image tag, spec.health)
    "once": {"mode": "sick-once", "health": {}},
    "hang": {"mode": "hangs", "health": {"restartUnhealthy": False}},
    "sock": {"mode": "ws-fails", "health": {"restartUnhealthy": False}},
    "slow": {"mode": "slow", "health": {}},
    "doom": {"mode": "db-fails", "health": {"maxRestartsPerHour": 1}},
    "deaf": {"mode": "deaf", "health": {}, "maintenance": {"enabled": True, "message": "brb"}},
}


@pytest.fixture(scope="module")
def sandbox(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    if request.config.getoption("--cluster") == "kubeconfig":
        # A real cluster pulls (or finds loaded) the stand-in's image of each mode.
        yield request.getfixturevalue("kube_sandbox")
        return
    yield from standin_sandbox(tmp_path_factory.mktemp("sickroom-sandbox"))


@pytest.fixture(scope="module")
def kubectl(sandbox: Any) -> Iterator[Kubectl]:
    install_crd(str(sandbox.kubeconfig))
    yield from new_namespace(str(sandbox.kubeconfig), "heal")


@pytest.fixture(scope="module")
def operator(
    sandbox: Any, kubectl: Kubectl, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    # No --probe-interval: each room is probed on its own spec.health.periodSeconds.
    yield from run_operator(
        str(sandbox.kubeconfig), tmp_path_factory.mktemp("operator"), kubectl.namespace
    )


@pytest.fixture(scope="module")
def rooms(kubectl: Kubectl, operator: OperatorProcess) -> dict[str, float]:
    """Create every room at once; returns when each was applied (monotonic seconds)."""
    created: dict[str, float] = {}
    for name, room in ROOMS.items():
        health = {
            "periodSeconds": PERIOD,
            "timeoutSeconds": 2,
            "failureThreshold": THRESHOLD,
            **room["health"],
        }
        kubectl.apply(
            {
                "apiVersion": "drawgame.dev/v1alpha1",
                "kind": "GameRoom",
                "metadata": {"name": name},
                "spec": {
                    "image": f"{IMAGE}:{room['mode']}",
                    "health": health,
                    "maintenance": room.get("maintenance", {}),
                },
            }
        )
        created[name] = time.monotonic()
    return created


def room(kubectl: Kubectl, name: str) -> dict[str, Any]:
    return kubectl.json("gameroom", name)


def room_events(kubectl: Kubectl, name: str) -> list[dict[str, Any]]:
    items = kubectl.json("events", "--field-selector", f"involvedObject.name={name}")["items"]
    return [e for e in items if e["involvedObject"].get("kind") == "GameRoom"]


def reasons(kubectl: Kubectl, name: str) -> list[str]:
    return [e["reason"] for e in room_events(kubectl, name)]


def summary_is(kubectl: Kubectl, name: str, wanted: str) -> dict[str, Any] | None:
    found = room(kubectl, name)
    return found if (found.get("status") or {}).get("healthSummary") == wanted else None


def test_a_room_sick_until_restarted_is_restarted_once_and_recovers(
    kubectl: Kubectl, rooms: dict[str, float]
) -> None:
    def recovered() -> dict[str, Any] | None:
        found = room(kubectl, "once")
        health = (found.get("status") or {}).get("health") or {}
        restarts = (health.get("restarts") or {}).get("count")
        return found if restarts == 1 and health.get("status") == "healthy" else None

    found = wait_for("a restart and a healthy room", recovered, 180)
    health = found["status"]["health"]
    assert health["restarts"]["lastReason"] == "DatabaseFailing"
    assert condition(found, "Healthy")["status"] == "True"
    assert found["status"]["phase"] == "Ready"
    seen = reasons(kubectl, "once")
    assert seen.count("AutoHealRestart") == 1
    assert seen.count("DatabaseFailing") == 1  # one event per transition, not per probe
    restart = next(e for e in room_events(kubectl, "once") if e["reason"] == "AutoHealRestart")
    assert restart["type"] == "Warning" and "DatabaseFailing" not in restart["reason"]
    assert "database is locked" in restart["message"]


def test_a_hanging_health_endpoint_is_p0_unreachable(
    kubectl: Kubectl, rooms: dict[str, float]
) -> None:
    found = wait_for("unhealthy/P0", lambda: summary_is(kubectl, "hang", "unhealthy/P0"), 120)
    health = found["status"]["health"]
    assert health["reason"] == "Unreachable"
    assert "did not answer within 2s" in health["message"]
    healthy = condition(found, "Healthy")
    assert (healthy["status"], healthy["reason"]) == ("False", "Unreachable")
    assert found["status"]["phase"] == "Degraded"
    assert condition(found, "Degraded")["reason"] == "Unreachable"
    # restartUnhealthy: false: the failures count up, nothing is restarted.
    wait_for(
        "the failures to reach the threshold (the count stops there)",
        lambda: room(kubectl, "hang")["status"]["health"]["consecutiveFailures"] == THRESHOLD,
        60,
    )
    assert "restarts" not in room(kubectl, "hang")["status"]["health"]
    events = room_events(kubectl, "hang")
    unreachable = [e for e in events if e["reason"] == "Unreachable"]
    assert len(unreachable) == 1 and unreachable[0]["type"] == "Warning"
    assert "AutoHealRestart" not in reasons(kubectl, "hang")


def test_a_failing_websocket_check_is_p1(kubectl: Kubectl, rooms: dict[str, float]) -> None:
    found = wait_for("unhealthy/P1", lambda: summary_is(kubectl, "sock", "unhealthy/P1"), 120)
    assert found["status"]["health"]["reason"] == "WebSocketFailing"
    assert found["status"]["health"]["checks"]["websocket"]["status"] == "fail"
    assert condition(found, "Healthy")["reason"] == "WebSocketFailing"
    columns = kubectl.run("get", "gameroom", "sock", "--no-headers").stdout.split()
    assert "unhealthy/P1" in columns


def test_a_slow_room_is_p2_and_never_restarted(kubectl: Kubectl, rooms: dict[str, float]) -> None:
    found = wait_for("degraded/P2", lambda: summary_is(kubectl, "slow", "degraded/P2"), 120)
    assert found["status"]["health"]["reason"] == "Slow"
    assert condition(found, "Ready")["status"] == "True"  # still serving players
    wait_for(
        "more probes",
        lambda: room(kubectl, "slow")["status"]["health"].get("since") is not None,
        30,
    )
    assert "AutoHealRestart" not in reasons(kubectl, "slow")


def test_a_permanently_sick_room_spends_its_budget_and_stalls(
    kubectl: Kubectl, rooms: dict[str, float], operator: OperatorProcess
) -> None:
    def stalled() -> dict[str, Any] | None:
        found = room(kubectl, "doom")
        return found if condition(found, "Stalled").get("reason") == "AutoHealExhausted" else None

    found = wait_for("Stalled=True with AutoHealExhausted", stalled, 180)
    assert condition(found, "Stalled")["status"] == "True"
    assert found["status"]["phase"] == "Failed"
    assert found["status"]["health"]["restarts"]["count"] == 1
    pod_names = {
        p["metadata"]["name"]
        for p in kubectl.json("pods", "-l", "app.kubernetes.io/instance=doom")["items"]
    }
    # Three more probe periods: no further restart, no second AutoHealExhausted event. (A
    # window in which nothing may happen: it can pass wrongly on a slow machine, never fail
    # wrongly.)
    time.sleep(3 * PERIOD)
    seen = reasons(kubectl, "doom")
    assert seen.count("AutoHealRestart") == 1
    assert seen.count("AutoHealExhausted") == 1
    after = {
        p["metadata"]["name"]
        for p in kubectl.json("pods", "-l", "app.kubernetes.io/instance=doom")["items"]
    }
    assert after == pod_names
    metrics = operator.metrics()
    assert metrics["gameroom_operator_autoheal_restarts_total"] >= 2  # once and doom
    assert metrics["gameroom_operator_autoheal_exhausted_rooms"] >= 1
    # A spec change gives the room a new budget.
    kubectl.run(
        "patch",
        "gameroom",
        "doom",
        "--type=merge",
        "-p",
        '{"spec":{"health":{"maxRestartsPerHour":2}}}',
    )
    wait_for(
        "a new restart under the new budget",
        lambda: reasons(kubectl, "doom").count("AutoHealRestart") == 2,
        120,
    )


def test_a_room_that_ignores_the_maintenance_switch_is_degraded_with_one_warning(
    kubectl: Kubectl, rooms: dict[str, float]
) -> None:
    def degraded() -> dict[str, Any] | None:
        found = room(kubectl, "deaf")
        return found if condition(found, "Degraded").get("reason") == "MaintenanceFailed" else None

    found = wait_for("Degraded with MaintenanceFailed", degraded, 120)
    assert found["status"]["phase"] == "Degraded"
    assert "still reports maintenance off" in condition(found, "Degraded")["message"]
    # More probes (each tries the switch again): still one Warning, and never a claim
    # that maintenance was switched on.
    wait_for(
        "two more probe periods",
        lambda: (
            room(kubectl, "deaf")["status"]["health"].get("consecutiveFailures") == 0
            and time.monotonic() - rooms["deaf"] > 4 * PERIOD
        ),
        120,
    )
    events = room_events(kubectl, "deaf")
    failed = [e for e in events if e["reason"] == "MaintenanceFailed"]
    assert len(failed) == 1 and failed[0]["type"] == "Warning"
    assert "MaintenanceOn" not in [e["reason"] for e in events]
