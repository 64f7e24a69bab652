"""Closing a room for good (it is being deleted): players are told and stop retrying."""

from __future__ import annotations

import aiohttp
import pytest

from gameserver.runner import RunningRoom

from .conftest import ADMIN_TOKEN, Connect

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def test_close_tells_everyone_closes_with_4010_and_lets_nobody_back(
    room: RunningRoom, connect: Connect, http: aiohttp.ClientSession
) -> None:
    ann = await connect(room, "Ann")
    bob = await connect(room, "Bob")
    watcher = await connect(room, "Watcher", spectator=True)
    lurker = await connect(room)  # opened the socket, has not joined yet
    async with http.post(
        room.admin_url + "/admin/close", headers=AUTH, json={"message": "Thanks for playing!"}
    ) as resp:
        assert resp.status == 200
        assert await resp.json() == {"closed": True, "disconnected": 4}
    for client in (ann, bob, watcher, lurker):
        said = await client.expect("room_closed")
        assert said == {"type": "room_closed", "message": "Thanks for playing!"}
        assert await client.wait_closed() == 4010

    # Nobody gets back in, not even a seated player with its token: 410 Gone.
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await connect(room, "Ann", token=ann.you["token"])
    assert refused.value.status == 410
    async with http.get(room.url + "api/room") as resp:
        assert resp.status == 410
        assert await resp.json() == {
            "error": "room closed",
            "closed": True,
            "message": "Thanks for playing!",
        }
    # Still ready and live: the Pod stays behind its Services until it goes (a final
    # backup reaches its admin port; players hear 410 from the room), nothing to restart.
    async with http.get(room.url + "readyz") as resp:
        assert resp.status == 200
    async with http.get(room.url + "livez") as resp:
        assert resp.status == 200
    async with http.get(room.admin_url + "/admin/backup", headers=AUTH) as resp:
        assert resp.status == 200 and b"CREATE TABLE" in await resp.read()

    # Closing again (the operator retrying) changes nothing and closes nothing.
    async with http.post(room.admin_url + "/admin/close", headers=AUTH) as resp:
        assert await resp.json() == {"closed": True, "disconnected": 0}
    async with http.get(room.url + "api/room") as resp:
        assert (await resp.json())["message"] == "Thanks for playing!"


async def test_close_without_a_message_says_the_room_is_closed(
    room: RunningRoom, connect: Connect, http: aiohttp.ClientSession
) -> None:
    ann = await connect(room, "Ann")
    async with http.post(room.admin_url + "/admin/close", headers=AUTH) as resp:
        assert resp.status == 200
    assert (await ann.expect("room_closed"))["message"] == "This room has been closed."
    assert await ann.wait_closed() == 4010


async def test_close_needs_the_token_and_a_sane_message(
    room: RunningRoom, connect: Connect, http: aiohttp.ClientSession
) -> None:
    ann = await connect(room, "Ann")
    async with http.post(room.admin_url + "/admin/close") as resp:
        assert resp.status == 401
    async with http.post(
        room.admin_url + "/admin/close", headers=AUTH, json={"message": "x" * 501}
    ) as resp:
        assert resp.status == 400
        assert "message" in (await resp.json())["error"]
    # Refused calls closed nothing: the room still plays.
    await ann.send({"type": "chat", "text": "still here"})
    assert (await ann.expect("chat"))["text"] == "still here"
    async with http.get(room.url + "api/room") as resp:
        assert resp.status == 200
