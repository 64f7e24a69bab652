"""`python -m gameserver smoke-test` against a real game server on loopback.

One `python -m gameserver serve` subprocess (temp DB, short phase timings from a config
file, admin token from the environment) serves the module; each test runs the real CLI
as a subprocess and reads its report the way an operator or a person would.
"""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from gameserver.smoke import run_smoke
from gameserver.testing import ServerProcess, draw_message

ADMIN_TOKEN = "smoke-test-admin-token"
CHECKS = ("livez", "readyz", "health", "room", "ws-join", "draw", "leave")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


Room = ServerProcess


@pytest.fixture(scope="module")
def room(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Room]:
    config = {
        "roomName": "smoke-room",
        "game": {"rounds": 3, "drawTimeSeconds": 60, "wordChoices": 2},
        "timing": {"chooseSeconds": 15, "turnEndSeconds": 0.3, "gameOverSeconds": 0.5},
    }
    server = Room(tmp_path_factory.mktemp("smoke-room"), config, admin_token=ADMIN_TOKEN)
    with server:
        yield server


@dataclass
class CliRun:
    code: int
    output: str

    def line(self, check: str) -> str:
        """The report line of `check` (fails the test when it is missing)."""
        for line in self.output.splitlines():
            fields = line.split()
            if len(fields) >= 2 and fields[1] == check:
                return line
        pytest.fail(f"report has no line for {check!r}:\n{self.output}")


async def smoke_cli(url: str, step_timeout: float = 5) -> CliRun:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gameserver",
        "smoke-test",
        "--url",
        url,
        "--timeout",
        str(step_timeout),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return CliRun(proc.returncode or 0, out.decode())


