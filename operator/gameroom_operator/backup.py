"""The backup concern's decisions: pure functions over a room's spec, its Jobs and its
last status (the executor, backups.py, does the I/O).

How a Job reports its result: `gameserver backup-job` and `restore-job` print one JSON line
as their last line and write it to /dev/termination-log. The operator reads it once per
finished Job, from the Pod's termination message where the runtime keeps it, else from the
last line of the Pod's log (kubesandbox keeps no termination message), and records it on
the Job as the annotation RESULT_ANNOTATION. Everything below reads results from there: a
restarted operator neither reads a log twice nor reports a Job twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from . import GROUP
from . import names as n
from .concerns import Condition

RESULT_ANNOTATION = f"{GROUP}/result"
# The result is kept short on the Job: what the status and the events need.
RESULT_KEYS = (
    "command",
    "succeeded",
    "name",
    "time",
    "sizeBytes",
    "rows",
    "sha256",
    "verified",
    "count",
    "reason",
    "durationSeconds",
    "restored",
)
STALE_FACTOR = 2  # BackupStale: no verified backup within twice the schedule's interval
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

Job = dict[str, Any]


@dataclass(frozen=True)
class BackupSpec:
    enabled: bool
    schedule: str
    time_zone: str
    suspend: bool
    on_delete: str
    final_timeout: int
    verify: bool = True

    @classmethod
    def of(cls, effective: dict[str, Any]) -> BackupSpec:
        backup = effective.get("backup") or {}
        return cls(
            enabled=bool(backup.get("enabled")),
            schedule=str(backup.get("schedule") or "0 */6 * * *"),
            time_zone=str(backup.get("timeZone") or ""),
            suspend=bool(backup.get("suspend")),
            on_delete=str(backup.get("onDelete") or "Backup"),
            final_timeout=int(backup.get("finalBackupTimeoutSeconds") or 120),
            verify=backup.get("verify", True) is not False,
        )

    @property
    def final_backup(self) -> bool:
        return self.enabled and self.on_delete == "Backup"


def fmt(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(TIME_FORMAT)


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.strptime(str(text)[:19] + "Z", TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


# ---- schedule ---------------------------------------------------------------------------------


def _zone(name: str) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def next_runs(schedule: str, time_zone: str, after: datetime, count: int = 1) -> list[datetime]:
    """The schedule's next `count` times after `after` (UTC); [] for a schedule croniter
    cannot read (the API server's pattern lets some through; the CronJob says why)."""
    zone = _zone(time_zone) or UTC
    try:
        it = croniter(schedule, after.astimezone(zone))
        return [it.get_next(datetime).astimezone(UTC) for _ in range(count)]
    except (ValueError, KeyError):
        return []


def stale_after(schedule: str, time_zone: str, now: datetime) -> timedelta | None:
    """How old the newest verified backup may get before it is stale: twice the interval
    between the schedule's next two runs."""
    runs = next_runs(schedule, time_zone, now, 2)
    if len(runs) < 2:
        return None
    return STALE_FACTOR * (runs[1] - runs[0])


# ---- Jobs and their results ---------------------------------------------------------------------


def job_kind(job: Job) -> str:
    return str(((job.get("metadata") or {}).get("labels") or {}).get(n.JOB_KIND_LABEL, ""))


def job_name(job: Job) -> str:
    return str((job.get("metadata") or {}).get("name", ""))


def finished(job: Job) -> str | None:
    """ "Complete" or "Failed" once the Job is done (its conditions), else None."""
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("status") == "True" and cond.get("type") in ("Complete", "Failed"):
            return str(cond["type"])
    return None


def failure_condition(job: Job) -> dict[str, Any]:
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("status") == "True" and cond.get("type") == "Failed":
            return dict(cond)
    return {}


def finished_time(job: Job) -> str:
    status = job.get("status") or {}
    if status.get("completionTime"):
        return str(status["completionTime"])
    for cond in status.get("conditions") or []:
        if cond.get("status") == "True" and cond.get("type") in ("Complete", "Failed"):
            return str(cond.get("lastTransitionTime") or "")
    return str((job.get("metadata") or {}).get("creationTimestamp") or "")


def recorded(job: Job) -> dict[str, Any] | None:
    """The result the operator recorded on the Job, if any."""
    raw = ((job.get("metadata") or {}).get("annotations") or {}).get(RESULT_ANNOTATION)
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def parse_result(text: str) -> dict[str, Any] | None:
    """The job's result: the last line of `text` (a termination message or a log) that is a
    JSON object naming its command and whether it succeeded."""
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict) and "command" in value and "succeeded" in value:
            return {k: value[k] for k in RESULT_KEYS if k in value}
    return None


