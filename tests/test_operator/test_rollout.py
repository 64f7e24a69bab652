"""Rollouts against kubesandbox: a bad version is rolled back on its own, with a reason users
can act on; autoRollback false halts; history keeps its limit; WaitForIdle waits for the
turn to end (and maxWaitSeconds bounds the wait).

The rooms run the stand-in image `drawgame.test/sickroom:<mode>` (tests/test_operator/
standins/sickroom; `healthy.2` is the healthy mode under another tag): a kubesandbox image
rule starts it instead of the game. Every room is created at once with the shortest
periods the CRD allows (health every 5 s, healthWindowSeconds and progressDeadlineSeconds
10 s), so the cases wait on the operator's own timers side by side. Pods get loopback IPs
in kubesandbox, so the test talks to a stand-in's admin API (to start a turn) directly.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from .harness import (
    KUBECTL,
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

pytestmark = [pytest.mark.integration, pytest.mark.kubesandbox_only, pytest.mark.timeout(300)]

IMAGE = SICKROOM_IMAGE
FAST = {"healthWindowSeconds": 10, "progressDeadlineSeconds": 10}
TURN = 12  # seconds of the turn drawn in the `wait` room when its update is asked for

# name: (spec.rollout, the image or spec change of the second revision)
# Immediate rollouts; a deadline long enough for a crash loop to show first (the old Pod
# stops first: its preStop sleep is 5 s).
NOW = {**FAST, "strategy": "Immediate", "progressDeadlineSeconds": 40}

# A maintenance window that opens twelve hours from now for an hour: closed all test long.
CLOSED_WINDOW = {
    "schedule": f"0 {(datetime.now(UTC).hour + 12) % 24} * * *",
    "durationMinutes": 60,
}

# name: (spec.rollout, the image or spec change of the second revision)
ROOMS: dict[str, dict[str, Any]] = {
    "crash": {"rollout": NOW, "next": {"image": f"{IMAGE}:crash"}},
    "stuck": {
        "rollout": {**NOW, "progressDeadlineSeconds": 10},
        "next": {"image": f"{IMAGE}:never-ready"},
    },
    "dbbad": {"rollout": NOW, "next": {"image": f"{IMAGE}:db-fails"}},
    "smoke": {"rollout": NOW, "next": {"image": f"{IMAGE}:smoke-fails"}},
    "skip": {"rollout": NOW, "next": {"image": f"{IMAGE}:smoke-fails"}},
    "halt": {"rollout": {**NOW, "autoRollback": False}, "next": {"image": f"{IMAGE}:crash"}},
    # Game settings as revisions (liveSettings off): each change is a rollout in the history.
    "hist": {
        "rollout": {**NOW, "revisionHistoryLimit": 2, "liveSettings": False},
        "next": {"game": {"rounds": 4}},
    },
    "wait": {"rollout": {**FAST, "maxWaitSeconds": 600}, "next": {"image": f"{IMAGE}:healthy.2"}},
    "maxw": {"rollout": {**FAST, "maxWaitSeconds": 3}, "next": {"image": f"{IMAGE}:healthy.2"}},
    "now": {"rollout": {**FAST, "maxWaitSeconds": 600}, "next": {"image": f"{IMAGE}:healthy.2"}},
    "win": {"rollout": {**FAST, "window": CLOSED_WINDOW}, "next": {"image": f"{IMAGE}:healthy.2"}},
}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    yield from standin_sandbox(tmp_path_factory.mktemp("rollout-sandbox"))


@pytest.fixture(scope="module")
def kubectl(sandbox: Any) -> Iterator[Kubectl]:
    install_crd(str(sandbox.kubeconfig))
    yield from new_namespace(str(sandbox.kubeconfig), "roll")


@pytest.fixture(scope="module")
def operator(
    sandbox: Any, kubectl: Kubectl, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OperatorProcess]:
    yield from run_operator(
        str(sandbox.kubeconfig), tmp_path_factory.mktemp("operator"), kubectl.namespace
    )


def room(kubectl: Kubectl, name: str) -> dict[str, Any]:
    return kubectl.json("gameroom", name)


def rollout(kubectl: Kubectl, name: str) -> dict[str, Any]:
    return (room(kubectl, name).get("status") or {}).get("rollout") or {}


def rollout_is(kubectl: Kubectl, name: str, phase: str) -> dict[str, Any] | None:
    found = rollout(kubectl, name)
    return found if found.get("phase") == phase else None


def verified(kubectl: Kubectl, name: str, revision: int) -> dict[str, Any] | None:
    """The room's rollout Succeeded with `revision` current."""
    found = rollout_is(kubectl, name, "Succeeded")
    return found if found and found.get("currentRevision") == revision else None


