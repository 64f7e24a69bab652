"""The drill concern's executor (spec.backup.drill and the drill-now annotation): creates
the scratch room, starts its smoke-test Job, records status.backup.lastDrill, sends
DrillSucceeded / DrillFailed Events and deletes the scratch room. Decisions are drill.py's.

What a drill in progress is lives in this operator run's memory: an operator restart in the
middle of one leaves a scratch room that its owner reference deletes with the room, and the
schedule (or the annotation, which lastDrill.request did not answer yet) starts a new drill.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog

from . import GROUP, PLURAL, VERSION
from .backup import finished, fmt
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
            memory = self.memory[state.uid] = Memory(
                since=datetime.now(UTC), answered=str(last.get("request") or "")
            )
        return memory

    async def step(self, state: RoomState) -> float | None:
        if state.applied_generation is None or not state.uid:
            return None
        spec = DrillSpec.of(state.room.effective)
        asked = state.annotations.get(DRILL_NOW_ANNOTATION, "")
        if not spec.enabled and not asked and state.uid not in self.memory:
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
        try:
            await self.executor.kube.create(scratch_room(room, name, str(last["name"])))
        except ApiError as error:
            # Answered, not retried for ever: a refused scratch room (RBAC, quota) is news.
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
        rows = last.get("rows")
        memory.running = Running(
            name, str(last["name"]), rows if isinstance(rows, int) else None, request, now
        )
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
            await kube.create(job)
            running.smoke_job = job["metadata"]["name"]
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
        written = await self.executor.kube.merge_patch(
            path, {"status": {"backup": {"lastDrill": last}}}
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

    def _room_path(self, state: RoomState, name: str) -> str:
        return api_path(f"{GROUP}/{VERSION}", PLURAL, state.namespace, name)
