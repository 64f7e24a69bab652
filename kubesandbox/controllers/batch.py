"""Pure Job and CronJob decisions, as kube-controller-manager's job and cronjob controllers."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass, field

from croniter import croniter

from kubesandbox.controllers.common import Obj, condition, fmt_time, parse_time, pod_phase

SCHEDULED_TIMESTAMP = "batch.kubernetes.io/cronjob-scheduled-timestamp"
RUN_NOW = "kubesandbox.dev/run-now"

_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


# ---------------------------------------------------------------- Job


@dataclass
class JobPlan:
    create: int = 0
    delete_active: bool = False
    status: Obj = field(default_factory=dict)
    finished: bool = False
    # Seconds until something time-based happens (activeDeadlineSeconds).
    requeue_after: float | None = None
    # (type, reason, message) of Events to record on the Job
    events: list[tuple[str, str, str]] = field(default_factory=list)


def job_finished(job: Obj) -> str | None:
    """ "Complete" or "Failed" when the Job has that condition set to True."""
    for type_ in ("Complete", "Failed"):
        cond = condition(job, type_)
        if cond and cond.get("status") == "True":
            return type_
    return None


def plan_job(job: Obj, pods: list[Obj], now: dt.datetime) -> JobPlan:
    """Decide how many pods to create and the Job's status from its pods."""
    spec = job.get("spec") or {}
    old = job.get("status") or {}
    stamp = fmt_time(now)
    plan = JobPlan()
    succeeded = sum(1 for p in pods if pod_phase(p) == "Succeeded")
    failed = sum(1 for p in pods if pod_phase(p) == "Failed")
    # Failed pods removed since (e.g. by a user) still count: the counters never go down.
    succeeded = max(succeeded, int(old.get("succeeded", 0)))
    failed = max(failed, int(old.get("failed", 0)))
    active_pods = [
        p
        for p in pods
        if pod_phase(p) not in ("Succeeded", "Failed")
        and not (p.get("metadata") or {}).get("deletionTimestamp")
    ]
    active = len(active_pods)
    ready = sum(
        1
        for p in active_pods
        if any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in (p.get("status") or {}).get("conditions") or []
        )
    )
    suspended = bool(spec.get("suspend"))
    status: Obj = {
        "active": active,
        "succeeded": succeeded,
        "failed": failed,
        "ready": ready,
        "conditions": list(old.get("conditions") or []),
    }
    # A Job created suspended has no startTime until it is resumed.
    if old.get("startTime") or not suspended:
        status["startTime"] = old.get("startTime", stamp)
    if "completionTime" in old:
        status["completionTime"] = old["completionTime"]
    plan.status = status

    if job_finished(job):
        plan.finished = True
        plan.delete_active = active > 0
        return plan
    was_suspended = (condition(job, "Suspended") or {}).get("status") == "True"
    if suspended:
        plan.delete_active = active > 0
        status["active"] = status["ready"] = 0
        if not was_suspended:
            _set_condition(status, "Suspended", "True", "JobSuspended", "Job suspended", stamp)
            plan.events.append(("Normal", "Suspended", "Job suspended"))
        return plan
    if was_suspended:
        _set_condition(status, "Suspended", "False", "JobResumed", "Job resumed", stamp)
        plan.events.append(("Normal", "Resumed", "Job resumed"))
        status["startTime"] = stamp  # a resumed Job's deadline counts from now

    completions = spec.get("completions")
    parallelism = int(spec.get("parallelism", 1))
    backoff_limit = int(spec.get("backoffLimit", 6))
    deadline = spec.get("activeDeadlineSeconds")
    started = parse_time(status["startTime"]) or now

    def finish(type_: str, reason: str, message: str) -> None:
        conds = [c for c in status["conditions"] if c.get("type") not in (type_,)]
        for extra in ("FailureTarget", "SuccessCriteriaMet"):
            if (type_ == "Failed" and extra == "FailureTarget") or (
                type_ == "Complete" and extra == "SuccessCriteriaMet"
            ):
                conds = [c for c in conds if c.get("type") != extra]
                conds.append(_cond(extra, reason, message, stamp))
        conds.append(_cond(type_, reason, message, stamp))
        status["conditions"] = conds
        plan.finished = True
        plan.delete_active = active > 0
        if type_ == "Complete":
            status["completionTime"] = stamp
        else:
            # the Pods the controller terminates count as failed, as with pod tracking
            status["failed"] = failed + active
        status["active"] = 0
        status["ready"] = 0

    if failed > backoff_limit or _restarts_past_limit(spec, active_pods, backoff_limit):
        finish("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit")
        return plan
    if deadline is not None and (now - started).total_seconds() >= int(deadline):
        finish("Failed", "DeadlineExceeded", "Job was active longer than specified deadline")
        return plan
    if completions is None:
        # Work-queue job: done when any pod succeeded and none is still running.
        if succeeded > 0 and active == 0:
            finish("Complete", "CompletionsReached", "Reached expected number of succeeded pods")
            return plan
        want = 0 if succeeded > 0 else parallelism
    else:
        completions = int(completions)
        if succeeded >= completions:
            finish("Complete", "CompletionsReached", "Reached expected number of succeeded pods")
            return plan
        want = min(parallelism, completions - succeeded)
    plan.create = max(0, want - active)
    if deadline is not None:
        plan.requeue_after = max(0.0, int(deadline) - (now - started).total_seconds()) + 0.1
    return plan


