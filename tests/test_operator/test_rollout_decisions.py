"""The rollout concern's pure decisions: revisions, phases, waiting, verification, rollback."""

from __future__ import annotations

from typing import Any

import pytest
from gameroom_operator.health import Assessment
from gameroom_operator.rollout import (
    Activity,
    Decision,
    PodFacts,
    Progress,
    Revision,
    RolloutSpec,
    Smoke,
    conditions_of,
    decide,
    pod_failure,
    progress_from,
    revision_from,
    revision_manifest,
    status_of,
    to_prune,
)

T0 = 1_800_000_000.0
SPEC = RolloutSpec.of(
    {"rollout": {"healthWindowSeconds": 30, "progressDeadlineSeconds": 60, "maxWaitSeconds": 120}}
)
IMMEDIATE = SPEC.model_copy(update={"strategy": "Immediate"})
NO_ROLLBACK = SPEC.model_copy(update={"auto_rollback": False})

HEALTHY = Assessment("healthy")
DB_FAILS = Assessment("unhealthy", "P0", "DatabaseFailing", "The database check fails: locked.")
SLOW = Assessment("degraded", "P2", "Slow", "slow")
DRAWING = Activity(phase="drawing", players=4, turn_ends_in=12.0)
BETWEEN = Activity(phase="turn_end", players=4)
EMPTY_DRAWING = Activity(phase="drawing", players=0, turn_ends_in=50.0)

SERVING = Progress("Succeeded", current=2, update=2)
PROGRESSING = Progress("Progressing", 2, 3, started=T0, reason="Progressing")
VERIFYING = Progress("Verifying", current=2, update=3, started=T0, healthy_since=T0 + 5)
WAITING = Progress("Waiting", 2, 3, waiting_since=T0, reason="WaitingForIdle")
NEW_POD_STARTING = PodFacts(ready=False, runs_update=True)
NEW_POD_READY = PodFacts(ready=True, runs_update=True)
CRASHING = PodFacts(ready=False, runs_update=True, failure="CrashLoopBackOff: exit code 3")


def step(
    progress: Progress,
    desired: int = 3,
    pod: PodFacts = NEW_POD_STARTING,
    assessment: Assessment | None = None,
    activity: Activity | None = None,
    at: float = 0.0,
    spec: RolloutSpec = SPEC,
    force: bool = False,
) -> Decision:
    return decide(spec, progress, desired, pod, assessment, activity, T0 + at, force)


# (case, decision, phase, rendered revision, applies, reason)
CASES: list[tuple[str, Decision, str, int, bool, str]] = [
    ("first revision applies at once", step(Progress(), 1), "Progressing", 1, True, "Progressing"),
    ("nothing new", step(SERVING, 2), "Succeeded", 2, False, ""),
    ("idle room applies at once", step(SERVING, activity=BETWEEN), "Progressing", 3, True, ""),
    ("unknown activity applies", step(SERVING, activity=None), "Progressing", 3, True, ""),
    (
        "empty room drawing applies",
        step(SERVING, activity=EMPTY_DRAWING),
        "Progressing",
        3,
        True,
        "",
    ),
    ("turn drawn: waits", step(SERVING, activity=DRAWING), "Waiting", 2, False, "WaitingForIdle"),
    (
        "Immediate ignores the turn",
        step(SERVING, activity=DRAWING, spec=IMMEDIATE),
        "Progressing",
        3,
        True,
        "",
    ),
    (
        "--now ignores the turn",
        step(SERVING, activity=DRAWING, force=True),
        "Progressing",
        3,
        True,
        "",
    ),
    (
        "still drawing",
        step(WAITING, activity=DRAWING, at=30),
        "Waiting",
        2,
        False,
        "WaitingForIdle",
    ),
    ("turn over", step(WAITING, activity=BETWEEN, at=30), "Progressing", 3, True, ""),
    ("maxWaitSeconds spent", step(WAITING, activity=DRAWING, at=120), "Progressing", 3, True, ""),
    ("Pod starting", step(PROGRESSING, at=10), "Progressing", 3, False, "Progressing"),
    (
        "Pod Ready, first probe due",
        step(PROGRESSING, pod=NEW_POD_READY, at=10),
        "Verifying",
        3,
        False,
        "Verifying",
    ),
    (
        "healthy, window running",
        step(PROGRESSING, pod=NEW_POD_READY, assessment=HEALTHY, at=10),
        "Verifying",
        3,
        False,
        "Verifying",
    ),
    (
        "P2 does not fail a window",
        step(VERIFYING, pod=NEW_POD_READY, assessment=SLOW, at=20),
        "Verifying",
        3,
        False,
        "Verifying",
    ),
    (
        "window held: verified",
        step(VERIFYING, pod=NEW_POD_READY, assessment=HEALTHY, at=35),
        "Succeeded",
        3,
        False,
        "Verified",
    ),
    (
        "crash loop: rolled back",
        step(PROGRESSING, pod=CRASHING, at=3),
        "RolledBack",
        2,
        True,
        "CrashLoopBackOff",
    ),
    (
        "database fails: rolled back",
        step(VERIFYING, pod=NEW_POD_READY, assessment=DB_FAILS, at=20),
        "RolledBack",
        2,
        True,
        "HealthCheckFailed",
    ),
    ("never Ready: rolled back", step(PROGRESSING, at=60), "RolledBack", 2, True, "NotReady"),
    (
        "autoRollback false: halts",
        step(PROGRESSING, pod=CRASHING, spec=NO_ROLLBACK),
        "Failed",
        3,
        False,
        "CrashLoopBackOff",
    ),
    (
        "first revision failing waits",
        step(Progress("Progressing", 0, 1, started=T0), 1, CRASHING),
        "Progressing",
        1,
        False,
        "CrashLoopBackOff",
    ),
    (
        "rolled back stays",
        step(Progress("RolledBack", 2, 3), pod=PodFacts(True, False)),
        "RolledBack",
        2,
        False,
        "",
    ),
    ("failed stays", step(Progress("Failed", 2, 3), pod=CRASHING, at=999), "Failed", 3, False, ""),
    (
        "a new spec after a rollback",
        step(Progress("RolledBack", 2, 3), 4),
        "Progressing",
        4,
        True,
        "",
    ),
    (
        "old Pod's failure is not the update's",
        step(PROGRESSING, pod=PodFacts(False, False, "CrashLoopBackOff: exit code 1"), at=5),
        "Progressing",
        3,
        False,
        "",
    ),
]


