"""The backup concern's executor: reads finished backup and restore Jobs' results, starts
restores (spec.restore) and a deleted room's final backup, keeps the backup volume and the
final-backup finalizer, and shows it all in status.backup, status.restore, conditions,
Events and metrics.

The decisions are pure functions in backup.py; the CronJob itself is a child of the room
(render.py), so ownership and drift repair are the children concern's.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog

from . import GROUP, PLURAL, VERSION, metrics
from . import names as n
from .backup import (
    RESULT_ANNOTATION,
    BackupSpec,
    BackupView,
    final_step,
    finished,
    fmt,
    parse_result,
    parse_time,
    reason_of,
    restore_step,
    result_without_log,
    summary,
    unread,
    view,
)
from .children import Owner, ownership
from .closing import FINALIZER as CLOSE_FINALIZER
from .concerns import Executor, StatusPart
from .kube import ApiError, api_path, object_path
from .render import image_of, render_backup_pvc, render_restore_job, strip_absent, version_of
from .state import RoomState

log = structlog.get_logger("gameroom_operator")

ORPHAN_FINALIZER = "orphan"
LOG_TAIL_LINES = "20"
FINAL_POLL_SECONDS = 5.0  # a deleted room's final backup: look again at least this often


@dataclass
class Memory:
    """What the backup concern remembers of one room in this operator run."""

    generation: int = -1  # the spec generation whose one-off work (volume, finalizer) is done
    enabled_since: str = ""
    wake_at: float = 0.0  # monotonic time the status must be decided again (schedule, stale)
    had_backups: bool = False  # backups were enabled at some point in this run
    reading: set[str] = field(default_factory=set)


class BackupConcern:
    name = "backup"

    def __init__(self, executor: Executor) -> None:
        self.executor = executor
        self.memory: dict[str, Memory] = {}  # by room uid

    def _memory(self, state: RoomState) -> Memory:
        memory = self.memory.get(state.uid)
        if memory is None:
            memory = self.memory[state.uid] = Memory(enabled_since=fmt(datetime.now(UTC)))
        return memory

    def forget(self, uid: str) -> None:
        self.memory.pop(uid, None)

    # ---- status -------------------------------------------------------------------------

    def _view(self, state: RoomState) -> BackupView:
        return view(
            BackupSpec.of(state.room.effective),
            state.jobs,
            state.status.get("backup") or {},
            datetime.now(UTC),
            self._memory(state).enabled_since,
        )

    def status(self, state: RoomState) -> StatusPart:
        spec = BackupSpec.of(state.room.effective)
        part = StatusPart()
        if "restore" in state.status:
            part.fields["restore"] = state.status["restore"]
        if not spec.enabled and not state.status.get("backup"):
            return part
        shown = self._view(state)
        backup: dict[str, Any] = dict(shown.backup)
        for key in state.status.get("backup") or {}:
            if key in ("lastDrill", "drill"):  # the drill concern's (drills.py), it writes them
                backup[key] = state.status["backup"][key]
            elif key not in backup:
                backup[key] = None  # removed by the merge patch (nextScheduleTime when suspended)
        part.fields["backup"] = backup
        if shown.last_backup is not None:
            part.fields["lastBackup"] = shown.last_backup
        part.conditions = shown.conditions
        return part

    # ---- the pass -----------------------------------------------------------------------

    async def step(self, state: RoomState) -> float | None:
        if state.applied_generation is None or not state.uid:
            return None  # the children (the CronJob, the admin Secret) are not applied yet
        spec = BackupSpec.of(state.room.effective)
        memory = self._memory(state)
        await self.read_results(state)
        if memory.generation != state.generation:
            try:
                await self._spec_changed(state, spec)
                memory.generation = state.generation
            except (ApiError, OSError, TimeoutError) as error:
                log.warning(
                    "backup_setup_failed", room=state.name, ns=state.namespace, error=str(error)
                )
        waits: list[float] = []
        wait = await self._restore(state)
        if wait is not None:
            waits.append(wait)
        if not spec.enabled:
            drop_metrics(state)
        else:
            now = time.monotonic()
            if now >= memory.wake_at:
                state.settled = False  # the schedule moved on, or the backup went stale
            shown = self._view(state)
            self._gauge(state, shown)
            if shown.wake_in is not None:
                memory.wake_at = now + shown.wake_in
                waits.append(shown.wake_in)
        return min(waits) if waits else None

    def _gauge(self, state: RoomState, shown: BackupView) -> None:
        last = shown.backup.get("lastSuccessful") or {}
        taken = parse_time(last.get("time")) if last.get("verified") else None
        # Until a first verified backup: when backups were enabled, so that
        # GameRoomBackupStale also fires for a room that never got one.
        since = taken or parse_time(shown.backup.get("enabledSince"))
        if since is not None:
            metrics.BACKUP_LAST_SUCCESS.labels(state.namespace, state.name).set(since.timestamp())
        for result in ("succeeded", "failed"):  # both exported from 0, for increase()
            metrics.BACKUPS.labels(state.namespace, state.name, result)
        if last.get("sizeBytes") is not None:
            metrics.BACKUP_BYTES.labels(state.namespace, state.name).set(last["sizeBytes"])

    async def _spec_changed(self, state: RoomState, spec: BackupSpec) -> None:
        """Once per spec: the backup volume, the CronJob's removal, the finalizer."""
        kube = self.executor.kube
        room = state.room
        restore = state.spec.get("restore") or {}
        wants_volume = spec.enabled or (bool(restore) and not restore.get("fromRoom"))
        if wants_volume and room.effective["backup"]["destination"].get("type") != "s3":
            pvc = render_backup_pvc(
                room, version_of(image_of(room.effective, self.executor.options))
            )
            if await kube.get(object_path(pvc)) is None:
                try:
                    await kube.create(strip_absent(pvc))
                    await self.executor.event(
                        state,
                        "Normal",
                        "BackupVolumeCreated",
                        f"Created PersistentVolumeClaim {pvc['metadata']['name']} for the room's "
                        "backups; it has no owner, so it outlives the room",
                    )
                except ApiError as error:
                    if error.status != 409:
                        raise
        memory = self._memory(state)
        # A room that never had backups needs no read here: a thousand rooms at start-up
        # would cost two thousand GETs for nothing.
        had = memory.had_backups or bool(state.status.get("backup"))
        memory.had_backups = had or spec.enabled
        if not spec.enabled and had:
            path = api_path("batch/v1", "cronjobs", state.namespace, n.backup_cronjob(state.name))
            live = await kube.get(path)
            if live is not None and ownership(live, state.name, state.uid).owner is Owner.OURS:
                await kube.delete(path)
        if spec.final_backup or had:
            await self._keep_finalizer(state, spec.final_backup)

    async def _keep_finalizer(self, state: RoomState, wanted: bool) -> None:
        kube = self.executor.kube
        path = api_path(f"{GROUP}/{VERSION}", PLURAL, state.namespace, state.name)
        room = await kube.get(path)
        if room is None:
            return
        meta = room.get("metadata") or {}
        if meta.get("deletionTimestamp"):
            return
        finalizers = list(meta.get("finalizers") or [])
        if (n.FINAL_BACKUP_FINALIZER in finalizers) == wanted:
            return
        if wanted and CLOSE_FINALIZER not in finalizers:
            return  # a new room: closing.py adds both finalizers in one write
        others = [f for f in finalizers if f != n.FINAL_BACKUP_FINALIZER]
        patch = {
            "metadata": {
                "finalizers": [*others, n.FINAL_BACKUP_FINALIZER] if wanted else others,
                # A concurrent change (another finalizer) fails this with 409: tried again.
                "resourceVersion": meta.get("resourceVersion"),
            }
        }
        await kube.merge_patch(path, patch)

    # ---- results ------------------------------------------------------------------------

    async def read_results(self, state: RoomState) -> None:
        """Record each finished backup or restore Job's result on the Job, once; report it."""
        memory = self._memory(state)
        for name in unread(state.jobs):
            if name in memory.reading:
                continue
            memory.reading.add(name)
            try:
                await self._read_one(state, name)
            except (ApiError, OSError, TimeoutError) as error:
                log.warning("backup_result_unread", room=state.name, job=name, error=str(error))
            finally:
                memory.reading.discard(name)

    async def _read_one(self, state: RoomState, name: str) -> None:
        kube = self.executor.kube
        job = state.jobs[name]
        outcome = finished(job) or "Failed"
        text = await self._result_text(state, name)
        result = parse_result(text) if text else None
        if result is None:
            result = result_without_log(job, outcome, datetime.now(UTC))
        if outcome == "Failed" and result.get("succeeded"):
            result["succeeded"] = False  # the Job's own verdict wins
        path = api_path("batch/v1", "jobs", state.namespace, name)
        written = await kube.merge_patch(
            path,
            {"metadata": {"annotations": {RESULT_ANNOTATION: json.dumps(result, sort_keys=True)}}},
        )
        annotations = dict((written.get("metadata") or {}).get("annotations") or {})
        state.jobs[name] = {
            **job,
            "metadata": {**job["metadata"], "annotations": annotations},
        }
        state.settled = False
        await self._report(
            state, name, str(job["metadata"]["labels"].get(n.JOB_KIND_LABEL)), result
        )

    async def _result_text(self, state: RoomState, job: str) -> str:
        """The Job's Pod's termination message, else its log's last lines ('' if gone)."""
        kube = self.executor.kube
        pods = await kube.request(
            "GET",
            api_path("v1", "pods", state.namespace),
            params={"labelSelector": f"job-name={job}"},
        )
        items = sorted(
            pods.get("items") or [],
            key=lambda p: str((p.get("metadata") or {}).get("creationTimestamp") or ""),
        )
        if not items:
            return ""
        pod = items[-1]
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            message = ((status.get("state") or {}).get("terminated") or {}).get("message")
            if message and parse_result(str(message)):
                return str(message)
        path = api_path("v1", "pods", state.namespace, pod["metadata"]["name"]) + "/log"
        try:
            return await kube.text(path, {"tailLines": LOG_TAIL_LINES})
        except ApiError as error:
            if error.status in (400, 404):
                return ""
            raise

    async def _report(self, state: RoomState, job: str, kind: str, result: dict[str, Any]) -> None:
        ok = bool(result.get("succeeded"))
        outcome = "succeeded" if ok else "failed"
        if kind == "backup":
            metrics.BACKUPS.labels(state.namespace, state.name, outcome).inc()
            if ok and result.get("durationSeconds") is not None:
                metrics.BACKUP_SECONDS.observe(float(result["durationSeconds"]))
            if ok:
                await self.executor.event(
                    state, "Normal", "BackupSucceeded", f"Job {job}: {summary(result)}"
                )
            else:
                await self.executor.event(
                    state,
                    "Warning",
                    "BackupFailed",
                    f"Job {job} ({reason_of(result)}): {result.get('reason', '')}",
                )
        elif kind == "restore":
            metrics.RESTORES.labels(outcome).inc()
            if ok:
                await self.executor.event(
                    state, "Normal", "RestoreSucceeded", f"Job {job}: restored {summary(result)}"
                )
            else:
                await self.executor.event(
                    state,
                    "Warning",
                    "RestoreFailed",
                    f"Job {job} ({reason_of(result)}): {result.get('reason', '')}",
                )
        log.info("job_result", room=state.name, ns=state.namespace, job=job, kind=kind, ok=ok)

    # ---- restore ------------------------------------------------------------------------

    async def _restore(self, state: RoomState) -> float | None:
        wanted = state.spec.get("restore")
        step = restore_step(
            state.name,
            wanted if isinstance(wanted, dict) else None,
            state.status.get("restore"),
            state.jobs,
            datetime.now(UTC),
        )
        if step.action == "none":
            return None
        if step.action == "start" and not state.pod_ready:
            return None  # the room's Pod event queues the room again once it is ready
        try:
            if step.status is not None:
                await self._write_restore(state, step.status)
            if step.action in ("start", "ensure"):
                request = state.status["restore"]
                source = str(request.get("fromRoom") or "")
                missing = await self._missing_source(state, source)
                if missing:
                    await self._write_restore(
                        state,
                        {
                            **request,
                            "phase": "Failed",
                            "time": fmt(datetime.now(UTC)),
                            "message": missing,
                        },
                    )
                    await self.executor.event(state, "Warning", "RestoreFailed", missing)
                    return None
                job = render_restore_job(
                    state.room,
                    self.executor.options,
                    str(request["requestId"]),
                    str(request.get("backupName") or "latest"),
                    source,
                )
                try:
                    await self.executor.kube.create(strip_absent(job))
                except ApiError as error:
                    if error.status != 409:
                        raise
                else:
                    await self.executor.event(
                        state,
                        "Normal",
                        "RestoreStarted",
                        f"Job {job['metadata']['name']} restores {request.get('backupName')} "
                        f"(request {request['requestId']})",
                    )
        except (ApiError, OSError, TimeoutError) as error:
            log.warning(
                "restore_not_started", room=state.name, ns=state.namespace, error=str(error)
            )
            return 5.0
        return None

    async def _missing_source(self, state: RoomState, source: str) -> str:
        """Why a clone cannot start ('' if it can): the other room's backup volume is gone
        (its Job would wait for the volume until its deadline)."""
        if not source or state.room.effective["backup"]["destination"].get("type") == "s3":
            return ""
        path = api_path("v1", "persistentvolumeclaims", state.namespace, n.backup_pvc(source))
        if await self.executor.kube.get(path) is None:
            return (
                f"room {source} has no backup volume {n.backup_pvc(source)} in this namespace: "
                "nothing to clone from"
            )
        return ""

    async def _write_restore(self, state: RoomState, restore: dict[str, Any]) -> None:
        """status.restore written at once: a request is recorded before its Job exists."""
        path = api_path(f"{GROUP}/{VERSION}", PLURAL, state.namespace, state.name) + "/status"
        written = await self.executor.kube.merge_patch(path, {"status": {"restore": restore}})
        state.status = dict(written.get("status") or {**state.status, "restore": restore})
        state.settled = False

    # ---- the final backup of a room being deleted ---------------------------------------

    async def finalize(self, state: RoomState) -> float | None:
        """A deleted room holding the final-backup finalizer: take the backup (a Job from
        its CronJob), wait for it within finalBackupTimeoutSeconds, then let the room go."""
        kube = self.executor.kube
        path = api_path(f"{GROUP}/{VERSION}", PLURAL, state.namespace, state.name)
        # A deleted room's last-success sample would age into GameRoomBackupStale.
        drop_metrics(state)
        try:
            room = await kube.get(path)
            if room is None:
                self.forget(state.uid)
                return None
            meta = room.get("metadata") or {}
            finalizers = list(meta.get("finalizers") or [])
            if n.FINAL_BACKUP_FINALIZER not in finalizers:
                return None
            await self.read_results(state)
            deleted = parse_time(meta.get("deletionTimestamp")) or datetime.now(UTC)
            spec = BackupSpec.of(state.room.effective)
            job_name = n.final_backup_job(state.name)
            step = final_step(spec, state.jobs.get(job_name), deleted, datetime.now(UTC))
            if ORPHAN_FINALIZER in finalizers and step.action != "release":
                step = final_step(BackupSpec.of({}), None, deleted, datetime.now(UTC))
            if step.action == "start":
                started = await self._start_final(state, job_name)
                if not started:
                    step = final_step(BackupSpec.of({}), None, deleted, datetime.now(UTC))
            if step.action == "release":
                if step.phase in ("Succeeded",):
                    await self.executor.event(state, "Normal", "FinalBackupSucceeded", step.message)
                elif step.phase in ("Failed", "TimedOut"):
                    await self.executor.event(state, "Warning", "FinalBackupFailed", step.message)
                others = [f for f in finalizers if f != n.FINAL_BACKUP_FINALIZER]
                await kube.merge_patch(
                    path,
                    {
                        "metadata": {
                            "finalizers": others,
                            "resourceVersion": meta.get("resourceVersion"),
                        }
                    },
                )
                log.info("final_backup_done", room=state.name, ns=state.namespace, phase=step.phase)
                return None
            return min(FINAL_POLL_SECONDS, step.wait or FINAL_POLL_SECONDS)
        except (ApiError, OSError, TimeoutError) as error:
            log.warning(
                "final_backup_step_failed", room=state.name, ns=state.namespace, error=str(error)
            )
            return FINAL_POLL_SECONDS

    async def _start_final(self, state: RoomState, name: str) -> bool:
        """A Job from the room's CronJob, as `kubectl create job --from=cronjob` makes it."""
        kube = self.executor.kube
        cronjob = await kube.get(
            api_path("batch/v1", "cronjobs", state.namespace, n.backup_cronjob(state.name))
        )
        if cronjob is None:
            await self.executor.event(
                state, "Warning", "FinalBackupFailed", "the room has no backup CronJob to run"
            )
            return False
        job = job_from_cronjob(cronjob, name)
        try:
            await kube.create(job)
        except ApiError as error:
            if error.status != 409:
                raise
            return True
        await self.executor.event(
            state, "Normal", "FinalBackupStarted", f"Job {name} takes the room's final backup"
        )
        return True


def drop_metrics(state: RoomState) -> None:
    """Forget a room's per-room backup samples (backups off, or the room deleted)."""
    for gauge in (metrics.BACKUP_LAST_SUCCESS, metrics.BACKUP_BYTES):
        with contextlib.suppress(KeyError):
            gauge.remove(state.namespace, state.name)
    for result in ("succeeded", "failed"):
        with contextlib.suppress(KeyError):
            metrics.BACKUPS.remove(state.namespace, state.name, result)


def job_from_cronjob(cronjob: dict[str, Any], name: str) -> dict[str, Any]:
    """A Job from a CronJob's template, owned by the CronJob (kubectl create job --from)."""
    meta = cronjob["metadata"]
    template = (cronjob.get("spec") or {}).get("jobTemplate") or {}
    template_meta = template.get("metadata") or {}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name,
            "namespace": meta["namespace"],
            "labels": dict(template_meta.get("labels") or {}),
            "annotations": {
                **(template_meta.get("annotations") or {}),
                "cronjob.kubernetes.io/instantiate": "manual",
            },
            "ownerReferences": [
                {
                    "apiVersion": "batch/v1",
                    "kind": "CronJob",
                    "name": meta["name"],
                    "uid": meta["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": template.get("spec") or {},
    }
