"""Property-based test: thousands of random and malformed messages against a real server.

The server must stay up, keep the connection open, and answer every message the protocol
parser rejects with exactly that error (echoing its `ref`); everything it sends must be a
well-formed protocol message.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gameserver import protocol as p
from gameserver.runner import RunningRoom, start_room

from .conftest import room_settings

SERVER_TYPES = {
    "welcome",
    "players",
    "settings",
    "game_started",
    "turn",
    "choose_word",
    "hint",
    "draw",
    "fill",
    "undo",
    "clear",
    "chat",
    "close_guess",
    "guessed",
    "turn_end",
    "game_over",
    "kick_vote",
    "announce",
    "maintenance",
    "reconnect",
    "error",
    "pong",
    "lobby",
}
CLIENT_TYPES = [
    "join",
    "settings",
    "start",
    "choose_word",
    "draw",
    "fill",
    "undo",
    "clear",
    "chat",
    "vote_kick",
    "ping",
    "nonsense",
    "",
]
FIELDS = [
    "name",
    "spectator",
    "token",
    "protocol",
    "settings",
    "index",
    "stroke",
    "tool",
    "color",
    "width",
    "points",
    "x",
    "y",
    "text",
    "target",
    "t",
]

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=30,
)
points = st.lists(
    st.lists(st.floats(-1e4, 1e4) | st.integers(-5, 2000), min_size=0, max_size=3), max_size=20
)
structured = st.fixed_dictionaries(
    {"type": st.sampled_from(CLIENT_TYPES)},
    optional={
        **{f: json_values for f in FIELDS},
        "points": points,
        "tool": st.sampled_from(["brush", "eraser", "pen", 3]),
        "color": st.integers(-2, 25),
        "width": st.integers(-5, 60) | st.floats(0, 100),
        "stroke": st.integers(-3, 40),
        "settings": st.dictionaries(
            st.sampled_from(
                [
                    "rounds",
                    "drawTimeSeconds",
                    "wordChoices",
                    "hints",
                    "maxPlayers",
                    "customWords",
                    "customWordsOnly",
                    "bogus",
                ]
            ),
            json_values,
            max_size=3,
        ),
    },
)
message = st.one_of(
    structured.map(lambda m: ("dict", m)),
    json_values.map(lambda v: ("raw", json.dumps(v))),
    st.text(max_size=100).map(lambda t: ("raw", t)),
)


class FuzzRig:
    def __init__(self, tmp: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.markers = itertools.count(1)
        self.refs = itertools.count(1)
        settings_ = room_settings(
            tmp / "fuzz.db",
            rateLimits={
                "chatPerSecond": 1e3,
                "chatBurst": 10_000,
                "drawPerSecond": 1e4,
                "drawBurst": 100_000,
                "controlPerSecond": 1e4,
                "controlBurst": 100_000,
            },
        )
        self.room: RunningRoom = self.loop.run_until_complete(start_room(settings_))
        self.session = aiohttp.ClientSession(loop=self.loop)  # type: ignore[call-arg]
        self.ws = self.loop.run_until_complete(self._join("Fuzzer"))
        self.peer = self.loop.run_until_complete(self._join("Peer"))

    async def _join(self, name: str) -> aiohttp.ClientWebSocketResponse:
        ws = await self.session.ws_connect(self.room.url + "ws")
        await ws.send_str(json.dumps({"type": "join", "name": name}))
        while True:
            msg = json.loads((await ws.receive()).data)
            if msg["type"] == "welcome":
                return ws

    async def exchange(self, batch: list[tuple[str, Any]]) -> tuple[list[dict], list[tuple]]:
        expected: list[tuple[str, str | None]] = []
        for kind, item in batch:
            if kind == "dict":
                item = {**item, "ref": f"f{next(self.refs)}"}
                raw = json.dumps(item)
            else:
                raw = item
            try:
                p.parse_client_message(raw)
            except p.ProtocolError as err:
                expected.append((err.code, err.ref))
            await self.ws.send_str(raw)
        marker = next(self.markers) + 0.5
        await self.ws.send_str(json.dumps({"type": "ping", "t": marker}))
        received: list[dict] = []
        async with asyncio.timeout(10):
            while True:
                msg = await self.ws.receive()
                assert msg.type == aiohttp.WSMsgType.TEXT, f"connection ended: {msg}"
                data = json.loads(msg.data)
                received.append(data)
                if data.get("type") == "pong" and data.get("t") == marker:
                    return received, expected

    def close(self) -> None:
        async def shutdown() -> None:
            await self.ws.close()
            await self.peer.close()
            await self.session.close()
            await self.room.stop()

        self.loop.run_until_complete(shutdown())
        self.loop.close()


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzRig]:
    rig = FuzzRig(tmp_path_factory.mktemp("fuzz"))
    yield rig
    rig.close()


@settings(max_examples=120, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(batch=st.lists(message, min_size=1, max_size=40))
def test_random_messages_get_errors_or_valid_effects(
    rig: FuzzRig, batch: list[tuple[str, Any]]
) -> None:
    received, expected = rig.loop.run_until_complete(rig.exchange(batch))
    for msg in received:
        assert msg.get("type") in SERVER_TYPES, msg
        if msg["type"] == "error":
            assert msg["code"] in p.ERROR_CODES and msg["message"]
            # a message the server failed on is a bug, even though it answered
            assert msg["code"] != "internal_error", (msg, batch)
    errors = [(m["code"], m.get("ref")) for m in received if m["type"] == "error"]
    # every message the parser rejects is answered with that error, in order
    remaining = iter(errors)
    for want in expected:
        assert any(got == want for got in remaining), (want, errors)
    assert not rig.ws.closed


def test_server_is_still_healthy_after_fuzzing(rig: FuzzRig) -> None:
    async def check() -> tuple[int, dict]:
        async with rig.session.get(rig.room.url + "api/health") as resp:
            return resp.status, await resp.json()

    status, body = rig.loop.run_until_complete(check())
    assert status == 200 and body["status"] in ("healthy", "degraded")
    assert body["checks"]["websocket"]["connections"] == 2
