"""Hostile and unusable dumps: `restore` and `verify` never touch anything but their
scratch copy, and a dump whose room cannot run is refused before any file is swapped."""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from gameserver.cli import main as cli
from gameserver.runner import RunningRoom
from gameserver.testing import draw_message

from .conftest import ADMIN_TOKEN, Client, Connect

RoomFactory = Callable[..., Awaitable[RunningRoom]]
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def run_cli(*args: str) -> int:
    return await asyncio.to_thread(cli, list(args))


async def drawing_room(room: RunningRoom, connect: Connect) -> tuple[Client, Client]:
    ann, bob = await connect(room, "Ann"), await connect(room, "Bob")
    await ann.send({"type": "start"})
    await ann.expect("choose_word")
    await ann.send({"type": "choose_word", "index": 0})
    await ann.expect("turn", lambda m: m["phase"] == "drawing")
    await ann.send(draw_message(1, [[5, 5], [6, 6]]))
    await bob.expect("draw")
    return ann, bob


async def backup_text(room: RunningRoom, http: aiohttp.ClientSession) -> str:
    async with http.get(room.admin_url + "/admin/backup", headers=AUTH) as resp:
        assert resp.status == 200
        return await resp.text()


def live_counts(db: Path) -> dict[str, int]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return {
            table: int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608
            for table in ("room", "players", "strokes")
        }
    finally:
        conn.close()


def with_manifest(dump: Path, text: str, room: str = "test-room") -> None:
    """Write `text` to `dump` with a manifest that matches it (sha256, size, rows)."""
    dump.write_text(text, encoding="utf-8")
    scratch = sqlite3.connect(":memory:")
    # Count rows the way the server does, from a plain load of the same SQL.
    scratch.executescript(text.split("\nCOMMIT;\n")[0] + "\nCOMMIT;\n")
    counts = {
        t: int(scratch.execute(f"SELECT count(*) FROM {t}").fetchone()[0])  # noqa: S608
        for (t,) in scratch.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if t != "sqlite_sequence"
    }
    scratch.close()
    manifest = {
        "format": "gameroom-sql-dump/1",
        "room": room,
        "file": dump.name,
        "sha256": hashlib.sha256(dump.read_bytes()).hexdigest(),
        "bytes": dump.stat().st_size,
        "schemaVersion": 1,
        "rowCounts": counts,
    }
    dump.with_name(dump.stem + ".manifest.json").write_text(json.dumps(manifest))


