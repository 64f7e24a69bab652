"""A keyed work queue with due times, as client-go's delaying work queue does it.

One entry per key (a room): adding a key that is already waiting keeps the earlier due
time, so a burst of events becomes one pass. A key is handled by one worker at a time; a
key added while it is being handled runs again after, never beside itself. The handler
returns the seconds until the key wants its next pass (a probe period, a retry back-off,
a rollout deadline), or None: every timer of a room lives here.

Delayed passes fall due on a grid of `resolution` seconds (never early): a thousand rooms
probed every 15 s then wake the event loop ten times a second for a handful of rooms each,
not once per room, and their requests and answers share the loop's turns. A pass added
with no delay (an event) is handed out at once.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

import structlog

log = structlog.get_logger("gameroom_operator")
# A failed pass runs again after 1, 2, 4 ... seconds, at most 30: soon after a one-off API
# error, never a hot loop against an API server that keeps failing.
FAILED_PASS_BASE = 1.0
FAILED_PASS_MAX = 30.0

K = TypeVar("K", bound=Hashable)
Handler = Callable[[K], Awaitable[float | None]]


class WorkQueue(Generic[K]):
    def __init__(
        self,
        handler: Handler[K],
        workers: int = 16,
        clock: Callable[[], float] = time.monotonic,
        resolution: float = 0.1,
    ) -> None:
        self._handler = handler
        self._workers = workers
        self._clock = clock
        self._resolution = resolution
        self._due: dict[K, float] = {}  # key -> due time of its waiting entry
        self._heap: list[tuple[float, int, K]] = []  # may hold stale entries
        self._order = itertools.count()
        self._busy: set[K] = set()
        self._again: dict[K, float] = {}  # keys added while busy -> due time
        self._handed: dict[K, float] = {}  # due, handed to the workers, not taken yet
        self._failures: dict[K, int] = {}  # failed passes in a row, for the back-off
        self._loop: asyncio.AbstractEventLoop | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf  # when the armed timer fires (inf: none armed)
        self._tasks: list[asyncio.Task[None]] = []
        self.handled = 0  # passes done (tests, /healthz)
        self.last_pass = clock()

    def __len__(self) -> int:
        return len(self._due) + len(self._again) + len(self._handed)

    def add(self, key: K, delay: float = 0.0) -> None:
        """Queue a pass of `key` in `delay` seconds, or sooner if one is already due."""
        due = self._clock() + delay
        if key in self._busy:
            self._again[key] = min(due, self._again.get(key, due))
            return
        known = self._due.get(key)
        if known is not None and known <= due:
            return
        self._due[key] = due
        heapq.heappush(self._heap, (due, next(self._order), key))
        self._arm(due, delay <= 0)

    def forget(self, key: K) -> None:
        """Drop the key's waiting entry (the room is gone); a pass under way finishes."""
        self._due.pop(key, None)
        self._again.pop(key, None)
        self._failures.pop(key, None)

    def overdue(self) -> float:
        """Seconds the most overdue waiting pass is late (0 when none is): a queue whose
        workers stopped or hang shows here, for /healthz."""
        now = self._clock()
        waiting = [*self._due.values(), *self._handed.values()]
        return max((now - due for due in waiting if due < now), default=0.0)

    def due_in(self, key: K) -> float | None:
        due = self._due.get(key, self._again.get(key))
        return None if due is None else due - self._clock()

    def start(self) -> None:
        loop = self._loop = asyncio.get_running_loop()
        self._ready: asyncio.Queue[K] = asyncio.Queue()
        self._tasks = [loop.create_task(self._worker()) for _ in range(self._workers)]
        if self._heap:
            self._arm(self._heap[0][0], now=False)

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_at, self._loop = None, math.inf, None
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    def _arm(self, due: float, now: bool) -> None:
        """Make sure a timer fires by `due` (rounded up to the grid unless `now`)."""
        loop = self._loop
        if loop is None:
            return  # not started: start() arms for what is waiting
        clock = self._clock()
        if now or due <= clock:
            fire = clock
        else:
            fire = math.ceil(due / self._resolution) * self._resolution
        if fire >= self._timer_at:
            return  # the armed timer fires first and hands this key out too
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = fire
        self._timer = loop.call_later(max(0.0, fire - clock), self._fire)

    def _fire(self) -> None:
        """Hand every due key to the workers (who wait on a plain queue: one key wakes
        one worker), then arm the timer for the earliest key still waiting."""
        self._timer, self._timer_at = None, math.inf
        now = self._clock()
        heap = self._heap
        while heap:
            due, _, key = heap[0]
            if self._due.get(key) != due:
                heapq.heappop(heap)  # stale: re-added sooner, or forgotten
                continue
            if due > now:
                self._arm(due, now=False)
                break
            heapq.heappop(heap)
            del self._due[key]
            self._handed.setdefault(key, due)
            self._ready.put_nowait(key)

    async def _worker(self) -> None:
        while True:
            key = await self._ready.get()
            self._handed.pop(key, None)
            if key in self._busy:  # handed out twice (added again while queued): run after
                self._again[key] = min(self._clock(), self._again.get(key, self._clock()))
                continue
            self._busy.add(key)
            next_in: float | None = None
            try:
                next_in = await self._handler(key)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # noqa: BLE001 - one room's failure must not stop the queue
                failures = self._failures[key] = self._failures.get(key, 0) + 1
                next_in = min(FAILED_PASS_MAX, FAILED_PASS_BASE * 2 ** (failures - 1))
                if _transient(error):
                    # The API server failed this once (500, 409, 429, a cut connection): one
                    # line, no traceback (debug when the client logged the incident already);
                    # the pass runs again after a growing pause.
                    (log.debug if getattr(error, "logged", False) else log.warning)(
                        "room_pass_failed", key=str(key), error=str(error)[:300], retry_in=next_in
                    )
                else:
                    log.exception("room_pass_failed", key=str(key), retry_in=next_in)
            else:
                self._failures.pop(key, None)
            finally:
                self._busy.discard(key)
                self.handled += 1
                self.last_pass = self._clock()
            again = self._again.pop(key, None)
            if again is not None:
                self.add(key, again - self._clock())
            if next_in is not None:
                self.add(key, next_in)


def _transient(error: Exception) -> bool:
    """An API answer (the client's errors carry an HTTP status) or a lost connection: the
    world failed, not our code."""
    return isinstance(getattr(error, "status", None), int) or isinstance(
        error, ConnectionError | TimeoutError
    )
