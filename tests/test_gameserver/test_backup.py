"""Backups through the admin API and the CLI: consistent while drawing, verified,
pruned; restores of damaged dumps are refused and the room keeps its data."""

from __future__ import annotations

import asyncio
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


async def run_cli(*args: str) -> int:
    return await asyncio.to_thread(cli, list(args))


async def start_drawing(room: RunningRoom, connect: Connect) -> tuple[Client, Client]:
    ann, bob = await connect(room, "Ann"), await connect(room, "Bob")
    await ann.send({"type": "start"})
    await ann.expect("choose_word")
    await ann.send({"type": "choose_word", "index": 0})
    await ann.expect("turn", lambda m: m["phase"] == "drawing")
    return ann, bob


def only_backups(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.iterdir())


async def test_backup_while_drawing_is_consistent_and_verified(
    room: RunningRoom, connect: Connect, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ann, bob = await start_drawing(room, connect)
    stop = asyncio.Event()

    async def draw_forever() -> int:
        stroke = 0
        while not stop.is_set():
            stroke += 1
            await ann.send(draw_message(stroke, [[stroke % 1600, 1], [2, 2]]))
            await asyncio.sleep(0.02)
        return stroke

    drawer = asyncio.ensure_future(draw_forever())
    await bob.expect("draw", lambda m: m["stroke"] >= 20, within=10)
    dest = tmp_path / "backups"
    dest.mkdir()
    for old in ("backup-20200101-000000", "backup-20200102-000000"):
        (dest / f"{old}.sql").write_text("old")
        (dest / f"{old}.manifest.json").write_text("{}")
    code = await run_cli(
        "backup",
        "--url",
        room.admin_url,
        "--token",
        ADMIN_TOKEN,
        "--dest",
        str(dest),
        "--retention",
        "2",
    )
    stop.set()
    drawn = await drawer
    out = capsys.readouterr().out
    assert code == 0, out
    names = only_backups(dest)
    assert len(names) == 4, names  # the new one plus one old, each with its manifest
    assert "backup-20200101-000000.sql" not in names and "backup-20200102-000000.sql" in names
    dump = next(dest / n for n in names if n.endswith(".sql") and not n.startswith("backup-2020"))
    assert dump.name.startswith("backup-") and len(dump.stem) == len("backup-20260101-000000")
    manifest = json.loads(dump.with_name(dump.stem + ".manifest.json").read_text())
    assert manifest["schemaVersion"] == 1 and manifest["serverVersion"] == "9.9.9-test"
    assert len(manifest["sha256"]) == 64
    # load it ourselves: the strokes are an unbroken prefix of what was drawn
    db = sqlite3.connect(":memory:")
    db.executescript(dump.read_text())
    ids = [r[0] for r in db.execute("SELECT stroke_id FROM strokes ORDER BY seq")]
    assert ids == list(range(1, len(ids) + 1)) and 20 <= len(ids) <= drawn
    assert manifest["rowCounts"]["strokes"] == len(ids)
    assert manifest["rowCounts"]["players"] == 2
    assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert await run_cli("verify", str(dump)) == 0
    assert "OK" in capsys.readouterr().out


async def test_backup_cli_reports_bad_token_and_unreachable_server(
    room: RunningRoom, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await run_cli(
        "backup", "--url", room.admin_url, "--token", "wrong", "--dest", str(tmp_path / "b")
    )
    assert code == 1 and "401" in capsys.readouterr().err
    code = await run_cli(
        "backup",
        "--url",
        "http://127.0.0.1:9",
        "--token",
        "x",
        "--dest",
        str(tmp_path / "b"),
        "--timeout",
        "3",
    )
    assert code == 1 and "cannot download" in capsys.readouterr().err
    assert not any((tmp_path / "b").glob("backup-*.sql"))


async def take_backup(room: RunningRoom, dest: Path) -> Path:
    assert (
        await run_cli(
            "backup", "--url", room.admin_url, "--token", ADMIN_TOKEN, "--dest", str(dest)
        )
        == 0
    )
    return await asyncio.to_thread(lambda: next(dest.glob("backup-*.sql")))


async def test_damaged_dumps_are_refused_and_room_keeps_its_data(
    room: RunningRoom,
    connect: Connect,
    tmp_path: Path,
    http: aiohttp.ClientSession,
    capsys: pytest.CaptureFixture[str],
) -> None:
    ann, bob = await start_drawing(room, connect)
    await ann.send(draw_message(1, [[5, 5]]))
    await bob.expect("draw")
    good = await take_backup(room, tmp_path / "good")
    text = good.read_text()
    cases = tmp_path / "cases"
    cases.mkdir()
    manifest = good.with_name(good.stem + ".manifest.json")

    corrupted = cases / "backup-20240101-000000.sql"
    assert "brush" in text and "'Bob'" in text
    corrupted.write_text(text.replace("brush", "brusH"))
    corrupted.with_name(corrupted.stem + ".manifest.json").write_text(manifest.read_text())
    truncated = cases / "backup-20240102-000000.sql"
    truncated.write_text(text[: len(text) // 2])
    garbage = cases / "backup-20240103-000000.sql"
    garbage.write_text("BEGIN TRANSACTION;\nINSERT INTO nowhere VALUES (1);\nCOMMIT;\n")
    expectations = {corrupted: "sha256", truncated: "truncated", garbage: "does not load"}
    for dump, why in expectations.items():
        code = await run_cli(
            "restore", "--url", room.admin_url, "--token", ADMIN_TOKEN, "--file", str(dump)
        )
        err = capsys.readouterr().err
        assert code == 1 and why in err and "keeps its data" in err, err
        assert await run_cli("verify", str(dump)) == 1
        assert why in capsys.readouterr().out
    # nobody was disconnected and the room still has its players and canvas
    assert not ann.closed.is_set() and not bob.closed.is_set()
    async with http.get(room.url + "api/health") as resp:
        assert (await resp.json())["status"] == "healthy"
    late = await connect(room, "Late")
    assert {p["name"] for p in late.welcome["state"]["players"]} == {"Ann", "Bob", "Late"}
    assert late.welcome["state"]["canvas"][0]["stroke"] == 1


async def test_restore_swaps_database_and_clients_reconnect(
    room: RunningRoom, connect: Connect, tmp_path: Path, http: aiohttp.ClientSession
) -> None:
    ann, bob = await start_drawing(room, connect)
    await ann.send(draw_message(7, [[5, 5]]))
    await bob.expect("draw")
    dump = await take_backup(room, tmp_path / "b")
    await ann.send(draw_message(8, [[6, 6]]))
    await bob.expect("draw", lambda m: m["stroke"] == 8)
    cyd = await connect(room, "Cyd")  # joins after the backup
    code = await run_cli(
        "restore", "--url", room.admin_url, "--token", ADMIN_TOKEN, "--file", str(dump)
    )
    assert code == 0
    for client in (ann, bob, cyd):
        assert (await client.expect("reconnect"))["reason"] == "restore"
        assert await client.wait_closed() == 1012
    back = await connect(room, "Ann", token=ann.you["token"])
    state = back.welcome["state"]
    assert back.id == ann.id and state["phase"] == "drawing"
    assert [op["stroke"] for op in state["canvas"]] == [7]
    assert {p["name"] for p in state["players"]} == {"Ann", "Bob"}
    stranger = await connect(room)
    await stranger.send({"type": "join", "name": "Cyd", "token": cyd.you["token"]})
    assert (await stranger.expect("error"))["code"] == "bad_token"
    async with http.get(room.url + "readyz") as resp:
        assert resp.status == 200


async def test_backup_and_restore_are_refused_while_a_restore_runs(
    room: RunningRoom, http: aiohttp.ClientSession
) -> None:
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    room.server.restoring = True  # as during a restore's swap
    try:
        async with http.get(room.admin_url + "/admin/backup", headers=auth) as resp:
            assert resp.status == 409 and "restore is in progress" in (await resp.json())["error"]
        async with http.post(
            room.admin_url + "/admin/restore", headers=auth, data=b"BEGIN TRANSACTION;\nCOMMIT;\n"
        ) as resp:
            assert resp.status == 409
    finally:
        room.server.restoring = False
    async with http.get(room.admin_url + "/admin/backup", headers=auth) as resp:
        assert resp.status == 200 and "BEGIN TRANSACTION;" in await resp.text()