def _restarts_past_limit(spec: Obj, active_pods: list[Obj], limit: int) -> bool:
    """With restartPolicy OnFailure failures are container restarts in running Pods."""
    template = (spec.get("template") or {}).get("spec") or {}
    if template.get("restartPolicy") != "OnFailure":
        return False
    restarts = sum(
        int(cs.get("restartCount", 0))
        for p in active_pods
        if pod_phase(p) in ("Running", "Pending")
        for key in ("initContainerStatuses", "containerStatuses")
        for cs in (p.get("status") or {}).get(key) or []
    )
    return restarts > 0 if limit == 0 else restarts >= limit


def _set_condition(
    status: Obj, type_: str, value: str, reason: str, message: str, stamp: str
) -> None:
    status["conditions"] = [c for c in status["conditions"] if c.get("type") != type_] + [
        {**_cond(type_, reason, message, stamp), "status": value}
    ]


def _cond(type_: str, reason: str, message: str, stamp: str) -> Obj:
    return {
        "type": type_,
        "status": "True",
        "reason": reason,
        "message": message,
        "lastProbeTime": stamp,
        "lastTransitionTime": stamp,
    }


def failed_pod_backoff(failed: int, base: float, cap: float = 360.0) -> float:
    """Delay before recreating a pod after ``failed`` failures (10 s doubling, 6 min cap)."""
    if failed <= 0:
        return 0.0
    return float(min(cap, base * 2 ** (failed - 1)))


# ---------------------------------------------------------------- CronJob


def normalise_schedule(schedule: str) -> str:
    text = schedule.strip()
    if text.startswith("TZ=") or text.startswith("CRON_TZ="):
        text = text.split(None, 1)[1] if " " in text else ""
    return _MACROS.get(text, text)


def schedule_zone(cronjob: Obj) -> dt.tzinfo:
    spec = cronjob.get("spec") or {}
    name = spec.get("timeZone")
    schedule = str(spec.get("schedule", "")).strip()
    if not name and (schedule.startswith("TZ=") or schedule.startswith("CRON_TZ=")):
        name = schedule.split(None, 1)[0].split("=", 1)[1]
    if not name:
        return dt.UTC
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def valid_schedule(schedule: str) -> bool:
    text = normalise_schedule(schedule)
    return len(text.split()) == 5 and croniter.is_valid(text)


def next_schedule(cronjob: Obj, after: dt.datetime) -> dt.datetime:
    spec = cronjob.get("spec") or {}
    zone = schedule_zone(cronjob)
    it = croniter(normalise_schedule(str(spec.get("schedule", ""))), after.astimezone(zone))
    nxt: dt.datetime = it.get_next(dt.datetime)
    return nxt.astimezone(dt.UTC)


def most_recent_missed(cronjob: Obj, now: dt.datetime) -> tuple[dt.datetime | None, int]:
    """The latest schedule time in (last scheduled or created, now], and how many passed."""
    meta = cronjob.get("metadata") or {}
    status = cronjob.get("status") or {}
    start = parse_time(status.get("lastScheduleTime")) or parse_time(meta.get("creationTimestamp"))
    if start is None:
        return None, 0
    latest: dt.datetime | None = None
    count = 0
    cursor = start
    while True:
        nxt = next_schedule(cronjob, cursor)
        if nxt > now:
            break
        latest = nxt
        cursor = nxt
        count += 1
        if count > 100:  # like Kubernetes, stop counting missed runs after 100
            break
    return latest, count


