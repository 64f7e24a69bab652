"""/healthz of the operator: a work queue whose passes are overdue fails it (bounded by the
probe interval, not by the hourly resync)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from gameroom_operator import metrics
from gameroom_operator.controller import Controller
from gameroom_operator.kube import Credentials, Kube
from gameroom_operator.render import RenderOptions
from gameroom_operator.status import prober_stalled


@pytest.fixture
async def controller() -> AsyncIterator[Controller]:
    # No rooms: the controller never calls the API server in these tests.
    ours = Controller(
        Kube(Credentials(host="http://127.0.0.1:9")),
        RenderOptions(),
        probe_interval=0.05,
        resync_interval=3600,
    )
    yield ours
    await ours.close()


async def _healthz(controller: Controller) -> tuple[int, dict[str, object]]:
    server = TestServer(metrics.make_app(controller.prober_healthy), host="127.0.0.1")
    await server.start_server()
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(server.make_url("/healthz")) as response,
        ):
            return response.status, dict(await response.json())
    finally:
        await server.close()


async def test_healthz_ok_while_the_prober_runs(controller: Controller) -> None:
    prober = asyncio.get_running_loop().create_task(controller.run_prober())
    try:
        status, body = await _healthz(controller)
        assert (status, body["status"]) == (200, "ok")
    finally:
        prober.cancel()


async def test_healthz_fails_after_minutes_of_a_stalled_prober_despite_hourly_resync(
    controller: Controller,
) -> None:
    # A room's pass was due two minutes ago and no worker took it (the queue is not running).
    controller.queue.add(("games", "stuck"), delay=-120)
    status, body = await _healthz(controller)
    assert status == 503
    assert "has not run for 120s" in str(body["detail"])


def test_stall_limit_follows_the_probe_interval_only() -> None:
    assert not prober_stalled(59, probe_interval=10)
    assert prober_stalled(61, probe_interval=10)
    assert prober_stalled(301, probe_interval=50)
    assert not prober_stalled(299, probe_interval=50)
