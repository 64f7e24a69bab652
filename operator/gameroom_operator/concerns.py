"""The concerns a room's pass runs, and what they may use of the executor.

A concern owns one part of a room (health, and later rollouts and backups): at each pass
the executor (controller.py) calls its `step`, which decides with the concern's pure
functions, carries out what they decide through the `Executor` (the only I/O it may do),
and returns the seconds until it wants the room's next pass (None: no timer of its own).
What it shows the user it returns from `status`: fields of the room's status and the
conditions it owns, merged into the status the executor writes (status.merge_parts).

A concern keeps its per-room memory in RoomState (state.py) and sets `state.settled =
False` when something its `status` reads changed, so the status is decided again.
"""

from __future__ import annotations

from typing import Protocol

from .admin import RoomClient
from .kube import Kube
from .render import RenderOptions
from .state import RoomState
from .status import Condition, StatusPart

__all__ = ["Concern", "Condition", "Executor", "StatusPart"]


class Executor(Protocol):
    """What a concern may use of the controller."""

    kube: Kube
    options: RenderOptions
    room_client: RoomClient

    async def event(self, state: RoomState, kind: str, reason: str, message: str) -> None: ...

    def wake(self, state: RoomState, delay: float = 0.0) -> None:
        """Queue a pass of the room in `delay` seconds (an earlier one already queued wins)."""


class Concern(Protocol):
    name: str

    async def step(self, state: RoomState) -> float | None:
        """Decide and act for one room; the seconds until this concern's next timer."""

    def status(self, state: RoomState) -> StatusPart:
        """The status fields and conditions this concern owns, from what it knows now."""
