"""The children executor: a room's children written as children.py plans them.

children.py decides (create, patch, adopt or refuse, per child); this module does the I/O:
it reads the live children, carries out the plan, removes a dropped Ingress, and turns the
outcome into the room's apply state (applied generation, the error the status shows, the
retry's due time) and its events (Created, SettingsApplied, DriftRepaired, Adopted). The
controller's pass calls `step` before the concerns, and `announce` after the status write.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from . import metrics
from . import names as n
from .children import Action, NameConflict, Outcome, Owner, ownership, plan
from .concerns import Executor
from .kube import ApiError, api_path, object_path
from .observers import slim_deployment
from .render import TOKEN_KEY, render_children, render_ingress, strip_absent
from .state import RoomState

log = structlog.get_logger("gameroom_operator")

REPAIR_RETRY_SECONDS = 10.0
# How long a room created while the operator watches may go without a status while it is
# only Starting (its Pod not Ready yet): a status write that the Ready one overwrites a
# moment later is API server work a thousand new rooms pay a thousand times. A failure
# (Failed, Degraded) is written at once; a Pod slower than this gets Starting as before.
FIRST_STATUS_WAIT_SECONDS = 5.0


class ChildExecutor(Executor, Protocol):
    async def write_status(self, state: RoomState) -> bool:
        """Decide the room's status and write it if it changed (the caller holds no lock)."""


@dataclass(frozen=True)
class Synced:
    """What a pass's children step did, for its announcement after the status write."""

    outcome: Outcome | None = None  # None: nothing was written, or the write failed
    repair: bool = False  # a repair of an applied generation (DriftRepaired), not a new spec
    wait: float | None = None  # seconds until a failed write is retried


Rendering = Callable[[RoomState, str], list[dict[str, Any]]]


