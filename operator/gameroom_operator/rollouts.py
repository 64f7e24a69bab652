"""The rollout concern's executor: revisions as ControllerRevisions, which one is rendered,
and what rollout.py decides (wait, apply, verify, roll back) carried out.

Which revision the room's children are rendered from is `state.pin` (state.py): the pass
renders the pinned revision's image and settings over the spec, so a new image or setting
reaches the Deployment only when this concern pins it. `prepare` runs before a pass's
children (it reads the room's revisions at its first pass in this operator run, so a room
rolled back before a restart stays rolled back); `step` runs after the health concern, with
its fresh verdict.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import aiohttp
import structlog

from . import GROUP, VERSION
from . import PLURAL as PLURAL_ROOMS
from . import names as n
from .children import Outcome
from .concerns import Condition, Executor, StatusPart
from .kube import ApiError, api_path
from .live_settings import differences
from .live_settings import digest as live_digest
from .render import (
    RUN_AS,
    Room,
    config_hash,
    image_of,
    live_settings,
    live_settings_on,
    owner_reference,
    version_of,
)
from .rollout import (
    CHANGE_CAUSE,
    FAILED,
    OUTCOME_ANNOTATION,
    OUTCOME_REASON_ANNOTATION,
    PROGRESSING,
    RETRY_ANNOTATION,
    REVISION_LABEL,
    ROLLBACK_ANNOTATION,
    ROLLOUT_NOW_ANNOTATION,
    ROLLOUT_RETRY_ANNOTATION,
    SKIP_SMOKE_TEST_ANNOTATION,
    SMOKE_SKIPPED,
    SUCCEEDED,
    VERIFYING,
    WAITING,
    WAITING_FOR_WINDOW,
    Activity,
    Decision,
    PodFacts,
    Progress,
    Revision,
    RolloutSpec,
    Smoke,
    conditions_of,
    decide,
    progress_from,
    revision_from,
    revision_key,
    revision_manifest,
    settings_of,
    status_of,
    to_prune,
)
from .state import RoomState, now_text

log = structlog.get_logger("gameroom_operator")

API = "apps/v1"
PLURAL = "controllerrevisions"
LOAD_RETRY_SECONDS = 5.0
SMOKE = "smoke-test"
SMOKE_STEP_SECONDS = 20  # the smoke test's bound on each of its steps
SMOKE_DEADLINE_SECONDS = 300
LIVE_RETRY_SECONDS = 10.0


class LiveSettingsError(Exception):
    """The running room did not take or confirm its live settings."""


class RolloutExecutor(Executor, Protocol):
    async def reconcile_state(self, state: RoomState, fresh: bool = False) -> Outcome | None: ...


@dataclass
class Memory:
    """What the concern keeps of one room: its revisions and where its rollout is."""

    revisions: dict[int, Revision] = field(default_factory=dict)
    progress: Progress = field(default_factory=Progress)
    spec: tuple[int, RolloutSpec] | None = None  # spec.rollout, validated once per spec
    wanted: tuple[int, str, str, str] | None = None  # (id(spec), image, settings hash, key)
    forced: str = ""  # the last rollout-now annotation acted on
    retried: str = ""  # the last rollout-retry annotation acted on
    smoke_started: set[str] = field(default_factory=set)  # smoke-test Jobs made in this run
    smoke_reasons: dict[str, str] = field(default_factory=dict)  # failed Job -> its reason
    smoke_skipped: set[int] = field(default_factory=set)  # revisions deployed without one
    # spec.rollout.liveSettings: (Pod, digest of the live settings) the room confirmed, and
    # the last failure to apply them (one Warning per distinct failure).
    live_confirmed: tuple[str, str] | None = None
    live_error: str = ""

    def by_key(self, key: str) -> Revision | None:
        return next((r for r in self.revisions.values() if r.key == key), None)


class RolloutConcern:
    name = "rollout"

    def __init__(self, executor: RolloutExecutor) -> None:
        self.executor = executor
        self._session: aiohttp.ClientSession | None = None

    # ---- the pass ---------------------------------------------------------------------------

    async def prepare(self, state: RoomState) -> None:
        """Before the pass writes the children: know the room's revisions (once per run) and
        pin the one its rollout renders."""
        if state.rollout is None and state.uid and not state.deleting:
            await self._load(state)

    def asked(self, state: RoomState) -> bool:
        """`kubectl gameroom rollout --now` asked for something not yet acted on."""
        memory: Memory | None = state.rollout
        if memory is None:
            return False
        wanted = state.annotations.get(ROLLOUT_NOW_ANNOTATION, "")
        retry = state.annotations.get(ROLLOUT_RETRY_ANNOTATION, "")
        return (bool(wanted) and wanted != memory.forced) or (
            bool(retry) and retry != memory.retried
        )

    async def step(self, state: RoomState) -> float | None:
        if state.deleting or state.applied_generation is None or not state.uid:
            return None
        if state.rollout is None:
            await self._load(state)
            if state.rollout is None:
                return LOAD_RETRY_SECONDS
        memory: Memory = state.rollout
        spec = self._spec(state, memory)
        try:
            desired = await self._desired(state, memory)
        except (ApiError, OSError, TimeoutError) as error:
            log.warning(
                "revision_not_recorded", room=state.name, ns=state.namespace, error=str(error)
            )
            return LOAD_RETRY_SECONDS
        progress = memory.progress
        activity = None
        asked_retry = state.annotations.get(ROLLOUT_RETRY_ANNOTATION, "")
        retry = bool(asked_retry) and asked_retry != memory.retried
        if (
            spec.strategy == "WaitForIdle"
            and progress.current
            and (progress.phase == WAITING or desired.number != progress.update or retry)
        ):
            activity = await self._activity(state)
        update = memory.revisions.get(progress.update, desired)
        pod = PodFacts(
            ready=state.pod_ready,
            runs_update=state.pod_image == update.image
            and state.pod_config_hash == update.settings_hash,
            failure=state.pod_failure,
        )
        asked = state.annotations.get(ROLLOUT_NOW_ANNOTATION, "")
        force = bool(asked) and asked != memory.forced
        smoke = await self._smoke(state, memory, progress)
        decision = decide(
            spec,
            progress,
            desired.number,
            pod,
            state.assessment,
            activity,
            time.time(),
            force,
            smoke,
            rollback=desired.rollback,
            retry=retry,
        )
        if retry:
            memory.retried = asked_retry
            if not decision.retried:
                log.info(
                    "rollout_retry_ignored", room=state.name, phase=progress.phase, update=desired
                )
        if decision.retried:
            await self._retried(state, memory, progress.update, asked_retry)
        if force:
            memory.forced = asked
            if progress.phase == WAITING and decision.apply:
                waited_for = (
                    "the maintenance window"
                    if progress.reason == WAITING_FOR_WINDOW
                    else "the turn to end"
                )
                await self.executor.event(
                    state,
                    "Normal",
                    "RolloutForced",
                    f"kubectl gameroom rollout --now: revision {desired.number} is applied "
                    f"without waiting for {waited_for}.",
                )
        await self._carry_out(state, memory, decision)
        live = await self._live(state, memory)
        if live is not None and (decision.recheck_in is None or live < decision.recheck_in):
            return live
        return decision.recheck_in

    def status(self, state: RoomState) -> StatusPart:
        memory: Memory | None = state.rollout
        if memory is None:
            return StatusPart()
        progress = memory.progress
        part = StatusPart(fields={"rollout": status_of(progress)})
        reconciling, degraded = conditions_of(progress)
        if reconciling is not None:
            part.conditions.append(Condition("Reconciling", *reconciling))
            if progress.phase != VERIFYING:
                # Verifying: the Pod runs the new spec (Progressing False, as the room
                # reports it); the rollout is not done until it is verified (Reconciling).
                part.conditions.append(Condition("Progressing", *reconciling))
        if degraded is not None:
            part.conditions.append(Condition("Degraded", *degraded))
        return part

    # ---- carrying out a decision ------------------------------------------------------------

    async def _carry_out(self, state: RoomState, memory: Memory, decision: Decision) -> None:
        before = memory.progress
        if decision.start_smoke:
            await self._start_smoke(state, memory, before.update)
        for number, outcome, reason in decision.outcomes:
            await self._record(state, memory, number, outcome, reason)
        if decision.announce:
            await self._announce(state, decision.announce)
        for kind, reason, message in decision.events:
            log.info("rollout_event", room=state.name, ns=state.namespace, reason=reason)
            await self.executor.event(state, kind, reason, message)
        if decision.progress != before:
            memory.progress = decision.progress
            state.settled = False
            if decision.progress.phase != before.phase:
                log.info(
                    "rollout_phase",
                    room=state.name,
                    ns=state.namespace,
                    phase=decision.progress.phase,
                    was=before.phase,
                    update=decision.progress.update,
                )
        # Auto-heal holds off while an update is verified (a rollback is the cure then);
        # a room's first revision has nothing to go back to, so auto-heal keeps it alive.
        state.verifying = memory.progress.phase in (PROGRESSING, VERIFYING) and bool(
            memory.progress.current
        )
        await self._render(state, memory, announce=decision.apply)
        if decision.outcomes or decision.progress.update != before.update:
            await self._prune(state, memory)

    async def _render(self, state: RoomState, memory: Memory, announce: bool) -> None:
        """Pin the revision the rollout renders; write the children when that changes what
        the Deployment carries."""
        wanted = memory.revisions.get(memory.progress.rendered)
        if wanted is None or (state.pin is not None and state.pin.key == wanted.key):
            return
        rendered = revision_key(
            image_of(state.room.effective, self.executor.options), config_hash(state.room)
        )
        state.pin = wanted
        if rendered == wanted.key:
            return  # the children already carry it (the first revision of a room)
        outcome = await self.executor.reconcile_state(state)
        if outcome is None:
            state.repair_wanted = True  # the pass's repair retries the write
            return
        if announce and memory.progress.phase == PROGRESSING:
            cause = f"; change-cause: {wanted.change_cause}" if wanted.change_cause else ""
            changed = ", ".join([*outcome.patched, *outcome.created]) or "nothing"
            await self.executor.event(
                state,
                "Normal",
                "SettingsApplied",
                f"Rolling out revision {wanted.number} (image {wanted.image}, settings "
                f"{wanted.settings_hash}{cause}): applied to {changed}.",
            )
        elif outcome.writes:
            await self.executor.event(
                state,
                "Normal",
                "SettingsApplied",
                f"Put back revision {wanted.number} (image {wanted.image}): applied to "
                f"{', '.join([*outcome.patched, *outcome.created])}.",
            )

    async def _announce(self, state: RoomState, text: str) -> None:
        """Tell the room's players (best effort: a room that does not answer is not told)."""
        if not (state.pod_ip and state.token and state.pod_ready):
            return
        url = f"http://{state.pod_ip}:{n.ADMIN_PORT}/admin/announce"
        try:
            async with self._http().post(
                url,
                json={"text": text, "level": "warning"},
                headers={"Authorization": f"Bearer {state.token}"},
            ) as response:
                if response.status != 200:
                    log.warning("announce_refused", room=state.name, status=response.status)
        except (aiohttp.ClientError, TimeoutError) as error:
            log.warning("announce_failed", room=state.name, error=str(error))

    async def _activity(self, state: RoomState) -> Activity | None:
        """Whether a turn is being drawn with players connected, from /admin/stats (None:
        the room did not say, and is not held for it)."""
        if not (state.pod_ip and state.token and state.pod_ready):
            return None
        url = f"http://{state.pod_ip}:{n.ADMIN_PORT}/admin/stats"
        try:
            async with self._http().get(
                url, headers={"Authorization": f"Bearer {state.token}"}
            ) as response:
                if response.status != 200:
                    return None
                stats = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError):
            return None
        if not isinstance(stats, dict):
            return None
        ends = stats.get("turnEndsInSeconds")
        players = stats.get("connectedPlayers", stats.get("players"))
        return Activity(
            phase=str(stats.get("phase") or ""),
            players=int(players) if isinstance(players, int) else 0,
            turn_ends_in=float(ends) if isinstance(ends, int | float) else None,
        )

    # ---- live settings (spec.rollout.liveSettings) -----------------------------------------

    async def _live(self, state: RoomState, memory: Memory) -> float | None:
        """Push spec.game and spec.rateLimits to the running room when it does not report
        them (its Pod changed or the spec did), and read them back; retried at the next pass
        until the room confirms. The ConfigMap carries them too (a restart reads them)."""
        room = state.room
        if not live_settings_on(room.effective):
            return None
        if not (state.pod_ip and state.token and state.pod_ready and state.pod_name):
            return None
        wanted = live_settings(room)
        key = (state.pod_name, live_digest(wanted))
        if memory.live_confirmed == key:
            return None
        try:
            reported = await self._admin_json(state, "GET", "/admin/settings")
            changes = differences(wanted, reported)
            if changes:
                answer = await self._admin_json(state, "PUT", "/admin/settings", wanted)
                left = differences(wanted, answer)
                if left:
                    raise LiveSettingsError(
                        f"the room answered with other values: {', '.join(left)}"
                    )
        except LiveSettingsError as error:
            failure = str(error)
            log.warning("live_settings_failed", room=state.name, ns=state.namespace, error=failure)
            if failure != memory.live_error:
                memory.live_error = failure
                await self.executor.event(
                    state,
                    "Warning",
                    "SettingsNotApplied",
                    f"The live settings were not applied to the running room: {failure}; "
                    f"tried again every {LIVE_RETRY_SECONDS:.0f}s.",
                )
            return LIVE_RETRY_SECONDS
        memory.live_confirmed = key
        memory.live_error = ""
        if changes:
            log.info("live_settings_applied", room=state.name, ns=state.namespace, changes=changes)
            await self.executor.event(
                state,
                "Normal",
                "SettingsApplied",
                f"Applied to the running room without a restart (Pod {state.pod_name}): "
                f"{'; '.join(changes)}. Rate limits apply at once, game settings from the "
                "next game.",
            )
        return None

    async def _admin_json(self, state: RoomState, method: str, path: str, body: Any = None) -> Any:
        url = f"http://{state.pod_ip}:{n.ADMIN_PORT}{path}"
        try:
            async with self._http().request(
                method, url, json=body, headers={"Authorization": f"Bearer {state.token}"}
            ) as response:
                try:
                    payload = await response.json(content_type=None)
                except ValueError:
                    payload = None
                if response.status != 200:
                    said = payload.get("error") if isinstance(payload, dict) else None
                    hint = (
                        " (the room's image has no live settings: use a newer image or set "
                        "spec.rollout.liveSettings false)"
                        if response.status in (404, 405)
                        else ""
                    )
                    raise LiveSettingsError(
                        f"{method} {path} answered {response.status}{hint}"
                        + (f": {said}" if said else "")
                    )
                return payload
        except (aiohttp.ClientError, TimeoutError) as error:
            raise LiveSettingsError(
                f"{method} {path} failed: {error or type(error).__name__}"
            ) from None

    # ---- the smoke test --------------------------------------------------------------------

    async def _smoke(self, state: RoomState, memory: Memory, progress: Progress) -> Smoke:
        """Where the update revision's smoke-test Job is."""
        number = progress.update
        if not progress.current or number == progress.current or number in memory.smoke_skipped:
            return SMOKE_SKIPPED
        name = self._smoke_name(state, memory, number)
        job = state.jobs.get(name)
        if job is None:
            return Smoke("Running") if name in memory.smoke_started else Smoke()
        done = _finished(job)
        if done == "Complete":
            return Smoke(SUCCEEDED)
        if done == "Failed":
            if name not in memory.smoke_reasons:
                memory.smoke_reasons[name] = await self._smoke_reason(state, name)
            return Smoke(FAILED, memory.smoke_reasons[name])
        return Smoke("Running")

    def _smoke_name(self, state: RoomState, memory: Memory, number: int) -> str:
        revision = memory.revisions.get(number)
        return smoke_job_name(state.name, number, revision.retry if revision else "")

    async def _retried(self, state: RoomState, memory: Memory, number: int, asked: str) -> None:
        """A rolled-back revision goes again (rollout --retry): it gets a smoke-test Job of
        its own (named after the request, recorded on its ControllerRevision so an operator
        restart finds it), not the old failed one."""
        memory.smoke_skipped.discard(number)
        revision = memory.revisions.get(number)
        if revision is None:
            return
        memory.revisions[number] = replace(revision, retry=asked)
        patch = {"metadata": {"annotations": {RETRY_ANNOTATION: asked}}}
        try:
            await self.executor.kube.merge_patch(self._path(state, revision.name), patch)
        except (ApiError, OSError, TimeoutError) as error:
            log.warning("revision_retry_unrecorded", room=state.name, error=str(error))

    async def _start_smoke(self, state: RoomState, memory: Memory, number: int) -> None:
        revision = memory.revisions.get(number)
        if revision is None:
            return
        if state.annotations.get(SKIP_SMOKE_TEST_ANNOTATION) == "true":
            # The emergency deploy: this rollout only, so the annotation goes once used.
            memory.smoke_skipped.add(number)
            await self.executor.event(
                state,
                "Warning",
                "SmokeTestSkipped",
                f"Revision {number} is verified without its smoke test "
                f"({SKIP_SMOKE_TEST_ANNOTATION}); the annotation is removed.",
            )
            try:
                await self.executor.kube.merge_patch(
                    api_path(f"{GROUP}/{VERSION}", PLURAL_ROOMS, state.namespace, state.name),
                    {"metadata": {"annotations": {SKIP_SMOKE_TEST_ANNOTATION: None}}},
                )
            except (ApiError, OSError, TimeoutError) as error:
                log.warning("skip_annotation_kept", room=state.name, error=str(error))
            return
        manifest = smoke_job(state, revision, self._smoke_name(state, memory, number))
        try:
            await self.executor.kube.request(
                "POST", api_path("batch/v1", "jobs", state.namespace), manifest
            )
        except ApiError as error:
            if error.status != 409:
                log.warning("smoke_test_not_started", room=state.name, error=error.message)
                return
        memory.smoke_started.add(manifest["metadata"]["name"])
        await self.executor.event(
            state,
            "Normal",
            "SmokeTestStarted",
            f"Smoke test of revision {number}: Job {manifest['metadata']['name']} plays a short "
            "bot session against the room.",
        )

    async def _smoke_reason(self, state: RoomState, job: str) -> str:
        """The report's first failure (its log's last lines), else a generic reason."""
        kube = self.executor.kube
        try:
            pods = await kube.request(
                "GET",
                api_path("v1", "pods", state.namespace),
                params={"labelSelector": f"job-name={job}"},
            )
            items = pods.get("items") or []
            if items:
                path = api_path("v1", "pods", state.namespace, items[-1]["metadata"]["name"])
                text = await kube.text(path + "/log", {"tailLines": "30"})
                for line in reversed(text.splitlines()):
                    if line.startswith("first failure: "):
                        return line.removeprefix("first failure: ").strip()[:300]
                    if line.startswith("smoke test"):
                        return line.strip()[:300]
        except (ApiError, OSError, TimeoutError) as error:
            log.warning("smoke_log_unread", room=state.name, job=job, error=str(error))
        return f"Job {job} failed"

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=3.0))
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    # ---- revisions --------------------------------------------------------------------------

    def _spec(self, state: RoomState, memory: Memory) -> RolloutSpec:
        cached = memory.spec
        if cached is None or cached[0] != id(state.spec):
            cached = memory.spec = (id(state.spec), RolloutSpec.of(state.spec))
        return cached[1]

    def _path(self, state: RoomState, name: str | None = None) -> str:
        return api_path(API, PLURAL, state.namespace, name)

    async def _load(self, state: RoomState) -> None:
        """Read the room's revisions and carry on from status.rollout."""
        if state.fresh:
            state.rollout = Memory()  # created while we watch: it has no revisions yet
            return
        try:
            listed = await self.executor.kube.request(
                "GET", self._path(state), params={"labelSelector": f"{REVISION_LABEL}={state.name}"}
            )
        except (ApiError, OSError, TimeoutError) as error:
            log.warning("revisions_unread", room=state.name, ns=state.namespace, error=str(error))
            return
        memory = Memory(
            progress=progress_from(state.status.get("rollout")),
            # An annotation from before this run was acted on then (or is stale).
            forced=state.annotations.get(ROLLOUT_NOW_ANNOTATION, ""),
            retried=state.annotations.get(ROLLOUT_RETRY_ANNOTATION, ""),
        )
        for item in listed.get("items") or []:
            owners = (item.get("metadata") or {}).get("ownerReferences") or []
            if not any(o.get("uid") == state.uid for o in owners):
                continue  # an earlier room's of the same name: the garbage collector's
            revision = revision_from(item)
            if revision is not None:
                memory.revisions[revision.number] = revision
        named = {memory.progress.current, memory.progress.update} - {0}
        if not named <= set(memory.revisions):
            memory.progress = Progress()  # the revisions went away: start the history again
        state.rollout = memory
        pinned = memory.revisions.get(memory.progress.rendered)
        if pinned is not None:
            state.pin = pinned

    async def _desired(self, state: RoomState, memory: Memory) -> Revision:
        """The revision the spec asks for, recorded (or renumbered) as a ControllerRevision."""
        cached = memory.wanted
        if cached is None or cached[0] != id(state.spec):
            plain = Room(name=state.name, namespace=state.namespace, uid=state.uid, spec=state.spec)
            image = image_of(plain.effective, self.executor.options)
            settings_hash = config_hash(plain)
            cached = memory.wanted = (
                id(state.spec),
                image,
                settings_hash,
                revision_key(image, settings_hash),
            )
        _, image, settings_hash, key = cached
        progress = memory.progress
        found = memory.by_key(key)
        if found is not None and found.number in (progress.update, progress.current):
            return found
        number = max(memory.revisions, default=0) + 1
        cause = state.annotations.get(CHANGE_CAUSE, "")
        if found is not None:
            # An older revision asked for again (a manual rollback): it becomes the newest,
            # as a Deployment's rollback does, with its outcome reset.
            rollback = found.outcome == SUCCEEDED
            patch = {
                "revision": number,
                "metadata": {
                    "annotations": {
                        OUTCOME_ANNOTATION: "",
                        OUTCOME_REASON_ANNOTATION: "",
                        CHANGE_CAUSE: cause or None,
                        ROLLBACK_ANNOTATION: "true" if rollback else None,
                        RETRY_ANNOTATION: None,
                    }
                },
            }
            await self.executor.kube.merge_patch(self._path(state, found.name), patch)
            del memory.revisions[found.number]
            revision = replace(
                found,
                number=number,
                change_cause=cause,
                outcome="",
                reason="",
                rollback=rollback,
                retry="",
            )
        else:
            made = Revision(
                number,
                image,
                settings_hash,
                settings_of(state.spec),
                cause,
                now_text(),
                live=live_settings_on(state.spec),
            )
            manifest = revision_manifest(
                made,
                state.name,
                state.namespace,
                n.selector_labels(state.name),
                owner_reference(state.room),
            )
            try:
                await self.executor.kube.request("POST", self._path(state), manifest)
            except ApiError as error:
                if error.status != 409:
                    raise
                # Left by an earlier room of this name (being garbage collected) or an
                # earlier run: made again under our name.
                await self.executor.kube.delete(self._path(state, manifest["metadata"]["name"]))
                await self.executor.kube.request("POST", self._path(state), manifest)
            revision = replace(made, name=manifest["metadata"]["name"])
        memory.revisions[number] = revision
        return revision

    async def _record(
        self, state: RoomState, memory: Memory, number: int, outcome: str, reason: str
    ) -> None:
        revision = memory.revisions.get(number)
        if revision is None:
            return
        memory.revisions[number] = replace(revision, outcome=outcome, reason=reason)
        patch = {
            "metadata": {
                "annotations": {OUTCOME_ANNOTATION: outcome, OUTCOME_REASON_ANNOTATION: reason}
            }
        }
        try:
            await self.executor.kube.merge_patch(self._path(state, revision.name), patch)
        except (ApiError, OSError, TimeoutError) as error:
            log.warning("revision_outcome_unrecorded", room=state.name, error=str(error))

    async def _prune(self, state: RoomState, memory: Memory) -> None:
        limit = self._spec(state, memory).revision_history_limit
        keep = {memory.progress.current, memory.progress.update}
        for revision in to_prune(list(memory.revisions.values()), limit, keep):
            try:
                await self.executor.kube.delete(self._path(state, revision.name))
            except ApiError as error:
                if error.status != 404:
                    log.warning("revision_not_pruned", room=state.name, error=error.message)
                    continue
            memory.revisions.pop(revision.number, None)


