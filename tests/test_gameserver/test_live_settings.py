"""PUT /admin/settings: the settings a running room takes without a restart (the operator's
spec.rollout.liveSettings). Rate limits apply at once, game settings from the next game;
the game being played keeps the rounds and draw time it started with."""

from __future__ import annotations

from typing import Any

import aiohttp

from gameserver.runner import RunningRoom

from .conftest import ADMIN_TOKEN, Client, Connect
from .test_flows import RoomFactory, play_turn

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def put(
    http: aiohttp.ClientSession, room: RunningRoom, body: Any
) -> tuple[int, dict[str, Any]]:
    async with http.put(room.admin_url + "/admin/settings", json=body, headers=AUTH) as resp:
        return resp.status, await resp.json()


async def get(http: aiohttp.ClientSession, room: RunningRoom) -> dict[str, Any]:
    async with http.get(room.admin_url + "/admin/settings", headers=AUTH) as resp:
        assert resp.status == 200
        body: dict[str, Any] = await resp.json()
        return body


async def test_game_settings_wait_for_the_next_game(
    room_factory: RoomFactory, connect: Connect, http: aiohttp.ClientSession
) -> None:
    room = await room_factory(game={"rounds": 1})
    ann = await connect(room, "Ann")
    bob = await connect(room, "Bob")
    await ann.send({"type": "start"})
    for client in (ann, bob):
        assert (await client.expect("game_started"))["rounds"] == 1
    clients = {c.id: c for c in (ann, bob)}
    await play_turn(clients)

    status, shown = await put(http, room, {"game": {"rounds": 3, "drawTimeSeconds": 60}})
    assert status == 200
    assert shown["game"]["rounds"] == 3 and shown["game"]["drawTimeSeconds"] == 60
    assert shown["pendingForNextGame"] is True
    assert shown["runningGame"] == {"rounds": 1, "drawTimeSeconds": 80}
    for client in (ann, bob):
        notice = await client.expect("announce")
        assert notice["text"] == "Next game: 3 rounds, 60 s to draw."
    assert (await get(http, room))["game"]["rounds"] == 3

    # The running game keeps its single round: the second turn is its last.
    second = await play_turn(clients)
    assert second in clients
    over = await ann.expect("game_over")
    assert over["reason"] == "finished"
    lobby = await bob.expect("lobby")
    assert lobby["settings"]["rounds"] == 3 and lobby["settings"]["drawTimeSeconds"] == 60
    after = await get(http, room)
    assert after["pendingForNextGame"] is False and after["runningGame"] is None

    await ann.send({"type": "start"})
    assert (await bob.expect("game_started"))["rounds"] == 3
    turn = await bob.expect("turn", lambda m: m["phase"] == "choosing")
    drawer: Client = clients[turn["drawerId"]]
    await drawer.expect("choose_word")
    await drawer.send({"type": "choose_word", "index": 0})
    drawing = await drawer.expect("turn", lambda m: m["phase"] == "drawing")
    assert drawing["endsAt"] - drawing["now"] == 60_000
    assert ann.close_code is None and bob.close_code is None  # nobody was disconnected


async def test_in_the_lobby_settings_apply_at_once(
    room: RunningRoom, connect: Connect, http: aiohttp.ClientSession
) -> None:
    ann = await connect(room, "Ann")
    status, shown = await put(http, room, {"game": {"rounds": 5}})
    assert status == 200 and shown["pendingForNextGame"] is False
    assert (await ann.expect("settings"))["settings"]["rounds"] == 5
    async with http.get(room.url + "api/room") as resp:
        assert (await resp.json())["settings"]["rounds"] == 5


async def test_rate_limits_apply_at_once_to_connected_players(
    room_factory: RoomFactory, connect: Connect, http: aiohttp.ClientSession
) -> None:
    room = await room_factory(rateLimits={"chatPerSecond": 0.01, "chatBurst": 100})
    ann = await connect(room, "Ann")
    await connect(room, "Bob")
    status, shown = await put(http, room, {"rateLimits": {"chatBurst": 2}})
    assert status == 200 and shown["rateLimits"]["chatBurst"] == 2
    assert shown["rateLimits"]["chatPerSecond"] == 0.01  # left out: kept
    for n in range(3):
        await ann.send({"type": "chat", "text": f"hello {n}"})
    refused = await ann.expect("error", lambda m: m["code"] == "rate_limited")
    assert "chat" in refused["message"]
    assert ann.close_code is None


async def test_bad_settings_name_the_field_and_change_nothing(
    room: RunningRoom, http: aiohttp.ClientSession
) -> None:
    before = await get(http, room)
    status, body = await put(http, room, {"game": {"rounds": 50, "hints": 2}})
    assert status == 400
    assert body["fields"] == ["game.rounds"] and "game.rounds" in body["error"]
    assert "between 1 and 10" in body["error"]
    status, body = await put(http, room, {"rateLimits": {"chatBurst": "many"}, "image": "x"})
    assert status == 400
    assert set(body["fields"]) == {"image", "rateLimits.chatBurst"}
    status, body = await put(http, room, {"game": ["rounds"]})
    assert status == 400 and body["fields"] == ["game"]
    status, body = await put(http, room, {})
    assert status == 400 and "game" in body["error"]
    assert await get(http, room) == before
    async with http.put(room.admin_url + "/admin/settings", json={"game": {"rounds": 2}}) as resp:
        assert resp.status == 401  # behind the admin token like the rest of /admin
