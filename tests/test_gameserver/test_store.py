"""SQLite store: WAL, migrations, batched writes, bounded tables."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from gameserver.store import CHAT_KEEP, GALLERY_KEEP, SCHEMA_VERSION, Store, StoreError


def open_store(path: Path) -> Store:
    store = Store(path, "r1")
    store.open()
    return store


def test_wal_mode_and_migrations_are_idempotent(tmp_path: Path) -> None:
    db = tmp_path / "deep" / "room.db"
    store = open_store(db)
    store.close()
    store = open_store(db)
    assert store.schema_version == SCHEMA_VERSION
    store.close()
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == 1
    indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert "players_by_room" in indexes


def test_newer_schema_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    db = tmp_path / "room.db"
    open_store(db).close()
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO schema_migrations VALUES (99, 0)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match="newer than this server"):
        open_store(db)


def test_batched_writes_land_and_tables_stay_bounded(tmp_path: Path) -> None:
    store = open_store(tmp_path / "room.db")
    events = [("chat", float(i), "p1", "Ann", f"line {i}", "all") for i in range(CHAT_KEEP + 30)]
    events += [
        (
            "turn_end",
            1,
            t,
            1,
            "Ann",
            f"word{t}",
            "timeout",
            float(t),
            [{"type": "fill", "stroke": 1, "color": 2, "x": 1, "y": 1}],
        )
        for t in range(1, GALLERY_KEEP + 6)
    ]
    events += [
        ("stroke", 99, s, {"type": "draw", "stroke": s, "points": [[s, s]]}) for s in range(5)
    ]
    events += [("undo", 99, 4)]
    store.submit(events)
    store.save_state(
        {
            "savedAt": 1.0,
            "turnId": 99,
            "members": [
                {
                    "id": "p1",
                    "name": "Ann",
                    "token": "t" * 32,
                    "spectator": False,
                    "seq": 1,
                    "score": 7,
                    "guessed": False,
                }
            ],
        }
    )
    assert store.flush()
    chat = store.recent_chat(limit=1000)
    assert len(chat) == CHAT_KEEP and chat[-1]["text"] == f"line {CHAT_KEEP + 29}"
    gallery = store.gallery()
    assert len(gallery) == GALLERY_KEEP and gallery[0]["word"] == f"word{GALLERY_KEEP + 5}"
    loaded = store.load()
    assert loaded.snapshot is not None and loaded.snapshot["members"][0]["score"] == 7
    assert [op["stroke"] for op in loaded.canvas] == [0, 1, 2, 3]
    count, seconds = store.probe()
    assert count == 1 and seconds >= 0
    store.close()


def test_an_event_that_cannot_be_written_is_skipped_and_counted(tmp_path: Path) -> None:
    store = open_store(tmp_path / "room.db")
    store.submit([("stroke", 1, 1, {"type": "draw", "points": object()})])  # not JSON
    assert store.flush(timeout=5)
    assert store.skipped == 1 and store.last_skipped is not None
    assert "TypeError" in store.last_skipped
    store.submit([("stroke", 1, 2, {"type": "fill", "stroke": 2, "color": 1, "x": 1, "y": 1})])
    assert store.flush(timeout=5) and store.is_open
    assert store.error is None
    assert store.read(lambda c: c.execute("SELECT stroke_id FROM strokes").fetchall()) == [(2,)]
    store.close()