def result_without_log(job: Job, outcome: str, now: datetime) -> dict[str, Any]:
    """What to record for a finished Job whose result line could not be read."""
    if outcome == "Complete":
        return {
            "succeeded": True,
            "time": finished_time(job) or fmt(now),
            "reason": "the Job succeeded but its result line was not readable",
        }
    cond = failure_condition(job)
    why = cond.get("message") or cond.get("reason") or "its Pod failed"
    return {
        "succeeded": False,
        "time": str(cond.get("lastTransitionTime") or fmt(now)),
        "reason": f"the Job failed ({why}) and left no result line: see its Pod's log",
        "jobReason": str(cond.get("reason") or ""),
    }


def unread(jobs: dict[str, Job], kinds: tuple[str, ...] = ("backup", "restore")) -> list[str]:
    """Finished Jobs of these kinds with no recorded result yet (oldest first)."""
    names = [
        name
        for name, job in jobs.items()
        if job_kind(job) in kinds and finished(job) and recorded(job) is None
    ]
    return sorted(names, key=lambda name: finished_time(jobs[name]))


_REASONS = (
    ("did not verify", "VerificationFailed"),
    ("is refused", "VerificationFailed"),
    ("not writable", "DestinationNotWritable"),
    ("cannot reach", "RoomUnreachable"),
    ("answered HTTP 401", "Unauthorized"),
    ("answered HTTP 403", "Unauthorized"),
    ("pruning failed", "PruneFailed"),
    ("SIGTERM", "Interrupted"),
    ("DeadlineExceeded", "DeadlineExceeded"),
    ("no admin token", "BadConfiguration"),
    ("is neither", "BadConfiguration"),
    ("needs boto3", "BadConfiguration"),
    ("is not in", "BackupNotFound"),
    ("holds no backup", "BackupNotFound"),
)


def reason_of(result: dict[str, Any]) -> str:
    """One CamelCase word for a failed Job's result (the condition's reason)."""
    text = f"{result.get('reason', '')} {result.get('jobReason', '')}"
    for needle, reason in _REASONS:
        if needle in text:
            return reason
    return "JobFailed"


def summary(result: dict[str, Any]) -> str:
    size = result.get("sizeBytes")
    rows = result.get("rows")
    facts = ", ".join(
        part
        for part in (
            f"{rows} rows" if rows is not None else "",
            f"{size} bytes" if size is not None else "",
            "verified" if result.get("verified") else "",
        )
        if part
    )
    return f"{result.get('name', 'backup')} ({facts})" if facts else str(result.get("name", ""))


# ---- status.backup and its conditions ------------------------------------------------------------


@dataclass
class BackupView:
    """What the backup concern shows: status.backup, status.lastBackup and conditions."""

    backup: dict[str, Any] = field(default_factory=dict)
    last_backup: dict[str, Any] | None = None
    conditions: list[Condition] = field(default_factory=list)
    wake_in: float | None = None  # seconds until the status must be decided again


def _newer(a: str | None, b: str | None) -> bool:
    """Whether time text `a` is later than `b` (either may be missing)."""
    ta, tb = parse_time(a), parse_time(b)
    return ta is not None and (tb is None or ta > tb)


