"""The Job commands (`backup-job`, `restore-job`, `list-backups`) as the operator runs them:
real `python -m gameserver` processes against a real room on loopback while bots draw."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import os
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gameserver.destinations import StoredBackup
from gameserver.jobs import prune_plan
from gameserver.runner import RunningRoom, start_room
from gameserver.store import connect, migrate
from gameserver.testing import draw_message

from .conftest import ADMIN_TOKEN, Client, Connect, room_settings

RoomFactory = Callable[..., Awaitable[RunningRoom]]
# The rows a room rewrites by itself (its saved state); every other table must come
# back byte for byte.
CONTENT_TABLES = (
    "settings",
    "players",
    "games",
    "turns",
    "strokes",
    "chat",
    "leaderboard",
    "gallery",
)


@dataclass
class JobRun:
    code: int
    stdout: str
    stderr: str

    @property
    def result(self) -> dict[str, Any]:
        lines = [ln for ln in self.stdout.splitlines() if ln.startswith("{")]
        assert lines, f"no JSON result line; stdout={self.stdout!r} stderr={self.stderr!r}"
        return dict(json.loads(lines[-1]))


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "admin-token"
    path.write_text(ADMIN_TOKEN + "\n")
    return path


def job_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GAMESERVER_", "AWS_"))}
    env.update(extra or {})
    return env


async def start_job(*args: str, env: dict[str, str] | None = None) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gameserver",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=job_env(env),
    )


async def run_job(*args: str, env: dict[str, str] | None = None, within: float = 60) -> JobRun:
    proc = await start_job(*args, env=env)
    out, err = await asyncio.wait_for(proc.communicate(), within)
    assert proc.returncode is not None
    return JobRun(proc.returncode, out.decode(), err.decode())


def backup_args(room: RunningRoom, token_file: Path, dest: str, *extra: str) -> list[str]:
    return [
        "backup-job",
        "--admin-url",
        room.admin_url,
        "--token-file",
        str(token_file),
        "--destination",
        dest,
        "--timeout",
        "20",
        *extra,
    ]


def restore_args(
    room: RunningRoom, token_file: Path, dest: str, name: str, *extra: str
) -> list[str]:
    return [
        "restore-job",
        "--admin-url",
        room.admin_url,
        "--token-file",
        str(token_file),
        "--destination",
        dest,
        "--backup",
        name,
        "--timeout",
        "20",
        *extra,
    ]


async def start_drawing(room: RunningRoom, connect: Connect) -> tuple[Client, Client]:
    ann, bob = await connect(room, "Ann"), await connect(room, "Bob")
    await ann.send({"type": "start"})
    await ann.expect("choose_word")
    await ann.send({"type": "choose_word", "index": 0})
    await ann.expect("turn", lambda m: m["phase"] == "drawing")
    return ann, bob


@contextlib.asynccontextmanager
async def drawing(ann: Client, bob: Client, first: int = 1) -> AsyncIterator[list[int]]:
    """Ann draws a stroke every 10 ms until the block ends; yields [strokes sent]."""
    sent = [first - 1]
    stop = asyncio.Event()

    async def draw() -> None:
        while not stop.is_set():
            sent[0] += 1
            await ann.send(draw_message(sent[0], [[sent[0] % 800, 1], [2, 2]]))
            await asyncio.sleep(0.01)

    task = asyncio.ensure_future(draw())
    await bob.expect("draw", lambda m: m["stroke"] >= first + 10, within=10)
    try:
        yield sent
    finally:
        stop.set()
        await task


@contextlib.asynccontextmanager
async def loop_lag() -> AsyncIterator[list[float]]:
    """The worst delay, in seconds, of a 5 ms timer on this (the room's) event loop."""
    worst = [0.0]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    async def tick() -> None:
        while not stop.is_set():
            before = loop.time()
            await asyncio.sleep(0.005)
            worst[0] = max(worst[0], loop.time() - before - 0.005)

    task = asyncio.ensure_future(tick())
    try:
        yield worst
    finally:
        stop.set()
        await task


def table_digests(db: Path | str) -> tuple[dict[str, int], dict[str, str]]:
    """Row counts of every table and a sha256 of the content tables' rows, in key order."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True) if isinstance(db, Path) else db
    try:
        assert isinstance(conn, sqlite3.Connection)
        counts = {
            t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0])  # noqa: S608
            for (t,) in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name != 'sqlite_sequence' ORDER BY name"
            )
        }
        digests = {}
        for table in CONTENT_TABLES:
            rows = conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2")  # noqa: S608
            digests[table] = hashlib.sha256(repr(rows.fetchall()).encode()).hexdigest()
        return counts, digests
    finally:
        conn.close()


def dump_digests(dump: Path) -> tuple[dict[str, int], dict[str, str]]:
    scratch = sqlite3.connect(":memory:")
    scratch.executescript(dump.read_text())
    return table_digests(scratch)  # type: ignore[arg-type]


HISTORY_STROKES = 80_000


def seed_history(db: Path, strokes: int) -> None:
    """Old strokes written straight into the store's schema, so that the dump is a few
    megabytes (turn ids far ahead of the game's, so the game's canvas resets keep them)."""
    conn = connect(db)
    migrate(conn)
    op = json.dumps(draw_message(1, [[float(i), float(i)] for i in range(16)]))
    with conn:
        conn.executemany(
            "INSERT INTO strokes (room, turn_id, stroke_id, op) VALUES (?, ?, ?, ?)",
            [("test-room", 1_000_000 + i // 100, i, op) for i in range(strokes)],
        )
    conn.close()


def wipe(db: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


def names(dest: Path) -> list[str]:
    return sorted(p.name for p in dest.iterdir())


# ----------------------------------------------------------------- backup and restore


async def test_backup_job_while_bots_draw_verifies_and_restores_into_a_wiped_room(
    room_factory: RoomFactory, connect: Connect, tmp_path: Path, token_file: Path
) -> None:
    db = tmp_path / "room.db"
    seed_history(db, HISTORY_STROKES)
    room = await room_factory(db)
    ann, bob = await start_drawing(room, connect)
    await ann.send({"type": "chat", "text": "hello <b>all</b>"})
    dest = tmp_path / "backups"
    terminal = tmp_path / "termination-log"
    terminal.write_text("")
    async with drawing(ann, bob) as sent, loop_lag() as worst:
        job = await run_job(
            *backup_args(room, token_file, f"pvc:{dest}", "--termination-log", str(terminal))
        )
        drawn_during = sent[0]
    assert job.code == 0, job.stderr
    result = job.result
    assert result["succeeded"] is True and result["verified"] is True
    name = result["name"]
    assert names(dest) == sorted([name, name.removesuffix(".sql") + ".manifest.json"])
    dump = dest / name
    manifest = json.loads((dest / (name.removesuffix(".sql") + ".manifest.json")).read_text())
    assert manifest["room"] == "test-room" and manifest["serverVersion"] == "9.9.9-test"
    assert manifest["schemaVersion"] == 1 and manifest["verified"] is True
    assert result["sha256"] == manifest["sha256"] == hashlib.sha256(dump.read_bytes()).hexdigest()
    assert result["sizeBytes"] == manifest["bytes"] == dump.stat().st_size
    assert result["rows"] == sum(manifest["rowCounts"].values())
    # The operator reads the same line from the container's termination message.
    assert json.loads(terminal.read_text()) == result
    counts, digests = dump_digests(dump)
    assert {t: counts[t] for t in manifest["rowCounts"]} == manifest["rowCounts"]
    assert 10 <= manifest["rowCounts"]["strokes"] - HISTORY_STROKES <= drawn_during
    # The room's event loop went on serving the bots while it took the snapshot (a
    # snapshot of this database on the loop itself blocks it for about half a second;
    # bench/backup.py measures the real figure on a quiet machine).
    assert worst[0] < 0.25, f"the event loop was blocked {worst[0] * 1000:.0f} ms"

    listing = await run_job("list-backups", "--destination", f"pvc:{dest}")
    assert listing.code == 0
    (entry,) = json.loads(listing.stdout)
    assert entry == {
        "name": name,
        "time": manifest["createdAt"],
        "sizeBytes": dump.stat().st_size,
        "rows": result["rows"],
        "sha256": manifest["sha256"],
        "verified": True,
    }

    # Disaster: the room's volume is lost; a fresh room starts empty on a new file.
    await ann.close()
    await bob.close()
    await room.stop()
    wipe(db)
    fresh = await room_factory(db)
    assert table_digests(db)[0]["strokes"] == 0
    restored = await run_job(*restore_args(fresh, token_file, f"pvc:{dest}", "latest"))
    assert restored.code == 0, restored.stderr
    assert restored.result["name"] == name and restored.result["restored"] is True
    assert restored.result["rowCounts"] == manifest["rowCounts"]
    await asyncio.to_thread(fresh.server.store.flush)
    live_counts, live_digests = table_digests(db)
    assert {t: live_counts[t] for t in manifest["rowCounts"]} == manifest["rowCounts"]
    assert live_digests == digests
    # and the game itself has its drawing back
    state = fresh.server.room
    assert state.phase == "drawing"


def tampered(src: Path, dest: Path, how: str) -> None:
    """Copy backup `src` (with its manifest) into `dest`, damaged in one way."""
    text = src.read_text()
    manifest = json.loads(src.with_name(src.stem + ".manifest.json").read_text())
    if how == "truncated":
        text = text[: len(text) // 2]
    elif how == "edited":
        text = text.replace("hello", "HACKED", 1)
        assert "HACKED" in text
    elif how == "hostile":
        # a dump whose manifest was rewritten to match: it ATTACHes a file
        text = text.replace(
            "BEGIN TRANSACTION;", "BEGIN TRANSACTION;\nATTACH DATABASE '/tmp/x.db' AS x;", 1
        )
        manifest["sha256"] = hashlib.sha256(text.encode()).hexdigest()
        manifest["bytes"] = len(text.encode())
    dest.mkdir(parents=True, exist_ok=True)
    (dest / src.name).write_text(text)
    (dest / (src.stem + ".manifest.json")).write_text(json.dumps(manifest))


@pytest.mark.parametrize(
    ("how", "reason"),
    [
        ("truncated", "sha256"),
        ("edited", "sha256"),
        ("hostile", "ATTACH"),
    ],
)
async def test_a_damaged_or_tampered_backup_is_refused_and_the_room_keeps_its_data(
    room: RunningRoom,
    connect: Connect,
    tmp_path: Path,
    token_file: Path,
    how: str,
    reason: str,
) -> None:
    ann, bob = await start_drawing(room, connect)
    await ann.send({"type": "chat", "text": "hello there"})
    async with drawing(ann, bob):
        made = await run_job(*backup_args(room, token_file, f"pvc:{tmp_path / 'good'}"))
    assert made.code == 0, made.stderr
    bad = tmp_path / "bad"
    tampered(tmp_path / "good" / made.result["name"], bad, how)
    await asyncio.to_thread(room.server.store.flush)
    before = table_digests(room.server.settings.db_path)
    run = await run_job(*restore_args(room, token_file, f"pvc:{bad}", "latest"))
    assert run.code == 1
    assert run.result["succeeded"] is False and reason in run.result["reason"]
    assert "room keeps its data" in run.stderr and reason in run.stderr
    await asyncio.to_thread(room.server.store.flush)
    assert table_digests(room.server.settings.db_path) == before
    # the game goes on: Bob still sees Ann's strokes
    await ann.send(draw_message(9999, [[1, 1], [2, 2]]))
    await bob.expect("draw", lambda m: m["stroke"] == 9999)


async def test_restore_job_refuses_a_backup_without_manifest_or_that_does_not_exist(
    room: RunningRoom, tmp_path: Path, token_file: Path
) -> None:
    dest = tmp_path / "b"
    dest.mkdir()
    (dest / "backup-20260101-000000.sql").write_text("BEGIN TRANSACTION;\nCOMMIT;\n")
    run = await run_job(
        *restore_args(room, token_file, f"pvc:{dest}", "backup-20260101-000000.sql")
    )
    assert run.code == 1 and "has no manifest" in run.stderr
    run = await run_job(
        *restore_args(room, token_file, f"pvc:{dest}", "backup-20250101-000000.sql")
    )
    assert run.code == 1 and "is not in pvc:" in run.stderr


# ----------------------------------------------------------------- retention


def plant(dest: Path, when: datetime) -> str:
    name = f"backup-{when:%Y%m%d-%H%M%S}.sql"
    (dest / name).write_text("old")
    (dest / (name.removesuffix(".sql") + ".manifest.json")).write_text("{}")
    return name


@pytest.mark.parametrize(
    ("count", "max_age", "pruned_ages"),
    [
        (3, 0, [8, 20]),  # the count binds: the new one plus the two newest old ones stay
        (10, 4, [5, 8, 20]),  # the age binds
        (4, 6, [8, 20]),  # both: 8 and 20 are too old, and 4 would be kept by count
        (1, 0, [2, 5, 8, 20]),  # only the new one stays
    ],
)
async def test_retention_prunes_exactly_by_count_and_age(
    room: RunningRoom,
    tmp_path: Path,
    token_file: Path,
    count: int,
    max_age: int,
    pruned_ages: list[int],
) -> None:
    dest = tmp_path / "b"
    dest.mkdir()
    now = datetime.now(UTC)
    planted = {days: plant(dest, now - timedelta(days=days, hours=1)) for days in (2, 5, 8, 20)}
    run = await run_job(
        *backup_args(
            room,
            token_file,
            f"pvc:{dest}",
            "--retention-count",
            str(count),
            "--retention-max-age-days",
            str(max_age),
        )
    )
    assert run.code == 0, run.stderr
    expected_pruned = sorted(planted[d] for d in pruned_ages)
    assert run.result["pruned"] == expected_pruned
    kept = sorted([run.result["name"], *(planted[d] for d in planted if d not in pruned_ages)])
    assert sorted(p for p in names(dest) if p.endswith(".sql")) == kept
    assert not any(
        n.endswith(".manifest.json") and n.replace(".manifest.json", ".sql") not in kept
        for n in names(dest)
    )


async def test_a_backup_in_the_same_second_as_another_gets_the_next_free_name(
    room: RunningRoom, tmp_path: Path, token_file: Path
) -> None:
    """Names have one-second resolution: two backups a moment apart (a scheduled one and
    `kubectl gameroom backup`, or two in a row) must both be stored, neither overwritten."""
    dest = tmp_path / "b"
    dest.mkdir()
    now = datetime.now(UTC)
    taken = [plant(dest, now + timedelta(seconds=s)) for s in (0, 1)]
    run = await run_job(*backup_args(room, token_file, f"pvc:{dest}"))
    assert run.code == 0, run.stderr
    assert run.result["name"] not in taken and run.result["name"] > taken[-1]
    assert all((dest / name).read_text() == "old" for name in taken)
    assert sorted(n for n in names(dest) if n.endswith(".sql")) == [*taken, run.result["name"]]


async def test_backup_without_verify_is_stored_unverified_and_still_restores_verified(
    room: RunningRoom, tmp_path: Path, token_file: Path
) -> None:
    """spec.backup.verify: false renders --no-verify: no scratch restore, the manifest and
    the result say unverified; a restore still verifies the dump before it swaps."""
    dest = tmp_path / "b"
    run = await run_job(*backup_args(room, token_file, f"pvc:{dest}", "--no-verify"))
    assert run.code == 0, run.stderr
    result = run.result
    assert result["succeeded"] is True and result["verified"] is False
    name = result["name"]
    manifest = json.loads((dest / (name.removesuffix(".sql") + ".manifest.json")).read_text())
    assert manifest["verified"] is False and "verifiedAt" not in manifest
    assert "integrityCheck" not in manifest
    assert result["rows"] == sum(manifest["rowCounts"].values()) > 0
    assert result["sha256"] == hashlib.sha256((dest / name).read_bytes()).hexdigest()
    listing = await run_job("list-backups", "--destination", f"pvc:{dest}")
    assert [(b["name"], b["verified"]) for b in json.loads(listing.stdout)] == [(name, False)]
    restored = await run_job(*restore_args(room, token_file, f"pvc:{dest}", "latest"))
    assert restored.code == 0, restored.stderr
    assert restored.result["verified"] is True and restored.result["name"] == name


def test_prune_never_removes_the_backup_just_written() -> None:
    now = datetime(2026, 12, 3, 12, tzinfo=UTC)
    backups = [
        StoredBackup("backup-20260101-000000.sql", 1, None),  # old: a skewed clock wrote it
        StoredBackup("backup-20261202-000000.sql", 1, None),
        StoredBackup("backup-20261203-000000.sql", 1, None),
    ]
    plan = prune_plan(backups, "backup-20260101-000000.sql", 1, 7, now)
    assert plan == ["backup-20261202-000000.sql", "backup-20261203-000000.sql"]
    assert prune_plan(backups, "backup-20261203-000000.sql", 2, 0, now) == [
        "backup-20260101-000000.sql"
    ]


# ----------------------------------------------------------------- failures


async def test_failing_backups_exit_non_zero_with_a_clear_message_and_leave_nothing(
    room: RunningRoom, tmp_path: Path, token_file: Path
) -> None:
    dest = tmp_path / "b"
    dest.mkdir()
    wrong = tmp_path / "wrong-token"
    wrong.write_text("not-the-token")
    terminal = tmp_path / "termination-log"
    terminal.write_text("")

    run = await run_job(
        *backup_args(room, wrong, f"pvc:{dest}", "--termination-log", str(terminal))
    )
    assert run.code == 1 and "401" in run.stderr and "admin token" in run.stderr
    assert json.loads(terminal.read_text())["reason"] == run.result["reason"]
    assert run.result["succeeded"] is False

    unreachable = backup_args(room, token_file, f"pvc:{dest}")
    unreachable[2] = "http://127.0.0.1:9"
    run = await run_job(*unreachable)
    assert run.code == 1 and "cannot reach the room at http://127.0.0.1:9" in run.stderr

    blocker = tmp_path / "a-file"
    blocker.write_text("")
    run = await run_job(*backup_args(room, token_file, f"pvc:{blocker}/backups"))
    assert run.code == 1 and "is not writable" in run.stderr

    run = await run_job(*backup_args(room, token_file, "relative/path"))
    assert run.code == 2 and "pvc:/ABSOLUTE/PATH" in run.stderr

    missing = tmp_path / "no-such-token"
    run = await run_job(*backup_args(room, missing, f"pvc:{dest}"))
    assert run.code == 2 and "cannot read admin token file" in run.stderr
    assert names(dest) == []


async def stalling_proxy(
    target_port: int, allow: int, *, cut: bool = False
) -> tuple[asyncio.Server, asyncio.Event]:
    """A TCP proxy that passes `allow` bytes of each response, then holds the rest back
    (or, with `cut`, drops the connection: a download cut short)."""
    release = asyncio.Event()

    async def pipe(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, cap: int | None
    ) -> None:
        passed = 0
        with contextlib.suppress(OSError, ConnectionError):
            while data := await reader.read(4096):
                if cap is not None and passed + len(data) > cap:
                    writer.write(data[: cap - passed])
                    await writer.drain()
                    if cut:
                        writer.close()
                    else:
                        await release.wait()
                    return
                passed += len(data)
                writer.write(data)
                await writer.drain()
        writer.close()

    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection("127.0.0.1", target_port)
        await asyncio.gather(pipe(client_r, server_w, None), pipe(server_r, client_w, allow))

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, release


def has_partial(directory: Path) -> bool:
    return any(p.name.endswith(".partial") for p in directory.iterdir())


async def sigterm_mid_download(
    room: RunningRoom,
    connect: Connect,
    args: list[str],
    watch: Path,
    env: dict[str, str] | None = None,
) -> tuple[int | None, str, str]:
    """Run a backup-job whose download stalls half-way; SIGTERM it once its temporary
    file exists in `watch`. Returns its exit code, stdout and stderr."""
    ann, bob = await start_drawing(room, connect)
    async with drawing(ann, bob, first=1):
        await bob.expect("draw", lambda m: m["stroke"] >= 40, within=10)
    proxy, release = await stalling_proxy(room.admin_port, allow=3000)
    port = proxy.sockets[0].getsockname()[1]
    args[2] = f"http://127.0.0.1:{port}"
    proc = await start_job(*args, env=env)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while not has_partial(watch):
            assert proc.returncode is None, "the job ended before the download stalled"
            assert loop.time() < deadline, "the job never started writing its download"
            await asyncio.sleep(0.01)
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), 20)
    finally:
        release.set()
        proxy.close()
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
    return proc.returncode, out.decode(), err.decode()


async def test_sigterm_during_a_backup_leaves_no_backup_and_no_partial_file(
    room: RunningRoom, connect: Connect, tmp_path: Path, token_file: Path
) -> None:
    dest = tmp_path / "b"
    dest.mkdir()
    args = backup_args(room, token_file, f"pvc:{dest}")
    code, out, err = await sigterm_mid_download(room, connect, args, dest)
    assert code == 143, err
    assert "SIGTERM" in err
    assert json.loads(out.splitlines()[-1])["succeeded"] is False
    assert names(dest) == []


# ----------------------------------------------------------------- s3


S3_ENV = {
    "AWS_ACCESS_KEY_ID": "backup-job-test",
    "AWS_SECRET_ACCESS_KEY": "backup-job-test-secret",
}


@dataclass
class S3Server:
    endpoint: str
    client: Any

    def keys(self, bucket: str) -> list[str]:
        listed = self.client.list_objects_v2(Bucket=bucket)
        return sorted(obj["Key"] for obj in listed.get("Contents", []))


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """moto's standalone S3-compatible server on loopback: it stands in for S3 as
    kubesandbox stands in for Kubernetes (same wire protocol, boto3 as the client)."""
    import socket
    import subprocess
    import time
    import urllib.error
    import urllib.request

    import boto3

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=job_env(),
        )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, log.read_text()
        try:
            with urllib.request.urlopen(endpoint + "/moto-api/", timeout=2):
                break
        except (urllib.error.URLError, OSError):
            assert time.monotonic() < deadline, (
                "moto's S3 server did not start:\n" + log.read_text()
            )
            time.sleep(0.1)
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=S3_ENV["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=S3_ENV["AWS_SECRET_ACCESS_KEY"],
    )
    try:
        yield S3Server(endpoint, client)
    finally:
        proc.terminate()
        proc.wait(10)


def s3_args(s3: S3Server) -> list[str]:
    return ["--s3-endpoint", s3.endpoint, "--s3-region", "us-east-1"]


async def test_s3_destination_backup_list_prune_and_restore(
    room: RunningRoom, connect: Connect, tmp_path: Path, token_file: Path, s3: S3Server
) -> None:
    bucket = "gameroom-backups"
    await asyncio.to_thread(s3.client.create_bucket, Bucket=bucket)
    old = "rooms/test-room/backup-20250101-000000"
    await asyncio.to_thread(s3.client.put_object, Bucket=bucket, Key=old + ".sql", Body=b"old")
    await asyncio.to_thread(
        s3.client.put_object, Bucket=bucket, Key=old + ".manifest.json", Body=b"{}"
    )
    ann, bob = await start_drawing(room, connect)
    dest = f"s3://{bucket}/rooms/test-room"
    async with drawing(ann, bob) as sent:
        run = await run_job(
            *backup_args(room, token_file, dest, "--retention-count", "1", *s3_args(s3)),
            env=S3_ENV,
        )
    assert run.code == 0, run.stderr
    name = run.result["name"]
    assert run.result["pruned"] == ["backup-20250101-000000.sql"]
    assert run.result["destination"] == dest
    keys = await asyncio.to_thread(s3.keys, bucket)
    stem = "rooms/test-room/" + name.removesuffix(".sql")
    assert keys == [stem + ".manifest.json", stem + ".sql"]
    body = await asyncio.to_thread(
        lambda: s3.client.get_object(Bucket=bucket, Key=stem + ".sql")["Body"].read()
    )
    assert hashlib.sha256(body).hexdigest() == run.result["sha256"]
    assert len(body) == run.result["sizeBytes"]

    listing = await run_job("list-backups", "--destination", dest, *s3_args(s3), env=S3_ENV)
    assert listing.code == 0, listing.stderr
    assert [(b["name"], b["verified"], b["rows"]) for b in json.loads(listing.stdout)] == [
        (name, True, run.result["rows"])
    ]

    # More drawing after the backup; the restore brings the room back to the backup's rows.
    async with drawing(ann, bob, first=sent[0] + 1):
        pass
    await asyncio.to_thread(room.server.store.flush)
    db = room.server.settings.db_path
    assert table_digests(db)[0]["strokes"] > run.result["rowCounts"]["strokes"]
    restored = await run_job(
        *restore_args(room, token_file, dest, "latest", *s3_args(s3)), env=S3_ENV
    )
    assert restored.code == 0, restored.stderr
    assert restored.result["name"] == name
    await asyncio.to_thread(room.server.store.flush)
    assert table_digests(db)[0]["strokes"] == run.result["rowCounts"]["strokes"]


async def test_s3_failures_are_clear_and_store_nothing(
    room: RunningRoom, tmp_path: Path, token_file: Path, s3: S3Server
) -> None:
    run = await run_job(
        *backup_args(room, token_file, "s3://no-such-bucket/x", *s3_args(s3)), env=S3_ENV
    )
    assert run.code == 1 and "NoSuchBucket" in run.stderr and "not writable" in run.stderr
    run = await run_job(*backup_args(room, token_file, "s3://some-bucket/x", *s3_args(s3)))
    assert run.code == 1 and "credentials" in run.stderr.lower()
    await asyncio.to_thread(s3.client.create_bucket, Bucket="wrong-token-bucket")
    wrong = tmp_path / "wrong"
    wrong.write_text("nope")
    run = await run_job(
        *backup_args(room, wrong, "s3://wrong-token-bucket/r", *s3_args(s3)), env=S3_ENV
    )
    assert run.code == 1 and "401" in run.stderr
    assert await asyncio.to_thread(s3.keys, "wrong-token-bucket") == []


# ----------------------------------------------------------------- clone


async def test_a_backup_restored_into_another_room_becomes_that_rooms_data(
    room: RunningRoom, connect: Connect, tmp_path: Path, token_file: Path
) -> None:
    ann, bob = await start_drawing(room, connect)
    async with drawing(ann, bob):
        made = await run_job(*backup_args(room, token_file, f"pvc:{tmp_path / 'b'}"))
    assert made.code == 0, made.stderr
    settings = dataclasses.replace(room_settings(tmp_path / "clone.db"), room_name="clone-room")
    clone = await start_room(settings)
    try:
        run = await run_job(*restore_args(clone, token_file, f"pvc:{tmp_path / 'b'}", "latest"))
        assert run.code == 0, run.stderr
        assert run.result["clonedFrom"] == "test-room"
        await asyncio.to_thread(clone.server.store.flush)
        conn = sqlite3.connect(f"file:{tmp_path / 'clone.db'}?mode=ro", uri=True)
        try:
            rooms = {r[0] for r in conn.execute("SELECT DISTINCT room FROM strokes")}
            strokes = conn.execute("SELECT count(*) FROM strokes").fetchone()[0]
        finally:
            conn.close()
        assert rooms == {"clone-room"}
        assert strokes == made.result["rowCounts"]["strokes"]
        # the clone resumes the game where the backup left it; the source is untouched
        assert clone.server.room.phase == "drawing"
        assert {m.name for m in clone.server.room.players()} == {"Ann", "Bob"}
        await ann.send(draw_message(9999, [[1, 1], [2, 2]]))
        await bob.expect("draw", lambda m: m["stroke"] == 9999)
    finally:
        await clone.stop()


async def test_sigterm_during_an_s3_backup_uploads_nothing(
    room: RunningRoom, connect: Connect, tmp_path: Path, token_file: Path, s3: S3Server
) -> None:
    await asyncio.to_thread(s3.client.create_bucket, Bucket="sigterm-bucket")
    work = tmp_path / "work"
    work.mkdir()
    args = backup_args(
        room, token_file, "s3://sigterm-bucket/r", "--work-dir", str(work), *s3_args(s3)
    )
    code, out, err = await sigterm_mid_download(room, connect, args, work, env=S3_ENV)
    assert code == 143, err
    assert json.loads(out.splitlines()[-1])["succeeded"] is False
    assert names(work) == []
    assert await asyncio.to_thread(s3.keys, "sigterm-bucket") == []


async def test_a_download_cut_short_fails_clearly_and_stores_nothing(
    room: RunningRoom, connect: Connect, tmp_path: Path, token_file: Path
) -> None:
    ann, bob = await start_drawing(room, connect)
    async with drawing(ann, bob, first=1):
        await bob.expect("draw", lambda m: m["stroke"] >= 40, within=10)
    proxy, _ = await stalling_proxy(room.admin_port, allow=3000, cut=True)
    dest = tmp_path / "b"
    args = backup_args(room, token_file, f"pvc:{dest}")
    args[2] = f"http://127.0.0.1:{proxy.sockets[0].getsockname()[1]}"
    try:
        run = await run_job(*args)
    finally:
        proxy.close()
    assert run.code == 1, run.stderr
    assert "Traceback" not in run.stderr
    assert "cut short" in run.result["reason"], run.result
    assert names(dest) == []
