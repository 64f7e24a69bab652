"""Maintenance windows for rollouts (spec.rollout.window): when one is open, when the next opens.

A window opens at each time of its cron schedule (in its time zone, as backups' schedules
are read) and stays open for durationMinutes; it is closed at its closing minute. Pure: the
rollout's decision asks it with the time it was given.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field


class Window(BaseModel):
    """`spec.rollout.window`, as the CRD bounds it."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    schedule: str = Field(min_length=1)
    time_zone: str = Field("", alias="timeZone")
    duration_minutes: int = Field(alias="durationMinutes", ge=1, le=1440)

    def at(self, now: float) -> WindowState | None:
        """Where the window stands at `now` (epoch seconds); None when croniter cannot
        read the schedule (the CRD's pattern lets a few through): nothing is held then."""
        # backup.py imports the room state, which imports the rollout: read it at call time.
        from .backup import next_runs

        length = self.duration_minutes * 60.0
        # The first opening after now - length is the one open now when it is not in the
        # future (croniter's next is strictly after: an opening exactly `length` ago has
        # closed), else it is the next opening.
        runs = next_runs(self.schedule, self.time_zone, datetime.fromtimestamp(now - length, UTC))
        if not runs:
            return None
        first = runs[0].timestamp()
        if first <= now:
            return WindowState(open=True, opened=first, closes=first + length)
        return WindowState(open=False, opens=first)

    def describe(self) -> str:
        zone = self.time_zone or "UTC"
        return f'"{self.schedule}" {zone}, {self.duration_minutes} min'


@dataclass(frozen=True)
class WindowState:
    open: bool
    opened: float = 0.0  # epoch seconds the open window opened
    closes: float = 0.0  # epoch seconds the open window closes
    opens: float = 0.0  # epoch seconds the next window opens (when closed)