def events(kubectl: Kubectl, name: str) -> list[dict[str, Any]]:
    items = kubectl.json("events", "--field-selector", f"involvedObject.name={name}")["items"]
    return [e for e in items if e["involvedObject"].get("kind") == "GameRoom"]


def event(kubectl: Kubectl, name: str, reason: str) -> dict[str, Any] | None:
    return next((e for e in events(kubectl, name) if e["reason"] == reason), None)


def revisions(kubectl: Kubectl, name: str) -> list[dict[str, Any]]:
    listed = kubectl.json("controllerrevisions", "-l", f"drawgame.dev/revision-of={name}")
    return sorted(listed["items"], key=lambda r: int(r["revision"]))


def pod(kubectl: Kubectl, name: str) -> dict[str, Any] | None:
    selector = f"app.kubernetes.io/name=gameroom,app.kubernetes.io/instance={name}"
    pods = kubectl.json("pods", "-l", selector)["items"]
    live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    return live[0] if len(live) == 1 else None


def serving(kubectl: Kubectl, name: str, image: str) -> dict[str, Any] | None:
    """The room's one Pod runs `image` and is Ready."""
    found = pod(kubectl, name)
    if found is None or found["spec"]["containers"][0]["image"] != image:
        return None
    ready = any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in found["status"].get("conditions") or []
    )
    return found if ready else None


def deployment_image(kubectl: Kubectl, name: str) -> str:
    found = kubectl.json("deployment", name)
    return str(found["spec"]["template"]["spec"]["containers"][0]["image"])


def admin_call(kubectl: Kubectl, name: str, method: str, path: str, body: Any = None) -> Any:
    """The stand-in's admin API, straight at its Pod's loopback IP."""
    secret = kubectl.json("secret", f"{name}-admin-token")
    token = base64.b64decode(secret["data"]["token"]).decode()
    found = pod(kubectl, name)
    assert found is not None
    request = urllib.request.Request(  # noqa: S310 - a loopback URL of the sandbox
        f"http://{found['status']['podIP']}:8081{path}",
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        return json.loads(response.read())


@pytest.fixture(scope="module")
def first(kubectl: Kubectl, operator: OperatorProcess) -> dict[str, Any]:
    """Every room created at once on a healthy first revision, which succeeds."""
    for name, case in ROOMS.items():
        kubectl.apply(
            {
                "apiVersion": "drawgame.dev/v1alpha1",
                "kind": "GameRoom",
                "metadata": {"name": name},
                "spec": {
                    "image": f"{IMAGE}:healthy",
                    "health": {"periodSeconds": 5, "timeoutSeconds": 2, "failureThreshold": 2},
                    "rollout": case["rollout"],
                },
            }
        )
    for name in ROOMS:
        found = wait_for(
            f"{name}: revision 1 verified", lambda n=name: rollout_is(kubectl, n, "Succeeded"), 120
        )
        assert (found["currentRevision"], found["updateRevision"]) == (1, 1)
    return {name: revisions(kubectl, name) for name in ROOMS}


def stamp(text: str) -> float:
    """Epoch seconds of an API time."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def second(kubectl: Kubectl, name: str, cause: str = "") -> float:
    """Ask for the room's second revision; returns when (epoch seconds)."""
    if cause:
        kubectl.run(
            "annotate", "gameroom", name, f"kubernetes.io/change-cause={cause}", "--overwrite"
        )
    kubectl.patch_room(name, ROOMS[name]["next"])
    return datetime.now(UTC).timestamp()


def gameroom(kubectl: Kubectl, *args: str) -> subprocess.CompletedProcess[str]:
    """`kubectl gameroom ARGS`, found by kubectl's plugin discovery on PATH."""
    path = f"{Path(KUBECTL).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    result = subprocess.run(
        [KUBECTL, "gameroom", *args, "-n", kubectl.namespace, "--kubeconfig", kubectl.kubeconfig],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PATH": path},
    )
    assert result.returncode == 0, (args, result.stdout, result.stderr)
    return result


