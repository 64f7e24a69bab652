"""The operator's HTTP client for the rooms' own APIs, against real servers on loopback.

The probes' client (roomhttp.py) keeps one connection per room and port, frames answers by
Content-Length, chunks or the connection's close, and turns hangs, refusals and garbage
into clear errors. Each test serves on its own loopback address (127.x.y.z), with the
game and admin ports a room's Pod has.
"""

from __future__ import annotations

import asyncio
import random
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from gameroom_operator import names as n
from gameroom_operator.admin import RoomClient
from gameroom_operator.roomhttp import MAX_BODY, HttpClient, HttpError

TOKEN = "room-token"  # noqa: S105 - a test value

HEALTHY = {
    "status": "healthy",
    "checks": {"database": {"status": "ok"}, "websocket": {"status": "ok"}},
    "maintenance": False,
}
STATS = {"players": 4, "spectators": 1, "version": "0.2.0", "maintenance": {"enabled": False}}


def free_address() -> str:
    """A loopback address whose game and admin ports are free."""
    for _ in range(50):
        ip = f"127.{random.randint(100, 250)}.{random.randint(1, 250)}.{random.randint(2, 250)}"
        try:
            for port in (n.GAME_PORT, n.ADMIN_PORT):
                with socket.socket() as probe:
                    probe.bind((ip, port))
        except OSError:
            continue
        return ip
    raise RuntimeError("no free loopback address")


RawHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class Servers:
    """Real servers on one loopback address, stopped when the test ends."""

    def __init__(self) -> None:
        self.ip = free_address()
        self._runners: list[web.AppRunner] = []
        self._raw: list[asyncio.Server] = []
        self.connections = 0

    async def app(self, port: int, app: web.Application, keepalive: float = 75.0) -> None:
        runner = web.AppRunner(app, access_log=None, keepalive_timeout=keepalive)
        await runner.setup()
        await web.TCPSite(runner, self.ip, port).start()
        self._runners.append(runner)

    async def raw(self, port: int, handler: RawHandler) -> None:
        async def counted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            try:
                await handler(reader, writer)
            except (asyncio.IncompleteReadError, ConnectionError):
                pass  # the client closed its connection: what some tests want
            finally:
                writer.close()

        self._raw.append(await asyncio.start_server(counted, self.ip, port))

    def open_connections(self) -> int:
        """Connections the app servers hold open (their keep-alive closes idle ones)."""
        return sum(len(r.server.connections) for r in self._runners if r.server is not None)

    async def close(self) -> None:
        for server in self._raw:
            server.close()
        for runner in self._runners:
            await runner.cleanup()


@pytest.fixture
async def servers() -> AsyncIterator[Servers]:
    made = Servers()
    yield made
    await made.close()


@pytest.fixture
async def client() -> AsyncIterator[RoomClient]:
    made = RoomClient(timeout=5.0)
    yield made
    await made.close()


def room_app(health: dict[str, Any], code: int = 200) -> tuple[web.Application, web.Application]:
    async def api_health(request: web.Request) -> web.Response:
        return web.json_response(health, status=code)

    async def stats(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"error": "unauthorized"}, status=401)
        return web.json_response(STATS)

    game, admin = web.Application(), web.Application()
    game.router.add_get("/api/health", api_health)
    admin.router.add_get("/admin/stats", stats)
    return game, admin


async def serve_room(servers: Servers, health: dict[str, Any], code: int = 200) -> None:
    game, admin = room_app(health, code)
    await servers.app(n.GAME_PORT, game)
    await servers.app(n.ADMIN_PORT, admin)


async def read_request(reader: asyncio.StreamReader) -> bytes:
    return await reader.readuntil(b"\r\n\r\n")


async def test_probes_reuse_one_connection_per_port(servers: Servers, client: RoomClient) -> None:
    await serve_room(servers, HEALTHY)
    for _ in range(5):
        probe = await client.probe(servers.ip, TOKEN)
        assert probe.reachable and probe.health == "healthy"
        assert (probe.players, probe.spectators, probe.version) == (4, 1, "0.2.0")
        assert probe.health_body == HEALTHY
    assert client.connects == 2  # one to the game port, one to the admin port


async def test_an_unhealthy_room_answering_503_is_read(
    servers: Servers, client: RoomClient
) -> None:
    sick = {**HEALTHY, "status": "unhealthy", "checks": {"database": {"status": "fail"}}}
    await serve_room(servers, sick, code=503)
    probe = await client.probe(servers.ip, TOKEN)
    assert probe.reachable and probe.health == "unhealthy"
    assert probe.health_body == sick


async def test_a_wrong_token_says_so(servers: Servers, client: RoomClient) -> None:
    await serve_room(servers, HEALTHY)
    probe = await client.probe(servers.ip, "not-the-token")
    assert not probe.reachable
    assert probe.error == "/admin/stats answered 401 (the admin token does not match)"
    assert probe.health == "healthy"  # /api/health needs no token


