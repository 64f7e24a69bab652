"""Job and CronJob decisions."""

from __future__ import annotations

import datetime as dt

from kubesandbox.controllers.batch import (
    RUN_NOW,
    job_finished,
    job_name_for,
    most_recent_missed,
    next_schedule,
    plan_cronjob,
    plan_job,
    valid_schedule,
)

NOW = dt.datetime(2026, 3, 1, 12, 0, 30, tzinfo=dt.UTC)


def job(**spec: object) -> dict:
    return {
        "metadata": {"name": "backup", "namespace": "default", "uid": "j1"},
        "spec": spec,
        "status": {},
    }


def pod(phase: str, name: str = "p") -> dict:
    return {"metadata": {"name": name}, "status": {"phase": phase}}


def conditions(plan_status: dict) -> dict[str, str]:
    return {c["type"]: c.get("reason", "") for c in plan_status["conditions"]}


def test_job_starts_parallel_pods_up_to_the_remaining_completions() -> None:
    plan = plan_job(job(completions=5, parallelism=2), [], NOW)
    assert plan.create == 2
    plan = plan_job(job(completions=5, parallelism=3), [pod("Succeeded")] * 3, NOW)
    assert plan.create == 2
    plan = plan_job(job(completions=5, parallelism=3), [pod("Running")] * 2, NOW)
    assert plan.create == 1


def test_job_completes_when_completions_are_reached() -> None:
    plan = plan_job(job(completions=2), [pod("Succeeded"), pod("Succeeded")], NOW)
    assert plan.create == 0 and plan.finished
    assert conditions(plan.status)["Complete"] == "CompletionsReached"
    assert "SuccessCriteriaMet" in conditions(plan.status)
    assert plan.status["succeeded"] == 2
    assert plan.status["completionTime"]
    assert job_finished({"status": plan.status}) == "Complete"


def test_job_fails_after_backoff_limit_and_stops_active_pods() -> None:
    pods = [pod("Failed")] * 3 + [pod("Running")]
    plan = plan_job(job(backoffLimit=2), pods, NOW)
    assert plan.finished and plan.delete_active
    assert conditions(plan.status)["Failed"] == "BackoffLimitExceeded"
    assert plan.status["failed"] == 4  # the running Pod it terminates counts as failed
    # Within the limit a failed pod is replaced.
    plan = plan_job(job(backoffLimit=2), [pod("Failed")], NOW)
    assert plan.create == 1 and not plan.finished


def test_job_active_deadline() -> None:
    started = {"startTime": "2026-03-01T11:59:00Z"}
    j = job(activeDeadlineSeconds=60)
    j["status"] = started
    plan = plan_job(j, [pod("Running")], NOW)
    assert conditions(plan.status)["Failed"] == "DeadlineExceeded"
    j = job(activeDeadlineSeconds=600)
    j["status"] = started
    plan = plan_job(j, [pod("Running")], NOW)
    assert not plan.finished and plan.requeue_after is not None and plan.requeue_after > 500


def test_work_queue_job_completes_when_one_pod_succeeded_and_none_run() -> None:
    plan = plan_job(job(parallelism=2), [pod("Succeeded"), pod("Running")], NOW)
    assert not plan.finished and plan.create == 0
    plan = plan_job(job(parallelism=2), [pod("Succeeded"), pod("Succeeded")], NOW)
    assert plan.finished


def cronjob(schedule: str = "*/5 * * * *", **spec: object) -> dict:
    return {
        "metadata": {
            "name": "nightly",
            "namespace": "default",
            "uid": "c1",
            "creationTimestamp": "2026-03-01T11:50:10Z",
        },
        "spec": {"schedule": schedule, "jobTemplate": {"spec": {}}, **spec},
        "status": {},
    }


def finished_job(name: str, kind: str, when: str) -> dict:
    return {
        "metadata": {"name": name},
        "status": {
            "completionTime": when,
            "startTime": when,
            "conditions": [{"type": kind, "status": "True"}],
        },
    }