class ChildSync:
    name = "children"

    def __init__(self, executor: ChildExecutor, rendering: Rendering | None = None) -> None:
        self.executor = executor
        # The room's children as rendered for its spec and token, shared with the child
        # watches' drift checks (observers.rendering): one rendering per spec, not two.
        self.rendering: Rendering = rendering or (
            lambda state, token: render_children(state.room, token, executor.options)
        )

    # ---- the pass ---------------------------------------------------------------------------

    async def step(self, state: RoomState) -> Synced:
        """Reconcile a spec not yet applied, or repair an applied one that drifted."""
        now = time.monotonic()
        outcome: Outcome | None = None
        repair = False
        if needs_reconcile(state):
            if now >= state.retry_at:  # else a failed reconcile waits for its back-off
                fresh, state.fresh = state.fresh, False
                outcome = await self.reconcile(state, fresh=fresh)
                if outcome is not None:
                    state.next_probe_at = 0.0  # see the new spec (maintenance) at once
                    if fresh and not state.status:
                        state.first_status_by = time.monotonic() + FIRST_STATUS_WAIT_SECONDS
        elif state.repair_wanted and state.applied_generation is not None and now >= state.retry_at:
            state.repair_wanted = False
            repair = True
            outcome = await self.repair(state)
        wait = None
        if (needs_reconcile(state) or state.repair_wanted) and state.retry_at > now:
            wait = state.retry_at - now
        return Synced(outcome, repair, wait)

    async def reconcile(self, state: RoomState, fresh: bool = False) -> Outcome | None:
        """Reconcile, and on failure say why and set the retry's due time (never for a spec
        the API server refuses: that waits for the next spec change)."""
        try:
            outcome = await self._reconcile(state, fresh=fresh)
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
            _retry_later(state, str(error))
        except (OSError, TimeoutError) as error:
            _retry_later(state, f"the API server did not answer: {error}")
        else:
            state.attempts = 0
            state.retry_at = 0.0
            return outcome
        return None

    async def _reconcile(self, state: RoomState, fresh: bool = False) -> Outcome:
        """Bring the room's children in line with its spec (the status follows in the pass)."""
        started = time.perf_counter()
        try:
            outcome = await self.apply(state, fresh=fresh)
        except NameConflict as conflict:
            metrics.RECONCILE_ERRORS.labels(kind="name_conflict").inc()
            await self._conflicted(state, conflict)
            raise
        except ApiError as error:
            metrics.RECONCILE_ERRORS.labels(kind=f"api_{error.status}").inc()
            state.apply_error = error.message
            state.apply_error_reason = "ApplyFailed"
            state.apply_error_permanent = error.permanent
            await self.executor.write_status(state)
            raise
        except (OSError, TimeoutError) as error:
            metrics.RECONCILE_ERRORS.labels(kind="connection").inc()
            state.apply_error = f"the API server did not answer: {error}"
            state.apply_error_reason = "ApplyRetrying"
            state.apply_error_permanent = False
            raise
        finally:
            metrics.RECONCILE_SECONDS.observe(time.perf_counter() - started)
        _applied(state)
        return outcome

    async def repair(self, state: RoomState) -> Outcome | None:
        """Put back what drifted, was deleted, or a resync found: the same as a reconcile,
        for a generation already applied; the event says DriftRepaired."""
        started = time.perf_counter()
        try:
            outcome = await self.apply(state)
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
            _applied(state)
        return outcome

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
        # The phase turns Failed: the status write posts the one Warning event (NameConflict).
        await self.executor.write_status(state)

    # ---- writing the children ---------------------------------------------------------------

    async def apply(self, state: RoomState, fresh: bool = False) -> Outcome:
        """Create what is missing, patch what differs, remove a dropped Ingress; else no write.
        Never writes an object the room does not own (children.plan decides).

        `fresh` (a room Kopf sees created) skips reading children that cannot exist yet: the
        admin Secret is created first, and only if it already exists (a retried create) are
        all children read and compared as usual.
        """
        kube = self.executor.kube
        room = state.room
        secret_path = api_path("v1", "secrets", room.namespace, n.admin_secret(room.name))
        if fresh:
            state.token = secrets.token_urlsafe(32)
            desired = self.rendering(state, state.token)
            secret = next(c for c in desired if c["kind"] == "Secret")
            try:
                await kube.create(strip_absent(secret))
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
        live_secret = await kube.get(secret_path)
        if live_secret is not None:
            verdict = ownership(live_secret, room.name, room.uid)
            if verdict.owner is Owner.FOREIGN:  # never use, nor hand out, another's token
                raise NameConflict(f"Secret/{n.admin_secret(room.name)}", verdict.who)
        state.token = admin_token(state, live_secret)
        desired = self.rendering(state, state.token)
        paths = [object_path(child) for child in desired]
        lives = await asyncio.gather(
            *(kube.get(path) if path != secret_path else _value(live_secret) for path in paths)
        )
        outcome = await self._converge(state, desired, paths, list(lives))
        if render_ingress(room, "") is None:
            path = api_path(
                "networking.k8s.io/v1", "ingresses", room.namespace, n.ingress(room.name)
            )
            live = await kube.get(path)
            if live is not None and ownership(live, room.name, room.uid).owner is Owner.OURS:
                await kube.delete(path)
                outcome.deleted.append(f"Ingress/{n.ingress(room.name)}")
        return outcome

    async def _converge(
        self,
        state: RoomState,
        desired: list[dict[str, Any]],
        paths: list[str],
        lives: list[dict[str, Any] | None],
    ) -> Outcome:
        kube = self.executor.kube
        outcome = Outcome()
        conflicts: list[NameConflict] = []

        async def converge(child: dict[str, Any], path: str, live: dict[str, Any] | None) -> None:
            decided = plan(child, live, state.uid)
            if decided.action is Action.CREATE:
                try:
                    result = await kube.create(strip_absent(child))
                    outcome.created.append(decided.label)
                except ApiError as error:
                    if error.status != 409:
                        raise
                    # Made meanwhile (an earlier run of this operator, or someone else):
                    # decide again on what is there now.
                    live = await kube.get(path)
                    if live is None:
                        raise  # gone again already: the retry decides afresh
                    decided = plan(child, live, state.uid)
            if decided.action is Action.CONFLICT:
                conflicts.append(NameConflict(decided.label, decided.owner))
                return
            if decided.action is Action.PATCH:
                assert decided.body is not None
                result = await kube.merge_patch(path, decided.body)
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

    # ---- telling --------------------------------------------------------------------------

    async def announce(self, state: RoomState, synced: Synced) -> None:
        """The log line and the event of what the step wrote (after the status write, so
        the event follows the status it explains)."""
        outcome = synced.outcome
        if outcome is None:
            return
        if outcome.writes:
            log.info(
                "room_applied",
                room=state.name,
                ns=state.namespace,
                generation=state.generation,
                created=outcome.created,
                patched=sorted(outcome.patched),
                deleted=outcome.deleted,
                repair=synced.repair,
            )
        event = self.executor.event
        if outcome.adopted:
            await event(
                state,
                "Normal",
                "Adopted",
                f"Adopted {', '.join(outcome.adopted)}: they carry this room's labels and had "
                "no owner (left behind by an earlier room of this name, or made by hand).",
            )
        if any(label.startswith("Deployment/") for label in outcome.created):
            await event(
                state,
                "Normal",
                "Created",
                f"Created the room's objects: {', '.join(outcome.created)}.",
            )
        elif synced.repair and outcome.writes:
            await event(state, "Normal", "DriftRepaired", drift_message(outcome))
        elif outcome.writes:
            changed = [*outcome.patched, *outcome.created, *outcome.deleted]
            await event(
                state, "Normal", "SettingsApplied", f"Applied new settings to {', '.join(changed)}."
            )


