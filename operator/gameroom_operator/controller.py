"""The operator's executor: one pass per room off a keyed work queue.

Kopf handlers and the child watches (handlers.py, observers.py) only record what they saw
and queue the room. A pass (`_pass`) reconciles the room's children (children.py: create,
patch, adopt or refuse) from the revision the rollout concern pins (rollouts.py), then
runs each concern in turn (concerns.py: health in probing.py, rollouts in rollouts.py,
...), then decides the status (status.py plus each concern's part) and writes it once,
only if it changed. Every timer of a room (probe period, retry back-off, rollout wait and
verification, auto-heal budget) is the due time the pass returns to the queue.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import secrets
import time
from datetime import UTC, datetime
from typing import Any

import structlog

from . import GROUP, PLURAL, VERSION, metrics
from . import names as n
from .admin import RoomClient
from .backups import BackupConcern
from .children import Action, NameConflict, Outcome, Owner, ownership, plan
from .concerns import Concern
from .drill import DRILL_NOW_ANNOTATION
from .drills import DrillConcern
from .health import History
from .kube import ApiError, Kube, api_path, object_path
from .observers import ChildObservers, slim_deployment
from .probing import HealthConcern
from .render import (
    TOKEN_KEY,
    RenderOptions,
    config_hash,
    image_of,
    render_children,
    render_ingress,
    strip_absent,
    version_of,
)
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

__all__ = ["Controller", "RoomState"]

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

    # ---- applying children ------------------------------------------------------------------

    async def _admin_token(self, state: RoomState, live_secret: dict[str, Any] | None) -> str:
        if live_secret is not None:
            encoded = (live_secret.get("data") or {}).get(TOKEN_KEY)
            if encoded:
                try:
                    return base64.b64decode(encoded).decode()
                except (binascii.Error, UnicodeDecodeError):
                    log.warning("admin_token_unreadable", room=state.name, ns=state.namespace)
        return state.token or secrets.token_urlsafe(32)

    async def apply_children(self, state: RoomState, fresh: bool = False) -> Outcome:
        """Create what is missing, patch what differs, remove a dropped Ingress; else no write.
        Never writes an object the room does not own (children.plan decides).

        `fresh` (a room Kopf sees created) skips reading children that cannot exist yet: the
        admin Secret is created first, and only if it already exists (a retried create) are
        all children read and compared as usual.
        """
        room = state.room
        secret_path = api_path("v1", "secrets", room.namespace, n.admin_secret(room.name))
        if fresh:
            state.token = secrets.token_urlsafe(32)
            desired = render_children(room, state.token, self.options)
            secret = next(c for c in desired if c["kind"] == "Secret")
            try:
                await self.kube.create(strip_absent(secret))
            except ApiError as error:
                if error.status != 409:
                    raise
            else:
                state.pod_seen = True  # no Pod before we create its Deployment
                rest = [c for c in desired if c["kind"] != "Secret"]
                outcome = await self._converge(
                    state, rest, [object_path(c) for c in rest], [None] * len(rest)
                )
                outcome.created.insert(0, f"Secret/{secret['metadata']['name']}")
                return outcome
        live_secret = await self.kube.get(secret_path)
        if live_secret is not None:
            verdict = ownership(live_secret, room.name, room.uid)
            if verdict.owner is Owner.FOREIGN:  # never use, nor hand out, another's token
                raise NameConflict(f"Secret/{n.admin_secret(room.name)}", verdict.who)
        state.token = await self._admin_token(state, live_secret)
        desired = render_children(room, state.token, self.options)
        paths = [object_path(child) for child in desired]
        lives = await asyncio.gather(
            *(self.kube.get(path) if path != secret_path else _value(live_secret) for path in paths)
        )
        outcome = await self._converge(state, desired, paths, list(lives))
        if render_ingress(room, "") is None:
            path = api_path(
                "networking.k8s.io/v1", "ingresses", room.namespace, n.ingress(room.name)
            )
            live = await self.kube.get(path)
            if live is not None and ownership(live, room.name, room.uid).owner is Owner.OURS:
                await self.kube.delete(path)
                outcome.deleted.append(f"Ingress/{n.ingress(room.name)}")
        return outcome

    async def _converge(
        self,
        state: RoomState,
        desired: list[dict[str, Any]],
        paths: list[str],
        lives: list[dict[str, Any] | None],
    ) -> Outcome:
        outcome = Outcome()
        conflicts: list[NameConflict] = []

        async def converge(child: dict[str, Any], path: str, live: dict[str, Any] | None) -> None:
            decided = plan(child, live, state.uid)
            if decided.action is Action.CREATE:
                try:
                    result = await self.kube.create(strip_absent(child))
                    outcome.created.append(decided.label)
                except ApiError as error:
                    if error.status != 409:
                        raise
                    # Made meanwhile (an earlier run of this operator, or someone else):
                    # decide again on what is there now.
                    live = await self.kube.get(path)
                    if live is None:
                        raise  # gone again already: the retry decides afresh
                    decided = plan(child, live, state.uid)
            if decided.action is Action.CONFLICT:
                conflicts.append(NameConflict(decided.label, decided.owner))
                return
            if decided.action is Action.PATCH:
                assert decided.body is not None
                result = await self.kube.merge_patch(path, decided.body)
                outcome.patched[decided.label] = decided.fields
                if decided.adopted:
                    outcome.adopted.append(decided.label)
            elif decided.action is Action.NONE:
                metrics.WRITES_SKIPPED.inc()
                result = live or {}
            if child["kind"] == "Deployment":
                state.deployment = slim_deployment(result)

        # Two waves: what the Pod mounts and the Services first, then the workload, so the
        # Pod never starts without its config, token and volume.
        triples = list(zip(desired, paths, lives, strict=True))
        first = [t for t in triples if t[0]["kind"] not in ("Deployment", "Ingress")]
        second = [t for t in triples if t[0]["kind"] in ("Deployment", "Ingress")]
        for wave in (first, second):
            await asyncio.gather(*(converge(*t) for t in wave))
            if conflicts:
                # Nothing of the second wave is written: a room whose Service or volume is
                # someone else's must not start a Pod that would use it.
                raise conflicts[0]
        return outcome

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
        """One pass over one room: children, health and maintenance, then status. Returns
        the seconds until the room's next timer."""
        state = self.rooms.get(key)
        if state is None or not state.uid:
            return None
        now = time.monotonic()
        if state.deleting:
            wait = await self.backups.finalize(state)  # the final backup, if asked for
            if state.applied_generation is not None:
                await self.sync_status(state)
            return wait
        waits: list[float] = []
        outcome: Outcome | None = None
        repair = False
        if needs_reconcile(state) or state.repair_wanted or not state.pod_seen:
            state.settled = False
        await self.rollout.prepare(state)  # which revision the children are rendered from
        if needs_reconcile(state):
            if now < state.retry_at:
                pass  # a failed reconcile waits for its back-off (below)
            else:
                outcome = await self.reconcile_state(state, fresh=state.fresh)
                state.fresh = False
                if outcome is not None:
                    state.next_probe_at = 0.0  # see the new spec (maintenance) at once
        elif state.repair_wanted and state.applied_generation is not None and now >= state.retry_at:
            state.repair_wanted = False
            repair = True
            outcome = await self._repair(state)
        if (needs_reconcile(state) or state.repair_wanted) and state.retry_at > now:
            waits.append(state.retry_at - now)
        if state.applied_generation is not None and not state.pod_seen:
            await self.observers.read_pod(state)
        for concern in self.concerns:
            wait = await concern.step(state)
            if wait is not None:
                waits.append(wait)
        if not state.settled:
            await self.sync_status(state)
            state.settled = True
        if outcome is not None:
            await self._announce(state, outcome, repair=repair)
        return min(waits)

    async def reconcile_state(self, state: RoomState, fresh: bool = False) -> Outcome | None:
        """Reconcile, and on failure say why and set the retry's due time (never for a spec
        the API server refuses: that waits for the next spec change)."""
        try:
            outcome = await self.reconcile(state, fresh=fresh)
        except NameConflict:
            state.refused_generation = state.generation  # no retry loop: see _conflicted
        except ApiError as error:
            if error.permanent:
                state.refused_generation = state.generation
                log.warning(
                    "room_refused",
                    room=state.name,
                    ns=state.namespace,
                    error=error.message,
                    hint="fix the GameRoom's spec",
                )
                return None
            self._retry_later(state, str(error))
        except (OSError, TimeoutError) as error:
            self._retry_later(state, f"the API server did not answer: {error}")
        else:
            state.attempts = 0
            state.retry_at = 0.0
            return outcome
        return None

    def _retry_later(self, state: RoomState, why: str) -> None:
        state.attempts += 1
        delay = retry_delay(state.attempts)
        state.retry_at = time.monotonic() + delay
        log.warning(
            "reconcile_failed", room=state.name, ns=state.namespace, error=why, retry_in=delay
        )

    async def reconcile(self, state: RoomState, fresh: bool = False) -> Outcome:
        """Bring the room's children in line with its spec (the status follows in the pass)."""
        started = time.perf_counter()
        try:
            outcome = await self.apply_children(state, fresh=fresh)
        except NameConflict as conflict:
            metrics.RECONCILE_ERRORS.labels(kind="name_conflict").inc()
            await self._conflicted(state, conflict)
            raise
        except ApiError as error:
            metrics.RECONCILE_ERRORS.labels(kind=f"api_{error.status}").inc()
            state.apply_error = error.message
            state.apply_error_reason = "ApplyFailed"
            state.apply_error_permanent = error.permanent
            await self._write_status(state)
            raise
        except (OSError, TimeoutError) as error:
            metrics.RECONCILE_ERRORS.labels(kind="connection").inc()
            state.apply_error = f"the API server did not answer: {error}"
            state.apply_error_reason = "ApplyRetrying"
            state.apply_error_permanent = False
            raise
        finally:
            metrics.RECONCILE_SECONDS.observe(time.perf_counter() - started)
        self._applied(state)
        return outcome

    async def _repair(self, state: RoomState) -> Outcome | None:
        """Put back what drifted, was deleted, or a resync found: the same as a reconcile,
        for a generation already applied; the event says DriftRepaired."""
        started = time.perf_counter()
        try:
            outcome = await self.apply_children(state)
        except NameConflict as conflict:
            await self._conflicted(state, conflict)
            return None
        except (ApiError, OSError, TimeoutError) as error:
            detail = error.message if isinstance(error, ApiError) else str(error)
            log.warning("repair_failed", room=state.name, ns=state.namespace, error=detail)
            state.apply_error = f"repairing the room's objects failed: {detail}"
            state.apply_error_reason = "RepairFailed"
            state.apply_error_permanent = False
            state.repair_wanted = True
            state.retry_at = time.monotonic() + REPAIR_RETRY_SECONDS
            return None
        finally:
            metrics.RECONCILE_SECONDS.observe(time.perf_counter() - started)
        if state.apply_error_reason in ("RepairFailed", "NameConflict"):
            self._applied(state)
        return outcome

    @staticmethod
    def _applied(state: RoomState) -> None:
        state.apply_error = ""
        state.apply_error_reason = ""
        state.apply_error_permanent = False
        state.conflict = None
        state.applied_generation = state.generation

    async def _conflicted(self, state: RoomState, conflict: NameConflict) -> None:
        """The room lost a child's name to another owner: say so once, write nothing more
        until the spec changes or that object goes away (observe_child watches for it)."""
        known = state.conflict
        state.conflict = conflict
        state.apply_error = str(conflict)
        state.apply_error_reason = "NameConflict"
        state.apply_error_permanent = True
        if known is None or (known.label, known.owner) != (conflict.label, conflict.owner):
            log.warning("name_conflict", room=state.name, ns=state.namespace, error=str(conflict))
        # The phase turns Failed: _write_status posts the one Warning event (NameConflict).
        await self._write_status(state)

    async def _announce(self, state: RoomState, outcome: Outcome, repair: bool = False) -> None:
        if outcome.writes:
            log.info(
                "room_applied",
                room=state.name,
                ns=state.namespace,
                generation=state.generation,
                created=outcome.created,
                patched=sorted(outcome.patched),
                deleted=outcome.deleted,
                repair=repair,
            )
        if outcome.adopted:
            await self.event(
                state,
                "Normal",
                "Adopted",
                f"Adopted {', '.join(outcome.adopted)}: they carry this room's labels and had "
                "no owner (left behind by an earlier room of this name, or made by hand).",
            )
        if any(label.startswith("Deployment/") for label in outcome.created):
            await self.event(
                state,
                "Normal",
                "Created",
                f"Created the room's objects: {', '.join(outcome.created)}.",
            )
        elif repair and outcome.writes:
            await self.event(state, "Normal", "DriftRepaired", drift_message(outcome))
        elif outcome.writes:
            changed = [*outcome.patched, *outcome.created, *outcome.deleted]
            await self.event(
                state, "Normal", "SettingsApplied", f"Applied new settings to {', '.join(changed)}."
            )

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

    async def sync_status(self, state: RoomState) -> None:
        async with state.lock:
            await self._write_status(state)

    async def _write_status(self, state: RoomState) -> None:
        if state.applied_generation is None and not state.apply_error:
            return  # nothing to say before the first reconcile of this operator run
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
            return
        path = api_path(f"{GROUP}/{VERSION}", PLURAL, state.namespace, state.name) + "/status"
        try:
            written = await self.kube.merge_patch(path, {"status": desired})
        except ApiError as error:
            if error.status == 404:
                return  # the room is gone
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


def drift_message(outcome: Outcome) -> str:
    """The DriftRepaired event: each object put back and the fields that had drifted."""
    parts = [
        f"{label} ({', '.join(fields[:8]) or 'recreated'})"
        for label, fields in outcome.patched.items()
    ]
    parts += [f"{label} (recreated)" for label in outcome.created]
    parts += [f"{label} (removed)" for label in outcome.deleted]
    return "Put back what was changed by hand: " + "; ".join(parts) + "."


SETTLE_SECONDS = 1.0  # a spec update waits this long, so a burst of edits is one change
REPAIR_RETRY_SECONDS = 10.0


def needs_reconcile(state: RoomState) -> bool:
    """A room needs a reconcile when its spec generation was neither applied in this run
    nor refused by the API server (a refused spec waits for the user's next change)."""
    return state.generation not in (state.applied_generation, state.refused_generation)


def retry_delay(attempts: int) -> float:
    """Seconds before retrying a failed reconcile: 5 s, doubling, at most 60 s."""
    return float(min(5 * 2 ** max(attempts - 1, 0), 60))


async def _value(value: Any) -> Any:
    return value