def test_schedules_macros_and_time_zones() -> None:
    assert valid_schedule("*/5 * * * *") and valid_schedule("@hourly")
    assert not valid_schedule("61 * * * *") and not valid_schedule("* * * *")
    assert next_schedule(cronjob(), NOW) == dt.datetime(2026, 3, 1, 12, 5, tzinfo=dt.UTC)
    assert next_schedule(cronjob("@daily"), NOW) == dt.datetime(2026, 3, 2, 0, 0, tzinfo=dt.UTC)
    tokyo = cronjob("0 9 * * *", timeZone="Asia/Tokyo")
    assert next_schedule(tokyo, NOW) == dt.datetime(2026, 3, 2, 0, 0, tzinfo=dt.UTC)


def test_most_recent_missed_schedule_since_creation() -> None:
    latest, count = most_recent_missed(cronjob(), NOW)
    assert latest == dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
    assert count == 2  # 11:55 and 12:00
    plan = plan_cronjob(cronjob(), [], NOW)
    assert plan.create_for == latest
    assert job_name_for("nightly", latest) == f"nightly-{int(latest.timestamp()) // 60}"
    assert plan.next_run == dt.datetime(2026, 3, 1, 12, 5, tzinfo=dt.UTC)


def test_nothing_is_due_right_after_the_last_run() -> None:
    cj = cronjob()
    cj["status"]["lastScheduleTime"] = "2026-03-01T12:00:00Z"
    assert plan_cronjob(cj, [], NOW).create_for is None


def test_suspend_starting_deadline_and_concurrency_policies() -> None:
    assert plan_cronjob(cronjob(suspend=True), [], NOW).skip_reason == "Suspended"
    late = plan_cronjob(cronjob(startingDeadlineSeconds=10), [], NOW)
    assert late.skip_reason == "MissedSchedule" and late.create_for is None
    running = {"metadata": {"name": "nightly-1"}, "status": {"active": 1}}
    forbid = plan_cronjob(cronjob(concurrencyPolicy="Forbid"), [running], NOW)
    assert forbid.skip_reason == "JobAlreadyActive" and forbid.create_for is None
    replace = plan_cronjob(cronjob(concurrencyPolicy="Replace"), [running], NOW)
    assert replace.delete_active == ["nightly-1"] and replace.create_for is not None
    allow = plan_cronjob(cronjob(), [running], NOW)
    assert allow.create_for is not None and not allow.delete_active


def test_run_now_annotation_triggers_a_job_outside_the_schedule() -> None:
    cj = cronjob("0 0 1 1 *")
    cj["status"]["lastScheduleTime"] = "2026-01-01T00:00:00Z"
    assert plan_cronjob(cj, [], NOW).create_for is None
    cj["metadata"]["annotations"] = {RUN_NOW: "true"}
    assert plan_cronjob(cj, [], NOW).create_for is not None


def test_history_limits_delete_the_oldest_finished_jobs() -> None:
    jobs = [finished_job(f"ok{i}", "Complete", f"2026-03-01T0{i}:00:00Z") for i in range(5)]
    jobs += [finished_job(f"bad{i}", "Failed", f"2026-03-01T0{i}:30:00Z") for i in range(3)]
    plan = plan_cronjob(cronjob(successfulJobsHistoryLimit=2, failedJobsHistoryLimit=1), jobs, NOW)
    assert sorted(plan.delete_finished) == ["bad0", "bad1", "ok0", "ok1", "ok2"]


def test_history_ties_within_a_second_keep_the_job_written_last() -> None:
    older = finished_job("manual", "Complete", "2026-03-01T01:00:00Z")
    newer = finished_job("manual-2", "Complete", "2026-03-01T01:00:00Z")
    older["metadata"]["resourceVersion"] = "120"
    newer["metadata"]["resourceVersion"] = "130"
    for jobs in ([older, newer], [newer, older]):
        plan = plan_cronjob(cronjob(successfulJobsHistoryLimit=1), jobs, NOW)
        assert plan.delete_finished == ["manual"]