def smoke_job_name(room: str, number: int, retry: str = "") -> str:
    """`R-smoke-r<N>`; a retried revision's: `R-smoke-r<N>-<hash of the retry request>`."""
    if not retry:
        return f"{room[:40]}-smoke-r{number}"
    return f"{room[:33]}-smoke-r{number}-{hashlib.sha256(retry.encode()).hexdigest()[:6]}"


def _finished(job: dict[str, Any]) -> str | None:
    for cond in (job.get("status") or {}).get("conditions") or []:
        if cond.get("status") == "True" and cond.get("type") in ("Complete", "Failed"):
            return str(cond["type"])
    return None


def smoke_job(state: RoomState, revision: Revision, name: str = "") -> dict[str, Any]:
    """The smoke-test Job of a revision: `gameserver smoke-test --url` with the revision's
    image against the room's Service, labelled as the room's Job (its NetworkPolicy)."""
    spec = state.room.effective
    url = n.game_url(state.name, state.namespace, int(spec["expose"]["port"]))
    labels = n.job_labels(state.name, SMOKE, version_of(revision.image))
    container = {
        "name": SMOKE,
        "image": revision.image,
        "imagePullPolicy": spec["imagePullPolicy"],
        "command": ["python", "-m", "gameserver", "smoke-test"],
        "args": ["--url", url, "--timeout", str(SMOKE_STEP_SECONDS)],
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": RUN_AS,
            "runAsGroup": RUN_AS,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],  # noqa: S108 - its emptyDir
    }
    pod: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "containers": [container],
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "16Mi"}}],
    }
    if spec.get("imagePullSecrets"):
        pod["imagePullSecrets"] = spec["imagePullSecrets"]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": name or smoke_job_name(state.name, revision.number),
            "namespace": state.namespace,
            "labels": labels,
            "ownerReferences": [owner_reference(state.room)],
        },
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": SMOKE_DEADLINE_SECONDS,
            "ttlSecondsAfterFinished": 3600,
            "template": {"metadata": {"labels": labels}, "spec": pod},
        },
    }


def annotations_of(body: dict[str, Any]) -> dict[str, str]:
    """The room's annotations a rollout reads (the change-cause of a new revision, and
    kubectl gameroom rollout --now)."""
    annotations = (body.get("metadata") or {}).get("annotations") or {}
    return {
        key: str(annotations[key])
        for key in (
            CHANGE_CAUSE,
            ROLLOUT_NOW_ANNOTATION,
            ROLLOUT_RETRY_ANNOTATION,
            SKIP_SMOKE_TEST_ANNOTATION,
        )
        if key in annotations
    }