@pytest.fixture(scope="module")
def changed(kubectl: Kubectl, first: dict[str, Any]) -> dict[str, Any]:
    """Every room asked for its second revision at once (the cases then run side by side):
    turns drawn in the WaitForIdle rooms first, the emergency annotation on `skip`."""
    admin_call(kubectl, "maxw", "PUT", "/admin/test/turn", {"seconds": 600, "players": 3})
    admin_call(kubectl, "now", "PUT", "/admin/test/turn", {"seconds": 600, "players": 3})
    before = datetime.now(UTC).timestamp()
    admin_call(kubectl, "wait", "PUT", "/admin/test/turn", {"seconds": TURN, "players": 3})
    kubectl.run("annotate", "gameroom", "skip", "drawgame.dev/skip-smoke-test=true")
    asked = {name: second(kubectl, name, f"try {name}") for name in ROOMS}
    return {"asked": asked, "turn_ends": before + TURN}


def test_first_revision_is_recorded_as_a_controller_revision(first: dict[str, Any]) -> None:
    [made] = first["crash"]
    assert made["data"]["image"] == f"{IMAGE}:healthy"
    assert made["metadata"]["annotations"]["drawgame.dev/outcome"] == "Succeeded"
    assert made["metadata"]["ownerReferences"][0]["kind"] == "GameRoom"


