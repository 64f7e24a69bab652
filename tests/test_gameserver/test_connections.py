"""Connection handling: slow clients are dropped, sessions move to the newest connection."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct
from collections.abc import Awaitable, Callable

import aiohttp
import pytest

from gameserver import server as server_module
from gameserver.runner import RunningRoom
from gameserver.testing import draw_message

from .conftest import Connect

RoomFactory = Callable[..., Awaitable[RunningRoom]]


def masked_text_frame(text: str) -> bytes:
    payload = text.encode()
    mask = os.urandom(4)
    n = len(payload)
    header = bytes((0x81, 0x80 | n)) if n < 126 else struct.pack("!BBH", 0x81, 0x80 | 126, n)
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


async def stalled_client(room: RunningRoom, name: str) -> socket.socket:
    """A real WebSocket peer that joins and then never reads again."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, ("127.0.0.1", room.port))
    key = base64.b64encode(os.urandom(16)).decode()
    request = (
        f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{room.port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    await loop.sock_sendall(sock, request.encode())
    response = b""
    while b"\r\n\r\n" not in response:
        response += await loop.sock_recv(sock, 1024)
    assert response.startswith(b"HTTP/1.1 101")
    await loop.sock_sendall(sock, masked_text_frame(json.dumps({"type": "join", "name": name})))
    return sock


async def test_client_that_stops_reading_is_dropped_not_buffered(
    room_factory: RoomFactory, connect: Connect
) -> None:
    room = await room_factory(rateLimits={"drawPerSecond": 10_000, "drawBurst": 100_000})
    ann, bob = await connect(room, "Ann"), await connect(room, "Bob")
    stalled = await stalled_client(room, "Stuck")
    try:
        await ann.expect("players", lambda m: len(m["players"]) == 3)
        await ann.send({"type": "start"})
        turn = await ann.expect("turn")
        drawer = ann if turn["drawerId"] == ann.id else bob
        watcher = bob if drawer is ann else ann
        await drawer.expect("choose_word")
        await drawer.send({"type": "choose_word", "index": 0})
        await drawer.expect("turn", lambda m: m["phase"] == "drawing")
        batch = [[x % 1600 + 0.5, x % 900 + 0.5] for x in range(256)]
        server = room.server
        for stroke in range(4000):
            await drawer.send(draw_message(stroke % 300, batch))
            if stroke % 50 == 49:
                await drawer.send({"type": "clear"})  # stay under the canvas cap
                # Pace the flood to a client that does read: the test process runs the
                # server and every client on one loop, so on a busy machine an unpaced
                # flood could starve the watcher's reader until it looks stalled too.
                await watcher.expect("clear", within=10)
            if server.metrics.slow_dropped:
                break
        # the stuck peer is gone; everyone who reads keeps playing
        stuck = await watcher.expect(
            "players",
            lambda m: any(p["name"] == "Stuck" and not p["connected"] for p in m["players"]),
            within=10,
        )
        assert stuck["players"] and server.metrics.slow_dropped == 1
        assert not watcher.closed.is_set() and not drawer.closed.is_set()
        assert all(
            c.transport is None or c.transport.get_write_buffer_size() < (2 << 20)
            for c in server.sockets
        )
    finally:
        stalled.close()


async def test_same_session_on_a_new_connection_moves_the_seat(
    room: RunningRoom, connect: Connect
) -> None:
    ann = await connect(room, "Ann")
    bob = await connect(room, "Bob")
    tab2 = await connect(room, "Ann", token=ann.you["token"])
    assert tab2.id == ann.id
    assert await ann.wait_closed() == 4002
    await bob.send({"type": "chat", "text": "hello"})
    assert (await tab2.expect("chat"))["text"] == "hello"
    players = room.server.room.players()
    assert [(p.name, p.connected) for p in players] == [("Ann", True), ("Bob", True)]


async def test_a_broadcast_is_serialized_once_and_every_socket_gets_the_same_bytes(
    room: RunningRoom, connect: Connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    clients = [await connect(room, n) for n in ("Ann", "Bob", "Cyd")]
    watcher = await connect(room, "Watcher", spectator=True)
    ann = clients[0]
    await ann.send({"type": "start"})
    await ann.expect("choose_word")  # the first to join draws first
    await ann.send({"type": "choose_word", "index": 0})
    await ann.expect("turn", lambda m: m["phase"] == "drawing")
    server = room.server
    encoded: list[dict] = []
    real_frame = server._frame

    def counting_frame(payload: dict) -> bytes:
        encoded.append(payload)
        return real_frame(payload)

    monkeypatch.setattr(server, "_frame", counting_frame)
    stroke = {"type": "draw", "stroke": 3, "tool": "brush", "color": 2, "width": 7}
    await ann.send({**stroke, "points": [[1.25, 2], [3, 4.75]]})
    for client in (*clients, watcher):
        await client.expect("draw")
    assert [p["type"] for p in encoded] == ["draw"]  # one encoding for five sockets
    frames = {next(r for r in c.raw if '"draw"' in r) for c in (*clients, watcher)}
    assert len(frames) == 1
    assert json.loads(frames.pop()) == {**stroke, "points": [[1.2, 2], [3, 4.8]]}


async def read_frames(sock: socket.socket, want: Callable[[list[dict]], bool]) -> list[dict]:
    """Read server text frames from a raw socket until `want(messages)` holds."""
    loop = asyncio.get_running_loop()
    buffer = b""
    messages: list[dict] = []
    async with asyncio.timeout(20):
        while not want(messages):
            chunk = await loop.sock_recv(sock, 1 << 16)
            assert chunk, f"the server closed the connection after {len(messages)} messages"
            buffer += chunk
            while len(buffer) >= 2:
                opcode, n, start = buffer[0] & 0x0F, buffer[1] & 0x7F, 2
                if n == 126:
                    (n,), start = struct.unpack("!H", buffer[2:4]), 4
                elif n == 127:
                    (n,), start = struct.unpack("!Q", buffer[2:10]), 10
                if len(buffer) < start + n:
                    break
                if opcode == 1:
                    messages.append(json.loads(buffer[start : start + n]))
                buffer = buffer[start + n :]
    return messages


async def test_late_joiner_taking_in_a_big_canvas_is_not_dropped_as_slow(
    room_factory: RoomFactory, connect: Connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A welcome that replays a big canvas is larger than the slow-client limit: the
    # joiner needs time to read it, and a broadcast meanwhile must not drop it.
    monkeypatch.setattr(server_module, "SEND_BUFFER_LIMIT", 64 * 1024)
    room = await room_factory(rateLimits={"drawPerSecond": 10_000, "drawBurst": 100_000})
    ann, bob = await connect(room, "Ann"), await connect(room, "Bob")
    await ann.send({"type": "start"})
    await ann.expect("choose_word")
    await ann.send({"type": "choose_word", "index": 0})
    await ann.expect("turn", lambda m: m["phase"] == "drawing")
    batch = [[1000 + (i % 599) + 0.5, 100 + (i % 799) + 0.5] for i in range(256)]
    for stroke in range(160):  # about 40,000 points, a welcome of about 600 kB
        await ann.send(draw_message(stroke, batch))
    await bob.expect("draw", lambda m: m["stroke"] == 159, within=20)
    late = await stalled_client(room, "Late")  # joins, then does not read for a while
    try:
        await bob.expect("players", lambda m: any(p["name"] == "Late" for p in m["players"]))
        await ann.send(draw_message(500, [[1, 1]], color=4))
        await bob.expect("draw", lambda m: m["stroke"] == 500)
        got = await read_frames(
            late, lambda ms: any(m["type"] == "draw" and m["stroke"] == 500 for m in ms)
        )
        welcome = next(m for m in got if m["type"] == "welcome")
        assert len(welcome["state"]["canvas"]) == 160
        assert room.server.metrics.slow_dropped == 0
    finally:
        late.close()


async def test_open_connections_are_bounded(
    room_factory: RoomFactory, connect: Connect, http: aiohttp.ClientSession
) -> None:
    room = await room_factory(
        game={"maxPlayers": 2}, maxSpectators=0, maxUnjoined=4, maxUnjoinedPerAddress=4
    )
    limit = room.server.connection_limit()
    assert limit == 2 + 0 + 4
    waiting = [await connect(room) for _ in range(4)]
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(room.url + "ws")
    assert refused.value.status == 429
    assert len(room.server.sockets) <= limit
    await waiting[0].close()
    await waiting[0].wait_closed()
    async with asyncio.timeout(5):
        while len(room.server.unjoined) >= 4:  # noqa: ASYNC110 (the server notices)
            await asyncio.sleep(0.01)
    again = await connect(room, "Ann")  # a freed place can be used again
    assert again.you["name"] == "Ann"
