"""The rollout concern's pure decisions: revisions, phases, when to apply, verify, roll back.

A revision is what a room runs: its image and its restart-needing settings (spec.game and
spec.rateLimits, whose hash is the Pod template's config hash). The operator numbers each
new one and keeps it as a ControllerRevision owned by the room (rollouts.py does the I/O).

The state machine (status.rollout.phase):

- Idle: nothing rolled out in this room yet.
- Waiting: WaitForIdle holds the update while a turn is drawn with players connected (at
  most maxWaitSeconds), or a maintenance window (spec.rollout.window) is closed; the room
  keeps serving the current revision.
- Progressing: the update's Pod template is applied; its Pod is not Ready yet.
- Verifying: its Pod is Ready; deep health must stay out of P0/P1 for healthWindowSeconds.
- Succeeded: the update is verified and is the current revision.
- RolledBack: the update failed and the current (last Succeeded) revision is rendered again;
  the spec is left as it is and the failed revision is not tried again until it changes.
- Failed: the update failed and autoRollback is false (or there is nothing to go back to):
  the failed revision stays applied and nothing more is tried until the spec changes.

Everything here is free of I/O: `decide` takes what the executor observed and returns the
new state, what to render, and the events and outcomes to record.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from . import GROUP
from .defaults import live_settings_on
from .health import Assessment
from .rollout_window import Window, WindowState

CHANGE_CAUSE = "kubernetes.io/change-cause"
OUTCOME_ANNOTATION = f"{GROUP}/outcome"
OUTCOME_REASON_ANNOTATION = f"{GROUP}/outcome-reason"
REVISION_LABEL = f"{GROUP}/revision-of"
# "true" on a revision the spec went back to (a verified one asked for again): see Revision.
ROLLBACK_ANNOTATION = f"{GROUP}/rollback"
# The rollout-retry request a rolled-back revision was tried again for (names its smoke test).
RETRY_ANNOTATION = f"{GROUP}/retried-for"
# `"true"`: the next rollout skips its smoke test (the emergency deploy); the operator
# removes it once used.
SKIP_SMOKE_TEST_ANNOTATION = f"{GROUP}/skip-smoke-test"
# Set by `kubectl gameroom rollout NAME --now` (a new value each time): a waiting update is
# applied at once.
ROLLOUT_NOW_ANNOTATION = f"{GROUP}/rollout-now"
# Set by `kubectl gameroom rollout NAME --retry` (a new value each time): a revision that was
# rolled back (or halted) is rolled out again, though the spec did not change.
ROLLOUT_RETRY_ANNOTATION = f"{GROUP}/rollout-retry"
WAITING_FOR_IDLE = "WaitingForIdle"
WAITING_FOR_WINDOW = "WaitingForWindow"
SETTINGS_SECTIONS = ("game", "rateLimits")  # what the config hash covers besides the name

IDLE = "Idle"
WAITING = "Waiting"
PROGRESSING = "Progressing"
VERIFYING = "Verifying"
SUCCEEDED = "Succeeded"
ROLLED_BACK = "RolledBack"
FAILED = "Failed"
PHASES = (IDLE, WAITING, PROGRESSING, VERIFYING, SUCCEEDED, ROLLED_BACK, FAILED)
UNDER_WAY = (WAITING, PROGRESSING, VERIFYING)

# An outcome per revision (the ControllerRevision's drawgame.dev/outcome annotation).
OUTCOMES = (SUCCEEDED, ROLLED_BACK, "Superseded", FAILED)

# What a failing deep probe says, as the check a user looks at (HealthCheckFailed: database).
_FAILED_CHECK = {
    "DatabaseFailing": "database",
    "WebSocketFailing": "websocket",
    "Unreachable": "unreachable",
}
# How often a Waiting room asks the game server whether the turn is over, when the server
# does not say when it ends.
IDLE_POLL_SECONDS = 2.0
# A newer revision waits this long at most for the Pod of the one being applied to start
# (or fail): twenty quick edits make a few rollouts, not twenty.
SUPERSEDE_AFTER_SECONDS = 60.0
# A turn still drawn when the maintenance window closes: the update is applied at the close
# (it was due within the window), if the pass that sees the close comes within this long.
WINDOW_CLOSE_GRACE_SECONDS = 60.0


class RolloutSpec(BaseModel):
    """`spec.rollout`, as the CRD defaults and bounds it."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    strategy: str = Field("WaitForIdle", pattern="^(WaitForIdle|Immediate)$")
    max_wait_seconds: int = Field(1800, alias="maxWaitSeconds", ge=0)
    auto_rollback: bool = Field(True, alias="autoRollback")
    health_window_seconds: int = Field(120, alias="healthWindowSeconds", ge=0)
    progress_deadline_seconds: int = Field(300, alias="progressDeadlineSeconds", ge=1)
    revision_history_limit: int = Field(10, alias="revisionHistoryLimit", ge=1)
    window: Window | None = None  # a maintenance window: off unless set

    @classmethod
    def of(cls, spec: Mapping[str, Any]) -> RolloutSpec:
        return cls.model_validate(spec.get("rollout") or {})


