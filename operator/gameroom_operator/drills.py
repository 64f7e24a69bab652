"""The drill concern's executor (spec.backup.drill and the drill-now annotation): creates
the scratch room, starts its smoke-test Job, records status.backup.lastDrill, sends
DrillSucceeded / DrillFailed Events and deletes the scratch room. Decisions are drill.py's.

A drill in progress is recorded in status.backup.drill (scratch room, backup, request,
start, smoke-test Job) before its scratch room is created, and cleared with the verdict: an
operator restarted in the middle of one reads it back and finishes the drill (or records it
Failed and deletes the scratch room), so no scratch room outlives an operator restart.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from . import GROUP, PLURAL, VERSION
from .backup import finished, fmt, parse_time
from .concerns import Executor, StatusPart
from .drill import (
    DRILL_NOW_ANNOTATION,
    DrillSpec,
    due,
    observe,
    scratch_name,
    scratch_room,
    step,
)
from .kube import ApiError, api_path
from .plugin.smoke import job_manifest
from .render import image_of
from .state import RoomState

log = structlog.get_logger("gameroom_operator")

POLL_SECONDS = 2.0  # a drill in progress looks at its scratch room this often
SMOKE_STEP_SECONDS = 20.0


@dataclass
class Running:
    scratch: str
    backup: str
    backup_rows: int | None
    request: str
    started: datetime
    smoke_job: str = ""
    resumed: bool = False  # read back from the status by a restarted operator

    def recorded(self) -> dict[str, Any]:
        """status.backup.drill: what a restarted operator needs to carry on."""
        return {
            "scratchRoom": self.scratch,
            "backupName": self.backup,
            "backupRows": self.backup_rows,
            "request": self.request or None,
            "started": fmt(self.started),
            "smokeJob": self.smoke_job or None,
        }

    @classmethod
    def of(cls, recorded: Any) -> Running | None:
        if not isinstance(recorded, dict) or not recorded.get("scratchRoom"):
            return None
        rows = recorded.get("backupRows")
        return cls(
            scratch=str(recorded["scratchRoom"]),
            backup=str(recorded.get("backupName") or ""),
            backup_rows=rows if isinstance(rows, int) else None,
            request=str(recorded.get("request") or ""),
            started=parse_time(recorded.get("started")) or datetime.now(UTC),
            smoke_job=str(recorded.get("smokeJob") or ""),
            resumed=True,
        )


def in_progress(state: RoomState) -> dict[str, Any] | None:
    drill = (state.status.get("backup") or {}).get("drill")
    return drill if isinstance(drill, dict) else None


@dataclass
class Memory:
    since: datetime
    answered: str = ""  # the last drill-now value acted on
    running: Running | None = None


class DrillConcern:
    name = "drill"

    def __init__(self, executor: Executor) -> None:
        self.executor = executor
        self.memory: dict[str, Memory] = {}

    def forget(self, uid: str) -> None:
        self.memory.pop(uid, None)

    def status(self, state: RoomState) -> StatusPart:
        return StatusPart()  # lastDrill is written when a drill ends (backups.py keeps it)

    def _memory(self, state: RoomState) -> Memory:
        memory = self.memory.get(state.uid)
        if memory is None:
            last = (state.status.get("backup") or {}).get("lastDrill") or {}
            running = Running.of(in_progress(state))
            answered = (running.request if running else "") or str(last.get("request") or "")
            memory = self.memory[state.uid] = Memory(
                since=datetime.now(UTC), answered=answered, running=running
            )
            if running is not None:
                log.info(
                    "drill_resumed", room=state.name, ns=state.namespace, scratch=running.scratch
                )
        return memory

    async def step(self, state: RoomState) -> float | None:
        if state.applied_generation is None or not state.uid:
            return None
        spec = DrillSpec.of(state.room.effective)
        asked = state.annotations.get(DRILL_NOW_ANNOTATION, "")
        if (
            not spec.enabled
            and not asked
            and state.uid not in self.memory
            and in_progress(state) is None
        ):
            return None  # opt-in: a room without drills costs nothing
        memory = self._memory(state)
        try:
            if memory.running is not None:
                return await self._advance(state, memory, memory.running)
            last = (state.status.get("backup") or {}).get("lastDrill")
            now = datetime.now(UTC)
            start, wait = due(spec, last, asked, memory.answered, memory.since, now)
            if not start:
                return wait
            memory.answered = asked
            await self._start(state, memory, asked, now)
            return POLL_SECONDS
        except (ApiError, OSError, TimeoutError) as error:
            log.warning("drill_step_failed", room=state.name, ns=state.namespace, error=str(error))
            return POLL_SECONDS * 2

    async def _start(self, state: RoomState, memory: Memory, request: str, now: datetime) -> None:
        last = (state.status.get("backup") or {}).get("lastSuccessful") or {}
        if not last.get("name"):
            await self._record(
                state, request, "", now, now, "Failed", "the room has no verified backup to drill"
            )
            return
        name = scratch_name(state.name, secrets.token_hex(3))
        room = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "metadata": {"name": state.name, "namespace": state.namespace, "uid": state.uid},
            "spec": state.spec,
        }
        rows = last.get("rows")
        running = Running(
            name, str(last["name"]), rows if isinstance(rows, int) else None, request, now
        )
        # Recorded before the scratch room exists: an operator stopped from here on finds
        # the drill in the status and ends it, never leaving the scratch room behind.
        await self._persist(state, running)
        memory.running = running
        try:
            await self.executor.kube.create(scratch_room(room, name, str(last["name"])))
        except ApiError as error:
            # Answered, not retried for ever: a refused scratch room (RBAC, quota) is news.
            memory.running = None
            await self._record(
                state,
                request,
                str(last["name"]),
                now,
                now,
                "Failed",
                f"the scratch room {name} was not created: {error}",
            )
            return
        await self.executor.event(
            state,
            "Normal",
            "DrillStarted",
            f"Scratch room {name} restores backup {last['name']} for a disaster-recovery drill",
        )

    async def _advance(self, state: RoomState, memory: Memory, running: Running) -> float | None:
        kube = self.executor.kube
        scratch = await kube.get(self._room_path(state, running.scratch))
        outcome = None
        if running.smoke_job:
            job = await kube.get(api_path("batch/v1", "jobs", state.namespace, running.smoke_job))
            outcome = finished(job) if job is not None else "Failed"
        now = datetime.now(UTC)
        decided = step(
            observe(scratch),
            bool(running.smoke_job),
            outcome,
            running.backup_rows,
            running.started,
            now,
            resumed=running.resumed,
        )
        if decided.action == "smoke" and scratch is not None:
            image = image_of(scratch.get("spec") or {}, self.executor.options)
            job = job_manifest(scratch, image, SMOKE_STEP_SECONDS)
            # Owned by the scratch room: deleting it removes the Job and its Pod too.
            job["metadata"]["ownerReferences"] = [
                {
                    "apiVersion": f"{GROUP}/{VERSION}",
                    "kind": "GameRoom",
                    "name": running.scratch,
                    "uid": scratch["metadata"]["uid"],
                }
            ]
            running.smoke_job = job["metadata"]["name"]
            await self._persist(state, running)  # a restarted operator waits for this Job
            await kube.create(job)
        if decided.action != "finish":
            return POLL_SECONDS
        memory.running = None
        await self._clean_up(state, running)
        await self._record(
            state,
            running.request,
            running.backup,
            running.started,
            now,
            decided.phase,
            decided.message,
        )
        return None

    async def _clean_up(self, state: RoomState, running: Running) -> None:
        kube = self.executor.kube
        # The smoke-test Job goes with it (its owner reference).
        try:
            await kube.delete(self._room_path(state, running.scratch))
        except ApiError as error:
            if error.status != 404:
                log.warning("drill_cleanup_failed", room=state.name, error=str(error))

    async def _record(
        self,
        state: RoomState,
        request: str,
        backup: str,
        started: datetime,
        now: datetime,
        result: str,
        message: str,
    ) -> None:
        last: dict[str, Any] = {
            "time": fmt(now),
            "backupName": backup or None,
            "result": result,
            "durationSeconds": round((now - started).total_seconds(), 1),
            "message": message,
            "request": request or None,
        }
        path = self._room_path(state, state.name) + "/status"
        # The verdict and the end of the in-progress record in one write.
        written = await self.executor.kube.merge_patch(
            path, {"status": {"backup": {"lastDrill": last, "drill": None}}}
        )
        state.status = dict(written.get("status") or state.status)
        state.settled = False
        ok = result == "Succeeded"
        await self.executor.event(
            state,
            "Normal" if ok else "Warning",
            "DrillSucceeded" if ok else "DrillFailed",
            f"Drill of backup {backup or '(none)'}: {message}",
        )
        log.info("drill_done", room=state.name, ns=state.namespace, result=result)

    async def _persist(self, state: RoomState, running: Running) -> None:
        path = self._room_path(state, state.name) + "/status"
        written = await self.executor.kube.merge_patch(
            path, {"status": {"backup": {"drill": running.recorded()}}}
        )
        state.status = dict(written.get("status") or state.status)

    def _room_path(self, state: RoomState, name: str) -> str:
        return api_path(f"{GROUP}/{VERSION}", PLURAL, state.namespace, name)
