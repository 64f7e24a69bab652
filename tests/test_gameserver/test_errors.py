"""Every error frame and close code of the protocol, against a real server."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import aiohttp
import pytest

from gameserver.runner import RunningRoom
from gameserver.testing import draw_message

from .conftest import Client, Connect

RoomFactory = Callable[..., Awaitable[RunningRoom]]


async def error_for(client: Client, raw: str) -> dict:
    await client.ws.send_str(raw)
    return await client.expect("error")


async def still_works(client: Client) -> None:
    await client.send({"type": "ping", "t": 42})
    assert (await client.expect("pong"))["t"] == 42


@pytest.mark.parametrize(
    ("raw", "code", "mentions"),
    [
        ("{not json", "bad_json", "JSON"),
        ("[1, 2]", "bad_message", "object"),
        ('{"name": "x"}', "bad_message", "type"),
        ('{"type": "fly"}', "unknown_type", "fly"),
        ('{"type": "chat", "text": "hi"}', "not_joined", "join"),
        ('{"type": "join", "name": "   "}', "name_invalid", "1-24"),
        ('{"type": "join", "name": "' + "x" * 25 + '"}', "name_invalid", "1-24"),
        ('{"type": "join", "name": 7}', "bad_message", "name"),
        ('{"type": "join", "name": "Al", "protocol": 2}', "bad_message", "protocol"),
        ('{"type": "ping", "t": "soon"}', "bad_message", "'t'"),
    ],
)
async def test_invalid_messages_before_join_get_errors(
    room: RunningRoom, connect: Connect, raw: str, code: str, mentions: str
) -> None:
    client = await connect(room)
    err = await error_for(client, raw)
    assert err["code"] == code and mentions in err["message"]
    await still_works(client)
    await client.send({"type": "join", "name": "Fine"})
    assert (await client.expect("welcome"))["you"]["name"] == "Fine"


async def test_invalid_messages_after_join_change_nothing(
    room: RunningRoom, connect: Connect
) -> None:
    ann, bob = await connect(room, "Ann"), await connect(room, "Bob")
    cases = [
        ({"type": "join", "name": "Again"}, "already_joined"),
        ({"type": "chat", "text": ""}, "bad_message"),
        ({"type": "chat", "text": "x" * 201}, "bad_message"),
        ({"type": "chat"}, "bad_message"),
        (
            draw_message(1, [[1, 1]], width=5),
            "wrong_phase",
        ),
        (
            draw_message(1, [[1, 1]], tool="pen", width=5),
            "bad_message",
        ),
        (
            draw_message(1, [[1, 1]], color=99, width=5),
            "bad_message",
        ),
        (
            draw_message(1, [[1, 1]] * 257, width=5),
            "bad_message",
        ),
        (
            draw_message(-1, [[1, 1]], width=5),
            "bad_message",
        ),
        ({"type": "choose_word", "index": 0}, "wrong_phase"),
        ({"type": "settings", "settings": {"rounds": 0}}, "bad_message"),
        ({"type": "settings", "settings": {"colour": 1}}, "bad_message"),
        ({"type": "vote_kick", "target": "nobody"}, "bad_target"),
        ({"type": "undo"}, "wrong_phase"),
    ]
    for payload, code in cases:
        payload = {**payload, "ref": f"r-{code}"}
        await ann.send(payload)
        err = await ann.expect("error")
        assert (err["code"], err["ref"]) == (code, f"r-{code}"), payload
    await bob.send({"type": "settings", "settings": {"rounds": 2}})
    assert (await bob.expect("error"))["code"] == "not_host"
    assert room.server.room.settings.rounds == 3 and room.server.room.phase == "lobby"
    # nothing but errors reached anyone else: Ann's messages were all answered, so any
    # broadcast they caused was sent to Bob before the pong he waits for now
    await still_works(bob)
    assert [m["type"] for m in bob.seen] == ["welcome", "players", "error", "pong"]
    await still_works(ann)


async def test_non_drawer_messages_are_refused_during_a_turn(
    room: RunningRoom, connect: Connect
) -> None:
    ann, bob = await connect(room, "Ann"), await connect(room, "Bob")
    await ann.send({"type": "start"})
    turn = await bob.expect("turn")
    drawer, other = (ann, bob) if turn["drawerId"] == ann.id else (bob, ann)
    await other.send({"type": "choose_word", "index": 0})
    assert (await other.expect("error"))["code"] == "not_drawer"
    await drawer.send({"type": "choose_word", "index": 0})
    await other.expect("turn", lambda m: m["phase"] == "drawing")
    await other.send(draw_message(1, [[1, 1]], width=5))
    assert (await other.expect("error"))["code"] == "not_drawer"
    await other.send({"type": "clear"})
    assert (await other.expect("error"))["code"] == "not_drawer"
    # out-of-range values are clamped, not refused
    await drawer.send(draw_message(2, [[-50, 5000], [1600.04, 12.345]], width=400))
    echoed = await other.expect("draw")
    assert echoed["width"] == 40 and echoed["points"] == [[0, 900], [1600, 12.3]]


async def test_oversized_frame_closes_1009(room: RunningRoom, connect: Connect) -> None:
    client = await connect(room, "Ann")
    await client.ws.send_str(json.dumps({"type": "chat", "text": "x" * 17000}))
    assert await client.wait_closed() == 1009


async def test_binary_frame_closes_1003(room: RunningRoom, connect: Connect) -> None:
    client = await connect(room, "Ann")
    await client.ws.send_bytes(b"\x00\x01")
    assert await client.wait_closed() == 1003


async def test_chat_rate_limit_then_recovery(room: RunningRoom, connect: Connect) -> None:
    ann, bob = await connect(room, "Ann"), await connect(room, "Bob")
    for i in range(7):
        await ann.send({"type": "chat", "text": f"msg {i}", "ref": str(i)})
    err = await ann.expect("error")
    assert err["code"] == "rate_limited" and err["ref"] == "5"
    for i in range(5):
        assert (await bob.expect("chat"))["text"] == f"msg {i}"
    await asyncio.sleep(0.7)  # one token refills in 0.6 s
    await ann.send({"type": "chat", "text": "again"})
    assert (await bob.expect("chat"))["text"] == "again"
    assert not ann.closed.is_set()


async def test_draw_rate_limit_is_separate_from_chat(
    room_factory: RoomFactory, connect: Connect
) -> None:
    room = await room_factory(rateLimits={"drawPerSecond": 5, "drawBurst": 10})
    ann, bob = await connect(room, "Ann"), await connect(room, "Bob")
    await ann.send({"type": "start"})
    turn = await ann.expect("turn")
    drawer, other = (ann, bob) if turn["drawerId"] == ann.id else (bob, ann)
    await drawer.send({"type": "choose_word", "index": 0})
    await drawer.expect("turn", lambda m: m["phase"] == "drawing")
    for i in range(12):
        await drawer.send(draw_message(i, [[i, i]], width=5))
    assert (await drawer.expect("error"))["code"] == "rate_limited"
    await other.expect("draw", lambda m: m["stroke"] == 9)
    draws = [m for m in other.seen if m["type"] == "draw"]
    assert [d["stroke"] for d in draws] == list(range(10))
    await drawer.send({"type": "chat", "text": "chat still allowed"})
    own = await drawer.expect("chat")
    # the drawer knows the word, so its chat reaches only players who guessed it
    assert own["scope"] == "guessed" and own["text"] == "chat still allowed"


async def test_sustained_abuse_closes_1008(room_factory: RoomFactory, connect: Connect) -> None:
    room = await room_factory(rateLimits={"abuseSeconds": 2})
    client = await connect(room, "Spammer")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 8
    while not client.closed.is_set() and loop.time() < deadline:
        for _ in range(10):  # 100/s, far above 3 x 5/3 per second
            if client.ws.closed:
                break
            await client.ws.send_str('{"type": "chat", "text": "spam"}')
        await asyncio.sleep(0.1)
    assert await client.wait_closed() == 1008
    errors = [m for m in client.seen if m["type"] == "error"]
    assert errors and all(e["code"] == "rate_limited" for e in errors)


async def test_dead_connection_is_dropped_by_heartbeat(
    room_factory: RoomFactory, connect: Connect
) -> None:
    room = await room_factory(heartbeatSeconds=0.4)
    alive = await connect(room, "Alive")
    dead = await connect(room, "Dead", autoping=False)
    assert await dead.wait_closed(within=5) is not None
    players = await alive.expect("players", lambda m: any(not p["connected"] for p in m["players"]))
    assert [p["name"] for p in players["players"] if not p["connected"]] == ["Dead"]
    assert not alive.closed.is_set()


async def test_leave_frees_the_seat_and_closes_1000(room: RunningRoom, connect: Connect) -> None:
    ann, bob = await connect(room, "Ann"), await connect(room, "Bob")
    await ann.send({"type": "leave"})
    assert await ann.wait_closed() == 1000
    players = await bob.expect("players", lambda m: len(m["players"]) == 1)
    assert players["hostId"] == bob.id
    again = await connect(room)
    await again.send({"type": "join", "name": "Ann", "token": ann.you["token"]})
    assert (await again.expect("error"))["code"] == "bad_token"


async def test_name_taken_and_room_full(room_factory: RoomFactory, connect: Connect) -> None:
    room = await room_factory(game={"maxPlayers": 2})
    await connect(room, "Ann")
    client = await connect(room)
    await client.send({"type": "join", "name": "aNN"})
    assert (await client.expect("error"))["code"] == "name_taken"
    await connect(room, "Bob")
    await client.send({"type": "join", "name": "Cyd"})
    err = await client.expect("error")
    assert err["code"] == "room_full" and "spectator" in err["message"]
    await client.send({"type": "join", "name": "Cyd", "spectator": True})
    assert (await client.expect("welcome"))["you"]["spectator"] is True


async def test_static_client_and_security_headers(
    room_factory: RoomFactory, http: aiohttp.ClientSession, tmp_path
) -> None:
    static = tmp_path / "static"
    (static / "js").mkdir(parents=True)
    (static / "index.html").write_text("<!doctype html><title>room</title>")
    (static / "js" / "app.js").write_text("export const x = 1;")
    (tmp_path / "secret.txt").write_text("nope")
    room = await room_factory(static_dir=static)
    async with http.get(room.url) as resp:
        assert resp.status == 200 and "<title>room</title>" in await resp.text()
        csp = resp.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "object-src 'none'" in csp and "base-uri 'none'" in csp
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
    async with http.get(room.url + "static/js/app.js") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/javascript")
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
    async with http.get(room.url + "static/..%2Fsecret.txt") as resp:
        assert resp.status == 404
    async with http.get(room.url + "static/missing.js") as resp:
        assert resp.status == 404


async def test_a_server_bug_answers_internal_error_and_keeps_the_connection(
    room: RunningRoom, connect: Connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    ann = await connect(room, "Ann")

    def broken(*args: object) -> list:
        raise KeyError("a bug")

    monkeypatch.setattr(room.server.room, "handle", broken)
    await ann.send({"type": "chat", "text": "hello", "ref": "c1"})
    err = await ann.expect("error")
    assert (err["code"], err["ref"]) == ("internal_error", "c1") and "ignored" in err["message"]
    monkeypatch.undo()
    await still_works(ann)
    await ann.send({"type": "chat", "text": "hello again"})
    assert (await ann.expect("chat"))["text"] == "hello again"