def test_wait_for_idle_holds_the_update_until_the_turn_ends(
    kubectl: Kubectl, changed: dict[str, Any]
) -> None:
    turn_ends = changed["turn_ends"]  # at the latest a moment later, in the stand-in
    waiting = wait_for("wait holds the update", lambda: rollout_is(kubectl, "wait", "Waiting"), 30)
    assert waiting["waitingSince"] and waiting["updateRevision"] == 2
    assert serving(kubectl, "wait", f"{IMAGE}:healthy")  # the turn goes on, on the old version
    reconciling = condition(room(kubectl, "wait"), "Reconciling")
    assert (reconciling["status"], reconciling["reason"]) == ("True", "RolloutWaiting")
    told = wait_for(
        "players told", lambda: admin_call(kubectl, "wait", "GET", "/admin/test/announcements")
    )
    assert "update" in told[0]
    assert wait_for("RolloutWaiting event", lambda: event(kubectl, "wait", "RolloutWaiting"))
    started = wait_for(
        "wait applies after the turn",
        lambda: rollout(kubectl, "wait").get("startedAt") or None,
        60,
    )
    applied = datetime.strptime(started, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    assert applied >= turn_ends - 1.0  # startedAt has whole seconds
    wait_for("wait verified", lambda: verified(kubectl, "wait", 2), 60)
    assert serving(kubectl, "wait", f"{IMAGE}:healthy.2")
    # kubectl gameroom rollout --now: the waiting update is applied during the turn.
    wait_for("now waits", lambda: rollout_is(kubectl, "now", "Waiting"), 30)
    assert "applied now" in gameroom(kubectl, "rollout", "now", "--now").stdout
    forced = wait_for("now applied", lambda: event(kubectl, "now", "RolloutForced"), 30)
    assert "revision 2" in forced["message"]
    wait_for("now verified", lambda: verified(kubectl, "now", 2), 60)
    # maxWaitSeconds: 3 ends the wait during a 600 s turn, with an event.
    expired = wait_for("maxw applies", lambda: event(kubectl, "maxw", "RolloutWaitExpired"), 60)
    assert "maxWaitSeconds=3" in expired["message"]
    wait_for("maxw verified", lambda: verified(kubectl, "maxw", 2), 60)


def test_a_closed_maintenance_window_holds_the_update_until_rollout_now(
    kubectl: Kubectl, first: dict[str, Any], changed: dict[str, Any]
) -> None:
    # The room's creation (revision 1) was not held by its closed window: `first` saw it
    # verified.
    held = wait_for(
        "win waits for its window",
        lambda: (found := rollout(kubectl, "win")).get("reason") == "WaitingForWindow" and found,
        30,
    )
    assert (held["phase"], held["updateRevision"], held["currentRevision"]) == ("Waiting", 2, 1)
    assert held["waitingSince"] and "opens at" in held["message"]
    assert wait_for("window event", lambda: event(kubectl, "win", "RolloutWaitingForWindow"))
    old = serving(kubectl, "win", f"{IMAGE}:healthy")
    assert old is not None  # the old Pod keeps serving
    assert deployment_image(kubectl, "win") == f"{IMAGE}:healthy"
    told = gameroom(kubectl, "rollout", "win", "--now").stdout
    assert "maintenance window" in told, told
    forced = wait_for("win applied", lambda: event(kubectl, "win", "RolloutForced"), 30)
    assert "maintenance window" in forced["message"]
    wait_for("win verified", lambda: verified(kubectl, "win", 2), 60)
    new = serving(kubectl, "win", f"{IMAGE}:healthy.2")
    assert new is not None and new["metadata"]["uid"] != old["metadata"]["uid"]


def test_bad_versions_are_rolled_back_with_a_reason_and_the_old_version_serves(
    kubectl: Kubectl, changed: dict[str, Any]
) -> None:
    asked = changed["asked"]
    wanted = {
        "crash": "CrashLoopBackOff: exit code 3",
        "stuck": "NotReady: progress deadline 10s exceeded",
        "dbbad": "HealthCheckFailed: database",
        "smoke": "SmokeTestFailed: draw: no echo of the stroke",
    }
    back: dict[str, float] = {}
    for name, reason in wanted.items():
        found = wait_for(
            f"{name} rolled back", lambda n=name: rollout_is(kubectl, n, "RolledBack"), 120
        )
        assert (found["currentRevision"], found["updateRevision"]) == (1, 2)
        assert found["reason"] == reason.split(":")[0]
        old = wait_for(
            f"{name}: the old version serves",
            lambda n=name: serving(kubectl, n, f"{IMAGE}:healthy"),
            60,
        )
        # When it served again: its Pod's Ready transition (whole seconds), whatever ran
        # before this test.
        ready = next(c for c in old["status"]["conditions"] if c["type"] == "Ready")
        served = stamp(ready["lastTransitionTime"])
        if name == "crash":
            # The first failure signal: the kubelet's BackOff event for the crashing Pod.
            signals = [
                e
                for e in kubectl.json("events")["items"]
                if e["reason"] == "BackOff" and e["involvedObject"]["name"].startswith("crash-")
            ]
            signal_to_serving = served - min(stamp(e["firstTimestamp"]) for e in signals)
        back[name] = round(served - asked[name], 1)
        warned = wait_for(
            f"{name}: RolledBack event", lambda n=name: event(kubectl, n, "RolledBack")
        )
        assert warned["type"] == "Warning" and reason in warned["message"]
        current = room(kubectl, name)
        degraded = condition(current, "Degraded")
        assert (degraded["status"], degraded["reason"]) == ("True", "RolledBack")
        assert deployment_image(kubectl, name) == f"{IMAGE}:healthy"
        assert current["spec"]["image"] == ROOMS[name]["next"]["image"]  # the spec is the user's
        bad = revisions(kubectl, name)[-1]
        annotations = bad["metadata"]["annotations"]
        assert (
            annotations["drawgame.dev/outcome"],
            annotations["drawgame.dev/outcome-reason"],
        ) == (
            "RolledBack",
            reason,
        )
        assert annotations["kubernetes.io/change-cause"] == f"try {name}"
    # The failed revision is not tried again: a later spec change that asks for no new
    # revision (a health setting) is applied, and the old version stays.
    kubectl.patch_room("crash", {"health": {"timeoutSeconds": 3}})
    generation = room(kubectl, "crash")["metadata"]["generation"]
    wait_for(
        "the later change applied",
        lambda: room(kubectl, "crash")["status"].get("observedGeneration") == generation,
        30,
    )
    assert rollout(kubectl, "crash")["phase"] == "RolledBack"
    assert deployment_image(kubectl, "crash") == f"{IMAGE}:healthy"
    assert len(revisions(kubectl, "crash")) == 2
    header, row = kubectl.run("get", "gameroom", "crash").stdout.splitlines()
    assert "ROLLOUT" in header.split() and "RolledBack" in row.split()
    print(f"from the spec change to the old version serving again: {back}")
    print(f"crash loop: first BackOff event to the old version serving: {signal_to_serving:.1f}s")
    assert signal_to_serving <= 15.0


def test_skip_smoke_test_deploys_once_without_it(kubectl: Kubectl, changed: dict[str, Any]) -> None:
    wait_for("skip verified", lambda: verified(kubectl, "skip", 2), 90)
    skipped = event(kubectl, "skip", "SmokeTestSkipped")
    assert skipped is not None and skipped["type"] == "Warning"
    annotations = room(kubectl, "skip")["metadata"].get("annotations") or {}
    assert "drawgame.dev/skip-smoke-test" not in annotations  # the next rollout only
    assert kubectl.maybe("job", "skip-smoke-r2") is None
    assert serving(kubectl, "skip", f"{IMAGE}:smoke-fails")


def test_auto_rollback_false_halts_and_reports(kubectl: Kubectl, changed: dict[str, Any]) -> None:
    found = wait_for("halt fails", lambda: rollout_is(kubectl, "halt", "Failed"), 90)
    assert found["reason"] == "CrashLoopBackOff"
    assert "autoRollback is false" in found["message"]
    assert deployment_image(kubectl, "halt") == f"{IMAGE}:crash"  # halted, not rolled back
    warned = wait_for("RolloutFailed event", lambda: event(kubectl, "halt", "RolloutFailed"))
    assert warned["type"] == "Warning"
    assert condition(room(kubectl, "halt"), "Degraded")["reason"] == "RolloutFailed"


def test_history_keeps_its_limit(kubectl: Kubectl, changed: dict[str, Any]) -> None:
    for rounds in (4, 5):
        if rounds == 5:
            kubectl.patch_room("hist", {"game": {"rounds": rounds}})
        wait_for(
            f"rounds {rounds} rolled out",
            lambda r=rounds: (
                (found := rollout(kubectl, "hist")).get("phase") == "Succeeded"
                and found.get("currentRevision") == r - 2
            ),
            90,
        )
    kept = revisions(kubectl, "hist")
    assert [int(r["revision"]) for r in kept] == [2, 3]  # revisionHistoryLimit: 2
    assert kept[-1]["data"]["settings"]["game"]["rounds"] == 5
    assert all(r["metadata"]["annotations"]["drawgame.dev/outcome"] == "Succeeded" for r in kept)
    # A dry run validates and changes nothing.
    manifest = room(kubectl, "hist")
    manifest["spec"]["image"] = f"{IMAGE}:healthy.3"
    for key in ("resourceVersion", "managedFields", "uid", "creationTimestamp", "generation"):
        manifest["metadata"].pop(key, None)
    manifest.pop("status")
    dry = kubectl.run(
        "apply",
        "--server-side",
        "--force-conflicts",
        "--dry-run=server",
        "-o",
        "json",
        "-f",
        "-",
        stdin=json.dumps(manifest),
    )
    assert json.loads(dry.stdout)["spec"]["image"] == f"{IMAGE}:healthy.3"
    assert room(kubectl, "hist")["spec"]["image"] == f"{IMAGE}:healthy"
    manifest["spec"]["rollout"] = {"healthWindowSeconds": 5}
    refused = kubectl.run(
        "apply",
        "--server-side",
        "--dry-run=server",
        "-f",
        "-",
        stdin=json.dumps(manifest),
        check=False,
    )
    assert refused.returncode != 0 and "healthWindowSeconds" in refused.stderr
    # kubectl gameroom history: the table for people, JSON for scripts.
    listed = json.loads(gameroom(kubectl, "history", "hist", "-o", "json").stdout)
    assert [r["revision"] for r in listed["revisions"]] == [2, 3]
    assert listed["rollout"]["currentRevision"] == 3
    screen = gameroom(kubectl, "history", "hist").stdout
    assert "REVISION" in screen and "CHANGE-CAUSE" in screen
    [line] = [row for row in screen.splitlines() if row.startswith("3 ")]
    assert "Succeeded" in line and line.endswith("current")
    # kubectl gameroom rollback --to-revision 2: the spec goes back, and is rolled out as
    # the newest revision with the change-cause.
    told = gameroom(kubectl, "rollback", "hist", "--to-revision", "2").stdout
    assert "revision 2" in told
    assert room(kubectl, "hist")["spec"]["game"]["rounds"] == 4
    wait_for(
        "the rollback rolled out",
        lambda: (
            (found := rollout(kubectl, "hist")).get("phase") == "Succeeded"
            and found.get("currentRevision") == 4
        ),
        90,
    )
    back = revisions(kubectl, "hist")
    assert [int(r["revision"]) for r in back] == [3, 4]
    assert back[-1]["data"]["settings"]["game"]["rounds"] == 4
    cause = back[-1]["metadata"]["annotations"]["kubernetes.io/change-cause"]
    assert cause == "kubectl gameroom rollback --to-revision 2"


def test_rollout_now_refuses_a_rolled_back_revision_and_retry_tries_it_again(
    kubectl: Kubectl, changed: dict[str, Any]
) -> None:
    wait_for("smoke rolled back", lambda: rollout_is(kubectl, "smoke", "RolledBack"), 120)
    path = f"{Path(KUBECTL).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    refused = subprocess.run(
        [
            *(KUBECTL, "gameroom", "rollout", "smoke", "--now", "-n", kubectl.namespace),
            *("--kubeconfig", kubectl.kubeconfig),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PATH": path},
    )
    assert refused.returncode == 1, refused
    assert "revision 2 was rolled back (SmokeTestFailed)" in refused.stderr
    assert "not retried until the spec changes" in refused.stderr
    assert "kubectl gameroom rollout smoke --retry" in refused.stderr
    told = gameroom(kubectl, "rollout", "smoke", "--retry").stdout
    assert "revision 2 (RolledBack: SmokeTestFailed) is rolled out again" in told
    retried = wait_for("RolloutRetried", lambda: event(kubectl, "smoke", "RolloutRetried"), 30)
    assert "revision 2" in retried["message"]
    # The revision goes through verification again, with a smoke test of its own (the old
    # failed Job is not read again), and is rolled back again.
    again = wait_for(
        "a second smoke test",
        lambda: [
            j
            for j in kubectl.json("jobs")["items"]
            if j["metadata"]["name"].startswith("smoke-smoke-r2-")
        ],
        90,
    )
    assert len(again) == 1
    wait_for(
        "rolled back twice",
        lambda: len([e for e in events(kubectl, "smoke") if e["reason"] == "RolledBack"]) == 2,
        120,
    )
    found = wait_for("smoke RolledBack", lambda: rollout_is(kubectl, "smoke", "RolledBack"), 30)
    assert (found["currentRevision"], found["updateRevision"]) == (1, 2)
    annotations = revisions(kubectl, "smoke")[-1]["metadata"]["annotations"]
    assert annotations["drawgame.dev/outcome"] == "RolledBack"
    assert annotations["drawgame.dev/retried-for"]
    assert wait_for("the old version", lambda: serving(kubectl, "smoke", f"{IMAGE}:healthy"), 60)


def test_a_manual_rollback_is_remembered_across_an_operator_restart(
    kubectl: Kubectl, operator: OperatorProcess, changed: dict[str, Any]
) -> None:
    """A rollback is urgent (no maintenance window holds it); an operator restart while it
    waits for a turn must not forget that, or the closed window would hold it."""
    wait_for("win verified", lambda: verified(kubectl, "win", 2), 90)
    admin_call(kubectl, "win", "PUT", "/admin/test/turn", {"seconds": 600, "players": 3})
    gameroom(kubectl, "rollback", "win", "--to-revision", "1")
    waiting = wait_for(
        "the rollback waits for the turn",
        lambda: (
            (found := rollout(kubectl, "win")).get("updateRevision") == 3
            and found.get("reason") == "WaitingForIdle"
            and found
        ),
        30,
    )
    assert waiting["phase"] == "Waiting"
    assert revisions(kubectl, "win")[-1]["metadata"]["annotations"]["drawgame.dev/rollback"] == (
        "true"
    )
    operator.stop()
    operator.start()
    admin_call(kubectl, "win", "PUT", "/admin/test/turn", {"seconds": 0, "players": 3})
    wait_for("the rollback applied after the restart", lambda: verified(kubectl, "win", 3), 90)
    assert serving(kubectl, "win", f"{IMAGE}:healthy")
    assert not event(kubectl, "win", "RolloutWaitingForWindow") or all(
        "revision 3" not in e["message"]
        for e in events(kubectl, "win")
        if e["reason"] == "RolloutWaitingForWindow"
    )
