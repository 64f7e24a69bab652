"""The backup concern's pure decisions (gameroom_operator.backup)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from gameroom_operator import names as n
from gameroom_operator.backup import (
    RESULT_ANNOTATION,
    BackupSpec,
    final_step,
    next_runs,
    parse_result,
    reason_of,
    restore_step,
    result_without_log,
    stale_after,
    unread,
    view,
)
from gameroom_operator.defaults import effective_spec

NOW = datetime(2026, 12, 3, 19, 0, 0, tzinfo=UTC)


def spec(**backup: Any) -> BackupSpec:
    return BackupSpec.of(effective_spec({"backup": {"enabled": True, **backup}}))


def job(
    name: str,
    kind: str = "backup",
    outcome: str | None = "Complete",
    result: dict[str, Any] | None = None,
    at: str = "2026-12-03T18:00:00Z",
) -> dict[str, Any]:
    annotations = {RESULT_ANNOTATION: json.dumps(result)} if result is not None else {}
    conditions = [{"type": outcome, "status": "True", "lastTransitionTime": at}] if outcome else []
    return {
        "metadata": {
            "name": name,
            "labels": {n.JOB_KIND_LABEL: kind},
            "annotations": annotations,
            "creationTimestamp": at,
        },
        "status": {"conditions": conditions},
    }


GOOD = {
    "command": "backup",
    "succeeded": True,
    "name": "backup-20261203-180000.sql",
    "time": "2026-12-03T18:00:00Z",
    "sizeBytes": 2048,
    "rows": 120,
    "sha256": "ab" * 32,
    "verified": True,
    "count": 3,
}
BAD = {
    "command": "backup",
    "succeeded": False,
    "reason": "destination not writable: /backups: Permission denied",
    "time": "2026-12-03T18:30:00Z",
}


def test_the_result_is_the_last_json_line_of_a_log() -> None:
    log = "\n".join(
        [
            '{"event": "noise", "level": "info"}',
            "Traceback: something printed",
            json.dumps({**GOOD, "rowCounts": {"strokes": 100}, "pruned": ["x"]}),
        ]
    )
    result = parse_result(log)
    assert result is not None
    assert result["name"] == GOOD["name"] and result["succeeded"] is True
    assert "rowCounts" not in result  # only what the status needs is kept on the Job
    assert parse_result("backup-job failed: boom\n") is None


def test_a_job_that_left_no_result_says_so() -> None:
    failed = job("b-1", outcome="Failed")
    failed["status"]["conditions"][0].update(reason="DeadlineExceeded", message="too long")
    result = result_without_log(failed, "Failed", NOW)
    assert result["succeeded"] is False and "too long" in result["reason"]
    assert reason_of(result) == "DeadlineExceeded"


def test_only_finished_jobs_without_a_recorded_result_are_read() -> None:
    jobs = {
        "b-1": job("b-1", result=GOOD),
        "b-2": job("b-2"),
        "b-3": job("b-3", outcome=None),
        "r-1": job("r-1", kind="restore", outcome="Failed"),
        "smoke": job("smoke", kind="smoke"),
    }
    assert unread(jobs) == ["b-2", "r-1"]


def test_a_verified_backup_sets_status_and_backup_succeeded() -> None:
    shown = view(spec(), {"b-1": job("b-1", result=GOOD)}, {}, NOW, "2026-12-03T12:00:00Z")
    last = shown.backup["lastSuccessful"]
    assert last == {
        "name": GOOD["name"],
        "time": GOOD["time"],
        "sizeBytes": 2048,
        "rows": 120,
        "sha256": GOOD["sha256"],
        "verified": True,
        "job": "b-1",
    }
    assert shown.backup["count"] == 3
    assert shown.last_backup == {"name": GOOD["name"], "time": GOOD["time"]}
    conditions = {c.type: c for c in shown.conditions}
    assert conditions["BackupSucceeded"].status == "True"
    assert conditions["BackupSucceeded"].reason == "Verified"
    assert conditions["BackupStale"].status == "False"
    assert shown.backup["nextScheduleTime"] == "2026-12-04T00:00:00Z"
    assert shown.wake_in is not None and 0 < shown.wake_in <= 5 * 3600 + 1


def test_a_later_failure_sets_backup_succeeded_false_with_the_jobs_reason() -> None:
    jobs = {
        "b-1": job("b-1", result=GOOD),
        "b-2": job("b-2", outcome="Failed", result=BAD, at="2026-12-03T18:30:00Z"),
    }
    shown = view(spec(), jobs, {}, NOW, "")
    cond = next(c for c in shown.conditions if c.type == "BackupSucceeded")
    assert (cond.status, cond.reason) == ("False", "DestinationNotWritable")
    assert "Permission denied" in cond.message and "b-2" in cond.message
    assert shown.backup["lastFailure"]["job"] == "b-2"
    assert shown.backup["lastSuccessful"]["job"] == "b-1"  # the good one is still known


def test_the_status_remembers_backups_whose_jobs_are_gone() -> None:
    first = view(spec(), {"b-1": job("b-1", result=GOOD)}, {}, NOW, "")
    later = view(spec(), {}, first.backup, NOW, "")
    assert later.backup["lastSuccessful"] == first.backup["lastSuccessful"]
    older = {**GOOD, "name": "backup-20261203-060000.sql", "time": "2026-12-03T06:00:00Z"}
    again = view(spec(), {"b-0": job("b-0", result=older)}, first.backup, NOW, "")
    assert again.backup["lastSuccessful"]["name"] == GOOD["name"]  # never goes back in time


def test_stale_after_twice_the_interval_without_a_verified_backup() -> None:
    assert stale_after("0 */6 * * *", "", NOW) == timedelta(hours=12)
    assert stale_after("@daily", "Europe/Berlin", NOW) == timedelta(hours=48)
    fresh = view(spec(), {}, {}, NOW, "2026-12-03T08:00:00Z")
    stale = {c.type: c for c in fresh.conditions}["BackupStale"]
    assert (stale.status, stale.reason) == ("False", "Waiting")
    late = view(spec(), {}, {}, NOW, "2026-12-03T06:59:59Z")
    stale = {c.type: c for c in late.conditions}["BackupStale"]
    assert (stale.status, stale.reason) == ("True", "NoRecentBackup")
    old = {**GOOD, "time": "2026-12-02T18:00:00Z"}
    shown = view(spec(), {"b-1": job("b-1", result=old)}, {}, NOW, "2026-12-01T00:00:00Z")
    stale = {c.type: c for c in shown.conditions}["BackupStale"]
    assert stale.status == "True" and GOOD["name"] in stale.message


def test_with_verify_off_backup_stale_says_why_instead_of_judging_unverified_backups() -> None:
    assert spec().verify is True and spec(verify=False).verify is False
    stored = {**GOOD, "verified": False}
    for jobs in ({}, {"b-1": job("b-1", result=stored)}):
        # However recent or old: with verification off no backup ever counts.
        shown = view(spec(verify=False), jobs, {}, NOW, "2026-12-03T18:59:00Z")
        conditions = {c.type: c for c in shown.conditions}
        stale = conditions["BackupStale"]
        assert (stale.status, stale.reason) == ("True", "VerifyOff")
        assert stale.message.startswith("verify is off: no backup is verified")
    assert GOOD["name"] in stale.message and "unverified" in stale.message
    succeeded = conditions["BackupSucceeded"]
    assert (succeeded.status, succeeded.reason) == ("True", "Stored")
    assert shown.backup["lastSuccessful"]["verified"] is False
    # Turned back on, the same unverified backup does not count either.
    shown = view(spec(), {"b-1": job("b-1", result=stored)}, {}, NOW, "2026-12-01T00:00:00Z")
    stale = {c.type: c for c in shown.conditions}["BackupStale"]
    assert (stale.status, stale.reason) == ("True", "NoRecentBackup")
    assert "no verified backup yet" in stale.message


def test_time_zone_and_suspend() -> None:
    runs = next_runs("0 3 * * *", "Europe/Berlin", NOW, 1)
    assert runs == [datetime(2026, 12, 4, 2, 0, tzinfo=UTC)]  # 03:00 CET
    shown = view(spec(suspend=True), {}, {}, NOW, "2026-12-03T18:00:00Z")
    assert "nextScheduleTime" not in shown.backup
    stale = {c.type: c for c in shown.conditions}["BackupStale"]
    assert "suspended" in stale.message


def test_disabled_backups_own_no_condition() -> None:
    shown = view(BackupSpec.of(effective_spec({})), {}, {"count": 2}, NOW, "")
    assert shown.conditions == [] and shown.wake_in is None
    assert shown.backup == {"count": 2}


def test_a_restore_request_runs_once() -> None:
    wanted = {"backupName": "latest", "requestId": "incident-42"}
    first = restore_step("quiz", wanted, None, {}, NOW)
    assert first.action == "start" and first.status is not None
    assert first.status["phase"] == "Running"
    assert first.status["job"] == n.restore_job("quiz", "incident-42")
    recorded_status = first.status
    # Recorded, then the operator stopped before creating the Job: create it now.
    assert restore_step("quiz", wanted, recorded_status, {}, NOW).action == "ensure"
    name = n.restore_job("quiz", "incident-42")
    running = {name: job(name, kind="restore", outcome=None)}
    assert restore_step("quiz", wanted, recorded_status, running, NOW).action == "none"
    result = {"command": "restore", "succeeded": True, "name": GOOD["name"], "rows": 120}
    done = {name: job(name, kind="restore", result=result)}
    finished = restore_step("quiz", wanted, recorded_status, done, NOW)
    assert finished.action == "finish" and finished.status is not None
    assert finished.status["phase"] == "Succeeded"
    assert finished.status["backupName"] == GOOD["name"] and finished.status["rows"] == 120
    # The same requestId never runs again, with or without its Job.
    assert restore_step("quiz", wanted, finished.status, {}, NOW).action == "none"
    again = restore_step("quiz", {**wanted, "requestId": "incident-43"}, finished.status, {}, NOW)
    assert again.action == "start"


def test_a_clone_names_its_source_room_and_backup_in_from_room() -> None:
    wanted = {"fromRoom": {"name": "vault", "backupName": GOOD["name"]}, "requestId": "c-1"}
    step = restore_step("copy", wanted, None, {}, NOW)
    assert step.action == "start" and step.status is not None
    assert (step.status["fromRoom"], step.status["backupName"]) == ("vault", GOOD["name"])
    # fromRoom.backupName left out is the newest; a restore in place names no source room.
    latest = restore_step("copy", {"fromRoom": {"name": "vault"}, "requestId": "c"}, None, {}, NOW)
    assert latest.status is not None and latest.status["backupName"] == "latest"
    own = restore_step("copy", {"backupName": GOOD["name"], "requestId": "r"}, None, {}, NOW)
    assert own.status is not None and "fromRoom" not in own.status


def test_a_refused_restore_is_failed_with_the_jobs_reason() -> None:
    wanted = {"backupName": "backup-20261203-180000.sql", "requestId": "r1"}
    started = restore_step("quiz", wanted, None, {}, NOW).status
    name = n.restore_job("quiz", "r1")
    result = {
        "command": "restore",
        "succeeded": False,
        "reason": "backup-20261203-180000.sql is refused, the room keeps its data: sha256 differs",
    }
    done = {name: job(name, kind="restore", outcome="Failed", result=result)}
    step = restore_step("quiz", wanted, started, done, NOW)
    assert step.status is not None and step.status["phase"] == "Failed"
    assert "keeps its data" in step.status["message"]


def test_the_final_backup_is_bounded() -> None:
    deleted = NOW - timedelta(seconds=30)
    assert final_step(spec(onDelete="Skip"), None, deleted, NOW).action == "release"
    start = final_step(spec(), None, deleted, NOW)
    assert start.action == "start" and start.wait == 90
    running = job("quiz-backup-final", outcome=None)
    assert final_step(spec(), running, deleted, NOW).action == "wait"
    done = final_step(spec(), job("quiz-backup-final", result=GOOD), deleted, NOW)
    assert (done.action, done.phase) == ("release", "Succeeded")
    failed = final_step(spec(), job("f", outcome="Failed", result=BAD), deleted, NOW)
    assert (failed.action, failed.phase) == ("release", "Failed")
    late = final_step(spec(), running, NOW - timedelta(seconds=121), NOW)
    assert (late.action, late.phase) == ("release", "TimedOut")


def test_a_new_request_waits_for_the_running_restore() -> None:
    first = {"backupName": "latest", "requestId": "one"}
    second = {"backupName": "latest", "requestId": "two"}
    running = restore_step("quiz", first, None, {}, NOW).status
    name = n.restore_job("quiz", "one")
    busy = {name: job(name, kind="restore", outcome=None)}
    # The spec now asks for "two" while "one" runs: nothing starts.
    assert restore_step("quiz", second, running, busy, NOW).action == "none"
    result = {"command": "restore", "succeeded": True, "name": GOOD["name"], "rows": 7}
    done = {name: job(name, kind="restore", result=result)}
    finished = restore_step("quiz", second, running, done, NOW)
    assert finished.action == "finish" and finished.status is not None
    assert (finished.status["requestId"], finished.status["phase"]) == ("one", "Succeeded")
    after = restore_step("quiz", second, finished.status, done, NOW)
    assert after.action == "start" and after.status is not None
    assert after.status["requestId"] == "two"
    # A request superseded before its Job was made never runs.
    assert restore_step("quiz", second, running, {}, NOW).action == "start"
