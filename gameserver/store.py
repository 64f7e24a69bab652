"""SQLite persistence: WAL mode, versioned migrations, batched writes on a thread.

The event loop never waits for SQLite on the hot path: the room's changes are queued
and a writer thread commits them in one transaction every `flush_interval` seconds
(100 ms), so about that much drawing is lost on a hard crash. `flush()` and
`close()` write everything queued (SIGTERM calls them).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import structlog

log = structlog.get_logger("gameserver.store")

T = TypeVar("T")

CHAT_KEEP = 200
GALLERY_KEEP = 50

MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        """
        CREATE TABLE room (
            name TEXT PRIMARY KEY,
            state TEXT NOT NULL,
            updated_at REAL NOT NULL
        );
        CREATE TABLE settings (
            room TEXT NOT NULL,
            key TEXT NOT NULL,
            value TEXT NOT NULL,
            PRIMARY KEY (room, key)
        );
        CREATE TABLE players (
            room TEXT NOT NULL,
            id TEXT NOT NULL,
            name TEXT NOT NULL,
            token TEXT NOT NULL,
            spectator INTEGER NOT NULL,
            seq INTEGER NOT NULL,
            score INTEGER NOT NULL,
            guessed INTEGER NOT NULL,
            PRIMARY KEY (room, id)
        );
        CREATE INDEX players_by_room ON players (room);
        CREATE TABLE games (
            room TEXT NOT NULL,
            id INTEGER NOT NULL,
            started_at REAL NOT NULL,
            rounds INTEGER NOT NULL,
            ended_at REAL,
            reason TEXT,
            ranking TEXT,
            PRIMARY KEY (room, id)
        );
        CREATE TABLE turns (
            room TEXT NOT NULL,
            id INTEGER NOT NULL,
            game_id INTEGER NOT NULL,
            round INTEGER NOT NULL,
            drawer TEXT NOT NULL,
            word TEXT NOT NULL,
            reason TEXT NOT NULL,
            ended_at REAL NOT NULL,
            PRIMARY KEY (room, id)
        );
        CREATE TABLE strokes (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            room TEXT NOT NULL,
            turn_id INTEGER NOT NULL,
            stroke_id INTEGER NOT NULL,
            op TEXT NOT NULL
        );
        CREATE INDEX strokes_by_turn ON strokes (room, turn_id, stroke_id);
        CREATE TABLE chat (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            room TEXT NOT NULL,
            at REAL NOT NULL,
            player_id TEXT NOT NULL,
            name TEXT NOT NULL,
            text TEXT NOT NULL,
            scope TEXT NOT NULL
        );
        CREATE TABLE leaderboard (
            room TEXT NOT NULL,
            name_key TEXT NOT NULL,
            name TEXT NOT NULL,
            points INTEGER NOT NULL,
            wins INTEGER NOT NULL,
            games INTEGER NOT NULL,
            PRIMARY KEY (room, name_key)
        );
        CREATE TABLE gallery (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            room TEXT NOT NULL,
            game_id INTEGER NOT NULL,
            turn_id INTEGER NOT NULL,
            drawer TEXT NOT NULL,
            word TEXT NOT NULL,
            finished_at REAL NOT NULL,
            canvas TEXT NOT NULL
        );
        """,
    ),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]
TABLES = (
    "schema_migrations",
    "room",
    "settings",
    "players",
    "games",
    "turns",
    "strokes",
    "chat",
    "leaderboard",
    "gallery",
)


class StoreError(RuntimeError):
    """The database cannot be opened, migrated or written."""


def connect(path: Path | str, *, readonly: bool = False) -> sqlite3.Connection:
    if readonly:
        conn = sqlite3.connect(
            f"file:{path}?mode=ro", uri=True, timeout=10, check_same_thread=False
        )
    else:
        conn = sqlite3.connect(str(path), timeout=10, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 10000")
    # No temporary files outside the data volume (the root filesystem may be read-only).
    conn.execute("PRAGMA temp_store = MEMORY")
    return conn


def migrate(conn: sqlite3.Connection) -> int:
    """Apply missing migrations; returns the schema version."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations "
        "(version INTEGER PRIMARY KEY, applied_at REAL NOT NULL)"
    )
    applied = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
    newer = [v for v in applied if v > SCHEMA_VERSION]
    if newer:
        raise StoreError(
            f"database schema version {max(newer)} is newer than this server "
            f"({SCHEMA_VERSION}); run a newer server or restore an older backup"
        )
    for version, sql in MIGRATIONS:
        if version in applied:
            continue
        # One transaction per migration: a crash mid-way leaves the previous version.
        conn.execute("BEGIN")
        try:
            for statement in _statements(sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)",
                (version, time.time()),
            )
        except BaseException:
            conn.rollback()
            raise
        conn.commit()
    return schema_version(conn)


