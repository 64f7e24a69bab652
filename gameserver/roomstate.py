"""Rebuilding a room from its database, with the saved state checked first.

The server builds its room from here at start and on restore, and `verify` and
`restore` build one from a backup's scratch copy before trusting it: a dump whose SQL
is well formed can still hold a room state the game cannot run from.
"""

from __future__ import annotations

import json
import random
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gameserver.game import IN_GAME, LOBBY, LeaderEntry, Room, system_rng
from gameserver.settings import RoomConfig
from gameserver.store import Loaded, Store

PHASES = (LOBBY, *IN_GAME, "game_over")


class RoomStateError(ValueError):
    """The saved room state cannot be resumed from; the message says what is wrong."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _require(ok: bool, where: str, why: str) -> None:
    if not ok:
        raise RoomStateError(f"saved room state: {where} {why}")


def _check_turn(turn: Any) -> None:
    _require(isinstance(turn, dict), "'turn'", "must be an object or null")
    _require(isinstance(turn.get("drawerId"), str), "'turn.drawerId'", "must be a string")
    choices = turn.get("choices")
    _require(
        isinstance(choices, list) and all(isinstance(w, str) for w in choices),
        "'turn.choices'",
        "must be a list of words",
    )
    word = turn.get("word")
    _require(word is None or isinstance(word, str), "'turn.word'", "must be a string or null")
    _require(_is_number(turn.get("startedAt")), "'turn.startedAt'", "must be a number")
    revealed = turn.get("revealed")
    _require(
        isinstance(revealed, list) and all(_is_int(i) for i in revealed),
        "'turn.revealed'",
        "must be a list of letter positions",
    )
    hints = turn.get("hintTimes")
    _require(
        isinstance(hints, list) and all(_is_number(t) for t in hints),
        "'turn.hintTimes'",
        "must be a list of times",
    )
    gained = turn.get("gained")
    _require(
        isinstance(gained, dict) and all(_is_int(v) for v in gained.values()),
        "'turn.gained'",
        "must map player ids to points",
    )


def _check_member(index: int, rec: Any) -> None:
    where = f"player {index + 1}"
    _require(isinstance(rec, dict), where, "is not a record")
    for key in ("id", "name", "token"):
        _require(
            isinstance(rec.get(key), str) and bool(rec[key]), f"{where} '{key}'", "must be text"
        )
    for key in ("seq", "score"):
        _require(_is_int(rec.get(key)), f"{where} '{key}'", "must be an integer")


def check_snapshot(snap: dict[str, Any]) -> None:
    """Raise `RoomStateError` unless `snap` (from `Store.load`) can be resumed from."""
    _require(isinstance(snap, dict), "the state", "must be a JSON object")
    phase = snap.get("phase")
    _require(phase in PHASES, "'phase'", f"must be one of {', '.join(PHASES)}, got {phase!r}")
    for key in ("round", "rounds", "gameId", "turnId", "seq"):
        _require(_is_int(snap.get(key)), f"'{key}'", "must be an integer")
    host = snap.get("hostId")
    _require(host is None or isinstance(host, str), "'hostId'", "must be a string or null")
    ends = snap.get("endsAt")
    _require(ends is None or _is_number(ends), "'endsAt'", "must be a number or null")
    saved = snap.get("savedAt")
    _require(saved is None or _is_number(saved), "'savedAt'", "must be a number or null")
    for key in ("drawn", "usedWords"):
        value = snap.get(key)
        _require(
            isinstance(value, list) and all(isinstance(v, str) for v in value),
            f"'{key}'",
            "must be a list of strings",
        )
    _require(isinstance(snap.get("lastRanking"), list), "'lastRanking'", "must be a list")
    turn = snap.get("turn")
    if turn is not None:
        _check_turn(turn)
    elif phase in IN_GAME:
        raise RoomStateError(f"saved room state: phase {phase!r} needs a turn, and there is none")
    members = snap.get("members")
    if not isinstance(members, list):
        raise RoomStateError("saved room state: 'members' must be a list")
    for index, rec in enumerate(members):
        _check_member(index, rec)


def build_room(
    loaded: Loaded,
    config: RoomConfig,
    now: float,
    rng: random.Random | None = None,
) -> Room:
    """The room a server resumes from `loaded`; `RoomStateError` if it cannot."""
    board: dict[str, LeaderEntry] = {}
    for entry in loaded.leaderboard:
        name = entry["name"]
        _require(isinstance(name, str), "leaderboard name", "must be text")
        for key in ("points", "wins", "games"):
            _require(_is_int(entry[key]), f"leaderboard '{key}' of {name!r}", "must be an integer")
        board[name.casefold()] = LeaderEntry(name, entry["points"], entry["wins"], entry["games"])
    room = Room(
        config.game,
        timing=config.timing,
        rng=rng or system_rng(),
        reconnect_grace=config.reconnect_grace_seconds,
        max_spectators=config.max_spectators,
        leaderboard=board,
    )
    if loaded.snapshot is not None:
        check_snapshot(loaded.snapshot)
        try:
            room.restore(loaded.snapshot, loaded.canvas, now)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
            raise RoomStateError(f"saved room state cannot be resumed: {exc!r}") from exc
    # The file's game settings win at every start (lobby changes last until restart).
    room.apply_settings(config.game)
    return room


def rehearse(room: Room, now: float) -> None:
    """Run a built room the way a server would at once: what every member would be
    sent, its next timers and a snapshot. Raises `RoomStateError` if any of it fails."""
    try:
        for member_id in [*room.members, ""]:
            json.dumps(room.state(member_id, now))
        json.dumps(room.snapshot(now))
        room.tick(now)
        json.dumps(room.snapshot(now))
    except Exception as exc:
        raise RoomStateError(f"saved room state does not run: {exc!r}") from exc


def load_room(
    db: Path,
    room_name: str,
    config: RoomConfig,
    now: float,
    rng: random.Random | None = None,
) -> Room:
    """Read and build `room_name`'s room from the database file `db`."""
    try:
        loaded = Store(db, room_name).load()
    except (sqlite3.Error, ValueError, TypeError, IndexError) as exc:
        raise RoomStateError(f"saved room state cannot be read: {exc}") from exc
    return build_room(loaded, config, now, rng)


def check_database(
    db: Path,
    room_name: str | None,
    config: RoomConfig | None = None,
    clock: Callable[[], float] | None = None,
) -> list[str]:
    """Problems found building the room(s) of a database file (none: it can be run).

    `room_name` None checks every room the file holds state for (a backup checked
    away from its server)."""
    now = (clock or time.time)()
    cfg = config or RoomConfig()
    if room_name is not None:
        names = [room_name]
    else:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            names = [str(r[0]) for r in conn.execute("SELECT name FROM room ORDER BY name")]
        except sqlite3.Error as exc:
            return [f"saved room state cannot be read: {exc}"]
        finally:
            conn.close()
    problems: list[str] = []
    for name in names:
        try:
            # A throwaway room: rehearsing it runs its timers.
            rehearse(load_room(db, name, cfg, now, random.Random(0)), now)
        except RoomStateError as exc:
            problems.append(f"room {name!r}: {exc}" if room_name is None else str(exc))
    return problems