async def test_a_dump_that_attaches_the_live_database_is_refused_and_changes_nothing(
    room: RunningRoom,
    connect: Connect,
    http: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    ann, bob = await drawing_room(room, connect)
    text = await backup_text(room, http)
    live = room.server.settings.db_path
    await asyncio.to_thread(room.server.store.flush)
    before = live_counts(live)
    assert before["players"] == 2 and before["strokes"] >= 1
    hostile = (
        text
        + f"ATTACH DATABASE '{live}' AS live;\n"
        + "DELETE FROM live.strokes;\nDELETE FROM live.players;\nDELETE FROM live.room;\n"
        + "BEGIN TRANSACTION;\nINSERT INTO nowhere VALUES (1);\nCOMMIT;\n"
    )
    async with http.post(
        room.admin_url + "/admin/restore", headers=AUTH, data=hostile.encode()
    ) as resp:
        body = await resp.json()
    assert live_counts(live) == before
    assert resp.status == 422, body
    assert "ATTACH" in body["error"] and "keeps its data" in body["error"], body
    # Nobody noticed: the players stay connected and the room answers healthy.
    assert not ann.closed.is_set() and not bob.closed.is_set()
    async with http.get(room.url + "api/health") as resp:
        assert (await resp.json())["status"] == "healthy"


@pytest.mark.parametrize(
    ("statement", "refusal"),
    [
        ("VACUUM INTO '{dir}/vacuumed.db';", "ATTACH a database (or VACUUM)"),
        ("ATTACH DATABASE '{dir}/attached.db' AS other;", "ATTACH a database"),
        ("PRAGMA writable_schema = ON;", "PRAGMA"),
        ("CREATE TEMP TABLE scratch (x);", "database 'temp'"),
        ("CREATE TRIGGER wipe AFTER INSERT ON strokes BEGIN DELETE FROM players; END;", "trigger"),
    ],
)
async def test_verify_never_runs_statements_outside_the_scratch_database(
    room: RunningRoom,
    connect: Connect,
    http: aiohttp.ClientSession,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    statement: str,
    refusal: str,
) -> None:
    await drawing_room(room, connect)
    text = await backup_text(room, http)
    outside = tmp_path / "outside"
    outside.mkdir()
    dump = tmp_path / "backup-20240101-000000.sql"
    hostile = text + statement.format(dir=outside) + "\nBEGIN TRANSACTION;\nCOMMIT;\n"
    await asyncio.to_thread(with_manifest, dump, hostile)
    assert await run_cli("verify", str(dump)) == 1
    out = capsys.readouterr().out
    assert "refused" in out and refusal in out, out
    assert list(outside.iterdir()) == []
    code = await run_cli(
        "restore", "--url", room.admin_url, "--token", ADMIN_TOKEN, "--file", str(dump)
    )
    err = capsys.readouterr().err
    assert code == 1 and "keeps its data" in err and refusal in err, err
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ("""UPDATE room SET state = '{"phase": "drawing"}';""", "'round' must be an integer"),
        ("""UPDATE room SET state = 'not json at all';""", "cannot be read"),
        (
            """UPDATE room SET state = json_set(state, '$.turn', NULL);""",
            "needs a turn",
        ),
        ("""UPDATE players SET score = 'lots';""", "'score' must be an integer"),
    ],
)
async def test_a_dump_whose_room_cannot_run_is_refused_before_the_swap(
    room: RunningRoom,
    connect: Connect,
    http: aiohttp.ClientSession,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    change: str,
    complaint: str,
) -> None:
    ann, bob = await drawing_room(room, connect)
    text = await backup_text(room, http)
    assert text.endswith("COMMIT;\n")
    # Well-formed SQL with a matching manifest: only the room it saves is unusable.
    broken = text.removesuffix("COMMIT;\n") + change + "\nCOMMIT;\n"
    dump = tmp_path / "backup-20240102-000000.sql"
    await asyncio.to_thread(with_manifest, dump, broken)
    assert await run_cli("verify", str(dump)) == 1
    out = capsys.readouterr().out
    assert "saved room state" in out and complaint in out, out
    code = await run_cli(
        "restore", "--url", room.admin_url, "--token", ADMIN_TOKEN, "--file", str(dump)
    )
    err = capsys.readouterr().err
    assert code == 1 and "keeps its data" in err and complaint in err, err
    # The room runs on: nobody was sent away, the canvas is there for a newcomer.
    assert not ann.closed.is_set() and not bob.closed.is_set()
    late = await connect(room, "Late")
    assert late.welcome["state"]["phase"] == "drawing"
    assert late.welcome["state"]["canvas"][0]["stroke"] == 1
    async with http.get(room.url + "readyz") as resp:
        assert resp.status == 200


async def test_restore_checks_the_room_itself_even_without_the_verify_step(
    room: RunningRoom, connect: Connect, tmp_path: Path
) -> None:
    """The server builds the room from the new file before it swaps anything, whoever
    hands it the file."""
    from gameserver.roomstate import RoomStateError

    ann, bob = await drawing_room(room, connect)
    bad = tmp_path / "bad.db"
    conn = sqlite3.connect(bad)
    conn.executescript(
        "CREATE TABLE room (name TEXT PRIMARY KEY, state TEXT NOT NULL, updated_at REAL);"
        "CREATE TABLE players (room TEXT, id TEXT, name TEXT, token TEXT, spectator INT,"
        " seq INT, score INT, guessed INT);"
        "CREATE TABLE settings (room TEXT, key TEXT, value TEXT);"
        "CREATE TABLE strokes (seq INTEGER PRIMARY KEY, room TEXT, turn_id INT,"
        " stroke_id INT, op TEXT);"
        "CREATE TABLE leaderboard (room TEXT, name_key TEXT, name TEXT, points INT,"
        " wins INT, games INT);"
        """INSERT INTO room VALUES ('test-room', '{"phase": "banana"}', 0);"""
    )
    conn.close()
    with pytest.raises(RoomStateError, match="'phase' must be one of"):
        await room.server.restore_database(bad)
    assert bad.exists() and not room.server.restoring and room.server.ready
    assert not ann.closed.is_set() and not bob.closed.is_set()
    await ann.send(draw_message(2, [[7, 7]]))
    assert (await bob.expect("draw"))["stroke"] == 2