def admin_token(state: RoomState, live_secret: dict[str, Any] | None) -> str:
    """The room's admin token: the live Secret's, else the one of this run, else a new one."""
    if live_secret is not None:
        encoded = (live_secret.get("data") or {}).get(TOKEN_KEY)
        if encoded:
            try:
                return base64.b64decode(encoded).decode()
            except (binascii.Error, UnicodeDecodeError):
                log.warning("admin_token_unreadable", room=state.name, ns=state.namespace)
    return state.token or secrets.token_urlsafe(32)


def drift_message(outcome: Outcome) -> str:
    """The DriftRepaired event: each object put back and the fields that had drifted."""
    parts = [
        f"{label} ({', '.join(fields[:8]) or 'recreated'})"
        for label, fields in outcome.patched.items()
    ]
    parts += [f"{label} (recreated)" for label in outcome.created]
    parts += [f"{label} (removed)" for label in outcome.deleted]
    return "Put back what was changed by hand: " + "; ".join(parts) + "."


def needs_reconcile(state: RoomState) -> bool:
    """A room needs a reconcile when its spec generation was neither applied in this run
    nor refused by the API server (a refused spec waits for the user's next change)."""
    return state.generation not in (state.applied_generation, state.refused_generation)


def retry_delay(attempts: int) -> float:
    """Seconds before retrying a failed reconcile: 5 s, doubling, at most 60 s."""
    return float(min(5 * 2 ** max(attempts - 1, 0), 60))


def _applied(state: RoomState) -> None:
    state.apply_error = ""
    state.apply_error_reason = ""
    state.apply_error_permanent = False
    state.conflict = None
    state.applied_generation = state.generation


def _retry_later(state: RoomState, why: str) -> None:
    state.attempts += 1
    delay = retry_delay(state.attempts)
    state.retry_at = time.monotonic() + delay
    log.warning("reconcile_failed", room=state.name, ns=state.namespace, error=why, retry_in=delay)


async def _value(value: Any) -> Any:
    return value