async def test_a_hanging_health_endpoint_times_out_without_hiding_the_stats(
    servers: Servers, client: RoomClient
) -> None:
    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(30)

    await servers.raw(n.GAME_PORT, hang)
    _, admin = room_app(HEALTHY)
    await servers.app(n.ADMIN_PORT, admin)
    started = time.monotonic()
    probe = await client.probe(servers.ip, TOKEN, timeout=0.5)
    assert time.monotonic() - started < 10
    assert probe.reachable and probe.players == 4  # the admin API answered
    assert probe.health_body is None and probe.health_error == "timed out"


async def test_a_room_that_is_not_listening_is_a_connection_failure(
    client: RoomClient,
) -> None:
    probe = await client.probe(free_address(), TOKEN, timeout=2)
    assert not probe.reachable
    assert (probe.error, probe.health_error) == ("connection failed", "connection failed")


async def test_garbage_is_an_unreadable_answer(servers: Servers, client: RoomClient) -> None:
    async def garbage(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(5)

    await servers.raw(n.GAME_PORT, garbage)
    _, admin = room_app(HEALTHY)
    await servers.app(n.ADMIN_PORT, admin)
    probe = await client.probe(servers.ip, TOKEN, timeout=3)
    assert probe.health_body is None and probe.health_error == "unreadable answer"
    http = HttpClient()
    try:
        with pytest.raises(HttpError, match="not an HTTP/1.x answer"):
            await http.request("GET", servers.ip, n.GAME_PORT, "/api/health", 3)
    finally:
        await http.close()


async def test_chunked_and_close_delimited_bodies_are_read_whole(servers: Servers) -> None:
    async def chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            writer.write(b'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{"a":')
            await writer.drain()
            await asyncio.sleep(0.05)  # the rest arrives in another read
            writer.write(b"\r\n3;ext=1\r\n12}\r\n0\r\n\r\n")
            await writer.drain()

    async def until_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(b'HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{"b": ')
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(b"2}")
        await writer.drain()

    await servers.raw(n.GAME_PORT, chunked)
    await servers.raw(n.ADMIN_PORT, until_close)
    http = HttpClient()
    try:
        for _ in range(3):
            answer = await http.request("GET", servers.ip, n.GAME_PORT, "/", 5)
            assert (answer.status, answer.json()) == (200, {"a": 12})
            answer = await http.request("GET", servers.ip, n.ADMIN_PORT, "/", 5)
            assert (answer.status, answer.json()) == (200, {"b": 2})
        # The chunked connection was kept; each close-delimited answer needed its own.
        assert http.connects == 1 + 3
    finally:
        await http.close()


async def test_an_idle_connection_closed_by_the_room_is_replaced(servers: Servers) -> None:
    """A room closes a kept-alive connection at the moment the next request goes out: the
    request, never read, is sent again on a new connection."""

    async def one_answer_per_connection(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await read_request(reader)
        body = b'{"ok": true}'
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()
        await read_request(reader)  # the second request: closed unanswered

    await servers.raw(n.GAME_PORT, one_answer_per_connection)
    http = HttpClient()
    try:
        for _ in range(4):
            answer = await http.request("GET", servers.ip, n.GAME_PORT, "/", 5)
            assert answer.json() == {"ok": True}
        assert servers.connections == 4  # each later request was sent twice
    finally:
        await http.close()


async def test_a_room_closing_idle_connections_is_probed_on_new_ones(
    servers: Servers, client: RoomClient
) -> None:
    game, admin = room_app(HEALTHY)
    await servers.app(n.GAME_PORT, game, keepalive=0.1)
    await servers.app(n.ADMIN_PORT, admin, keepalive=0.1)
    for _ in range(3):
        assert (await client.probe(servers.ip, TOKEN)).reachable
        # The room's keep-alive (0.1 s) runs out: it closes both idle connections.
        await wait_until("the room closed its idle connections", servers.open_connections)
    assert client.connects == 6


async def wait_until(what: str, count: Callable[[], int], within: float = 10.0) -> None:
    """Poll until `count()` is 0, failing with `what` after `within` seconds."""
    deadline = time.monotonic() + within
    while count():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within:g} s: {what}")
        await asyncio.sleep(0.01)


async def test_an_oversized_answer_is_refused(servers: Servers) -> None:
    async def huge(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {MAX_BODY + 1}\r\n\r\n".encode())
        await writer.drain()
        await asyncio.sleep(5)

    await servers.raw(n.GAME_PORT, huge)
    http = HttpClient()
    try:
        with pytest.raises(HttpError, match="too long"):
            await http.request("GET", servers.ip, n.GAME_PORT, "/", 5)
    finally:
        await http.close()


async def test_maintenance_is_switched_with_a_json_put(
    servers: Servers, client: RoomClient
) -> None:
    seen: list[Any] = []

    async def maintenance(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({}, status=401)
        body = await request.json()
        seen.append(body)
        if body["message"] == "refuse":
            return web.json_response({"error": "read-only"}, status=500)
        return web.json_response({"maintenance": body})

    admin = web.Application()
    admin.router.add_put("/admin/maintenance", maintenance)
    await servers.app(n.ADMIN_PORT, admin)
    await client.set_maintenance(servers.ip, TOKEN, True, "back in 5 — ünïcode")
    assert seen == [{"enabled": True, "message": "back in 5 — ünïcode"}]
    with pytest.raises(RuntimeError, match="answered 500"):
        await client.set_maintenance(servers.ip, TOKEN, False, "refuse")