def view(
    spec: BackupSpec,
    jobs: dict[str, Job],
    previous: dict[str, Any],
    now: datetime,
    enabled_since: str,
) -> BackupView:
    """status.backup from the recorded results of the room's backup Jobs and the last
    status (Jobs are pruned by the CronJob's history limits; the status remembers)."""
    backup: dict[str, Any] = {
        k: v for k, v in previous.items() if k in ("lastSuccessful", "lastFailure", "count")
    }
    for name in sorted(jobs, key=lambda j: finished_time(jobs[j])):
        job = jobs[name]
        result = recorded(job)
        if job_kind(job) != "backup" or result is None:
            continue
        if result.get("succeeded"):
            candidate = {
                "name": result.get("name", ""),
                "time": result.get("time", ""),
                "sizeBytes": result.get("sizeBytes"),
                "rows": result.get("rows"),
                "sha256": result.get("sha256"),
                "verified": bool(result.get("verified")),
                "job": name,
            }
            candidate = {k: v for k, v in candidate.items() if v is not None}
            last = backup.get("lastSuccessful") or {}
            if not last or _newer(candidate["time"], last.get("time")):
                backup["lastSuccessful"] = candidate
                if result.get("count") is not None:
                    backup["count"] = result["count"]
        else:
            failure = {
                "time": result.get("time") or finished_time(job),
                "reason": str(result.get("reason", ""))[:1024],
                "job": name,
            }
            last = backup.get("lastFailure") or {}
            if not last or _newer(failure["time"], last.get("time")):
                backup["lastFailure"] = failure
    if not spec.enabled:
        return BackupView(backup=backup, last_backup=_last_backup(backup))
    backup["enabledSince"] = previous.get("enabledSince") or enabled_since
    wakes: list[float] = []
    if not spec.suspend:
        runs = next_runs(spec.schedule, spec.time_zone, now)
        if runs:
            backup["nextScheduleTime"] = fmt(runs[0])
            wakes.append((runs[0] - now).total_seconds() + 1)
    conditions = [_succeeded(backup)]
    stale, wake = _stale(spec, backup, now)
    conditions.append(stale)
    if wake is not None:
        wakes.append(wake)
    return BackupView(
        backup=backup,
        last_backup=_last_backup(backup),
        conditions=conditions,
        wake_in=max(1.0, min(wakes)) if wakes else None,
    )


def _last_backup(backup: dict[str, Any]) -> dict[str, Any] | None:
    last = backup.get("lastSuccessful")
    return {"name": last.get("name", ""), "time": last.get("time", "")} if last else None


def _succeeded(backup: dict[str, Any]) -> Condition:
    good = backup.get("lastSuccessful") or {}
    bad = backup.get("lastFailure") or {}
    if bad and (not good or _newer(bad.get("time"), good.get("time"))):
        reason = reason_of({"reason": bad.get("reason", "")})
        return Condition(
            "BackupSucceeded",
            "False",
            reason,
            f"{bad.get('job', 'the backup Job')}: {bad['reason']}",
        )
    if good:
        return Condition(
            "BackupSucceeded",
            "True",
            "Verified" if good.get("verified") else "Stored",
            f"{summary(good)} taken at {good.get('time')}",
        )
    return Condition("BackupSucceeded", "Unknown", "NoBackupYet", "no backup Job has finished yet")


def _stale(
    spec: BackupSpec, backup: dict[str, Any], now: datetime
) -> tuple[Condition, float | None]:
    limit = stale_after(spec.schedule, spec.time_zone, now)
    if limit is None:
        return Condition(
            "BackupStale", "Unknown", "InvalidSchedule", "the schedule has no next run"
        ), None
    good = backup.get("lastSuccessful") or {}
    if not spec.verify:
        # BackupStale counts verified backups only: with verification off there are none,
        # and saying "stale" or "recent" by the unverified ones would both mislead.
        newest = (
            f"; the newest backup, {good['name']} of {good.get('time')}, is unverified"
            if good.get("name")
            else ""
        )
        return (
            Condition(
                "BackupStale",
                "True",
                "VerifyOff",
                f"verify is off: no backup is verified (spec.backup.verify is false){newest}",
            ),
            None,
        )
    verified = good if good.get("verified") else {}
    since = parse_time(verified.get("time")) or parse_time(backup.get("enabledSince")) or now
    deadline = since + limit
    hours = limit.total_seconds() / 3600
    paused = " (the schedule is suspended)" if spec.suspend else ""
    if now >= deadline:
        what = (
            f"the last verified backup is {verified['name']} of {verified['time']}"
            if verified
            else "no verified backup yet"
        )
        return (
            Condition(
                "BackupStale",
                "True",
                "NoRecentBackup",
                f"{what}: older than {hours:g} h, twice the schedule's interval{paused}",
            ),
            None,
        )
    return (
        Condition(
            "BackupStale",
            "False",
            "RecentBackup" if verified else "Waiting",
            f"a verified backup is due before {fmt(deadline)}{paused}",
        ),
        (deadline - now).total_seconds() + 1,
    )