# ---- revisions -------------------------------------------------------------------------------


def settings_of(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The restart-needing settings of a spec, as the user wrote them (the defaults are
    filled in again when a pinned revision is rendered); none with liveSettings."""
    if live_settings_on(spec):
        return {}
    return {key: spec[key] for key in SETTINGS_SECTIONS if key in spec}


def revision_key(image: str, settings_hash: str) -> str:
    """A short stable name part for a revision's content (as StatefulSets name theirs)."""
    blob = json.dumps([image, settings_hash]).encode()
    return hashlib.sha256(blob).hexdigest()[:10]


@dataclass(frozen=True)
class Revision:
    number: int
    image: str
    settings_hash: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    change_cause: str = ""
    created: str = ""  # RFC 3339
    outcome: str = ""  # "" while not decided, else one of OUTCOMES
    reason: str = ""  # why it was rolled back or failed
    name: str = ""  # the ControllerRevision's name
    # Made with spec.rollout.liveSettings: its settings sections come from the spec, live.
    live: bool = False
    # An earlier verified revision asked for again by the spec (a manual rollback): urgent,
    # no maintenance window holds it. Kept on the ControllerRevision (ROLLBACK_ANNOTATION)
    # so an operator restart remembers it.
    rollback: bool = False
    retry: str = ""  # the `rollout --retry` request it was tried again for (RETRY_ANNOTATION)

    @property
    def key(self) -> str:
        return revision_key(self.image, self.settings_hash)

    def pinned(self, spec: Mapping[str, Any]) -> dict[str, Any]:
        """The spec with this revision's image and settings (what a rollback renders). A
        live revision keeps the spec's settings sections (they are applied live)."""
        pinned = {
            key: value for key, value in spec.items() if self.live or key not in SETTINGS_SECTIONS
        }
        if not self.live:
            pinned.update(self.settings)
        pinned["image"] = self.image
        if live_settings_on(spec) != self.live:
            # Rendered as the revision was made, so its settings hash is the same again.
            pinned["rollout"] = {**(spec.get("rollout") or {}), "liveSettings": self.live}
        return pinned


def revision_name(room: str, key: str) -> str:
    return f"{room}-rev-{key}"[:253]


def revision_manifest(
    revision: Revision,
    room: str,
    namespace: str,
    labels: Mapping[str, str],
    owner: Mapping[str, Any],
) -> dict[str, Any]:
    """The ControllerRevision of a revision. Its data (what ran) never changes; the number
    and the outcome (annotations) do."""
    annotations = {OUTCOME_ANNOTATION: revision.outcome, OUTCOME_REASON_ANNOTATION: revision.reason}
    if revision.change_cause:
        annotations[CHANGE_CAUSE] = revision.change_cause
    if revision.rollback:
        annotations[ROLLBACK_ANNOTATION] = "true"
    data: dict[str, Any] = {
        "image": revision.image,
        "settingsHash": revision.settings_hash,
        "settings": dict(revision.settings),
        "created": revision.created,
    }
    if revision.live:
        data["liveSettings"] = True
    return {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {
            "name": revision.name or revision_name(room, revision.key),
            "namespace": namespace,
            "labels": {**labels, REVISION_LABEL: room},
            "annotations": annotations,
            "ownerReferences": [dict(owner)],
        },
        "revision": revision.number,
        "data": data,
    }


def revision_from(manifest: Mapping[str, Any]) -> Revision | None:
    """A Revision read back from its ControllerRevision (None when it is not one of ours)."""
    data = manifest.get("data")
    meta = manifest.get("metadata") or {}
    if not isinstance(data, Mapping) or not isinstance(data.get("image"), str):
        return None
    annotations = meta.get("annotations") or {}
    settings = data.get("settings")
    return Revision(
        number=int(manifest.get("revision") or 0),
        image=str(data["image"]),
        settings_hash=str(data.get("settingsHash", "")),
        settings=dict(settings) if isinstance(settings, Mapping) else {},
        change_cause=str(annotations.get(CHANGE_CAUSE, "")),
        created=str(data.get("created") or meta.get("creationTimestamp") or ""),
        outcome=str(annotations.get(OUTCOME_ANNOTATION, "")),
        reason=str(annotations.get(OUTCOME_REASON_ANNOTATION, "")),
        name=str(meta.get("name", "")),
        live=data.get("liveSettings") is True,
        rollback=annotations.get(ROLLBACK_ANNOTATION) == "true",
        retry=str(annotations.get(RETRY_ANNOTATION) or ""),
    )


def to_prune(revisions: list[Revision], limit: int, keep: set[int]) -> list[Revision]:
    """The oldest revisions beyond revisionHistoryLimit, never one in `keep` (the current
    and the update revision)."""
    held = [r for r in revisions if r.number in keep]
    others = sorted((r for r in revisions if r.number not in keep), key=lambda r: -r.number)
    return others[max(limit - len(held), 0) :]


# ---- the decision ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    """The rollout state of a room (status.rollout, so it survives an operator restart)."""

    phase: str = IDLE
    current: int = 0  # the revision serving players (the last Succeeded one); 0: none yet
    update: int = 0  # the revision being rolled out (== current when none is)
    waiting_since: float = 0.0  # epoch seconds the update started waiting (WaitForIdle)
    started: float = 0.0  # epoch seconds the update's Pod template was applied
    healthy_since: float = 0.0  # epoch seconds its Pod was first Ready and not failing
    reason: str = ""
    message: str = ""

    @property
    def rendered(self) -> int:
        """The revision whose template the Deployment should carry."""
        return self.current if self.phase in (WAITING, ROLLED_BACK) else self.update


@dataclass(frozen=True)
class PodFacts:
    ready: bool = False
    runs_update: bool = False  # the Pod carries the update's template (image and config hash)
    failure: str = ""  # the kubelet's verdict: "CrashLoopBackOff: exit code 3", ...


@dataclass(frozen=True)
class Activity:
    """What /admin/stats says about play in the room (None when it did not answer)."""

    phase: str = ""  # lobby | choosing | drawing | turn_end | game_over
    players: int = 0  # connected players
    turn_ends_in: float | None = None  # seconds left of the turn being drawn

    @property
    def busy(self) -> bool:
        """A turn is being drawn with players connected: an update would interrupt it."""
        return self.phase == "drawing" and self.players > 0


@dataclass(frozen=True)
class Smoke:
    """The smoke-test Job of the update revision (a room's first revision has none)."""

    phase: str = ""  # "" not started | Running | Succeeded | Failed | Skipped
    reason: str = ""  # the report's first failure, when Failed


SMOKE_SKIPPED = Smoke("Skipped")


@dataclass(frozen=True)
class Decision:
    progress: Progress
    apply: bool = False  # the rendered revision changed: write the children now
    outcomes: tuple[tuple[int, str, str], ...] = ()  # (revision, outcome, reason)
    events: tuple[tuple[str, str, str], ...] = ()  # (type, reason, message)
    announce: str = ""  # tell the connected players this before applying
    recheck_in: float | None = None  # seconds until the decision may change by time alone
    start_smoke: bool = False  # start the update's smoke-test Job now
    retried: bool = False  # a rolled-back update goes again: its old smoke test is stale


def decide(
    spec: RolloutSpec,
    progress: Progress,
    desired: int,
    pod: PodFacts,
    assessment: Assessment | None,
    activity: Activity | None,
    now: float,
    force: bool = False,
    smoke: Smoke = SMOKE_SKIPPED,
    rollback: bool = False,
    retry: bool = False,
) -> Decision:
    """The next step of a room's rollout. `desired` is the revision the spec asks for;
    `pod` tells about the room's Pod against the update revision (the one being rolled
    out); `force` (kubectl gameroom rollout --now) skips waiting for an idle room; `smoke`
    is the update's smoke-test Job (started once its Pod is Ready and healthy); `rollback`:
    the desired revision is an earlier verified one asked for again, which no maintenance
    window holds (it is urgent); `retry` (kubectl gameroom rollout --retry) rolls a
    RolledBack or Failed update out again, as a new update would be (it waits for the turn
    and the window as usual)."""
    if rollback:
        spec = spec.model_copy(update={"window": None})
    if desired != progress.update:
        return _new_revision(spec, progress, desired, pod, activity, now, force)
    if retry and progress.phase in (ROLLED_BACK, FAILED) and progress.update != progress.current:
        return _retry(spec, progress, activity, now, force)
    if progress.phase == WAITING:
        return _waiting(spec, progress, activity, now, force)
    if progress.phase in (PROGRESSING, VERIFYING):
        return _verifying(spec, progress, pod, assessment, now, smoke)
    return Decision(progress)


def _new_revision(
    spec: RolloutSpec,
    progress: Progress,
    desired: int,
    pod: PodFacts,
    activity: Activity | None,
    now: float,
    force: bool,
) -> Decision:
    outcomes: tuple[tuple[int, str, str], ...] = ()
    starting = progress.phase == PROGRESSING and not (
        pod.runs_update and (pod.ready or pod.failure)
    )
    held = now - progress.started
    limit = min(SUPERSEDE_AFTER_SECONDS, spec.progress_deadline_seconds)
    if starting and desired != progress.current and held < limit:
        # Wait for the Pod being started: many quick edits become a few rollouts.
        return Decision(progress, recheck_in=min(1.0, limit - held))
    if progress.update and progress.update != progress.current and progress.phase in UNDER_WAY:
        why = f"revision {desired} was asked for before it was verified"
        outcomes = ((progress.update, "Superseded", why),)
    if desired == progress.current and progress.current:
        # Back to what serves (the spec reverted): nothing to verify, it was verified.
        done = Progress(
            SUCCEEDED,
            current=desired,
            update=desired,
            reason="Reverted",
            message=f"The spec asks for revision {desired} again, which serves players.",
        )
        return Decision(done, apply=progress.rendered != desired, outcomes=outcomes)
    waiting = Progress(
        WAITING,
        current=progress.current,
        update=desired,
        waiting_since=now,
        reason=WAITING_FOR_IDLE,
        message=f"Revision {desired} waits for the turn being drawn to end.",
    )
    # A room's first revision is its creation: no window or turn holds it.
    immediate = spec.strategy == "Immediate" and spec.window is None
    if not progress.current or immediate or force:
        decided = _start(waiting, now, "")
        return replace(decided, outcomes=outcomes + decided.outcomes)
    decided = _waiting(spec, waiting, activity, now, force)
    return replace(decided, outcomes=outcomes + decided.outcomes)


def _retry(
    spec: RolloutSpec, progress: Progress, activity: Activity | None, now: float, force: bool
) -> Decision:
    update = progress.update
    message = (
        f"kubectl gameroom rollout --retry: revision {update} ({progress.phase}: "
        f"{progress.reason}) is rolled out again; it is verified, and rolled back if it fails "
        "again."
    )
    waiting = Progress(
        WAITING,
        current=progress.current,
        update=update,
        waiting_since=now,
        reason=WAITING_FOR_IDLE,
        message=f"Revision {update} waits for the turn being drawn to end.",
    )
    immediate = spec.strategy == "Immediate" and spec.window is None
    decided = (
        _start(waiting, now, "") if immediate else _waiting(spec, waiting, activity, now, force)
    )
    return replace(
        decided,
        # The rolled-back verdict is taken back: the revision is on trial again.
        outcomes=((update, "", ""), *decided.outcomes),
        events=(("Normal", "RolloutRetried", message), *decided.events),
        retried=True,
    )


def _start(progress: Progress, now: float, announce: str) -> Decision:
    started = Progress(
        PROGRESSING,
        current=progress.current,
        update=progress.update,
        waiting_since=progress.waiting_since,
        started=now,
        reason="Progressing",
        message=f"Rolling out revision {progress.update}: waiting for its Pod to be Ready.",
    )
    return Decision(started, apply=True, announce=announce, recheck_in=1.0)


def _waiting(
    spec: RolloutSpec,
    progress: Progress,
    activity: Activity | None,
    now: float,
    force: bool,
) -> Decision:
    if force:
        return _start(progress, now, _update_notice(activity))
    clock = progress.waiting_since  # maxWaitSeconds counts from here
    deadline = clock + spec.max_wait_seconds
    window = spec.window.at(now) if spec.window is not None else None
    if spec.window is not None and window is not None and not window.open:
        earlier = spec.window.at(now - WINDOW_CLOSE_GRACE_SECONDS)
        # It waited for a turn inside the window that just closed (a new revision has not).
        waited = progress.reason == WAITING_FOR_IDLE and progress.waiting_since < now
        closing = waited and earlier is not None and earlier.open
        if not closing:
            return _hold_for_window(spec.window, progress, window, now)
        started = _start(progress, now, _update_notice(activity))
        note = (
            f"Revision {progress.update} waited for the turn to end until the maintenance "
            "window closed: applied during the turn."
        )
        return replace(started, events=(("Normal", "RolloutWaitExpired", note),))
    if window is not None and window.open:
        # Waiting for an idle room starts with the window, and ends by its close.
        clock = max(clock, window.opened)
        deadline = min(clock + spec.max_wait_seconds, window.closes)
    if spec.strategy == "Immediate" or activity is None or not activity.busy:
        return _start(progress, now, _update_notice(activity))
    if now >= deadline:
        started = _start(progress, now, _update_notice(activity))
        note = (
            f"Revision {progress.update} waited maxWaitSeconds={spec.max_wait_seconds} for "
            "the turn to end: applied during the turn."
        )
        return replace(started, events=(("Normal", "RolloutWaitExpired", note),))
    left = deadline - now
    turn = activity.turn_ends_in
    recheck = min(left, max(turn, 0.5) if turn is not None else IDLE_POLL_SECONDS)
    # The first pass that waits for the turn (also when a window just opened on it).
    first = progress.waiting_since == now or progress.reason != WAITING_FOR_IDLE
    progress = replace(
        progress,
        reason=WAITING_FOR_IDLE,
        message=f"Revision {progress.update} waits for the turn being drawn to end.",
    )
    events: tuple[tuple[str, str, str], ...] = ()
    announce = ""
    if first:
        message = (
            f"Revision {progress.update} waits for the turn being drawn to end "
            f"(at most {spec.max_wait_seconds}s)."
        )
        events = (("Normal", "RolloutWaiting", message),)
        announce = "An update is waiting for this turn to end; you keep your seat."
    return Decision(progress, events=events, announce=announce, recheck_in=recheck)


def _hold_for_window(
    window: Window, progress: Progress, state: WindowState, now: float
) -> Decision:
    message = (
        f"Revision {progress.update} waits for the maintenance window ({window.describe()}): "
        f"it opens at {_rfc3339(state.opens)}; `kubectl gameroom rollout NAME --now` applies "
        "it before."
    )
    held = replace(progress, phase=WAITING, reason=WAITING_FOR_WINDOW, message=message)
    events: tuple[tuple[str, str, str], ...] = ()
    if progress.reason != WAITING_FOR_WINDOW:
        events = (("Normal", "RolloutWaitingForWindow", message),)
    return Decision(held, events=events, recheck_in=max(state.opens - now, 0.0))


def _update_notice(activity: Activity | None) -> str:
    if activity is None or activity.players == 0:
        return ""
    return "The room updates now: you will be reconnected to your seat in a few seconds."


def failure_of(
    spec: RolloutSpec,
    progress: Progress,
    pod: PodFacts,
    assessment: Assessment | None,
    now: float,
) -> str:
    """Why the update fails verification ("" while it does not): a reason users can act on."""
    if pod.runs_update and pod.failure:
        return pod.failure
    serving = pod.ready and pod.runs_update
    if serving and assessment is not None and assessment.failing:
        check = _FAILED_CHECK.get(assessment.reason, assessment.reason)
        return f"HealthCheckFailed: {check}"
    if not serving and now - progress.started >= spec.progress_deadline_seconds:
        return f"NotReady: progress deadline {spec.progress_deadline_seconds}s exceeded"
    return ""


def _verifying(
    spec: RolloutSpec,
    progress: Progress,
    pod: PodFacts,
    assessment: Assessment | None,
    now: float,
    smoke: Smoke,
) -> Decision:
    failure = failure_of(spec, progress, pod, assessment, now)
    if not failure and progress.current and smoke.phase == FAILED:
        failure = f"SmokeTestFailed: {smoke.reason or 'the smoke test failed'}"
    if failure and not progress.current:
        # A room's first revision has nothing to go back to: auto-heal and the room's own
        # status deal with it; it is verified once it serves and stays healthy.
        serving = pod.ready and pod.runs_update
        pending = replace(
            progress,
            phase=VERIFYING if serving else PROGRESSING,
            healthy_since=0.0,
            reason=failure.split(":", 1)[0],
            message=f"Revision {progress.update} is not verified yet: {failure}.",
        )
        return Decision(pending, recheck_in=float(min(spec.health_window_seconds, 10)))
    if failure:
        detail = (
            assessment.message if failure.startswith("HealthCheckFailed") and assessment else ""
        )
        return _failed(spec, progress, failure, detail)
    if not (pod.ready and pod.runs_update):
        left = spec.progress_deadline_seconds - (now - progress.started)
        waiting = replace(progress, phase=PROGRESSING, healthy_since=0.0)
        return Decision(waiting, recheck_in=max(left, 0.0))
    if assessment is None:
        # Ready, its first deep probe on its way: the window starts with a verdict.
        verifying = replace(
            progress,
            phase=VERIFYING,
            reason="Verifying",
            message=f"Revision {progress.update} is Ready: waiting for its first deep probe.",
        )
        return Decision(verifying, recheck_in=1.0)
    since = progress.healthy_since or now
    held = now - since
    # The smoke test plays against the update once it serves healthily (not for a first
    # revision: there is nothing to roll back to; `kubectl gameroom smoke-test` is there).
    start_smoke = bool(progress.current) and smoke.phase == ""
    smoked = not progress.current or smoke.phase in (SUCCEEDED, "Skipped")
    if held >= spec.health_window_seconds and not smoked:
        waiting = replace(
            progress,
            phase=VERIFYING,
            healthy_since=since,
            reason="SmokeTesting",
            message=f"Revision {progress.update} is healthy: waiting for its smoke test.",
        )
        return Decision(waiting, recheck_in=2.0, start_smoke=start_smoke)
    if held >= spec.health_window_seconds:
        done = Progress(
            SUCCEEDED,
            current=progress.update,
            update=progress.update,
            reason="Verified",
            message=(
                f"Revision {progress.update} was Ready and healthy for "
                f"{spec.health_window_seconds}s."
            ),
        )
        return Decision(
            done,
            outcomes=((progress.update, SUCCEEDED, ""),),
            events=(("Normal", "RolloutSucceeded", done.message),),
        )
    verifying = replace(
        progress,
        phase=VERIFYING,
        healthy_since=since,
        reason="Verifying",
        message=(
            f"Revision {progress.update} is Ready: deep health must stay out of P0/P1 for "
            f"{spec.health_window_seconds}s."
        ),
    )
    return Decision(
        verifying, recheck_in=spec.health_window_seconds - held, start_smoke=start_smoke
    )


def _failed(spec: RolloutSpec, progress: Progress, failure: str, detail: str) -> Decision:
    update, current = progress.update, progress.current
    reason = failure.split(":", 1)[0]
    suffix = f" ({detail})" if detail else ""
    if spec.auto_rollback and current != update:
        message = (
            f"Revision {update} failed verification: {failure}{suffix}. Rolled back to "
            f"revision {current}; revision {update} is not tried again until the spec changes."
        )
        rolled = Progress(
            ROLLED_BACK, current=current, update=update, reason=reason, message=message
        )
        return Decision(
            rolled,
            apply=True,
            outcomes=((update, ROLLED_BACK, failure),),
            events=(("Warning", "RolledBack", message),),
        )
    why = "autoRollback is false: the revision stays applied"
    message = (
        f"Revision {update} failed verification: {failure}{suffix}; {why}. Fix the spec to "
        "roll out again."
    )
    failed = replace(progress, phase=FAILED, reason=reason, message=message)
    return Decision(
        failed,
        outcomes=((update, FAILED, failure),),
        events=(("Warning", "RolloutFailed", message),),
    )


# ---- pod facts and status --------------------------------------------------------------------

_POD_FAILURES = (
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
)


def pod_failure(pod: Mapping[str, Any]) -> str:
    """The kubelet's verdict on a Pod that cannot serve, as a reason users can act on:
    `CrashLoopBackOff: exit code 3`, `ImagePullBackOff: <the kubelet's message>`."""
    status = pod.get("status") or {}
    for container in status.get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting") or {}
        reason = waiting.get("reason")
        if reason not in _POD_FAILURES:
            continue
        if reason == "CrashLoopBackOff":
            last = (container.get("lastState") or {}).get("terminated") or {}
            if "exitCode" in last:
                return f"CrashLoopBackOff: exit code {last['exitCode']}"
        message = str(waiting.get("message") or "").strip()
        return f"{reason}: {message}" if message else str(reason)
    if status.get("phase") == "Failed":
        return f"PodFailed: {status.get('message') or status.get('reason') or 'the Pod failed'}"
    return ""


def _rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _epoch(text: Any) -> float:
    if not isinstance(text, str) or not text:
        return 0.0
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
    except ValueError:
        return 0.0


def status_of(progress: Progress) -> dict[str, Any]:
    """status.rollout."""
    status: dict[str, Any] = {
        "phase": progress.phase,
        "currentRevision": progress.current,
        "updateRevision": progress.update,
        "reason": progress.reason,
        "message": progress.message,
    }
    # Every key always present (empty when it does not apply): a merge patch of the status
    # would keep a key left out, and with it a time from an earlier rollout.
    status["waitingSince"] = (
        _rfc3339(progress.waiting_since)
        if progress.waiting_since and progress.phase == WAITING
        else ""
    )
    status["startedAt"] = (
        _rfc3339(progress.started)
        if progress.started and progress.phase in (PROGRESSING, VERIFYING)
        else ""
    )
    status["healthySince"] = (
        _rfc3339(progress.healthy_since)
        if progress.healthy_since and progress.phase == VERIFYING
        else ""
    )
    return status


def progress_from(status: Mapping[str, Any] | None) -> Progress:
    """The rollout state from status.rollout (an operator restart carries on from it)."""
    if not isinstance(status, Mapping):
        return Progress()
    phase = str(status.get("phase") or IDLE)
    return Progress(
        phase=phase if phase in PHASES else IDLE,
        current=int(status.get("currentRevision") or 0),
        update=int(status.get("updateRevision") or 0),
        waiting_since=_epoch(status.get("waitingSince")),
        started=_epoch(status.get("startedAt")),
        healthy_since=_epoch(status.get("healthySince")),
        reason=str(status.get("reason") or ""),
        message=str(status.get("message") or ""),
    )


def conditions_of(
    progress: Progress,
) -> tuple[tuple[str, str, str] | None, tuple[str, str, str] | None]:
    """(Reconciling, Degraded) as the rollout sees them; None leaves the condition to the
    room's other concerns. Reconciling is True while a rollout is under way; Degraded is
    True after a rollback (the room serves, but not what its spec asks) or a halt."""
    reconciling = None
    degraded = None
    if progress.phase in UNDER_WAY and progress.current:
        # A room's first revision is not a rollout: the room's own phase tells its start.
        reconciling = ("True", f"Rollout{progress.phase}", progress.message)
    if progress.phase == ROLLED_BACK:
        degraded = ("True", "RolledBack", progress.message)
    elif progress.phase == FAILED and progress.current:
        degraded = ("True", "RolloutFailed", progress.message)
    return reconciling, degraded