def _statements(sql: str) -> Iterable[str]:
    for part in sql.split(";"):
        if part.strip():
            yield part


def schema_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
    return int(row[0] or 0)


def table_counts(conn: sqlite3.Connection) -> dict[str, int]:
    return {t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in TABLES}  # noqa: S608


@dataclass
class Loaded:
    """What a restart resumes from."""

    snapshot: dict[str, Any] | None
    settings: dict[str, Any]
    canvas: list[dict[str, Any]]
    leaderboard: list[dict[str, Any]]


class _Barrier:
    def __init__(self) -> None:
        self.done = threading.Event()


_STOP = object()


class Store:
    """The room's database: one writer thread, short-lived reader connections.

    The event loop only appends to a deque (atomic, and it never wakes the writer: waking
    a thread per message would hand it the GIL and stall the loop). The writer wakes every
    `flush_interval`, or at once for `flush()`/`close()`, and commits what it finds in one
    transaction.
    """

    def __init__(self, path: Path, room: str, flush_interval: float = 0.1) -> None:
        self.path = path
        self.room = room
        self.flush_interval = flush_interval
        self.schema_version = 0
        self._pending: deque[Any] = deque()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None
        self.error: str | None = None
        self.writes = 0
        # Events left out because they could not be written (see `_write`).
        self.skipped = 0
        self.last_skipped: str | None = None

    # --------------------------------------------------------------- lifecycle

    def open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = connect(self.path)
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"cannot switch {self.path} to WAL mode (got {mode})")
            conn.execute("PRAGMA synchronous = NORMAL")
            self.schema_version = migrate(conn)
        except sqlite3.Error as exc:
            raise StoreError(
                f"cannot open database {self.path}: {exc}; check the path and volume"
            ) from exc
        self._conn = conn
        self.error = None
        # Anything left from before a close() belonged to the previous database (restore).
        self._pending.clear()
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self._thread.start()

    @property
    def is_open(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def close(self) -> None:
        """Write everything queued, stop the writer and checkpoint the WAL."""
        if self._thread is None:
            return
        self._pending.append(_STOP)
        self._wake.set()
        self._thread.join(timeout=30)
        self._thread = None
        if self._conn is not None:
            try:
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error:
                log.warning("wal_checkpoint_failed", path=str(self.path))
            self._conn.close()
            self._conn = None

    # ------------------------------------------------------------------ writes

    def submit(self, events: list[tuple[Any, ...]]) -> None:
        if events:
            self._pending.append(events)

    def save_state(self, snapshot: dict[str, Any]) -> None:
        self._pending.append([("state", snapshot)])

    def flush(self, timeout: float = 10.0) -> bool:
        """Block until everything queued so far is committed."""
        if not self.is_open:
            return False
        barrier = _Barrier()
        self._pending.append(barrier)
        self._wake.set()
        return barrier.done.wait(timeout)

    def _run(self) -> None:
        stop = False
        while not stop:
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            batch: list[tuple[Any, ...]] = []
            barriers: list[_Barrier] = []
            while self._pending:
                item = self._pending.popleft()
                if item is _STOP:
                    stop = True
                elif isinstance(item, _Barrier):
                    barriers.append(item)
                else:
                    batch.extend(item)
            if batch:
                self._write(batch)
            for barrier in barriers:
                barrier.done.set()

    def _write(self, batch: list[tuple[Any, ...]]) -> None:
        conn = self._conn
        assert conn is not None
        try:
            try:
                with conn:
                    self._write_batch(conn, batch, skip_bad=False)
            except Exception:
                # One bad event must not cost the whole batch (a turn's strokes, the
                # seats): write it again event by event, leaving out the ones that fail.
                with conn:
                    self._write_batch(conn, batch, skip_bad=True)
            self.writes += 1
            self.error = None
        except Exception as exc:
            # Never let the writer thread die: it would silently stop all persistence
            # (and flush() would hang). The failure shows in /api/health instead.
            self.error = f"{type(exc).__name__}: {exc}"
            log.error("store_write_failed", error=self.error, events=len(batch))

    def _write_batch(
        self, conn: sqlite3.Connection, batch: list[tuple[Any, ...]], *, skip_bad: bool
    ) -> None:
        last_state: dict[str, Any] | None = None
        if skip_bad and not conn.in_transaction:
            # One transaction around the savepoints: releasing the outermost savepoint
            # would otherwise commit each event on its own.
            conn.execute("BEGIN")
        for event in batch:
            if event[0] == "state":
                last_state = event[1]
            elif not skip_bad:
                self._apply(conn, event)
            else:
                conn.execute("SAVEPOINT event")
                try:
                    self._apply(conn, event)
                except Exception as exc:
                    conn.execute("ROLLBACK TO event")
                    self.skipped += 1
                    self.last_skipped = f"{event[0]}: {type(exc).__name__}: {exc}"
                    log.error("store_event_skipped", kind=str(event[0]), error=self.last_skipped)
                conn.execute("RELEASE event")
        if last_state is not None:
            self._write_state(conn, last_state)

    def _apply(self, conn: sqlite3.Connection, event: tuple[Any, ...]) -> None:
        kind = event[0]
        room = self.room
        if kind == "stroke":
            _, turn_id, stroke_id, payload = event
            conn.execute(
                "INSERT INTO strokes (room, turn_id, stroke_id, op) VALUES (?, ?, ?, ?)",
                (room, turn_id, stroke_id, json.dumps(payload, separators=(",", ":"))),
            )
        elif kind == "undo":
            conn.execute(
                "DELETE FROM strokes WHERE room = ? AND turn_id = ? AND stroke_id = ?",
                (room, event[1], event[2]),
            )
        elif kind == "clear":
            conn.execute("DELETE FROM strokes WHERE room = ? AND turn_id <= ?", (room, event[1]))
        elif kind == "chat":
            _, at, player_id, name, text, scope = event
            conn.execute(
                "INSERT INTO chat (room, at, player_id, name, text, scope) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (room, at, player_id, name, text, scope),
            )
            conn.execute(
                "DELETE FROM chat WHERE room = ? AND id <= "
                "(SELECT max(id) FROM chat WHERE room = ?) - ?",
                (room, room, CHAT_KEEP),
            )
        elif kind == "settings":
            conn.executemany(
                "INSERT OR REPLACE INTO settings (room, key, value) VALUES (?, ?, ?)",
                [(room, k, json.dumps(v)) for k, v in event[1].items()],
            )
        elif kind == "game_start":
            _, game_id, at, rounds = event
            conn.execute(
                "INSERT OR REPLACE INTO games (room, id, started_at, rounds) VALUES (?, ?, ?, ?)",
                (room, game_id, at, rounds),
            )
        elif kind == "turn_end":
            _, game_id, turn_id, round_, drawer, word, reason, at, canvas = event
            conn.execute(
                "INSERT OR REPLACE INTO turns "
                "(room, id, game_id, round, drawer, word, reason, ended_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (room, turn_id, game_id, round_, drawer, word, reason, at),
            )
            if canvas and word:
                conn.execute(
                    "INSERT INTO gallery "
                    "(room, game_id, turn_id, drawer, word, finished_at, canvas) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (room, game_id, turn_id, drawer, word, at, json.dumps(canvas)),
                )
                conn.execute(
                    "DELETE FROM gallery WHERE room = ? AND id NOT IN "
                    "(SELECT id FROM gallery WHERE room = ? ORDER BY id DESC LIMIT ?)",
                    (room, room, GALLERY_KEEP),
                )
        elif kind == "game_end":
            _, game_id, at, reason, ranking, leaderboard = event
            conn.execute(
                "UPDATE games SET ended_at = ?, reason = ?, ranking = ? WHERE room = ? AND id = ?",
                (at, reason, json.dumps(ranking), room, game_id),
            )
            conn.executemany(
                "INSERT OR REPLACE INTO leaderboard "
                "(room, name_key, name, points, wins, games) VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (room, e["name"].casefold(), e["name"], e["points"], e["wins"], e["games"])
                    for e in leaderboard
                ],
            )
        else:
            log.warning("store_unknown_event", kind=kind)

    def _write_state(self, conn: sqlite3.Connection, snap: dict[str, Any]) -> None:
        room = self.room
        members = snap.get("members", [])
        state = {k: v for k, v in snap.items() if k != "members"}
        conn.execute(
            "INSERT OR REPLACE INTO room (name, state, updated_at) VALUES (?, ?, ?)",
            (room, json.dumps(state), time.time()),
        )
        conn.execute("DELETE FROM players WHERE room = ?", (room,))
        conn.executemany(
            "INSERT INTO players (room, id, name, token, spectator, seq, score, guessed) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    room,
                    m["id"],
                    m["name"],
                    m["token"],
                    int(m["spectator"]),
                    m["seq"],
                    m["score"],
                    int(m["guessed"]),
                )
                for m in members
            ],
        )

    # ------------------------------------------------------------------- reads

    def load(self) -> Loaded:
        """Read what a (re)started server resumes from (call before serving)."""
        conn = connect(self.path)
        try:
            room = self.room
            row = conn.execute("SELECT state FROM room WHERE name = ?", (room,)).fetchone()
            snapshot: dict[str, Any] | None = json.loads(row[0]) if row else None
            if snapshot is not None:
                snapshot["members"] = [
                    {
                        "id": r[0],
                        "name": r[1],
                        "token": r[2],
                        "spectator": bool(r[3]),
                        "seq": r[4],
                        "score": r[5],
                        "guessed": bool(r[6]),
                    }
                    for r in conn.execute(
                        "SELECT id, name, token, spectator, seq, score, guessed "
                        "FROM players WHERE room = ? ORDER BY seq",
                        (room,),
                    )
                ]
            settings = {
                k: json.loads(v)
                for k, v in conn.execute("SELECT key, value FROM settings WHERE room = ?", (room,))
            }
            canvas: list[dict[str, Any]] = []
            if snapshot is not None:
                canvas = [
                    json.loads(r[0])
                    for r in conn.execute(
                        "SELECT op FROM strokes WHERE room = ? AND turn_id = ? ORDER BY seq",
                        (room, snapshot.get("turnId", 0)),
                    )
                ]
            leaderboard = [
                {"name": r[0], "points": r[1], "wins": r[2], "games": r[3]}
                for r in conn.execute(
                    "SELECT name, points, wins, games FROM leaderboard WHERE room = ?", (room,)
                )
            ]
            return Loaded(snapshot, settings, canvas, leaderboard)
        finally:
            conn.close()

    def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn` on a fresh read connection (call from a worker thread)."""
        conn = connect(self.path, readonly=True)
        try:
            return fn(conn)
        finally:
            conn.close()

    def probe(self) -> tuple[int, float]:
        """A real query for health checks: (players stored, seconds it took)."""
        started = time.perf_counter()
        count = self.read(
            lambda c: int(
                c.execute("SELECT count(*) FROM players WHERE room = ?", (self.room,)).fetchone()[0]
            )
        )
        return count, time.perf_counter() - started

    def gallery(self, limit: int = GALLERY_KEEP) -> list[dict[str, Any]]:
        return self.read(
            lambda c: [
                {
                    "id": r[0],
                    "drawer": r[1],
                    "word": r[2],
                    "finishedAt": int(r[3] * 1000),
                    "canvas": json.loads(r[4]),
                }
                for r in c.execute(
                    "SELECT id, drawer, word, finished_at, canvas FROM gallery WHERE room = ? "
                    "ORDER BY id DESC LIMIT ?",
                    (self.room, limit),
                )
            ]
        )

    def recent_chat(self, limit: int = 50) -> list[dict[str, Any]]:
        return self.read(
            lambda c: [
                {"from": r[0], "name": r[1], "text": r[2], "scope": r[3], "at": int(r[4] * 1000)}
                for r in c.execute(
                    "SELECT player_id, name, text, scope, at FROM chat WHERE room = ? "
                    "ORDER BY id DESC LIMIT ?",
                    (self.room, limit),
                )
            ][::-1]
        )
