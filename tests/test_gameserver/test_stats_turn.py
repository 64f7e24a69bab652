"""/admin/stats tells the operator whether a turn is being drawn and when it ends (the
WaitForIdle rollouts of operator/README.md hold an update until then)."""

from __future__ import annotations

from typing import Any

import aiohttp

from gameserver.runner import RunningRoom

from .conftest import ADMIN_TOKEN, Connect

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def stats(http: aiohttp.ClientSession, room: RunningRoom) -> dict[str, Any]:
    async with http.get(room.admin_url + "/admin/stats", headers=AUTH) as resp:
        assert resp.status == 200
        body: dict[str, Any] = await resp.json()
        return body


async def test_stats_say_when_the_turn_being_drawn_ends(
    room: RunningRoom, connect: Connect, http: aiohttp.ClientSession
) -> None:
    ann = await connect(room, "Ann")
    bob = await connect(room, "Bob")
    lobby = await stats(http, room)
    assert lobby["phase"] == "lobby" and lobby["turnEndsInSeconds"] is None
    await ann.send({"type": "start"})
    turn = await ann.expect("turn", lambda m: m["phase"] == "choosing")
    drawer = ann if turn["drawerId"] == ann.id else bob
    await drawer.expect("choose_word")
    choosing = await stats(http, room)
    assert choosing["phase"] == "choosing" and choosing["turnEndsInSeconds"] is None
    await drawer.send({"type": "choose_word", "index": 0})
    await drawer.expect("turn", lambda m: m["phase"] == "drawing")
    drawing = await stats(http, room)
    assert drawing["phase"] == "drawing" and drawing["connectedPlayers"] == 2
    draw_time = room.server.room.settings.draw_time_seconds
    assert 0 < drawing["turnEndsInSeconds"] <= draw_time