@pytest.mark.parametrize(
    ("decision", "phase", "rendered", "applies", "reason"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_decisions(
    decision: Decision, phase: str, rendered: int, applies: bool, reason: str
) -> None:
    assert decision.progress.phase == phase
    assert decision.progress.rendered == rendered
    assert decision.apply is applies
    if reason:
        assert decision.progress.reason == reason


def test_a_crash_loop_rolls_back_with_the_exit_code_an_event_and_an_outcome() -> None:
    decided = step(PROGRESSING, pod=CRASHING, at=3)
    assert decided.outcomes == ((3, "RolledBack", "CrashLoopBackOff: exit code 3"),)
    [(kind, reason, message)] = decided.events
    assert (kind, reason) == ("Warning", "RolledBack")
    assert "CrashLoopBackOff: exit code 3" in message
    assert "Rolled back to revision 2" in message


def test_a_failing_database_names_the_check_and_its_detail() -> None:
    decided = step(VERIFYING, pod=NEW_POD_READY, assessment=DB_FAILS, at=20)
    assert decided.outcomes == ((3, "RolledBack", "HealthCheckFailed: database"),)
    assert "locked" in decided.progress.message


def test_the_progress_deadline_is_named() -> None:
    assert step(PROGRESSING, at=59).progress.phase == "Progressing"
    decided = step(PROGRESSING, at=60)
    assert decided.outcomes[0][2] == "NotReady: progress deadline 60s exceeded"


def test_a_halt_says_why_and_keeps_the_revision() -> None:
    decided = step(PROGRESSING, pod=CRASHING, spec=NO_ROLLBACK)
    assert decided.outcomes == ((3, "Failed", "CrashLoopBackOff: exit code 3"),)
    assert decided.events[0][:2] == ("Warning", "RolloutFailed")
    assert "autoRollback is false" in decided.progress.message


def test_a_success_records_the_outcome_and_makes_it_current() -> None:
    decided = step(VERIFYING, pod=NEW_POD_READY, assessment=HEALTHY, at=35)
    assert decided.outcomes == ((3, "Succeeded", ""),)
    assert (decided.progress.current, decided.progress.update) == (3, 3)
    assert decided.events[0][1] == "RolloutSucceeded"


def test_the_window_counts_from_the_first_healthy_probe() -> None:
    first = step(PROGRESSING, pod=NEW_POD_READY, assessment=HEALTHY, at=10)
    assert first.progress.healthy_since == T0 + 10
    assert first.recheck_in == 30
    later = decide(SPEC, first.progress, 3, NEW_POD_READY, HEALTHY, None, T0 + 39)
    assert later.progress.phase == "Verifying"
    done = decide(SPEC, first.progress, 3, NEW_POD_READY, HEALTHY, None, T0 + 40)
    assert done.progress.phase == "Succeeded"


def test_a_pod_that_goes_unready_while_verifying_restarts_the_window() -> None:
    decided = step(VERIFYING, pod=NEW_POD_STARTING, at=20)
    assert decided.progress.phase == "Progressing"
    assert decided.progress.healthy_since == 0.0


def test_waiting_announces_once_and_rechecks_when_the_turn_ends() -> None:
    first = step(SERVING, activity=DRAWING)
    assert first.announce and first.events[0][1] == "RolloutWaiting"
    assert first.recheck_in == 12.0
    again = step(first.progress, activity=DRAWING, at=5)
    assert again.announce == "" and again.events == ()
    unknown_end = step(first.progress, activity=Activity("drawing", 3), at=5)
    assert unknown_end.recheck_in == 2.0


def test_an_update_to_connected_players_is_announced() -> None:
    assert step(WAITING, activity=BETWEEN, at=10).announce
    assert step(WAITING, activity=Activity("lobby", 0), at=10).announce == ""


def test_max_wait_applies_with_an_event() -> None:
    decided = step(WAITING, activity=DRAWING, at=120)
    assert decided.events[0][1] == "RolloutWaitExpired"
    assert decided.announce
    assert step(WAITING, activity=DRAWING, at=119).recheck_in == 1.0


def test_a_new_spec_supersedes_an_unverified_update() -> None:
    decided = step(VERIFYING, desired=4, pod=NEW_POD_READY, assessment=HEALTHY, at=10)
    assert decided.outcomes[0][:2] == (3, "Superseded")
    assert decided.progress.update == 4 and decided.progress.current == 2


def test_a_first_revision_is_verified_once_it_serves_healthy() -> None:
    first = Progress("Verifying", 0, 1, started=T0, healthy_since=T0 + 5)
    sick = step(first, 1, NEW_POD_READY, DB_FAILS, at=10)
    assert sick.progress.phase == "Verifying" and sick.progress.healthy_since == 0.0
    assert sick.outcomes == () and sick.events == ()
    assert "HealthCheckFailed: database" in sick.progress.message
    well = step(sick.progress, 1, NEW_POD_READY, HEALTHY, at=20)
    done = decide(SPEC, well.progress, 1, NEW_POD_READY, HEALTHY, None, T0 + 50)
    assert done.progress.phase == "Succeeded" and done.progress.current == 1


def test_the_smoke_test_starts_once_healthy_and_gates_success() -> None:
    started = decide(SPEC, PROGRESSING, 3, NEW_POD_READY, HEALTHY, None, T0 + 10, smoke=Smoke())
    assert started.start_smoke and started.progress.phase == "Verifying"
    running = Smoke("Running")
    held = decide(SPEC, VERIFYING, 3, NEW_POD_READY, HEALTHY, None, T0 + 40, smoke=running)
    assert held.progress.phase == "Verifying" and held.progress.reason == "SmokeTesting"
    assert not held.start_smoke
    passed = Smoke("Succeeded")
    done = decide(SPEC, VERIFYING, 3, NEW_POD_READY, HEALTHY, None, T0 + 40, smoke=passed)
    assert done.progress.phase == "Succeeded"
    failed = Smoke("Failed", "draw: no echo of the stroke")
    back = decide(SPEC, VERIFYING, 3, NEW_POD_READY, HEALTHY, None, T0 + 12, smoke=failed)
    assert back.progress.phase == "RolledBack"
    assert back.outcomes == ((3, "RolledBack", "SmokeTestFailed: draw: no echo of the stroke"),)
    first = Progress("Verifying", 0, 1, started=T0, healthy_since=T0 + 5)
    alone = decide(SPEC, first, 1, NEW_POD_READY, HEALTHY, None, T0 + 40, smoke=Smoke())
    assert alone.progress.phase == "Succeeded" and not alone.start_smoke


def test_a_newer_spec_waits_for_the_pod_being_started() -> None:
    held = step(PROGRESSING, desired=4, at=5)
    assert held.progress == PROGRESSING and not held.apply and held.recheck_in == 1.0
    crashed = step(PROGRESSING, desired=4, pod=CRASHING, at=5)
    assert crashed.progress.update == 4 and crashed.apply
    ready = step(PROGRESSING, desired=4, pod=NEW_POD_READY, at=5)
    assert ready.progress.update == 4
    late = step(PROGRESSING, desired=4, at=60)  # progressDeadlineSeconds bounds the wait
    assert late.progress.update == 4 and late.outcomes[0][:2] == (3, "Superseded")


def test_reverting_the_spec_to_what_serves_succeeds_without_verifying() -> None:
    decided = step(PROGRESSING, desired=2, at=5)
    assert decided.progress.phase == "Succeeded"
    assert decided.progress.rendered == 2
    assert decided.apply  # the update's template was applied: put the current one back
    after_rollback = step(Progress("RolledBack", 2, 3), desired=2)
    assert after_rollback.progress.phase == "Succeeded" and not after_rollback.apply


def test_status_round_trips_and_conditions() -> None:
    for progress in (WAITING, PROGRESSING, VERIFYING, SERVING, Progress()):
        assert progress_from(status_of(progress)).phase == progress.phase
        back = progress_from(status_of(progress))
        assert (back.current, back.update) == (progress.current, progress.update)
    assert progress_from(status_of(WAITING)).waiting_since == T0
    assert status_of(WAITING)["waitingSince"] == "2027-01-15T08:00:00Z"
    assert progress_from(None) == Progress()
    assert conditions_of(PROGRESSING)[0] is not None
    assert conditions_of(SERVING) == (None, None)
    rolled = step(PROGRESSING, pod=CRASHING).progress
    assert conditions_of(rolled) == (None, ("True", "RolledBack", rolled.message))


def pod(waiting: str, last_exit: int | None = None, message: str = "") -> dict[str, Any]:
    container: dict[str, Any] = {"state": {"waiting": {"reason": waiting, "message": message}}}
    if last_exit is not None:
        container["lastState"] = {"terminated": {"exitCode": last_exit}}
    return {"status": {"phase": "Running", "containerStatuses": [container]}}


@pytest.mark.parametrize(
    ("body", "failure"),
    [
        (pod("CrashLoopBackOff", 3, "back-off 10s"), "CrashLoopBackOff: exit code 3"),
        (pod("ImagePullBackOff", None, "no such image"), "ImagePullBackOff: no such image"),
        (pod("ContainerCreating"), ""),
        ({"status": {"phase": "Running"}}, ""),
        ({"status": {"phase": "Failed", "reason": "Evicted"}}, "PodFailed: Evicted"),
    ],
)
def test_pod_failure(body: dict[str, Any], failure: str) -> None:
    assert pod_failure(body) == failure


def revision(number: int, outcome: str = "") -> Revision:
    return Revision(
        number, f"img:{number}", f"h{number}", {"game": {"rounds": number}}, outcome=outcome
    )


def test_revisions_round_trip_through_their_controller_revision() -> None:
    made = Revision(
        4,
        "ghcr.io/drawgame/gameroom:0.3",
        "abc",
        {"game": {"rounds": 5}},
        "bump",
        "2026-12-03T20:00:00Z",
    )
    manifest = revision_manifest(made, "room", "ns", {"a": "b"}, {"kind": "GameRoom"})
    assert manifest["metadata"]["name"] == f"room-rev-{made.key}"
    assert manifest["metadata"]["annotations"]["kubernetes.io/change-cause"] == "bump"
    back = revision_from(manifest)
    assert back is not None
    assert (back.number, back.image, back.settings, back.change_cause) == (
        4,
        made.image,
        made.settings,
        "bump",
    )
    assert revision_from({"data": {}}) is None


def test_a_pinned_revision_replaces_image_and_settings_only() -> None:
    spec = {"image": "new", "game": {"rounds": 9}, "maintenance": {"enabled": True}}
    pinned = revision(2).pinned(spec)
    assert pinned == {"image": "img:2", "game": {"rounds": 2}, "maintenance": {"enabled": True}}
    assert "rateLimits" not in Revision(1, "x", "h").pinned({"rateLimits": {"chatBurst": 3}})


def test_history_keeps_the_limit_and_never_prunes_current_or_update() -> None:
    revisions = [revision(i) for i in range(1, 8)]
    assert [r.number for r in to_prune(revisions, 3, {7})] == [4, 3, 2, 1]
    assert [r.number for r in to_prune(revisions, 3, {7, 1})] == [5, 4, 3, 2]
    assert to_prune(revisions, 10, set()) == []
