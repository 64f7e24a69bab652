"""Game flows against a real server on loopback with real WebSocket clients."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import aiohttp

from gameserver.runner import RunningRoom
from gameserver.testing import draw_message

from .conftest import ADMIN_TOKEN, Client, Connect

RoomFactory = Callable[..., Awaitable[RunningRoom]]


async def play_turn(clients: dict[str, Client]) -> str:
    """Whoever draws picks the first word and draws; everyone else guesses it."""
    any_client = next(iter(clients.values()))
    turn = await any_client.expect("turn", lambda m: m["phase"] == "choosing")
    drawer = clients[turn["drawerId"]]
    offer = await drawer.expect("choose_word")
    await drawer.send({"type": "choose_word", "index": 0})
    drawing = await drawer.expect("turn", lambda m: m["phase"] == "drawing")
    word = drawing["word"]
    assert word == offer["words"][0]
    await drawer.send(draw_message(1, [[10, 10], [20, 25.55]], width=6))
    await drawer.expect("draw")  # the sender's own copy is its acknowledgement
    for client in clients.values():
        if client is not drawer:
            seen = await client.expect("turn", lambda m: m["phase"] == "drawing")
            assert "word" not in seen
            stroke = await client.expect("draw")
            assert stroke["points"] == [[10, 10], [20, 25.6]]
            await client.send({"type": "chat", "text": f"  {word.upper()} "})
            await client.expect("guessed", lambda m, c=client: m["playerId"] == c.id)
    end = await any_client.expect("turn_end")
    assert end["word"] == word and end["reason"] == "all_guessed"
    gained = {s["id"]: s["gained"] for s in end["scores"]}
    assert all(points > 0 for points in gained.values())
    return turn["drawerId"]


async def test_whole_game_with_three_players(
    room_factory: RoomFactory, connect: Connect, http: aiohttp.ClientSession
) -> None:
    room = await room_factory(game={"rounds": 1})
    ann = await connect(room, "Ann")
    bob = await connect(room, "Bob")
    cyd = await connect(room, "Cyd")
    assert ann.welcome["state"]["hostId"] == ann.id
    assert ann.welcome["protocol"] == 1 and len(ann.welcome["palette"]) >= 16
    await bob.send({"type": "start"})
    assert (await bob.expect("error"))["code"] == "not_host"
    await ann.send({"type": "settings", "settings": {"drawTimeSeconds": 45, "hints": 2}})
    assert (await cyd.expect("settings"))["settings"]["drawTimeSeconds"] == 45
    await ann.send({"type": "start"})
    for c in (ann, bob, cyd):
        assert (await c.expect("game_started"))["rounds"] == 1
    clients = {c.id: c for c in (ann, bob, cyd)}
    drawers = []
    for _ in range(3):
        drawers.append(await play_turn(clients))
    assert drawers == [ann.id, bob.id, cyd.id]
    over = await cyd.expect("game_over")
    assert over["reason"] == "finished"
    assert len(over["ranking"]) == 3 and over["ranking"][0]["place"] == 1
    assert all(r["score"] > 0 for r in over["ranking"])
    assert {e["name"] for e in over["leaderboard"]} == {"Ann", "Bob", "Cyd"}
    await ann.expect("lobby")
    async with http.get(room.url + "api/leaderboard") as resp:
        board = (await resp.json())["leaderboard"]
    assert {e["name"]: e["games"] for e in board} == {"Ann": 1, "Bob": 1, "Cyd": 1}
    await asyncio.to_thread(room.server.store.flush)
    async with http.get(room.url + "api/gallery") as resp:
        gallery = (await resp.json())["gallery"]
    assert len(gallery) == 3 and all(item["canvas"][0]["stroke"] == 1 for item in gallery)
    async with http.get(room.url + "metrics") as resp:
        metrics = await resp.text()
    assert "gameroom_correct_guesses_total 6.0" in metrics
    assert "gameroom_games_started_total 1.0" in metrics


SECRET_WORDS = ["Zebracorn", "Quokkafish", "Platypoodle"]


def mentions_a_secret(text: str) -> bool:
    return any(w.casefold() in text.casefold() for w in SECRET_WORDS)


def before_turn_end(client: Client) -> list[dict]:
    frames = []
    for msg in client.seen:
        if msg["type"] == "turn_end":
            return frames
        frames.append(msg)
    raise AssertionError("no turn_end")


async def test_the_word_reaches_nobody_but_the_drawer_until_turn_end(
    room_factory: RoomFactory, connect: Connect, http: aiohttp.ClientSession
) -> None:
    room = await room_factory(game={"customWords": SECRET_WORDS, "customWordsOnly": True})
    ann, bob, cyd = [await connect(room, n) for n in ("Ann", "Bob", "Cyd")]
    watcher = await connect(room, "Watcher", spectator=True)
    assert ann.welcome["state"]["settings"]["customWords"] == SECRET_WORDS  # the host's
    for other in (bob, cyd, watcher):
        settings = other.welcome["state"]["settings"]
        assert (settings["customWords"], settings["customWordsCount"]) == ([], 3)
    await ann.send({"type": "start"})
    offer = await ann.expect("choose_word")
    assert sorted(offer["words"]) == sorted(SECRET_WORDS)
    await ann.send({"type": "choose_word", "index": 0})
    word = offer["words"][0]
    assert (await ann.expect("turn", lambda m: m["phase"] == "drawing"))["word"] == word
    # everything that might carry the word: the drawer's chat, a spectator typing it,
    # a near miss, chat after guessing, hints, late joiners, every public HTTP endpoint
    await ann.send({"type": "chat", "text": f"come on, it is {word}"})
    await ann.expect("chat", lambda m: m["from"] == ann.id)
    await watcher.send({"type": "chat", "text": word.lower()})
    await watcher.expect("chat", lambda m: m["from"] == watcher.id)
    await bob.send({"type": "chat", "text": word[:-1]})
    assert (await bob.expect("close_guess"))["text"] == word[:-1]
    await bob.send({"type": "chat", "text": word})
    await cyd.expect("guessed", lambda m: m["playerId"] == bob.id)
    await bob.send({"type": "chat", "text": f"{word} was easy"})
    await ann.expect("chat", lambda m: m["from"] == bob.id and m["scope"] == "guessed")
    late = await connect(room, "Late")
    assert not mentions_a_secret(json.dumps(late.welcome))
    for path in ("api/room", "api/health", "api/leaderboard", "api/gallery", "metrics"):
        async with http.get(room.url + path) as resp:
            assert not mentions_a_secret(await resp.text()), path
    await cyd.send({"type": "chat", "text": word})
    await late.send({"type": "chat", "text": word})
    end = await watcher.expect("turn_end")
    assert (end["word"], end["reason"]) == (word, "all_guessed")
    # Until a player guesses the word nothing it receives holds it; then its own copy of
    # `guessed` does (and never anyone else's).
    for client in (cyd, late):
        frames = before_turn_end(client)
        mine = next(
            i for i, m in enumerate(frames) if m["type"] == "guessed" and m["playerId"] == client.id
        )
        assert frames[mine]["word"] == word
        assert not mentions_a_secret(json.dumps(frames[:mine] + frames[mine + 1 :]))
    # before guessing Bob saw nothing of the word; after it, his own `guessed` and his
    # own finished-player chat
    leaks = [m for m in before_turn_end(bob) if mentions_a_secret(json.dumps(m))]
    assert [(m["type"], m.get("playerId", m.get("from")), m.get("word")) for m in leaks] == [
        ("guessed", bob.id, word),
        ("chat", bob.id, None),
    ]
    assert leaks[1]["text"] == f"{word} was easy" and leaks[1]["scope"] == "guessed"
    # nobody's `guessed` ever carried the word to anyone but the guesser
    for client in (ann, bob, cyd, late, watcher):
        for m in client.seen:
            if m["type"] == "guessed" and m["playerId"] != client.id:
                assert "word" not in m, (client.you["name"], m)
    # the spectator saw only its own message (delivered to those who know, and to it)
    leaks = [m for m in before_turn_end(watcher) if mentions_a_secret(json.dumps(m))]
    assert [(m["type"], m["from"], m["scope"]) for m in leaks] == [("chat", watcher.id, "guessed")]
    # while those who knew the word heard everything
    heard = {m["text"] for m in before_turn_end(ann) if m["type"] == "chat"}
    assert {word.lower(), f"{word} was easy"} <= heard


async def test_late_joiner_gets_canvas_and_state_but_not_the_word(
    room: RunningRoom, connect: Connect
) -> None:
    ann, bob = await connect(room, "Ann"), await connect(room, "Bob")
    await ann.send({"type": "start"})
    drawer = ann if (await ann.expect("turn"))["drawerId"] == ann.id else bob
    await drawer.expect("choose_word")
    await drawer.send({"type": "choose_word", "index": 1})
    word = (await drawer.expect("turn", lambda m: m["phase"] == "drawing"))["word"]
    for stroke in range(1, 4):
        await drawer.send(draw_message(stroke, [[stroke, stroke]], color=stroke))
    await drawer.send({"type": "fill", "stroke": 9, "color": 7, "x": 800, "y": 450})
    await drawer.send({"type": "undo"})
    assert (await drawer.expect("undo"))["stroke"] == 9
    late = await connect(room, "Late")
    state = late.welcome["state"]
    assert state["phase"] == "drawing" and state["drawerId"] == drawer.id
    assert [op["stroke"] for op in state["canvas"]] == [1, 2, 3]
    assert "word" not in state and word not in json.dumps(late.welcome)
    assert state["hint"].count("_") == sum(ch.isalnum() for ch in word)
    spectator = await connect(room, "Watcher", spectator=True)
    assert [op["stroke"] for op in spectator.welcome["state"]["canvas"]] == [1, 2, 3]
    assert word not in json.dumps(spectator.welcome)


async def test_reconnect_with_token_resumes_seat_and_score(
    room: RunningRoom, connect: Connect
) -> None:
    ann, bob, cyd = [await connect(room, n) for n in ("Ann", "Bob", "Cyd")]
    await ann.send({"type": "start"})
    turn = await ann.expect("turn")
    assert turn["drawerId"] == ann.id  # the first to join draws first
    drawer, guesser = ann, bob
    await drawer.expect("choose_word")
    await drawer.send({"type": "choose_word", "index": 0})
    word = (await drawer.expect("turn", lambda m: m["phase"] == "drawing"))["word"]
    await guesser.send({"type": "chat", "text": word})
    points = (await cyd.expect("guessed"))["points"]
    assert points > 0
    await drawer.send(draw_message(5, [[100, 100]], color=4, width=9))
    await guesser.expect("draw")
    token, seat = guesser.you["token"], guesser.id
    assert len(token) == 32 and int(token, 16) >= 0
    await guesser.close()
    gone = await drawer.expect("players", lambda m: any(not p["connected"] for p in m["players"]))
    assert next(p for p in gone["players"] if p["id"] == seat)["connected"] is False
    back = await connect(room, "whatever", token=token)
    assert back.id == seat and back.you["name"] == guesser.you["name"]
    state = back.welcome["state"]
    assert state["canvas"][0]["stroke"] == 5
    me = next(p for p in state["players"] if p["id"] == seat)
    assert (me["score"], me["guessed"], me["connected"]) == (points, True, True)
    assert state["word"] == word  # a player who already guessed may know it
    bad = await connect(room)
    await bad.send({"type": "join", "name": "X", "token": "0" * 32})
    assert (await bad.expect("error"))["code"] == "bad_token"


async def test_vote_kick_closes_target_with_4001(room: RunningRoom, connect: Connect) -> None:
    clients = [await connect(room, n) for n in ("Ann", "Bob", "Cyd", "Dee")]
    ann, bob, cyd, dee = clients
    await ann.send({"type": "vote_kick", "target": dee.id})
    vote = await cyd.expect("kick_vote")
    assert vote == {"type": "kick_vote", "targetId": dee.id, "votes": 1, "needed": 2}
    await bob.send({"type": "vote_kick", "target": dee.id})
    assert await dee.wait_closed() == 4001
    players = await ann.expect("players", lambda m: len(m["players"]) == 3)
    assert dee.id not in {p["id"] for p in players["players"]}
    again = await connect(room)
    await again.send({"type": "join", "name": "Dee", "token": dee.you["token"]})
    assert (await again.expect("error"))["code"] == "bad_token"


async def test_spectator_watches_and_chats_but_cannot_play(
    room: RunningRoom, connect: Connect, http: aiohttp.ClientSession
) -> None:
    ann, bob = await connect(room, "Ann"), await connect(room, "Bob")
    watcher = await connect(room, "Watcher", spectator=True)
    assert watcher.you["spectator"] is True
    assert all(p["id"] != watcher.id for p in watcher.welcome["state"]["players"])
    async with http.get(room.url + "api/room") as resp:
        info = await resp.json()
    assert info["players"] == 2 and info["spectators"] == 1
    await watcher.send({"type": "start"})
    assert (await watcher.expect("error"))["code"] == "spectator"
    await watcher.send({"type": "vote_kick", "target": ann.id})
    assert (await watcher.expect("error"))["code"] == "spectator"
    await watcher.send({"type": "chat", "text": "go Ann!"})
    msg = await bob.expect("chat")
    assert (msg["from"], msg["text"], msg["scope"]) == (watcher.id, "go Ann!", "all")
    await ann.send({"type": "start"})
    await watcher.expect("turn")
    assert not any(m["type"] == "choose_word" for m in watcher.seen)


async def test_maintenance_blocks_new_joins_but_games_and_reconnects_continue(
    room: RunningRoom, connect: Connect, http: aiohttp.ClientSession
) -> None:
    ann, bob = await connect(room, "Ann"), await connect(room, "Bob")
    await ann.send({"type": "start"})
    await ann.expect("turn")
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with http.put(
        room.admin_url + "/admin/maintenance",
        headers=auth,
        json={"enabled": True, "message": "Upgrade at 18:00"},
    ) as resp:
        assert resp.status == 200
        assert await resp.json() == {"enabled": True, "message": "Upgrade at 18:00"}
    notice = await bob.expect("maintenance")
    assert notice["enabled"] is True and notice["message"] == "Upgrade at 18:00"
    newcomer = await connect(room)
    await newcomer.send({"type": "join", "name": "Newbie"})
    err = await newcomer.expect("error")
    assert err["code"] == "maintenance" and "Upgrade at 18:00" in err["message"]
    async with http.get(room.url + "api/health") as resp:
        health = await resp.json()
    assert resp.status == 200 and health["maintenance"] is True
    # the running game goes on, and a player who drops can come back
    await bob.close()
    back = await connect(room, "Bob", token=bob.you["token"])
    assert back.welcome["state"]["phase"] in ("choosing", "drawing")
    assert back.welcome["room"]["maintenance"]["enabled"] is True
    async with http.put(
        room.admin_url + "/admin/maintenance", headers=auth, json={"enabled": False}
    ) as resp:
        assert (await resp.json())["enabled"] is False
    await newcomer.send({"type": "join", "name": "Newbie"})
    assert (await newcomer.expect("welcome"))["you"]["name"] == "Newbie"


async def test_announce_drain_and_stats(
    room: RunningRoom, connect: Connect, http: aiohttp.ClientSession
) -> None:
    ann = await connect(room, "Ann")
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with http.post(
        room.admin_url + "/admin/announce",
        headers=auth,
        json={"text": "Welcome!", "level": "warning"},
    ) as resp:
        assert await resp.json() == {"delivered": 1}
    assert await ann.expect("announce") == {
        "type": "announce",
        "text": "Welcome!",
        "level": "warning",
    }
    async with http.get(room.admin_url + "/admin/stats", headers=auth) as resp:
        stats = await resp.json()
    assert stats["room"] == "test-room" and stats["players"] == 1 and stats["game"] is None
    assert stats["connections"] == 1 and stats["version"] == "9.9.9-test"
    await connect(room, "Bob")
    async with http.post(room.admin_url + "/admin/drain", headers=auth, json={}) as resp:
        assert await resp.json() == {"draining": True, "phase": "lobby", "players": 2}
    async with http.get(room.url + "readyz") as resp:
        assert resp.status == 503
    late = await connect(room)
    await late.send({"type": "join", "name": "Late"})
    assert (await late.expect("error"))["code"] == "draining"
    await ann.send({"type": "start"})
    assert (await ann.expect("error"))["code"] == "draining"
    async with http.delete(room.admin_url + "/admin/drain", headers=auth) as resp:
        assert (await resp.json())["draining"] is False
    async with http.get(room.url + "readyz") as resp:
        assert resp.status == 200


async def test_admin_api_requires_the_bearer_token(
    room: RunningRoom, http: aiohttp.ClientSession
) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": ADMIN_TOKEN}):
        async with http.get(room.admin_url + "/admin/stats", headers=headers) as resp:
            assert resp.status == 401
            assert "token" in (await resp.json())["error"]
        async with http.put(
            room.admin_url + "/admin/maintenance", headers=headers, json={"enabled": True}
        ) as resp:
            assert resp.status == 401
    assert room.server.maintenance_enabled is False
    # the admin API is not served on the public port
    async with http.get(
        room.url + "admin/stats", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
    ) as resp:
        assert resp.status == 404


async def test_http_surfaces(
    room: RunningRoom, connect: Connect, http: aiohttp.ClientSession
) -> None:
    await connect(room, "Ann")
    async with http.get(room.url + "api/health") as resp:
        health = await resp.json()
    assert resp.status == 200 and health["status"] == "healthy"
    assert health["checks"]["database"]["status"] == "ok"
    assert health["checks"]["database"]["latencyMs"] >= 0
    assert health["checks"]["websocket"]["connections"] == 1
    assert health["checks"]["storage"]["freeBytes"] > 0
    for key in (
        "messagesInPerSecond",
        "messagesOutPerSecond",
        "broadcastP50Ms",
        "broadcastP95Ms",
        "eventLoopLagMs",
    ):
        assert key in health["performance"]
    assert health["version"] == "9.9.9-test" and health["maintenance"] is False
    async with http.get(room.url + "livez") as resp:
        assert resp.status == 200
    async with http.get(room.url + "readyz?verbose") as resp:
        assert resp.status == 200 and "[+]database ok" in await resp.text()
    async with http.get(room.url + "metrics") as resp:
        text = await resp.text()
    assert (
        "gameroom_connections 1.0" in text
        and 'gameroom_messages_received_total{type="join"}' in text
    )
    async with http.get(room.url + "api/room") as resp:
        info = await resp.json()
    assert info["name"] == "test-room" and info["phase"] == "lobby" and info["protocol"] == 1
    assert info["maintenance"] == {"enabled": False, "message": ""}


async def test_database_failure_makes_health_unhealthy(
    room: RunningRoom, http: aiohttp.ClientSession
) -> None:
    await asyncio.to_thread(room.server.store.close)
    async with http.get(room.url + "api/health") as resp:
        body = await resp.json()
    assert resp.status == 503 and body["status"] == "unhealthy"
    assert body["checks"]["database"]["status"] == "fail"
    async with http.get(room.url + "livez") as resp:
        assert resp.status == 200  # liveness never depends on the database
    async with http.get(room.url + "readyz") as resp:
        assert resp.status == 503


async def test_players_broadcast_counts_the_spectators_as_they_come_and_go(
    room: RunningRoom, connect: Connect
) -> None:
    ann, bob = await connect(room, "Ann"), await connect(room, "Bob")
    assert (await ann.expect("players", lambda m: len(m["players"]) == 2))["spectators"] == 0
    watchers = [await connect(room, f"Watcher{i}", spectator=True) for i in range(3)]
    await ann.expect("players", lambda m: m["spectators"] == 3)
    await watchers[2].expect("players", lambda m: m["spectators"] == 3)
    await watchers[0].send({"type": "leave"})
    await watchers[1].close()  # a dropped connection counts as gone at once
    await bob.expect("players", lambda m: m["spectators"] == 1)
    # seated players are not counted as spectators, nor listed with them
    last = await ann.expect("players", lambda m: m["spectators"] == 1)
    assert [p["name"] for p in last["players"]] == ["Ann", "Bob"]
