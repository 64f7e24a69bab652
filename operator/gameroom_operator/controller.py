"""The operator's executor: one pass per room off a keyed work queue.

Kopf handlers and the child watches (handlers.py, observers.py) only record what they saw
and queue the room. A pass (`_pass`) is queue -> children -> concerns -> status: the
children executor (childsync.py, deciding with children.py) writes the room's children
from the revision the rollout concern pins (rollouts.py), then each concern runs in turn
(concerns.py: health in probing.py, rollouts in rollouts.py, backups, drills), then the
status is decided (status.py plus each concern's part) and written once, only if it
changed. Every timer of a room (probe period, retry back-off, rollout wait and
verification, auto-heal budget) is the due time the pass returns to the queue.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import structlog

from . import GROUP, PLURAL, VERSION, metrics
from . import names as n
from .admin import RoomClient
from .backups import BackupConcern
from .children import Outcome
from .childsync import ChildSync, needs_reconcile, retry_delay
from .concerns import Concern
from .drill import DRILL_NOW_ANNOTATION
from .drills import DrillConcern
from .health import History
from .kube import ApiError, Kube, api_path
from .observers import ChildObservers
from .probing import HealthConcern
from .render import RenderOptions, config_hash, image_of, version_of
from .rollouts import RolloutConcern, annotations_of
from .state import RoomState, now_text
from .status import (
    Observation,
    desired_status,
    history_from,
    merge_parts,
    prober_stalled,
    status_changed,
)
from .workqueue import WorkQueue

__all__ = ["Controller", "RoomState", "needs_reconcile", "retry_delay"]

log = structlog.get_logger("gameroom_operator")

Key = tuple[str, str]  # (namespace, name)


class Controller:
    def __init__(
        self,
        kube: Kube,
        options: RenderOptions,
        room_client: RoomClient | None = None,
        probe_interval: float = 10.0,
        resync_interval: float = 0.0,
        probe_concurrency: int = 50,
        reconcile_concurrency: int = 64,
    ) -> None:
        self.kube = kube
        self.options = options
        self.rooms: dict[Key, RoomState] = {}
        self.room_client = room_client or RoomClient()
        self.probe_interval = probe_interval
        self.resync_interval = resync_interval
        # Bounds the reconciles in flight: at start-up Kopf resumes every room at once, and
        # each holds its rendered and live children in memory until it is done.
        self._reconcile_slots = asyncio.Semaphore(reconcile_concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._gauge_pending = False
        self.queue: WorkQueue[Key] = WorkQueue(self._pass, workers=reconcile_concurrency)
        self.observers = ChildObservers(self)
        # Runs first in a pass (the concerns read its result); renders as the watches compare.
        self.children = ChildSync(self, self.observers.rendering)
        self.health = HealthConcern(self, probe_interval, probe_concurrency)
        self.rollout = RolloutConcern(self)
        # Every concern a pass runs after the children, in order (concerns.py); the
        # rollout decides after health, on its fresh verdict; backups last (backups.py).
        self.backups = BackupConcern(self)
        self.drills = DrillConcern(self)  # opt-in: spec.backup.drill or drawgame.dev/drill-now
        self.concerns: list[Concern] = [self.health, self.rollout, self.backups, self.drills]

    # ---- room bookkeeping -------------------------------------------------------------------

    def state(self, namespace: str, name: str) -> RoomState:
        key = (namespace, name)
        if key not in self.rooms:
            self.rooms[key] = RoomState(namespace=namespace, name=name)
        return self.rooms[key]

    def observe_room(self, body: dict[str, Any], event_type: str | None) -> RoomState | None:
        meta = body.get("metadata") or {}
        key = (meta.get("namespace", ""), meta.get("name", ""))
        if event_type == "DELETED":
            self.rooms.pop(key, None)
            self.queue.forget(key)
            self._update_phase_gauge()
            return None
        state = self.state(*key)
        if state.uid and meta.get("uid") and state.uid != meta.get("uid"):
            # The room was deleted and created again under the same name: start afresh.
            state = self.rooms[key] = RoomState(namespace=key[0], name=key[1])
        state.uid = meta.get("uid", state.uid)
        generation = int(meta.get("generation") or 0)
        if state.generation and generation != state.generation:
            state.history = History()  # a new spec gives auto-heal a new budget
        state.generation = generation
        spec = dict(body.get("spec") or {})
        if spec != state.spec:
            # A new object only for a new spec: what derives from it (effective spec,
            # settings hash, rendering) is worked out once per spec, not at every event
            # (each status write comes back as an event of the room).
            state.spec = spec
        state.annotations = annotations_of(body)
        asked = ((body.get("metadata") or {}).get("annotations") or {}).get(DRILL_NOW_ANNOTATION)
        if asked:  # kubectl gameroom drill (drills.py)
            state.annotations[DRILL_NOW_ANNOTATION] = str(asked)
        state.settled = False
        if body.get("status") is not None:
            state.status = dict(body.get("status") or {})
            if not state.seen_status:
                # First sight of the room in this run: carry on its health history.
                state.seen_status = True
                state.history, state.health_since = history_from(state.status)
        state.deleting = bool(meta.get("deletionTimestamp"))
        return state

    def _update_phase_gauge(self) -> None:
        """Recount rooms by phase at most once a second: a count per status write would
        cost O(rooms) each time, O(rooms^2) when a thousand rooms start at once."""
        if self._gauge_pending:
            return
        self._gauge_pending = True
        try:
            asyncio.get_running_loop().call_later(1.0, self._count_phases)
        except RuntimeError:  # no loop (unit tests of the bookkeeping): count now
            self._count_phases()

    def _count_phases(self) -> None:
        self._gauge_pending = False
        counts: dict[str, int] = {}
        for state in self.rooms.values():
            if not state.uid:
                continue  # children seen before (or after) their room
            phase = state.status.get("phase", "Pending")
            counts[phase] = counts.get(phase, 0) + 1
        severities: dict[str, int] = {}
        exhausted = 0
        for state in self.rooms.values():
            if state.uid:
                severity = state.assessment.severity if state.assessment else ""
                severities[severity or "none"] = severities.get(severity or "none", 0) + 1
                exhausted += state.history.exhausted
        for severity in ("P0", "P1", "P2", "P3", "none"):
            metrics.ROOMS_BY_SEVERITY.labels(severity=severity).set(severities.get(severity, 0))
        metrics.AUTOHEAL_EXHAUSTED.set(exhausted)
        for phase in ("Pending", "Starting", "Ready", "Degraded", "Maintenance", "Failed"):
            metrics.ROOMS.labels(phase=phase).set(counts.get(phase, 0))
        metrics.ROOMS.labels(phase="Terminating").set(counts.get("Terminating", 0))

    # ---- the pass ----------------------------------------------------------------------------

    async def room_changed(self, body: dict[str, Any], event_type: str | None) -> None:
        """Every watch event of a room: record it and queue a pass.

        Level-triggered, like a kubebuilder reconciler: a pass reconciles the children when
        the room's generation was not applied in this run (so at start-up every room once),
        so a retried, repeated or reordered event never writes twice. A spec update waits
        SETTLE_SECONDS, so a burst of edits becomes one change.
        """
        state = self.observe_room(body, event_type)
        if state is None:
            return
        key = (state.namespace, state.name)
        if state.deleting or not needs_reconcile(state):
            finalizers = (body.get("metadata") or {}).get("finalizers") or []
            if state.deleting and (
                state.applied_generation is not None or n.FINAL_BACKUP_FINALIZER in finalizers
            ):
                self.queue.add(key)  # a final backup holds it even after an operator restart
            elif self.rollout.asked(state):
                self.queue.add(key)  # kubectl gameroom rollout --now
            return
        if event_type == "ADDED" and not state.status and state.attempts == 0:
            state.fresh = True  # created while we watch: its children cannot exist yet
        first = state.applied_generation is None
        self.queue.add(key, 0.0 if first else SETTLE_SECONDS)

    async def _pass(self, key: Key) -> float | None:
        """One pass over one room: children, the concerns, then status. Returns the seconds
        until the room's next timer."""
        state = self.rooms.get(key)
        if state is None or not state.uid:
            return None
        if state.deleting:
            wait = await self.backups.finalize(state)  # the final backup, if asked for
            if state.applied_generation is not None:
                await self.sync_status(state)
            return wait
        waits: list[float] = []
        if needs_reconcile(state) or state.repair_wanted or not state.pod_seen:
            state.settled = False
        await self.rollout.prepare(state)  # which revision the children are rendered from
        synced = await self.children.step(state)
        if synced.wait is not None:
            waits.append(synced.wait)
        if state.applied_generation is not None and not state.pod_seen:
            await self.observers.read_pod(state)
        for concern in self.concerns:
            wait = await concern.step(state)
            if wait is not None:
                waits.append(wait)
        if not state.settled:
            if await self.sync_status(state):
                state.settled = True
            else:  # a new room's first status waits a moment for its Pod (childsync.py)
                waits.append(max(0.0, state.first_status_by - time.monotonic()))
        await self.children.announce(state, synced)
        return min(waits)

    async def reconcile_state(self, state: RoomState, fresh: bool = False) -> Outcome | None:
        """Write the room's children now (the rollout concern, when it pins a revision)."""
        return await self.children.reconcile(state, fresh=fresh)

    # ---- status -----------------------------------------------------------------------------

    def observation(self, state: RoomState) -> Observation:
        room = state.room
        spec = room.effective
        image = image_of(spec, self.options)
        return Observation(
            generation=state.generation,
            applied_generation=state.applied_generation,
            apply_error=state.apply_error,
            apply_error_permanent=state.apply_error_permanent,
            apply_error_reason=state.apply_error_reason,
            deleting=state.deleting,
            deployment=state.deployment,
            config_hash=config_hash(room),
            pod_problem=state.pod_problem,
            pod_ready=state.pod_ready,
            pod_config_hash=state.pod_config_hash,
            pod_image=state.pod_image,
            probe=state.probe,
            maintenance_wanted=bool(spec["maintenance"]["enabled"]),
            maintenance_error=state.maintenance_error,
            previous_phase=str(state.status.get("phase") or ""),
            assessment=state.assessment,
            history=state.history,
            health_since=state.health_since,
            last_probe_time=state.last_probe_time,
            probe_latency_ms=state.probe_latency_ms,
            failure_threshold=state.health_spec.failure_threshold,
            url=n.game_url(room.name, room.namespace, int(spec["expose"]["port"])),
            image=image,
            version=version_of(image),
            spec_sections=tuple(sorted(state.spec)),
        )

    async def sync_status(self, state: RoomState) -> bool:
        async with state.lock:
            return await self.write_status(state)

    async def write_status(self, state: RoomState) -> bool:
        """Write the room's status if it changed; False when it is held back (a new room's
        first status while it would only say Starting, until state.first_status_by)."""
        if state.applied_generation is None and not state.apply_error:
            return True  # nothing to say before the first reconcile of this operator run
        now = now_text()
        desired = desired_status(self.observation(state), state.status, now)
        merge_parts(
            desired,
            [concern.status(state) for concern in self.concerns],
            state.status,
            state.applied_generation or 0,
            now,
        )
        if not status_changed(state.status, desired):
            metrics.WRITES_SKIPPED.inc()
            return True
        if (
            desired["phase"] == "Starting"
            and not state.status
            and time.monotonic() < state.first_status_by
        ):
            return False
        path = api_path(f"{GROUP}/{VERSION}", PLURAL, state.namespace, state.name) + "/status"
        try:
            written = await self.kube.merge_patch(path, {"status": desired})
        except ApiError as error:
            if error.status == 404:
                return True  # the room is gone
            raise
        old_phase = state.status.get("phase")
        log.debug(
            "status_written",
            room=state.name,
            ns=state.namespace,
            changed=sorted(k for k, v in desired.items() if state.status.get(k) != v),
        )
        state.status = dict(written.get("status") or desired)
        self._update_phase_gauge()
        if old_phase != desired["phase"]:
            log.info(
                "room_phase",
                room=state.name,
                ns=state.namespace,
                phase=desired["phase"],
                was=old_phase,
            )
            if desired["phase"] == "Failed":
                ready = next(c for c in desired["conditions"] if c["type"] == "Ready")
                await self.event(state, "Warning", ready["reason"], ready["message"])
        return True

    async def event(self, state: RoomState, kind: str, reason: str, message: str) -> None:
        """A Kubernetes Event on the room, for what an admin must know."""
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {
                "generateName": f"{state.name}.",
                "namespace": state.namespace,
            },
            "involvedObject": {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "GameRoom",
                "name": state.name,
                "namespace": state.namespace,
                "uid": state.uid,
            },
            "type": kind,
            "reason": reason,
            "message": message[:1024],
            "source": {"component": "gameroom-operator"},
            "reportingComponent": "gameroom-operator",
            "reportingInstance": "gameroom-operator",
            "firstTimestamp": now[:19] + "Z",
            "lastTimestamp": now[:19] + "Z",
            "count": 1,
        }
        try:
            await self.kube.request("POST", api_path("v1", "events", state.namespace), event)
        except (ApiError, OSError, TimeoutError) as error:
            log.warning("event_not_posted", room=state.name, reason=reason, error=str(error))

    # ---- probing and maintenance ------------------------------------------------------------

    async def run_prober(self) -> None:
        """Run the work queue (every room's passes and timers) and the resync."""
        self.queue.start()
        try:
            if self.resync_interval:
                await self.run_resync()
            else:
                await asyncio.Event().wait()
        finally:
            await self.queue.stop()

    async def run_resync(self) -> None:
        """Every resync interval: queue a check of every room's children (writes only on
        drift); also what brings back a deleted or edited admin-token Secret."""
        while True:
            await asyncio.sleep(self.resync_interval)
            for state in [s for s in self.rooms.values() if not s.deleting and s.uid]:
                if state.applied_generation is not None:
                    self.observers.schedule_repair(state)

    def wake(self, state: RoomState, delay: float = 0.0) -> None:
        """Queue a pass of the room in `delay` seconds (an earlier one already queued wins)."""
        self.queue.add((state.namespace, state.name), delay)

    def prober_healthy(self) -> tuple[bool, str]:
        late = self.queue.overdue()
        if prober_stalled(late, self.probe_interval or 15.0):
            return False, f"the room work queue has not run for {late:.0f}s"
        return True, f"{len(self.rooms)} rooms known"

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self.room_client.close()
        await self.rollout.close()
        await self.kube.close()


SETTLE_SECONDS = 1.0  # a spec update waits this long, so a burst of edits is one change