# ---- restore (spec.restore) -------------------------------------------------------------------


@dataclass(frozen=True)
class RestoreStep:
    """What to do about spec.restore: nothing, start (record it, then create the Job),
    ensure the Job exists, or finish (the Job's recorded result into status.restore)."""

    action: str  # "none" | "start" | "ensure" | "finish"
    status: dict[str, Any] | None = None  # the status.restore to write


def restore_step(
    room: str,
    wanted: dict[str, Any] | None,
    previous: dict[str, Any] | None,
    jobs: dict[str, Job],
    now: datetime,
) -> RestoreStep:
    previous = previous or {}
    if previous.get("phase") == "Running":
        # The recorded request first, even if the spec asks for another one meanwhile: two
        # restores never race for the room's database.
        running = str(previous.get("requestId", ""))
        job = jobs.get(n.restore_job(room, running))
        if job is None:
            if wanted and wanted.get("requestId") == running:
                return RestoreStep("ensure")  # recorded, then the operator stopped
            # Superseded before its Job was made (or the Job is gone): it never ran.
        else:
            result = recorded(job)
            if result is None:
                return RestoreStep("none")  # running, or its result is being read
            return RestoreStep("finish", _finished_restore(previous, result, now))
    if not wanted or not wanted.get("requestId"):
        return RestoreStep("none")
    request = str(wanted["requestId"])
    if previous.get("requestId") == request:
        return RestoreStep("none")  # done: the same requestId never runs again
    # A new request: recorded before its Job exists, so it never runs twice.
    backup_name, source = requested(wanted)
    start = {
        "requestId": request,
        "backupName": backup_name,
        "phase": "Running",
        "time": fmt(now),
        "job": n.restore_job(room, request),
        "fromRoom": source,
        "message": "restore Job starting",
    }
    return RestoreStep("start", {k: v for k, v in start.items() if v})


def requested(wanted: dict[str, Any]) -> tuple[str, str]:
    """The backup a spec.restore asks for and the room whose it is ('' for this room's own):
    `backupName`, or a clone's `fromRoom: {name, backupName}`."""
    source = wanted.get("fromRoom")
    if isinstance(source, dict) and source.get("name"):
        return str(source.get("backupName") or "latest"), str(source["name"])
    return str(wanted.get("backupName") or "latest"), ""


def _finished_restore(
    previous: dict[str, Any], result: dict[str, Any], now: datetime
) -> dict[str, Any]:
    status = dict(previous)
    status["time"] = fmt(now)
    if result.get("succeeded"):
        status.update(
            phase="Succeeded",
            backupName=str(result.get("name") or previous.get("backupName", "")),
            rows=result.get("rows"),
            message=f"restored {summary(result)}",
        )
    else:
        status.update(phase="Failed", message=str(result.get("reason", ""))[:1024])
    return {k: v for k, v in status.items() if v is not None}


# ---- the final backup of a room being deleted -----------------------------------------------


@dataclass(frozen=True)
class FinalStep:
    action: str  # "release" (remove the finalizer) | "start" | "wait"
    phase: str = ""  # Succeeded, Failed, TimedOut, Skipped (for release), Running
    message: str = ""
    wait: float | None = None


def final_step(spec: BackupSpec, job: Job | None, deleted_at: datetime, now: datetime) -> FinalStep:
    if not spec.final_backup:
        return FinalStep("release", "Skipped", "spec.backup.onDelete is Skip or backups are off")
    deadline = deleted_at + timedelta(seconds=spec.final_timeout)
    result = recorded(job) if job is not None else None
    if result is not None:
        if result.get("succeeded"):
            return FinalStep("release", "Succeeded", f"final backup {summary(result)} stored")
        return FinalStep("release", "Failed", f"final backup failed: {result.get('reason', '')}")
    if now >= deadline:
        return FinalStep(
            "release",
            "TimedOut",
            f"no final backup within finalBackupTimeoutSeconds ({spec.final_timeout} s): "
            "the room is deleted without it",
        )
    left = (deadline - now).total_seconds()
    if job is None:
        return FinalStep("start", "Running", "final backup Job starting", left)
    return FinalStep("wait", "Running", "final backup running", left)
