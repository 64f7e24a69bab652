"""Fixtures: real game servers on loopback and real WebSocket clients."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gameserver.runner import RunningRoom, start_room
from gameserver.settings import ServerSettings, parse_room_config

ADMIN_TOKEN = "test-admin-token-0123456789abcdef"

FAST_TIMING = {"chooseSeconds": 15, "turnEndSeconds": 0.05, "gameOverSeconds": 0.05}


def room_settings(db: Path, **config: Any) -> ServerSettings:
    data: dict[str, Any] = {"timing": dict(FAST_TIMING)}
    for key, value in config.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return ServerSettings(
        room_name="test-room",
        host="127.0.0.1",
        port=0,
        admin_port=0,
        db_path=db,
        admin_token=ADMIN_TOKEN,
        version="9.9.9-test",
        config=parse_room_config(data),
    )


class Client:
    """A real WebSocket client that keeps every message it receives."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.inbox: list[dict[str, Any]] = []
        self.seen: list[dict[str, Any]] = []
        self.raw: list[str] = []
        self.closed: asyncio.Event = asyncio.Event()
        self.close_code: int | None = None
        self.you: dict[str, Any] = {}
        self.welcome: dict[str, Any] = {}
        self._arrived = asyncio.Event()
        self._reader = asyncio.ensure_future(self._read())

    async def _read(self) -> None:
        try:
            async for msg in self.ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    self.raw.append(msg.data)
                    data = json.loads(msg.data)
                    self.inbox.append(data)
                    self.seen.append(data)
                    self._arrived.set()
        finally:
            self.close_code = self.ws.close_code
            self.closed.set()
            self._arrived.set()

    @property
    def id(self) -> str:
        return str(self.you["id"])

    async def send(self, payload: dict[str, Any]) -> None:
        await self.ws.send_str(json.dumps(payload))

    async def expect(
        self,
        kind: str,
        where: Callable[[dict[str, Any]], bool] | None = None,
        within: float = 5.0,
    ) -> dict[str, Any]:
        """Wait for the next message of `kind` (skipping others, which stay recorded)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            for index, msg in enumerate(self.inbox):
                if msg.get("type") == kind and (where is None or where(msg)):
                    del self.inbox[: index + 1]
                    return msg
            if self.closed.is_set():
                raise AssertionError(
                    f"connection closed ({self.close_code}) while waiting for {kind!r}; "
                    f"got {[m.get('type') for m in self.inbox]}"
                )
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(
                    f"no {kind!r} within {within}s; got {[m.get('type') for m in self.inbox]}"
                )
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)

    async def request(self, payload: dict[str, Any], kind: str, within: float = 5.0) -> dict:
        await self.send(payload)
        return await self.expect(kind, within=within)

    async def wait_closed(self, within: float = 10.0) -> int | None:
        await asyncio.wait_for(self.closed.wait(), within)
        return self.close_code

    async def close(self) -> None:
        await self.ws.close()
        self._reader.cancel()


Connect = Callable[..., Awaitable[Client]]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def room_factory(
    tmp_path: Path,
) -> AsyncIterator[Callable[..., Awaitable[RunningRoom]]]:
    rooms: list[RunningRoom] = []

    async def factory(
        db: Path | None = None, static_dir: Path | None = None, **config: Any
    ) -> RunningRoom:
        settings = room_settings(db or tmp_path / "room.db", **config)
        if static_dir is not None:
            room = await start_room(settings, static_dir=static_dir)
        else:
            room = await start_room(settings)
        rooms.append(room)
        return room

    yield factory
    for room in rooms:
        if not room.server.stopping:
            await room.stop()


@pytest.fixture
async def room(room_factory: Callable[..., Awaitable[RunningRoom]]) -> RunningRoom:
    return await room_factory()


@pytest.fixture
async def connect(http: aiohttp.ClientSession) -> AsyncIterator[Connect]:
    clients: list[Client] = []

    async def factory(
        room: RunningRoom,
        name: str | None = None,
        *,
        spectator: bool = False,
        token: str | None = None,
        **ws_options: Any,
    ) -> Client:
        ws = await http.ws_connect(room.url + "ws", **ws_options)
        client = Client(ws)
        clients.append(client)
        if name is not None:
            join: dict[str, Any] = {"type": "join", "name": name}
            if spectator:
                join["spectator"] = True
            if token:
                join["token"] = token
            await client.send(join)
            welcome = await client.expect("welcome")
            client.welcome = welcome
            client.you = welcome["you"]
        return client

    yield factory
    for client in clients:
        if not client.ws.closed:
            await client.close()
        client._reader.cancel()
