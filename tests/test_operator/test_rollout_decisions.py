"""The rollout concern's pure decisions: revisions, phases, waiting, verification, rollback."""

from __future__ import annotations

from datetime import UTC, datetime
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
    # Revision 2 was made with its settings in it (not live): the pin switches live settings
    # off (they are on by default), so what runs is what the revision recorded.
    assert pinned == {
        "image": "img:2",
        "game": {"rounds": 2},
        "maintenance": {"enabled": True},
        "rollout": {"liveSettings": False},
    }
    assert "rateLimits" not in Revision(1, "x", "h").pinned({"rateLimits": {"chatBurst": 3}})


def test_history_keeps_the_limit_and_never_prunes_current_or_update() -> None:
    revisions = [revision(i) for i in range(1, 8)]
    assert [r.number for r in to_prune(revisions, 3, {7})] == [4, 3, 2, 1]
    assert [r.number for r in to_prune(revisions, 3, {7, 1})] == [5, 4, 3, 2]
    assert to_prune(revisions, 10, set()) == []


# ---- maintenance windows (spec.rollout.window) ------------------------------------------------


def _at(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def _windowed(window: dict[str, Any], **rollout: Any) -> RolloutSpec:
    return RolloutSpec.of({"rollout": {"maxWaitSeconds": 120, **rollout, "window": window}})


NIGHTLY = _windowed({"schedule": "0 2 * * *", "durationMinutes": 60})  # 02:00-03:00 UTC
HELD = Progress(
    "Waiting",
    2,
    3,
    waiting_since=_at("2027-01-14T20:00:00Z"),
    reason="WaitingForWindow",
    message="Revision 3 waits for the maintenance window",
)


def _decide(
    spec: RolloutSpec,
    progress: Progress,
    when: str,
    activity: Activity | None = None,
    force: bool = False,
    rollback: bool = False,
    desired: int = 3,
) -> Decision:
    return decide(
        spec,
        progress,
        desired,
        PodFacts(),
        None,
        activity,
        _at(when),
        force,
        rollback=rollback,
    )


def test_an_update_outside_the_window_waits_for_its_opening() -> None:
    decision = _decide(NIGHTLY, SERVING, "2027-01-14T20:00:00Z", BETWEEN)
    held = decision.progress
    assert (held.phase, held.reason, decision.apply) == ("Waiting", "WaitingForWindow", False)
    assert "opens at 2027-01-15T02:00:00Z" in held.message
    assert "--now" in held.message
    assert decision.recheck_in == pytest.approx(6 * 3600)
    assert [e[1] for e in decision.events] == ["RolloutWaitingForWindow"]
    assert status_of(held)["waitingSince"] == "2027-01-14T20:00:00Z"
    assert progress_from(status_of(held)).reason == "WaitingForWindow"
    # The next pass before the opening holds it again, without a second event.
    again = _decide(NIGHTLY, held, "2027-01-15T01:00:00Z", BETWEEN)
    assert (again.progress.reason, again.apply, again.events) == ("WaitingForWindow", False, ())
    assert again.recheck_in == pytest.approx(3600)
    assert again.progress.waiting_since == held.waiting_since


@pytest.mark.parametrize(
    ("when", "applied", "next_opening"),
    [
        ("2027-01-15T01:59:59Z", False, "2027-01-15T02:00:00Z"),
        ("2027-01-15T02:00:00Z", True, ""),
        ("2027-01-15T02:30:00Z", True, ""),
        ("2027-01-15T02:59:59Z", True, ""),
        ("2027-01-15T03:00:00Z", False, "2027-01-16T02:00:00Z"),
    ],
)
def test_window_edges(when: str, applied: bool, next_opening: str) -> None:
    for spec in (NIGHTLY, NIGHTLY.model_copy(update={"strategy": "Immediate"})):
        new = _decide(spec, SERVING, when, BETWEEN)
        assert new.apply is applied
        assert new.progress.phase == ("Progressing" if applied else "Waiting")
        if next_opening:
            assert f"opens at {next_opening}" in new.progress.message
            assert new.recheck_in == pytest.approx(_at(next_opening) - _at(when))
        # A held update reaching the same moment decides the same.
        assert _decide(spec, HELD, when, BETWEEN).apply is applied


@pytest.mark.parametrize(
    ("zone", "when", "applied", "next_opening"),
    [
        # 02:00 in Berlin is 01:00 UTC in winter (CET) and 00:00 UTC in summer (CEST).
        ("Europe/Berlin", "2027-01-15T01:30:00Z", True, ""),
        ("Europe/Berlin", "2027-01-15T02:30:00Z", False, "2027-01-16T01:00:00Z"),
        ("Europe/Berlin", "2027-07-15T00:30:00Z", True, ""),
        ("Europe/Berlin", "2027-07-15T01:30:00Z", False, "2027-07-16T00:00:00Z"),
        ("America/New_York", "2027-01-15T07:30:00Z", True, ""),
        ("America/New_York", "2027-01-15T02:30:00Z", False, "2027-01-15T07:00:00Z"),
        ("", "2027-01-15T02:30:00Z", True, ""),
    ],
)
def test_window_time_zones(zone: str, when: str, applied: bool, next_opening: str) -> None:
    spec = _windowed({"schedule": "0 2 * * *", "timeZone": zone, "durationMinutes": 60})
    decision = _decide(spec, SERVING, when, BETWEEN)
    assert decision.apply is applied
    if next_opening:
        assert f"opens at {next_opening}" in decision.progress.message
        assert decision.recheck_in == pytest.approx(_at(next_opening) - _at(when))


def test_rollout_now_overrides_a_closed_window() -> None:
    forced = _decide(NIGHTLY, HELD, "2027-01-14T21:00:00Z", DRAWING, force=True)
    assert (forced.apply, forced.progress.phase) == (True, "Progressing")
    assert forced.announce  # the players are told, as any update during a turn
    assert _decide(NIGHTLY, SERVING, "2027-01-14T21:00:00Z", BETWEEN, force=True).apply


def test_no_window_holds_a_rollback_or_a_rooms_first_revision() -> None:
    rollback = _decide(NIGHTLY, SERVING, "2027-01-14T21:00:00Z", BETWEEN, rollback=True)
    assert (rollback.apply, rollback.progress.phase) == (True, "Progressing")
    # A rollback that waits for the turn waits for the turn only.
    busy = _decide(NIGHTLY, SERVING, "2027-01-14T21:00:00Z", DRAWING, rollback=True)
    assert (busy.apply, busy.progress.reason) == (False, "WaitingForIdle")
    first = _decide(NIGHTLY, Progress(), "2027-01-14T21:00:00Z", desired=1)
    assert (first.apply, first.progress.phase) == (True, "Progressing")
    # An automatic rollback is not a new revision: it is applied at once.
    failing = decide(
        NIGHTLY,
        Progress("Progressing", 2, 3, started=_at("2027-01-15T02:10:00Z")),
        3,
        CRASHING,
        None,
        None,
        _at("2027-01-15T04:00:00Z"),
    )
    assert (failing.apply, failing.progress.phase) == (True, "RolledBack")


def test_in_the_window_wait_for_idle_counts_max_wait_from_the_opening() -> None:
    opened = _decide(NIGHTLY, HELD, "2027-01-15T02:00:00Z", DRAWING)
    waiting = opened.progress
    assert (opened.apply, waiting.reason) == (False, "WaitingForIdle")
    assert [e[1] for e in opened.events] == ["RolloutWaiting"] and opened.announce
    assert waiting.waiting_since == HELD.waiting_since  # status keeps when it started waiting
    # The update waited since 20:00 the day before, but maxWaitSeconds=120 starts at 02:00.
    still = _decide(NIGHTLY, waiting, "2027-01-15T02:01:59Z", DRAWING)
    assert (still.apply, still.events) == (False, ())
    expired = _decide(NIGHTLY, waiting, "2027-01-15T02:02:00Z", DRAWING)
    assert expired.apply and [e[1] for e in expired.events] == ["RolloutWaitExpired"]


def test_a_turn_still_drawn_at_the_windows_close_gets_the_update_then() -> None:
    short = _windowed({"schedule": "0 2 * * *", "durationMinutes": 10}, maxWaitSeconds=1800)
    waiting = _decide(short, HELD, "2027-01-15T02:05:00Z", DRAWING)
    assert waiting.progress.reason == "WaitingForIdle"
    assert waiting.recheck_in is not None and waiting.recheck_in <= 300
    closing = _decide(short, waiting.progress, "2027-01-15T02:10:00Z", DRAWING)
    assert closing.apply and "maintenance window closed" in closing.events[0][2]
    # Long after the close (the operator was down): it waits for the next window.
    later = _decide(short, waiting.progress, "2027-01-15T05:00:00Z", DRAWING)
    assert (later.apply, later.progress.reason) == (False, "WaitingForWindow")


def test_a_schedule_croniter_cannot_read_holds_nothing() -> None:
    spec = _windowed({"schedule": "99 2 * * *", "durationMinutes": 60})
    assert _decide(spec, SERVING, "2027-01-14T20:00:00Z", BETWEEN).apply


def test_window_spec_is_bounded() -> None:
    with pytest.raises(ValueError):
        _windowed({"schedule": "0 2 * * *", "durationMinutes": 0})
    with pytest.raises(ValueError):
        _windowed({"schedule": "0 2 * * *", "durationMinutes": 1441})
    assert SPEC.window is None
