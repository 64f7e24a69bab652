"""Backups: consistent snapshots as SQL text dumps with a JSON manifest; verify; restore.

A snapshot is taken with `VACUUM INTO` (one read transaction, so it is consistent even
while players draw), then dumped as SQL text. A dump is only restored after it loads
into a scratch database, passes `PRAGMA integrity_check`, carries a schema this server
understands and, when a manifest is given, matches its sha256 and row counts.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sqlite3
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from gameserver.roomstate import check_database
from gameserver.store import SCHEMA_VERSION, TABLES, connect, schema_version, table_counts

DUMP_FORMAT = "gameroom-sql-dump/1"
NAME_RE = re.compile(r"^backup-(\d{8}-\d{6})\.sql$")


class BackupError(RuntimeError):
    """A backup could not be made, verified or restored; the message says why."""


@dataclass
class Snapshot:
    dump_path: Path
    manifest: dict[str, Any]


def backup_name(created: datetime) -> str:
    return f"backup-{created.astimezone(UTC):%Y%m%d-%H%M%S}.sql"


def manifest_path_for(dump: Path) -> Path:
    return dump.with_name(dump.name.removesuffix(".sql") + ".manifest.json")


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()


def make_snapshot(db_path: Path, work_dir: Path, room: str, server_version: str) -> Snapshot:
    """A consistent SQL dump of the live database plus its manifest (blocking)."""
    created = datetime.now(UTC)
    copy = work_dir / f"snapshot-{os.getpid()}-{created:%H%M%S%f}.db"
    dump = work_dir / backup_name(created)
    try:
        src = connect(db_path)
        try:
            src.execute("VACUUM INTO ?", (str(copy),))
        finally:
            src.close()
        snap = sqlite3.connect(str(copy))
        try:
            counts = table_counts(snap)
            version = schema_version(snap)
            with dump.open("w", encoding="utf-8", newline="\n") as out:
                out.write(
                    f"-- gameroom backup of room {room!r}, schema {version}, "
                    f"server {server_version}, taken {created:%Y-%m-%dT%H:%M:%SZ}\n"
                )
                for line in snap.iterdump():
                    out.write(line)
                    out.write("\n")
        finally:
            snap.close()
    except sqlite3.Error as exc:
        with contextlib.suppress(OSError):
            dump.unlink()
        raise BackupError(f"cannot snapshot {db_path}: {exc}") from exc
    finally:
        with contextlib.suppress(OSError):
            copy.unlink()
    manifest = {
        "format": DUMP_FORMAT,
        "room": room,
        "file": dump.name,
        "createdAt": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "sha256": sha256_file(dump),
        "bytes": dump.stat().st_size,
        "schemaVersion": version,
        "serverVersion": server_version,
        "rowCounts": counts,
    }
    return Snapshot(dump, manifest)


@dataclass
class Verification:
    ok: bool
    problems: list[str] = field(default_factory=list)
    row_counts: dict[str, int] = field(default_factory=dict)
    schema_version: int = 0
    database: Path | None = None

    def report(self) -> str:
        if self.ok:
            total = sum(self.row_counts.values())
            return (
                f"OK: integrity_check passed, schema {self.schema_version}, "
                f"{total} rows in {len(self.row_counts)} tables match the manifest"
            )
        return "FAILED: " + "; ".join(self.problems)


# Authorizer action codes a dump's SQL may never use: other databases (ATTACH, also how
# SQLite runs VACUUM), settings (PRAGMA), virtual tables, triggers and views.
_REFUSED_ACTIONS = {
    sqlite3.SQLITE_ATTACH: "ATTACH a database (or VACUUM)",
    sqlite3.SQLITE_DETACH: "DETACH a database",
    sqlite3.SQLITE_PRAGMA: "run a PRAGMA",
    sqlite3.SQLITE_CREATE_VTABLE: "create a virtual table",
    sqlite3.SQLITE_DROP_VTABLE: "drop a virtual table",
    # Our dumps hold neither; a trigger would run inside the live room after a restore.
    sqlite3.SQLITE_CREATE_TRIGGER: "create a trigger",
    sqlite3.SQLITE_CREATE_VIEW: "create a view",
}
_MAIN_ONLY = (None, "main")


class _DumpGuard:
    """Keeps a dump's SQL inside the scratch database it is loaded into.

    A dump is SQL from a file anyone may hand over: as written it could ATTACH the
    live database (and change it although the restore is then refused) or write files
    with VACUUM INTO. SQLite's authorizer refuses those statements before they run,
    and the ATTACHED limit of 0 refuses every other database at the engine level."""

    def __init__(self) -> None:
        self.refused: list[str] = []

    def install(self, conn: sqlite3.Connection) -> None:
        conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        conn.set_authorizer(self._authorize)

    def remove(self, conn: sqlite3.Connection) -> None:
        conn.set_authorizer(None)

    def _authorize(
        self, action: int, arg1: str | None, arg2: str | None, db: str | None, _: str | None
    ) -> int:
        what = _REFUSED_ACTIONS.get(action)
        if what is not None:
            detail = f" ({arg1})" if arg1 else ""
            self.refused.append(f"{what}{detail}")
            return sqlite3.SQLITE_DENY
        if db not in _MAIN_ONLY:
            self.refused.append(f"use the database {db!r}")
            return sqlite3.SQLITE_DENY
        return sqlite3.SQLITE_OK


def _first_and_last_statement_lines(text: str) -> tuple[str, str]:
    """The first and last lines that are neither blank nor `--` comments, stripped.

    Found by walking in from both ends: splitting a large dump into lines would hold
    the interpreter lock (and so the room's event loop) for tens of milliseconds."""

    def lines_from_start() -> str:
        start = 0
        while start < len(text):
            end = text.find("\n", start)
            end = len(text) if end < 0 else end
            line = text[start:end].strip()
            if line and not line.startswith("--"):
                return line
            start = end + 1
        return ""

    def lines_from_end() -> str:
        end = len(text)
        while end > 0:
            start = text.rfind("\n", 0, end) + 1
            line = text[start:end].strip()
            if line and not line.startswith("--"):
                return line
            end = start - 1
        return ""

    return lines_from_start(), lines_from_end()


def load_dump(dump: Path, manifest: dict[str, Any] | None, scratch: Path) -> Verification:
    """Load `dump` into the new database file `scratch` and check it thoroughly.

    On success `Verification.database` is `scratch`; on failure `scratch` is removed.
    """
    result = Verification(ok=False)
    if manifest is not None:
        expected = manifest.get("sha256")
        actual = sha256_file(dump)
        if expected != actual:
            result.problems.append(
                f"sha256 {actual[:12]}... does not match the manifest's "
                f"{str(expected)[:12]}...: the file is damaged or not this backup"
            )
            return result
    try:
        text = dump.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        result.problems.append(f"cannot read {dump}: {exc}")
        return result
    first, last = _first_and_last_statement_lines(text)
    if first != "BEGIN TRANSACTION;":
        result.problems.append("not a gameroom SQL dump (no 'BEGIN TRANSACTION;' at the start)")
        return result
    if last != "COMMIT;":
        result.problems.append("the dump is truncated (it does not end with 'COMMIT;')")
        return result
    with contextlib.suppress(OSError):
        scratch.unlink()
    conn = sqlite3.connect(str(scratch))
    try:
        guard = _DumpGuard()
        guard.install(conn)
        try:
            conn.executescript(text)
        except sqlite3.Error as exc:
            if guard.refused:
                result.problems.append(
                    f"the dump was refused: it tries to {guard.refused[0]}; a backup only "
                    "creates and fills this room's own tables"
                )
            else:
                result.problems.append(f"the dump does not load: {exc}")
            return result
        finally:
            guard.remove(conn)
        check = conn.execute("PRAGMA integrity_check").fetchall()
        if check != [("ok",)]:
            result.problems.append(
                "integrity_check failed: " + "; ".join(str(r[0]) for r in check[:5])
            )
            return result
        try:
            result.schema_version = schema_version(conn)
            result.row_counts = table_counts(conn)
        except sqlite3.Error as exc:
            result.problems.append(f"the dump lacks the gameroom tables: {exc}")
            return result
        if not 1 <= result.schema_version <= SCHEMA_VERSION:
            result.problems.append(
                f"schema version {result.schema_version} is not one this server "
                f"understands (1-{SCHEMA_VERSION})"
            )
            return result
        if manifest is not None:
            expected_counts = manifest.get("rowCounts") or {}
            for table in TABLES:
                want = expected_counts.get(table)
                got = result.row_counts.get(table)
                if want is not None and want != got:
                    result.problems.append(
                        f"table {table} has {got} rows but the manifest says {want}"
                    )
            if manifest.get("schemaVersion") not in (None, result.schema_version):
                result.problems.append(
                    f"schema version {result.schema_version} differs from the manifest's "
                    f"{manifest.get('schemaVersion')}"
                )
            if result.problems:
                return result
        conn.close()
        # The SQL loaded; now the room it saves must be one the game can run from.
        state_problems = check_database(scratch, None)
        if state_problems:
            result.problems.extend(state_problems)
            return result
        result.ok = True
        result.database = scratch
        return result
    finally:
        conn.close()
        if not result.ok:
            with contextlib.suppress(OSError):
                scratch.unlink()


# Every table that keys its rows by room (schema_migrations is the file's, not a room's).
_ROOM_COLUMNS = {t: "room" for t in TABLES if t not in ("schema_migrations", "room")} | {
    "room": "name"
}


def adopt_room(db: Path, room: str) -> str | None:
    """Make a verified scratch database hold `room`'s rows (restoring a clone).

    A backup of room A restored into room B (a clone, the safe way to look inside a
    backup) would otherwise leave B empty: every row is keyed by A's name. Returns the
    name the rows had when they were renamed, None when nothing needed renaming; a
    database holding several rooms is refused rather than merged."""
    conn = sqlite3.connect(str(db))
    try:
        names = {
            str(row[0])
            for table, column in _ROOM_COLUMNS.items()
            for row in conn.execute(f"SELECT DISTINCT {column} FROM {table}")  # noqa: S608
        }
        if not names or names == {room}:
            return None
        if len(names) > 1:
            raise BackupError(
                f"the dump holds several rooms ({', '.join(sorted(names))}); "
                f"a restore into {room!r} takes one"
            )
        (old,) = names
        with conn:
            for table, column in _ROOM_COLUMNS.items():
                conn.execute(
                    f"UPDATE {table} SET {column} = ? WHERE {column} = ?",  # noqa: S608
                    (room, old),
                )
        return old
    finally:
        conn.close()


def read_manifest(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BackupError(f"manifest {path} is unreadable: {exc}") from exc
    if not isinstance(data, dict):
        raise BackupError(f"manifest {path} is not a JSON object")
    return data


def verify_file(dump: Path) -> Verification:
    """`gameserver verify FILE`: load into a temporary database and compare."""
    if not dump.is_file():
        return Verification(ok=False, problems=[f"{dump} does not exist"])
    try:
        manifest = read_manifest(manifest_path_for(dump))
    except BackupError as exc:
        return Verification(ok=False, problems=[str(exc)])
    scratch_dir = dump.parent if os.access(dump.parent, os.W_OK) else None
    with tempfile.TemporaryDirectory(prefix=".verify-", dir=scratch_dir) as tmp:
        result = load_dump(dump, manifest, Path(tmp) / "verify.db")
        result.database = None
    if result.ok and manifest is None:
        result.problems.append(f"no manifest beside the dump ({manifest_path_for(dump).name})")
    return result


def swap_in(new_db: Path, db_path: Path) -> None:
    """Atomically replace the database file (its WAL and shm must be gone: closed)."""
    conn = connect(new_db)
    try:
        conn.execute("PRAGMA journal_mode = WAL")
    finally:
        conn.close()
    for suffix in ("-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            Path(str(db_path) + suffix).unlink()
    os.replace(new_db, db_path)
    for suffix in ("-wal", "-shm"):
        src = Path(str(new_db) + suffix)
        if src.exists():
            os.replace(src, Path(str(db_path) + suffix))


def prune(dest: Path, retention: int) -> list[Path]:
    """Delete the oldest backups beyond `retention` (with their manifests)."""
    dumps = sorted(p for p in dest.iterdir() if NAME_RE.match(p.name))
    removed: list[Path] = []
    for old in dumps[: max(0, len(dumps) - retention)]:
        old.unlink(missing_ok=True)
        manifest_path_for(old).unlink(missing_ok=True)
        removed.append(old)
    return removed