class Player:
    """A real WebSocket player holding a seat while the smoke test runs."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, welcome: dict[str, Any]) -> None:
        self.ws = ws
        self.welcome = welcome
        self.id = welcome["you"]["id"]

    async def expect(self, kind: str, **fields: Any) -> dict[str, Any]:
        async with asyncio.timeout(10):
            while True:
                msg = await self.ws.receive()
                assert msg.type == aiohttp.WSMsgType.TEXT, f"connection ended: {msg}"
                data = json.loads(msg.data)
                if data["type"] == kind and all(data.get(k) == v for k, v in fields.items()):
                    return data


@pytest.fixture
async def players(room: Room) -> AsyncIterator[list[Player]]:
    joined: list[Player] = []
    async with aiohttp.ClientSession() as session:

        async def join(name: str) -> Player:
            ws = await session.ws_connect(room.url.replace("http", "ws") + "/ws")
            await ws.send_json({"type": "join", "name": name, "protocol": 1})
            async with asyncio.timeout(10):
                while (data := json.loads((await ws.receive()).data))["type"] != "welcome":
                    pass
            player = Player(ws, data)
            joined.append(player)
            return player

        yield [await join("alice"), await join("bob")]
        for player in joined:
            if not player.ws.closed:
                await player.ws.send_json({"type": "leave"})
                await player.ws.close()
    await wait_for_phase(room, "lobby", players=0)


async def wait_for_phase(room: Room, phase: str, players: int | None = None) -> None:
    async with asyncio.timeout(15):
        while True:
            info = await asyncio.to_thread(room.get, "/api/room")
            count = info["players"] if isinstance(info["players"], int) else len(info["players"])
            if info["phase"] == phase and (players is None or count == players):
                return
            await asyncio.sleep(0.1)


async def test_idle_room_plays_a_draw_round_trip_and_leaves_no_trace(room: Room) -> None:
    before = await asyncio.to_thread(room.get, "/api/room")
    assert before["phase"] == "lobby" and before["settings"]["rounds"] == 3

    run = await smoke_cli(room.url)

    assert run.code == 0, run.output
    for check in CHECKS:
        assert run.line(check).split()[0] == "ok", run.output
    assert "smoke-bot-" in run.line("ws-join")
    assert "drew stroke 1" in run.line("draw")
    assert run.output.strip().splitlines()[-1].startswith("result: ok (7 checks, 0 failed")
    # The bots' game is abandoned when they leave: the room is back in its lobby with its
    # settings untouched, and the abandoned game left no trace on the leaderboard.
    await wait_for_phase(room, "lobby", players=0)
    after = await asyncio.to_thread(room.get, "/api/room")
    assert after["settings"] == before["settings"]
    leaderboard = await asyncio.to_thread(room.get, "/api/leaderboard")
    assert "smoke-bot" not in json.dumps(leaderboard)


async def test_room_with_players_is_only_watched(room: Room, players: list[Player]) -> None:
    alice, _ = players

    run = await smoke_cli(room.url)

    assert run.code == 0, run.output
    assert run.line("draw").split()[:2] == ["skipped", "draw"]
    assert "room in use" in run.line("draw")
    assert run.line("ws-join").split()[0] == "ok"
    assert "spectator" in run.line("ws-join")
    # The players' lobby is untouched: alice is still host and can start her game.
    await alice.ws.send_json({"type": "start"})
    started = await alice.expect("game_started")
    assert started["rounds"] == 3


async def test_running_game_is_not_disturbed(room: Room, players: list[Player]) -> None:
    alice, bob = players
    await alice.ws.send_json({"type": "start"})
    turn = await alice.expect("turn", phase="choosing")
    drawer = alice if turn["drawerId"] == alice.id else bob
    await drawer.expect("choose_word")
    await drawer.ws.send_json({"type": "choose_word", "index": 0})
    await drawer.expect("turn", phase="drawing")
    stroke = draw_message(7, [[10, 10], [20, 20]], color=4, width=5)
    await drawer.ws.send_json(stroke)
    await drawer.expect("draw", stroke=7)

    run = await smoke_cli(room.url)

    assert run.code == 0, run.output
    assert "room in use (drawing, 2 players)" in run.line("draw")
    assert "1 canvas ops" in run.line("ws-join"), "the spectator must see the drawn stroke"
    info = await asyncio.to_thread(room.get, "/api/room")
    assert info["phase"] == "drawing"


async def test_maintenance_fails_with_the_reason(room: Room) -> None:
    await asyncio.to_thread(
        room.admin, "PUT", "/admin/maintenance", {"enabled": True, "message": "db upgrade"}
    )
    try:
        run = await smoke_cli(room.url)
    finally:
        await asyncio.to_thread(room.admin, "PUT", "/admin/maintenance", {"enabled": False})

    assert run.code == 1, run.output
    assert run.line("room").split()[0] == "FAIL"
    assert "maintenance" in run.line("room") and "db upgrade" in run.line("room")
    assert run.line("draw").split()[0] == "skipped"
    assert "room in maintenance" in run.line("ws-join")
    assert "first failure: room: room is in maintenance mode" in run.output


async def test_server_down_fails_with_the_reason() -> None:
    url = f"http://127.0.0.1:{free_port()}"

    run = await smoke_cli(url, step_timeout=2)

    assert run.code == 1, run.output
    assert run.line("livez").split()[0] == "FAIL"
    assert "cannot reach" in run.line("livez") and "is the server running" in run.line("livez")
    for check in CHECKS[1:]:
        assert run.line(check).split()[0] == "skipped"
        assert "server unreachable" in run.line(check)


@pytest.fixture
async def broken_health_server() -> AsyncIterator[str]:
    """A real HTTP server whose probes pass but whose /api/health lacks its checks."""

    async def ok(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def health(_: web.Request) -> web.Response:
        return web.json_response({"status": "healthy", "version": "9.9.9", "maintenance": False})

    app = web.Application()
    app.router.add_get("/livez", ok)
    app.router.add_get("/readyz", ok)
    app.router.add_get("/api/health", health)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_malformed_health_and_missing_room_api_fail(broken_health_server: str) -> None:
    report = await run_smoke(broken_health_server, 2)

    outcomes = {c.name: (c.outcome, c.detail) for c in report.checks}
    assert not report.passed
    assert outcomes["livez"][0] == "ok" and outcomes["readyz"][0] == "ok"
    assert outcomes["health"] == ("FAIL", "'checks' is missing or not an object")
    assert outcomes["room"][0] == "FAIL" and "HTTP 404" in outcomes["room"][1]
