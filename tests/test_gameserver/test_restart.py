"""A real `python -m gameserver serve` process stopped with SIGTERM mid-game and started
again on the same database: players resume with their scores and the canvas."""

from __future__ import annotations

import asyncio
import json
import signal
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from gameserver.testing import ServerProcess, draw_message

from .conftest import Client

CONFIG = {
    "roomName": "restart-room",
    "game": {"rounds": 2, "drawTimeSeconds": 120},
    "timing": {"turnEndSeconds": 0.05, "gameOverSeconds": 0.05},
}


async def start_process(tmp: Path, db: Path) -> ServerProcess:
    # GAMESERVER_PORT is set to prove the --port flag (0: any free port) wins over it.
    server = ServerProcess(
        tmp / "server", CONFIG, admin_token="t0ken-for-tests", env={"GAMESERVER_PORT": "1"}, db=db
    )
    await asyncio.to_thread(server.start, 20)
    assert server.room_name == "restart-room" and server.port not in (0, 1)
    return server


async def stop_process(server: ServerProcess) -> tuple[int, str]:
    """SIGTERM and wait: the exit code and what this run logged."""
    code = await asyncio.to_thread(server.stop, signal.SIGTERM, 20)
    return code or 0, server.run_log()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def join(
    session: aiohttp.ClientSession, url: str, name: str, token: str | None = None
) -> Client:
    client = Client(await session.ws_connect(url + "/ws"))
    msg = {"type": "join", "name": name} | ({"token": token} if token else {})
    await client.send(msg)
    client.welcome = await client.expect("welcome")
    client.you = client.welcome["you"]
    return client


async def test_sigterm_mid_game_then_restart_resumes_scores_and_canvas(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    db = tmp_path / "data" / "room.db"
    first = await start_process(tmp_path, db)
    try:
        ann = await join(session, first.url, "Ann")
        bob = await join(session, first.url, "Bob")
        cyd = await join(session, first.url, "Cyd")
        await ann.send({"type": "start"})
        await ann.expect("choose_word")
        await ann.send({"type": "choose_word", "index": 0})
        word = (await ann.expect("turn", lambda m: m["phase"] == "drawing"))["word"]
        for stroke in range(1, 4):
            await ann.send(
                draw_message(
                    stroke, [[stroke * 10, stroke * 10], [stroke * 20, 5]], color=stroke, width=6
                )
            )
        await ann.send(draw_message(1, [[99, 99]], color=1, width=6))
        await bob.send({"type": "chat", "text": word})
        await cyd.expect("draw", lambda m: m["stroke"] == 1 and m["points"] == [[99, 99]])
        guessed = await cyd.expect("guessed")
        bob_points = guessed["points"]
        assert bob_points > 0
    except BaseException:
        await asyncio.to_thread(first.kill)
        raise

    code, stderr = await stop_process(first)
    assert code == 0, stderr
    for client in (ann, bob, cyd):
        notice = await client.expect("reconnect")
        assert notice["reason"] == "restart" and notice["retryAfterMs"] > 0
        assert await client.wait_closed() == 1012
    logged = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert any(entry.get("event") == "room_stopped" for entry in logged)
    for client in (ann, bob, cyd):
        assert client.you["token"] not in stderr  # tokens are never logged

    second = await start_process(tmp_path, db)
    try:
        bob2 = await join(session, second.url, "Bob", bob.you["token"])
        ann2 = await join(session, second.url, "Ann", ann.you["token"])
        assert (bob2.id, ann2.id) == (bob.id, ann.id)
        state = bob2.welcome["state"]
        assert state["phase"] == "drawing" and state["drawerId"] == ann.id
        scores = {p["id"]: p["score"] for p in state["players"]}
        assert scores[bob.id] == bob_points
        assert [op["stroke"] for op in state["canvas"]] == [1, 2, 3]
        assert state["canvas"][0]["points"] == [[10, 10], [20, 5], [99, 99]]
        assert state["word"] == word  # Bob guessed it before the restart
        assert ann2.welcome["state"]["word"] == word
        # the turn goes on: the drawer keeps drawing and the last guesser can still guess
        cyd2 = await join(session, second.url, "Cyd", cyd.you["token"])
        assert "word" not in cyd2.welcome["state"] and word not in json.dumps(cyd2.welcome)
        await ann2.send(draw_message(4, [[1, 1]], color=2))
        assert (await cyd2.expect("draw"))["stroke"] == 4
        await cyd2.send({"type": "chat", "text": word})
        end = await bob2.expect("turn_end")
        assert end["reason"] == "all_guessed"
        total = {s["id"]: s["total"] for s in end["scores"]}
        assert total[bob.id] == bob_points
        assert total[ann.id] > 0 and total[cyd.id] > 0
    finally:
        code, stderr = await stop_process(second)
    assert code == 0, stderr


async def wait_for_rows(db: Path, query: str, want: int, within: float) -> None:
    def count() -> int:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            return int(conn.execute(query).fetchone()[0])
        except sqlite3.OperationalError:
            return -1
        finally:
            conn.close()

    async with asyncio.timeout(within):
        while await asyncio.to_thread(count) < want:  # noqa: ASYNC110 (another process)
            await asyncio.sleep(0.05)


async def test_hard_kill_loses_at_most_the_last_moments(
    tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    db = tmp_path / "room.db"
    first = await start_process(tmp_path, db)
    try:
        ann = await join(session, first.url, "Ann")
        bob = await join(session, first.url, "Bob")
        await ann.send({"type": "start"})
        await ann.expect("choose_word")
        await ann.send({"type": "choose_word", "index": 0})
        await ann.expect("turn", lambda m: m["phase"] == "drawing")
        for stroke in range(1, 21):
            await ann.send(draw_message(stroke, [[stroke, stroke]]))
        await bob.expect("draw", lambda m: m["stroke"] == 20)
        # the writer commits every 100 ms without being asked: wait until it has
        await wait_for_rows(db, "SELECT count(*) FROM strokes", 20, within=3)
    finally:
        await asyncio.to_thread(first.kill)  # SIGKILL: no flush, no goodbye
    second = await start_process(tmp_path, db)
    try:
        back = await join(session, second.url, "Bob", bob.you["token"])
        state = back.welcome["state"]
        assert state["phase"] == "drawing"
        assert [op["stroke"] for op in state["canvas"]] == list(range(1, 21))
    finally:
        code, stderr = await stop_process(second)
    assert code == 0, stderr
