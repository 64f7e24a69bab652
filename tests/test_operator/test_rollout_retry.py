"""`kubectl gameroom rollout --retry`: a rolled-back (or halted) revision rolled out again
though the spec did not change; the pure decision and the smoke-test name."""

from __future__ import annotations

from gameroom_operator.rollout import (
    Activity,
    PodFacts,
    Progress,
    RolloutSpec,
    decide,
)
from gameroom_operator.rollouts import smoke_job_name

T0 = 1_800_000_000.0
SPEC = RolloutSpec.of({"rollout": {"healthWindowSeconds": 30, "maxWaitSeconds": 120}})
IMMEDIATE = SPEC.model_copy(update={"strategy": "Immediate"})
ROLLED_BACK = Progress("RolledBack", 2, 3, reason="CrashLoopBackOff", message="...")
HALTED = Progress("Failed", 2, 3, reason="CrashLoopBackOff")
OLD_POD = PodFacts(ready=True, runs_update=False)
DRAWING = Activity(phase="drawing", players=4, turn_ends_in=12.0)


def test_without_retry_a_rolled_back_revision_stays_rolled_back() -> None:
    decided = decide(SPEC, ROLLED_BACK, 3, OLD_POD, None, None, T0, force=True)
    assert decided.progress == ROLLED_BACK and not decided.apply  # --now alone changes nothing


def test_retry_rolls_the_revision_out_again_and_takes_back_its_verdict() -> None:
    decided = decide(IMMEDIATE, ROLLED_BACK, 3, OLD_POD, None, None, T0, retry=True)
    assert decided.progress.phase == "Progressing" and decided.progress.update == 3
    assert decided.progress.current == 2 and decided.progress.started == T0
    assert decided.apply and decided.retried
    assert decided.outcomes[0] == (3, "", "")
    kind, reason, message = decided.events[0]
    assert (kind, reason) == ("Normal", "RolloutRetried")
    assert "revision 3 (RolledBack: CrashLoopBackOff)" in message


def test_a_retry_waits_for_the_turn_like_any_update_and_now_forces_it() -> None:
    waits = decide(SPEC, HALTED, 3, OLD_POD, None, DRAWING, T0, retry=True)
    assert waits.progress.phase == "Waiting" and not waits.apply and waits.retried
    assert [e[1] for e in waits.events] == ["RolloutRetried", "RolloutWaiting"]
    forced = decide(SPEC, HALTED, 3, OLD_POD, None, DRAWING, T0, force=True, retry=True)
    assert forced.progress.phase == "Progressing" and forced.apply


def test_retry_does_nothing_to_a_room_with_nothing_rolled_back() -> None:
    serving = Progress("Succeeded", 3, 3)
    assert not decide(SPEC, serving, 3, OLD_POD, None, None, T0, retry=True).retried
    # A spec change wins: the new revision is rolled out, not the old one retried.
    newer = decide(IMMEDIATE, ROLLED_BACK, 4, OLD_POD, None, None, T0, retry=True)
    assert newer.progress.update == 4 and not newer.retried


def test_a_retried_revision_gets_a_smoke_test_job_of_its_own() -> None:
    assert smoke_job_name("room", 3) == "room-smoke-r3"
    first = smoke_job_name("room", 3, "2026-12-03T22:00:00.000000Z")
    again = smoke_job_name("room", 3, "2026-12-03T23:00:00.000000Z")
    assert first.startswith("room-smoke-r3-") and first != again
    assert len(smoke_job_name("r" * 63, 100, "x")) <= 63
