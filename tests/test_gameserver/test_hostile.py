"""Hostile input against a real server: every probe of issue 9 that did not hold once.

Each test drives a real room on loopback with real WebSocket clients and a real SQLite
file, and asserts what a player (or the room's admin) would notice.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import unicodedata
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from gameserver.runner import RunningRoom
from gameserver.testing import draw_message

from .conftest import ADMIN_TOKEN, Client, Connect

RoomFactory = Callable[..., Awaitable[RunningRoom]]
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def until(condition: Callable[[], bool], within: float = 10.0, what: str = "") -> None:
    """Poll `condition` until it holds; fail with `what` after `within` seconds."""
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110 (the server changes it on its own)
            await asyncio.sleep(0.01)
    assert condition(), what


@contextlib.asynccontextmanager
async def sessions_from(addresses: list[str]) -> AsyncIterator[list[aiohttp.ClientSession]]:
    """One HTTP session per local source address (Linux routes all of 127/8 to loopback)."""
    opened = [
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(addr, 0)))
        for addr in addresses
    ]
    try:
        yield opened
    finally:
        for session in opened:
            await session.close()


async def start_turn(room: RunningRoom, connect: Connect, *names: str) -> tuple[Client, ...]:
    """Players `names` joined, a game started and the drawer (the first) drawing."""
    clients = [await connect(room, name) for name in names]
    host = clients[0]
    await host.send({"type": "start"})
    await host.expect("choose_word")
    await host.send({"type": "choose_word", "index": 0})
    await host.expect("turn", lambda m: m["phase"] == "drawing")
    return tuple(clients)


# ------------------------------------------------------------- 1: slot exhaustion


async def test_sockets_that_never_join_cannot_lock_a_seated_player_out(
    room_factory: RoomFactory, connect: Connect
) -> None:
    # The room of the report: 2 seats, no spectators, default limits everywhere else.
    room = await room_factory(game={"maxPlayers": 2}, maxSpectators=0)
    ann = await connect(room, "Ann")
    token = ann.you["token"]
    await ann.close()
    await until(lambda: not room.server.room.members[ann.id].connected)
    # 70 sockets from 10 addresses open /ws and never join (7 each: under the per-address cap).
    addresses = [f"127.0.9.{i}" for i in range(1, 11)]
    async with sessions_from(addresses) as sessions:
        hogs = []
        for session in sessions:
            for _ in range(7):
                with contextlib.suppress(aiohttp.WSServerHandshakeError):
                    hogs.append(await session.ws_connect(room.url + "ws"))
        # Ann comes back with her token: she gets her seat, whatever the hogs hold.
        again = await connect(room, "Ann", token=token)
        assert again.you["id"] == ann.id and again.welcome["state"]["players"][0]["connected"]
        assert len(room.server.unjoined) <= room.server.config.max_unjoined
        for hog in hogs:
            await hog.close()


async def test_unjoined_sockets_are_closed_after_the_join_timeout(
    room_factory: RoomFactory, connect: Connect, http: aiohttp.ClientSession
) -> None:
    room = await room_factory(joinTimeoutSeconds=0.3)
    ann = await connect(room, "Ann")  # joins in time
    idle = await connect(room)  # opens /ws after Ann, never joins
    assert await idle.wait_closed() == 4008
    await until(lambda: not room.server.unjoined, what="the idle socket is forgotten")
    # Ann's socket is older than the idle one, and it stays: joining stopped its timer.
    assert not ann.closed.is_set()
    await ann.send({"type": "ping", "t": 1})
    assert (await ann.expect("pong"))["t"] == 1
    async with http.get(room.url + "api/health") as resp:
        assert (await resp.json())["checks"]["websocket"]["waitingToJoin"] == 0


async def test_unjoined_sockets_are_capped_per_address_and_in_total(
    room_factory: RoomFactory, connect: Connect
) -> None:
    room = await room_factory(maxUnjoined=6, maxUnjoinedPerAddress=3)
    async with sessions_from(["127.0.8.1", "127.0.8.2", "127.0.8.3"]) as (one, two, three):
        mine = [await one.ws_connect(room.url + "ws") for _ in range(3)]
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await one.ws_connect(room.url + "ws")
        assert refused.value.status == 429
        # Other addresses are not affected by the first one's cap.
        theirs = [await two.ws_connect(room.url + "ws") for _ in range(3)]
        assert len(room.server.unjoined) == 6
        # Past the total cap, the newcomer is let in and the address holding the most
        # waiting sockets (on a tie: the one waiting longest) loses its oldest socket,
        # closed with 1013 (try again later).
        newcomer = await three.ws_connect(room.url + "ws")
        evicted = await mine[0].receive(timeout=5)
        assert evicted.type == aiohttp.WSMsgType.CLOSE and evicted.data == 1013
        waiting = {conn.peer for conn in room.server.unjoined}
        assert len(room.server.unjoined) == 6 and waiting == {"127.0.8.1", "127.0.8.2", "127.0.8.3"}
        await newcomer.send_json({"type": "join", "name": "Cyd"})
        msg = await newcomer.receive_json(timeout=5)
        assert msg["type"] == "welcome" and msg["you"]["name"] == "Cyd"
        for ws in [*mine, *theirs, newcomer]:
            await ws.close()


# ------------------------------------------------------------- 2: lone surrogates


@pytest.mark.parametrize(
    "raw",
    [
        '{"type": "chat", "text": "hi \\udfff"}',
        '{"type": "settings", "settings": {"customWords": ["ok", "bad\\udfff"]}}',
        '{"type": "vote_kick", "target": "p\\ud800"}',
        '{"type": "ping", "t": 1, "extra": {"\\udfff": 1}}',
    ],
)
async def test_lone_surrogates_get_an_error_frame_and_change_nothing(
    room: RunningRoom, connect: Connect, http: aiohttp.ClientSession, raw: str
) -> None:
    ann, bob = await connect(room, "Ann"), await connect(room, "Bob")
    await ann.ws.send_str(raw)
    err = await ann.expect("error")
    assert err["code"] == "bad_message" and "surrogate" in err["message"]
    await ann.send({"type": "chat", "text": "still here"})
    assert (await bob.expect("chat"))["text"] == "still here"
    assert not [m for m in bob.seen if m.get("type") == "chat" and "hi" in m["text"]]
    assert room.server.room.settings.custom_words == ()
    room.server.store.flush()
    async with http.get(room.url + "api/health") as resp:
        body = await resp.json()
        assert resp.status == 200 and body["checks"]["database"]["status"] == "ok", body


async def test_a_lone_surrogate_in_a_join_name_is_refused(
    room: RunningRoom, connect: Connect
) -> None:
    client = await connect(room)
    await client.ws.send_str('{"type": "join", "name": "Ann\\udfff", "ref": "j1"}')
    err = await client.expect("error")
    assert err["code"] == "bad_message" and "'name'" in err["message"] and err["ref"] == "j1"
    await client.send({"type": "join", "name": "Ann"})
    assert (await client.expect("welcome"))["you"]["name"] == "Ann"


async def test_one_unwritable_event_does_not_cost_the_rest_of_its_batch(
    room_factory: RoomFactory, connect: Connect, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    db = tmp_path / "room.db"
    room = await room_factory(db=db)
    ann, bob = await start_turn(room, connect, "Ann", "Bob")
    await ann.send(draw_message(1, [[10, 10], [20, 20]]))
    await bob.expect("draw", lambda m: m["stroke"] == 1)
    server = room.server
    turn = server.room.turn_id
    stroke = {"type": "draw", "stroke": 2, "tool": "brush", "color": 3, "width": 4}
    # One batch: a stroke, a chat line no UTF-8 encoder takes, another stroke.
    server.store.submit(
        [
            ("stroke", turn, 2, {**stroke, "points": [[30, 30]]}),
            ("chat", 1.0, bob.id, "Bob", "poison \udfff", "all"),
            ("stroke", turn, 3, {**stroke, "stroke": 3, "points": [[40, 40]]}),
        ]
    )
    assert await asyncio.to_thread(server.store.flush)
    async with http.get(room.url + "api/health") as resp:
        body = await resp.json()
        assert resp.status == 200 and body["checks"]["database"]["eventsSkipped"] == 1
    token = ann.you["token"]
    await room.stop()
    again = await room_factory(db=db)
    back = await connect(again, "Ann", token=token)
    strokes = [op["stroke"] for op in back.welcome["state"]["canvas"]]
    assert strokes == [1, 2, 3]


# ------------------------------------------------------------- 3: huge numbers


async def test_numbers_too_large_for_a_float_are_rate_limited_errors_then_closed(
    room_factory: RoomFactory, connect: Connect
) -> None:
    room = await room_factory(
        rateLimits={"controlPerSecond": 2, "controlBurst": 2, "abuseFactor": 2, "abuseSeconds": 1}
    )
    ann = await connect(room, "Ann")
    huge = "9" * 400
    await ann.ws.send_str(f'{{"type": "ping", "t": {huge}, "ref": "big"}}')
    err = await ann.expect("error")
    assert err["code"] == "bad_message" and err["ref"] == "big" and "'t'" in err["message"]
    for _ in range(40):  # well past 2x the control rate, within any one second
        if ann.closed.is_set():
            break
        await ann.ws.send_str(f'{{"type": "ping", "t": {huge}}}')
    assert await ann.wait_closed() == 1008
    codes = [m["code"] for m in ann.seen if m["type"] == "error"]
    assert "rate_limited" in codes


async def test_huge_numbers_in_drawing_get_an_error_frame(
    room: RunningRoom, connect: Connect
) -> None:
    ann, bob = await start_turn(room, connect, "Ann", "Bob")
    huge = "1" + "0" * 400
    await ann.ws.send_str(
        f'{{"type": "draw", "stroke": 1, "tool": "brush", "color": 3, "width": {huge}, '
        f'"points": [[{huge}, 1]]}}'
    )
    assert (await ann.expect("error"))["code"] == "bad_message"
    await ann.ws.send_str(f'{{"type": "fill", "stroke": 2, "color": 3, "x": {huge}, "y": 1}}')
    assert (await ann.expect("error"))["code"] == "bad_message"
    await ann.send(draw_message(3, [[5, 5]]))
    assert (await bob.expect("draw"))["stroke"] == 3


async def test_any_failure_while_handling_a_message_takes_the_rate_limited_path(
    room_factory: RoomFactory, connect: Connect, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gameserver import protocol

    room = await room_factory(
        rateLimits={"controlPerSecond": 2, "controlBurst": 2, "abuseFactor": 2, "abuseSeconds": 1}
    )
    ann = await connect(room, "Ann")

    def broken(raw: str) -> None:
        raise OverflowError("a parser bug")

    monkeypatch.setattr(protocol, "parse_client_message", broken)
    await ann.send({"type": "ping", "t": 1})
    err = await ann.expect("error")
    assert err["code"] == "bad_message" and "could not read" in err["message"]
    for _ in range(40):  # well past 2x the control rate, within any one second
        if ann.closed.is_set():
            break
        await ann.send({"type": "ping", "t": 1})
    assert await ann.wait_closed() == 1008


# ------------------------------------------------------------- 6: rate limits per member


async def test_reconnecting_does_not_refill_the_chat_bucket(
    room_factory: RoomFactory, connect: Connect
) -> None:
    # One token every 100 s: nothing refills while the test runs.
    room = await room_factory(rateLimits={"chatPerSecond": 0.01, "chatBurst": 3})
    ann, bob = await connect(room, "Ann"), await connect(room, "Bob")
    for i in range(3):
        await ann.send({"type": "chat", "text": f"line {i}"})
        await bob.expect("chat", lambda m, i=i: m["text"] == f"line {i}")
    await ann.send({"type": "chat", "text": "one more"})
    assert (await ann.expect("error"))["code"] == "rate_limited"
    token = ann.you["token"]
    await ann.close()
    again = await connect(room, "Ann", token=token)
    await again.send({"type": "chat", "text": "after reconnect", "ref": "r"})
    err = await again.expect("error")
    assert err["code"] == "rate_limited" and err["ref"] == "r"
    await bob.send({"type": "ping", "t": 2})
    await bob.expect("pong")
    assert not [m for m in bob.seen if m.get("text") == "after reconnect"]


# ------------------------------------------------------------- 7: invisible and look-alike


CYRILLIC = str.maketrans("aceopxy", "асеорху")


def disguised(word: str) -> list[str]:
    """The word as a spectator might hide it from a filter."""
    first, rest = word[0], word[1:]
    return [
        f"{first}\u200b{rest}",  # zero-width space
        f"{first}\u2060{rest}\u200d",  # word joiner, zero-width joiner
        word.translate(CYRILLIC) if word.translate(CYRILLIC) != word else word.upper(),
        unicodedata.normalize("NFKC", word).translate(
            {ord(c): ord(c) - 0x61 + 0xFF41 for c in "abcdefghijklmnopqrstuvwxyz"}
        ),  # full-width letters
        ".".join(word),
        f"it is {word.upper()} !",
    ]


async def test_spectators_cannot_slip_the_word_past_the_filter(
    room_factory: RoomFactory, connect: Connect
) -> None:
    room = await room_factory(
        game={"customWords": ["pocket"], "customWordsOnly": True}, rateLimits={"chatBurst": 50}
    )
    ann, bob = await start_turn(room, connect, "Ann", "Bob")
    eve = await connect(room, "Eve", spectator=True)
    word = room.server.room.turn.word if room.server.room.turn else ""
    assert word == "pocket"
    for i, text in enumerate(disguised(word)):
        await eve.send({"type": "chat", "text": text, "ref": str(i)})
        heard = await ann.expect("chat", lambda m: m["from"] == eve.id)
        assert heard["scope"] == "guessed"
    await eve.send({"type": "chat", "text": "nice drawing"})
    await bob.expect("chat", lambda m: m["text"] == "nice drawing")
    leaked = [m for m in bob.seen if m.get("type") == "chat" and m["from"] == eve.id]
    assert [m["text"] for m in leaked] == ["nice drawing"]


async def test_chat_drops_bidi_overrides_zero_width_and_c1_controls(
    room: RunningRoom, connect: Connect
) -> None:
    ann, bob = await connect(room, "Ann"), await connect(room, "Bob")
    await ann.send(
        {"type": "chat", "text": "evil\u202egnp.exe \u2066x\u2069 a\u200bb \x85c\x9bd\x07"}
    )
    text = (await bob.expect("chat"))["text"]
    assert text == "evilgnp.exe x ab  cd"
    assert not [ch for ch in text if unicodedata.category(ch) in ("Cc", "Cf")]
    # Joiners inside emoji and words that need them stay.
    await ann.send({"type": "chat", "text": "👩\u200d🚀 می\u200cخواهم"})
    assert (await bob.expect("chat"))["text"] == "👩\u200d🚀 می\u200cخواهم"
    await ann.send({"type": "chat", "text": "\u200b\u202e\x01"})
    assert (await ann.expect("error"))["code"] == "bad_message"


@pytest.mark.parametrize("copy", ["Аnn", "A\u200dnn", "ＡＮＮ", "ann", "Ann\u200c"])
async def test_names_cannot_impersonate_a_player(
    room: RunningRoom, connect: Connect, copy: str
) -> None:
    await connect(room, "Ann")
    impostor = await connect(room)
    await impostor.send({"type": "join", "name": copy})
    err = await impostor.expect("error")
    assert err["code"] in ("name_taken", "name_invalid"), err


async def test_names_with_controls_or_bidi_overrides_are_refused(
    room: RunningRoom, connect: Connect
) -> None:
    client = await connect(room)
    for bad in ("Ann\u202e", "A\x9bnn", "\u2066Bob\u2069", "Cyd\u200b"):
        await client.send({"type": "join", "name": bad})
        assert (await client.expect("error"))["code"] == "name_invalid", bad


# ------------------------------------------------------------- 8: CSPRNG


async def test_ids_words_and_hints_cannot_be_predicted_from_the_rng_state(
    room: RunningRoom, connect: Connect
) -> None:
    server = room.server
    assert server.room.rng is server.rng
    # With a Mersenne Twister, anyone who rebuilds its state (624 outputs suffice) can
    # clone it and read off the next player id, offered words and hint letters.
    try:
        state = server.rng.getstate()
    except NotImplementedError:
        state = None
    predicted: str | None = None
    if state is not None:
        clone = random.Random()
        clone.setstate(state)
        predicted = f"p{clone.getrandbits(24):06x}"
    ann = await connect(room, "Ann")
    assert state is None and predicted is None, f"predicted {predicted}, got {ann.id}"
    assert isinstance(server.rng, random.SystemRandom)


# ------------------------------------------------------------- 9: origin and headers


async def test_websocket_from_another_origin_is_refused(
    room: RunningRoom, http: aiohttp.ClientSession
) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(room.url + "ws", origin="https://evil.example")
    assert refused.value.status == 403
    ok = await http.ws_connect(room.url + "ws", origin=room.url.rstrip("/"))
    await ok.send_json({"type": "join", "name": "Ann"})
    assert (await ok.receive_json(timeout=5))["type"] == "welcome"
    await ok.close()


async def test_allowed_origins_from_the_config_may_connect(
    room_factory: RoomFactory, http: aiohttp.ClientSession
) -> None:
    room = await room_factory(allowedOrigins=["https://play.example.com"])
    ws = await http.ws_connect(room.url + "ws", origin="https://play.example.com")
    await ws.close()
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect(room.url + "ws", origin="https://other.example.com")
    assert refused.value.status == 403


async def test_http_answers_leak_no_paths_or_versions_and_forbid_sniffing(
    room: RunningRoom, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    for path in ("api/health", "api/room", "api/leaderboard", "api/gallery", "metrics", "nope"):
        async with http.get(room.url + path) as resp:
            body = await resp.text()
            assert resp.headers.get("X-Content-Type-Options") == "nosniff", path
            assert "aiohttp" not in resp.headers.get("Server", "").lower(), path
            assert "Python" not in resp.headers.get("Server", ""), path
            assert str(tmp_path) not in body and "/tmp" not in body, path
    async with http.get(room.admin_url + "/admin/stats", headers=AUTH) as resp:
        assert "aiohttp" not in resp.headers.get("Server", "").lower()
    # A request too broken for any route is answered by aiohttp itself.
    reader, writer = await asyncio.open_connection("127.0.0.1", room.port)
    writer.write(b"GARBAGE\r\n\r\n")
    head = (await asyncio.wait_for(reader.read(1000), 5)).decode(errors="replace")
    writer.close()
    assert head.startswith("HTTP/1.0 400") and "aiohttp" not in head, head


# ------------------------------------------------------------- 14: offline seats


async def test_players_count_only_connected_players(
    room: RunningRoom, connect: Connect, http: aiohttp.ClientSession
) -> None:
    ann, bob = await connect(room, "Ann"), await connect(room, "Bob")
    await bob.close()
    await ann.expect("players", lambda m: [p["connected"] for p in m["players"]] == [True, False])
    async with http.get(room.admin_url + "/admin/stats", headers=AUTH) as resp:
        stats = await resp.json()
    assert (stats["players"], stats["seats"]) == (1, 2)
    async with http.get(room.url + "api/health") as resp:
        ws = (await resp.json())["checks"]["websocket"]
    assert (ws["players"], ws["seats"]) == (1, 2)


async def test_admin_text_with_a_lone_surrogate_or_controls(
    room: RunningRoom, connect: Connect, http: aiohttp.ClientSession
) -> None:
    ann = await connect(room, "Ann")
    headers = {**AUTH, "Content-Type": "application/json"}
    for path, body in (
        ("/admin/announce", '{"text": "back soon \\udfff"}'),
        ("/admin/maintenance", '{"enabled": true, "message": "\\ud800 brb"}'),
    ):
        async with http.request(
            "POST" if path.endswith("announce") else "PUT",
            room.admin_url + path,
            headers=headers,
            data=body,
        ) as resp:
            answer = await resp.json()
        assert resp.status == 400 and "surrogate" in answer["error"], (path, answer)
    assert room.server.maintenance_enabled is False
    async with http.post(
        room.admin_url + "/admin/announce",
        headers=AUTH,
        json={"text": "back\u202e soon\u200b", "level": "info"},
    ) as resp:
        assert resp.status == 200
    assert (await ann.expect("announce"))["text"] == "back soon"