@dataclass
class CronPlan:
    create_for: dt.datetime | None = None
    delete_active: list[str] = field(default_factory=list)
    skip_reason: str | None = None
    delete_finished: list[str] = field(default_factory=list)
    next_run: dt.datetime | None = None


def job_name_for(cronjob_name: str, scheduled: dt.datetime) -> str:
    """Kubernetes names scheduled Jobs after the schedule time in minutes since the epoch."""
    return f"{cronjob_name}-{int(scheduled.timestamp()) // 60}"


def plan_cronjob(
    cronjob: Obj, jobs: list[Obj], now: dt.datetime, active_uids: set[str] | None = None
) -> CronPlan:
    """``active_uids``: the Jobs in the CronJob's ``status.active`` (those it started);
    only they count for Forbid and Replace (None: every unfinished Job does)."""
    spec = cronjob.get("spec") or {}
    plan = CronPlan()
    active = [
        j
        for j in jobs
        if not job_finished(j)
        and (active_uids is None or (j.get("metadata") or {}).get("uid") in active_uids)
    ]
    finished = [j for j in jobs if job_finished(j)]
    plan.delete_finished = _history_cleanup(
        finished,
        int(spec.get("successfulJobsHistoryLimit", 3)),
        int(spec.get("failedJobsHistoryLimit", 1)),
    )
    if not valid_schedule(str(spec.get("schedule", ""))):
        plan.skip_reason = "InvalidSchedule"
        return plan
    plan.next_run = next_schedule(cronjob, now)
    if spec.get("suspend"):
        plan.skip_reason = "Suspended"
        return plan
    scheduled, _ = most_recent_missed(cronjob, now)
    run_now = ((cronjob.get("metadata") or {}).get("annotations") or {}).get(RUN_NOW)
    if scheduled is None and not run_now:
        return plan
    if scheduled is None:
        scheduled = now.replace(microsecond=0)
    deadline = spec.get("startingDeadlineSeconds")
    if not run_now and deadline is not None and (now - scheduled).total_seconds() > int(deadline):
        plan.skip_reason = "MissedSchedule"
        return plan
    policy = spec.get("concurrencyPolicy", "Allow")
    if active and policy == "Forbid":
        plan.skip_reason = "JobAlreadyActive"
        return plan
    if active and policy == "Replace":
        plan.delete_active = [j["metadata"]["name"] for j in active]
    plan.create_for = scheduled
    return plan


def _history_cleanup(finished: list[Obj], keep_ok: int, keep_failed: int) -> list[str]:
    def finish_time(job: Obj) -> tuple[str, int]:
        # Timestamps have one-second resolution: the resourceVersion of the last write
        # breaks ties, so the job that finished later is kept.
        status = job.get("status") or {}
        rv = str((job.get("metadata") or {}).get("resourceVersion") or "0")
        stamp = str(status.get("completionTime") or status.get("startTime") or "")
        return stamp, int(rv) if rv.isdigit() else 0

    ok = sorted((j for j in finished if job_finished(j) == "Complete"), key=finish_time)
    bad = sorted((j for j in finished if job_finished(j) == "Failed"), key=finish_time)
    doomed = ok[: max(0, len(ok) - keep_ok)] + bad[: max(0, len(bad) - keep_failed)]
    return [j["metadata"]["name"] for j in doomed]


def job_from_cronjob(cronjob: Obj, scheduled: dt.datetime, owner: Obj) -> Obj:
    spec = cronjob.get("spec") or {}
    template = spec.get("jobTemplate") or {}
    meta = dict(template.get("metadata") or {})
    annotations = dict(meta.get("annotations") or {})
    annotations[SCHEDULED_TIMESTAMP] = fmt_time(scheduled)
    labels = dict(meta.get("labels") or {})
    name = cronjob["metadata"]["name"]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name_for(name, scheduled),
            "namespace": cronjob["metadata"].get("namespace", "default"),
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [owner],
        },
        "spec": template.get("spec") or {},
    }
