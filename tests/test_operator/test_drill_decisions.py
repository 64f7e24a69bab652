"""The drill's pure decisions (drill.py): when one is due, and each step of one in progress."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from gameroom_operator.drill import (
    DRILL_OF_LABEL,
    DrillSpec,
    Scratch,
    due,
    observe,
    scratch_name,
    scratch_room,
    step,
)
from gameroom_operator.drills import Running

NOW = datetime(2026, 12, 3, 12, 30, tzinfo=UTC)
HOURLY = DrillSpec(schedule="0 * * * *", time_zone="", enabled=True)
OFF = DrillSpec.of({"backup": {}})


@pytest.mark.parametrize(
    ("spec", "last", "asked", "answered", "since", "expected"),
    [
        # Off unless spec.backup.drill is set: nothing due, no timer.
        (OFF, None, "", "", NOW, (False, None)),
        # An unanswered drill-now asks for one whatever the schedule.
        (OFF, None, "1", "", NOW, (True, None)),
        (OFF, None, "1", "1", NOW, (False, None)),
        # No drill yet: the first run after the operator first saw the schedule.
        (HOURLY, None, "", "", NOW, (False, 1800.0)),
        (HOURLY, None, "", "", NOW - timedelta(hours=1), (True, None)),
        # The next run after the last drill.
        (HOURLY, {"time": "2026-12-03T12:05:00Z"}, "", "", NOW, (False, 1800.0)),
        (HOURLY, {"time": "2026-12-03T11:05:00Z"}, "", "", NOW, (True, None)),
        # enabled: false stops the schedule, not drill-now.
        (DrillSpec("0 * * * *", "", False), None, "", "", NOW - timedelta(days=1), (False, None)),
        (DrillSpec("0 * * * *", "", False), None, "x", "", NOW, (True, None)),
    ],
)
def test_due(spec, last, asked, answered, since, expected) -> None:
    assert due(spec, last, asked, answered, since, NOW) == expected


def test_spec_of() -> None:
    assert DrillSpec.of(
        {"backup": {"drill": {"schedule": "@weekly"}, "timeZone": "Europe/Berlin"}}
    ) == (DrillSpec("@weekly", "Europe/Berlin", True))
    assert not DrillSpec.of(
        {"backup": {"drill": {"schedule": "@weekly", "enabled": False}}}
    ).enabled
    assert not OFF.enabled


def scratch(
    phase: str = "Succeeded", ready: bool = True, rows: int | None = 42, message: str = ""
) -> Scratch:
    return Scratch(phase, message, rows, "backup-20261203-120000.sql", ready)


STARTED = NOW - timedelta(seconds=30)


@pytest.mark.parametrize(
    ("seen", "smoke_started", "outcome", "rows", "started", "action", "phase", "says"),
    [
        (scratch("Running", ready=False), False, None, 42, STARTED, "wait", "Restoring", ""),
        (scratch("", ready=False), False, None, 42, STARTED, "wait", "Restoring", ""),
        (scratch(ready=False), False, None, 42, STARTED, "wait", "WaitingReady", ""),
        (scratch(), False, None, 42, STARTED, "smoke", "SmokeTest", ""),
        (scratch(), True, None, 42, STARTED, "wait", "SmokeTest", ""),
        (scratch(), True, "Complete", 42, STARTED, "finish", "Succeeded", "42 rows"),
        # No row count known for the backup: the smoke test decides alone.
        (scratch(), True, "Complete", None, STARTED, "finish", "Succeeded", ""),
        (scratch(rows=41), True, "Complete", 42, STARTED, "finish", "Failed", "41 rows"),
        (scratch(), True, "Failed", 42, STARTED, "finish", "Failed", "smoke test failed"),
        (
            scratch("Failed", False, None, "bad sha256"),
            False,
            None,
            42,
            STARTED,
            "finish",
            "Failed",
            "bad sha256",
        ),
        (None, False, None, 42, STARTED, "finish", "Failed", "gone"),
        # Timed out: never a scratch room left running for ever.
        (
            scratch("Running", ready=False),
            False,
            None,
            42,
            NOW - timedelta(seconds=301),
            "finish",
            "Failed",
            "not restored and Ready",
        ),
        (
            scratch(),
            True,
            None,
            42,
            NOW - timedelta(seconds=301),
            "finish",
            "Failed",
            "smoke test did not finish",
        ),
    ],
)
def test_step(seen, smoke_started, outcome, rows, started, action, phase, says) -> None:
    decided = step(seen, smoke_started, outcome, rows, started, NOW)
    assert (decided.action, decided.phase) == (action, phase)
    assert says in decided.message


def test_a_resumed_drill_carries_on_or_says_why_it_cannot() -> None:
    """A drill read back from status.backup.drill by a restarted operator goes on where it
    was; one whose scratch room is gone is Failed, saying the operator restarted."""
    carried = step(scratch(), False, None, 42, STARTED, NOW, resumed=True)
    assert (carried.action, carried.phase) == ("smoke", "SmokeTest")
    lost = step(None, False, None, 42, STARTED, NOW, resumed=True)
    assert (lost.action, lost.phase) == ("finish", "Failed")
    assert "operator restarted during the drill" in lost.message
    # Its deadline counts from when the drill first started, not from the restart.
    late = step(scratch("Running", False), False, None, 42, NOW - timedelta(seconds=301), NOW)
    assert (late.action, late.phase) == ("finish", "Failed")


def test_the_recorded_drill_reads_back_as_it_was_written() -> None:
    running = Running("quiz-drill-abc123", "backup-20261203-120000.sql", 42, "now-1", STARTED)
    back = Running.of(running.recorded())
    assert back is not None and back.resumed
    assert (back.scratch, back.backup, back.backup_rows, back.request, back.smoke_job) == (
        "quiz-drill-abc123",
        "backup-20261203-120000.sql",
        42,
        "now-1",
        "",
    )
    assert back.started == STARTED.replace(microsecond=0)
    assert Running.of(None) is None and Running.of({"backupName": "x"}) is None


def test_observe() -> None:
    room = {
        "metadata": {"name": "r-drill-abc"},
        "status": {
            "restore": {"phase": "Succeeded", "rows": 7, "backupName": "b.sql"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }
    assert observe(room) == Scratch("Succeeded", "", 7, "b.sql", True)
    assert observe(None) is None
    assert observe({"metadata": {"deletionTimestamp": "2026-12-03T12:00:00Z"}}) is None


def test_scratch_room_is_a_clone_owned_by_the_room() -> None:
    room = {
        "apiVersion": "drawgame.dev/v1alpha1",
        "metadata": {"name": "a" * 40, "namespace": "ns", "uid": "u1"},
        "spec": {"image": "img:2", "backup": {"enabled": True}, "maxPlayers": 8},
    }
    name = scratch_name(room["metadata"]["name"], "abc123")
    assert name == "a" * 26 + "-drill-abc123"
    made = scratch_room(room, name, "backup-x.sql")
    assert made["spec"] == {
        "restore": {
            "fromRoom": {"name": "a" * 40, "backupName": "backup-x.sql"},
            "requestId": "drill",
        },
        "image": "img:2",
    }
    assert made["metadata"]["labels"] == {DRILL_OF_LABEL: "a" * 40}
    assert made["metadata"]["ownerReferences"][0]["uid"] == "u1"
