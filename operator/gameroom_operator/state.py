"""What the operator knows about one room between events (RoomState), shared by the
executor (controller.py) and the concerns it runs (concerns.py)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .children import NameConflict
from .health import Assessment, HealthSpec, History
from .render import Room
from .rollout import Revision
from .status import Probe

_clock: list[Any] = [0, ""]  # (whole second, its text): status needs no finer time


def now_text() -> str:
    second = int(time.time())
    if _clock[0] != second:
        _clock[:] = [second, datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")]
    return str(_clock[1])


@dataclass
class RoomState:
    """Everything the operator knows about one room between events."""

    namespace: str
    name: str
    uid: str = ""
    generation: int = 0
    spec: dict[str, Any] = field(default_factory=dict)
    status: dict[str, Any] = field(default_factory=dict)
    deleting: bool = False
    token: str | None = None
    applied_generation: int | None = None
    apply_error: str = ""
    apply_error_permanent: bool = False
    apply_error_reason: str = ""  # the Ready condition's reason while apply_error is set
    conflict: NameConflict | None = None  # a child's name is taken by another owner
    deployment: dict[str, Any] | None = None
    pod_ip: str = ""
    pod_ready: bool = False
    pod_problem: str = ""
    pod_name: str = ""
    pod_config_hash: str = ""
    pod_image: str = ""
    pod_seen: bool = False  # a Pod event (or a list) told us the Pod's state in this run
    # The room's Jobs (backups, restores, smoke tests) by name, slimmed (observers.slim_job):
    # kept by the Job watch, read by the concerns that start them.
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    maintenance_error: str = ""  # the last error reported in an Event, to post it only once
    probe: Probe | None = None
    attempts: int = 0  # failed reconciles in a row (for the retry back-off)
    retry_at: float = 0.0  # monotonic time of the next retry after a failed reconcile
    fresh: bool = False  # created while we watch: no children to read yet
    # A new room's first status waits until then (monotonic) while it would only say
    # Starting: its Pod is usually Ready by then, and one write says Ready instead of two.
    first_status_by: float = 0.0
    repair_wanted: bool = False  # a child drifted, was deleted, or the resync is due
    # The rollout concern (rollouts.py): the revision whose image and settings the children
    # are rendered from (None: the spec's own), its memory of the room's revisions and
    # rollout, and whether a new revision is being verified (auto-heal holds off then).
    pin: Revision | None = None
    rollout: Any = None
    verifying: bool = False
    pod_failure: str = ""  # the kubelet's verdict on the Pod: "CrashLoopBackOff: exit code 3"
    annotations: dict[str, str] = field(default_factory=dict)  # the room's, that rollouts read
    next_probe_at: float = 0.0  # monotonic time of the next deep probe
    assessment: Assessment | None = None  # the health concern's verdict of the last probe
    history: History = field(default_factory=History)
    seen_status: bool = False  # the room's stored status was read in this run
    announced: tuple[str, str, str] | None = None  # the health last told in an event
    # Nothing the status reads changed since it was last decided: a pass whose probe found
    # nothing new skips deciding it again (the common case, once per room and period).
    settled: bool = False
    _health_spec: tuple[int, HealthSpec] | None = field(default=None, repr=False)

    @property
    def health_spec(self) -> HealthSpec:
        """spec.health, validated once per spec (not at every probe)."""
        cached = self._health_spec
        if cached is None or cached[0] != id(self.spec):
            cached = self._health_spec = (id(self.spec), HealthSpec.of(self.spec))
        return cached[1]

    health_since: str = ""  # when the health status last changed
    last_probe_time: str = ""
    probe_latency_ms: int = 0
    refused_generation: int | None = None  # the API server refused this spec: wait for a new one
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _room: Room | None = field(default=None, repr=False)
    _room_of: tuple[int, int] = field(default=(0, 0), repr=False)

    @property
    def room(self) -> Room:
        """The room for the renderer, made again only when the spec or uid changed (it
        caches the effective spec, which every status decision reads)."""
        room = self._room
        made_of = (id(self.spec), id(self.pin))
        if room is None or self._room_of != made_of or room.uid != self.uid:
            spec = self.spec if self.pin is None else self.pin.pinned(self.spec)
            room = self._room = Room(
                name=self.name, namespace=self.namespace, uid=self.uid, spec=spec
            )
            self._room_of = made_of
        return room
