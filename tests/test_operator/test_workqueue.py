"""The per-room work queue: deduplicated, due times, one pass per key at a time."""

from __future__ import annotations

import asyncio
import time

from gameroom_operator.workqueue import WorkQueue


async def until(what: str, check: object, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


async def test_a_burst_of_adds_is_one_pass() -> None:
    passes: list[str] = []

    async def handle(key: str) -> None:
        passes.append(key)

    queue: WorkQueue[str] = WorkQueue(handle, workers=4)
    for _ in range(50):
        queue.add("room", delay=0.05)
    queue.start()
    try:
        await until("the pass", lambda: passes)
        await until("the queue empty", lambda: len(queue) == 0)
        assert passes == ["room"]
    finally:
        await queue.stop()


async def test_an_earlier_due_time_wins_and_later_ones_wait() -> None:
    started = time.monotonic()
    when: dict[str, float] = {}

    async def handle(key: str) -> None:
        when[key] = time.monotonic() - started

    queue: WorkQueue[str] = WorkQueue(handle, workers=2)
    queue.add("late", delay=0.4)
    queue.add("soon", delay=5.0)
    queue.add("soon", delay=0.0)  # sooner than its waiting entry: moves it up
    queue.start()
    try:
        await until("both passes", lambda: len(when) == 2)
        assert when["soon"] < when["late"]
        assert when["late"] >= 0.4
    finally:
        await queue.stop()


async def test_a_key_is_never_handled_twice_at_once_and_an_add_meanwhile_runs_after() -> None:
    running = 0
    most = 0
    passes = 0
    release = asyncio.Event()

    async def handle(key: str) -> None:
        nonlocal running, most, passes
        running += 1
        most = max(most, running)
        await release.wait()
        running -= 1
        passes += 1

    queue: WorkQueue[str] = WorkQueue(handle, workers=4)
    queue.start()
    try:
        queue.add("room")
        await until("the first pass to start", lambda: running == 1)
        queue.add("room")
        queue.add("room")
        await asyncio.sleep(0)
        assert running == 1
        release.set()
        await until("the pass after", lambda: passes == 2)
        assert most == 1
    finally:
        await queue.stop()


async def test_the_handler_schedules_its_next_pass_and_failures_come_back() -> None:
    passes: list[float] = []

    async def handle(key: str) -> float | None:
        passes.append(time.monotonic())
        if len(passes) == 1:
            raise RuntimeError("boom")  # logged; the key comes back (after 1 s)
        return 0.05 if len(passes) < 4 else None

    queue: WorkQueue[str] = WorkQueue(handle, workers=1)
    queue.start()
    try:
        queue.add("room")
        await until("the failed pass", lambda: len(passes) == 1)
        due = queue.due_in("room")
        assert due is not None and 0 < due <= 1
        queue.add("room")  # an event brings it back sooner
        await until("three more passes", lambda: len(passes) == 4)
        await until("nothing more due", lambda: queue.due_in("room") is None)
        assert all(b - a >= 0.04 for a, b in zip(passes[1:], passes[2:], strict=False))
    finally:
        await queue.stop()


class ApiFailure(Exception):
    status = 500


async def test_failed_passes_back_off_doubling_to_30_s_and_reset_on_success() -> None:
    outcomes = ["fail"] * 7 + ["ok", "fail"]
    passes: list[str] = []

    async def handle(key: str) -> float | None:
        outcome = outcomes[len(passes)]
        passes.append(outcome)
        if outcome == "fail":
            raise ApiFailure("PATCH ... -> 500")
        return None

    queue: WorkQueue[str] = WorkQueue(handle, workers=1)
    queue.start()
    try:
        # 1, 2, 4 ... seconds, capped at 30; a good pass starts again from 1 s.
        expected = [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, None, 1.0]
        for count, pause in enumerate(expected, start=1):
            queue.add("room")  # run it now instead of waiting for the back-off
            await until(f"pass {count}", lambda c=count: len(passes) == c)
            if pause is None:
                await until("nothing due after the good pass", lambda: queue.due_in("room") is None)
                continue
            await until("the failed pass requeued", lambda: queue.due_in("room") is not None)
            due = queue.due_in("room")
            # Less by the time since the failure; up to 0.1 s more on the queue's grid.
            assert due is not None and pause - 1.0 < due <= pause + 0.1, (count, due)
    finally:
        await queue.stop()


async def test_a_forgotten_key_does_not_run() -> None:
    passes: list[str] = []

    async def handle(key: str) -> None:
        passes.append(key)

    queue: WorkQueue[str] = WorkQueue(handle, workers=1)
    queue.add("gone", delay=0.05)
    queue.add("kept", delay=0.1)
    queue.forget("gone")
    queue.start()
    try:
        await until("the kept pass", lambda: passes)
        assert passes == ["kept"]
    finally:
        await queue.stop()


async def test_delayed_passes_are_never_early_and_share_wake_ups() -> None:
    """Due times fall on the queue's grid (0.1 s): a pass may come a little late, never
    early (a probe found not yet due would cost a second pass)."""
    due: dict[str, float] = {}
    ran: dict[str, float] = {}

    async def handle(key: str) -> None:
        ran[key] = time.monotonic()

    queue: WorkQueue[str] = WorkQueue(handle, workers=4)
    wake_ups = 0
    fire = queue._fire

    def counted() -> None:
        nonlocal wake_ups
        wake_ups += 1
        fire()

    queue._fire = counted  # type: ignore[method-assign]
    queue.start()
    try:
        for index in range(20):
            delay = 0.05 + index * 0.01
            due[f"room-{index}"] = time.monotonic() + delay
            queue.add(f"room-{index}", delay=delay)
        await until("every pass", lambda: len(ran) == 20)
        assert all(ran[key] >= due[key] for key in due)
        assert all(ran[key] - due[key] < 1.0 for key in due)
        # 20 due times over 0.19 s fall into three grid steps (a fourth if the loop ran
        # a timer a little early): not 20 wake-ups.
        assert wake_ups <= 4
    finally:
        await queue.stop()


async def test_an_event_is_handled_at_once_despite_the_grid() -> None:
    ran: list[float] = []

    async def handle(key: str) -> None:
        ran.append(time.monotonic())

    queue: WorkQueue[str] = WorkQueue(handle, workers=1, resolution=30.0)
    queue.start()
    try:
        queue.add("later", delay=1.0)  # waits for the 30 s grid
        added = time.monotonic()
        queue.add("now")
        await until("the immediate pass", lambda: ran)
        assert ran[0] - added < 1.0 and len(ran) == 1
    finally:
        await queue.stop()
