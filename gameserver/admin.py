"""The admin API on its own port: bearer token (constant-time compare), else 401."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import shutil
import sqlite3
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from gameserver.backup import BackupError, Snapshot, adopt_room, load_dump
from gameserver.protocol import find_surrogate, scrub_text
from gameserver.ratelimit import ConnectionLimits
from gameserver.roomstate import RoomStateError
from gameserver.server import GameServer
from gameserver.settings import GameSettings, RateLimits, camel_view, live_change
from gameserver.web import SERVER_KEY, harden_headers

log = structlog.get_logger("gameserver.admin")

MAX_RESTORE_BYTES = 1 << 30
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _problem(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


@web.middleware
async def require_token(request: web.Request, handler: Handler) -> web.StreamResponse:
    server = request.app[SERVER_KEY]
    expected = server.settings.admin_token
    header = request.headers.get("Authorization", "")
    scheme, _, presented = header.partition(" ")
    if not expected:
        return _problem(
            401,
            "the admin API is disabled: start the server with GAMESERVER_ADMIN_TOKEN "
            "or GAMESERVER_ADMIN_TOKEN_FILE",
        )
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        presented.strip().encode(), expected.encode()
    ):
        response = _problem(
            401, "missing or wrong admin token: send 'Authorization: Bearer <token>'"
        )
        response.headers["WWW-Authenticate"] = 'Bearer realm="gameroom-admin"'
        return response
    return await handler(request)


async def _json_body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        data = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise web.HTTPBadRequest(
            text=json.dumps({"error": "the body must be a JSON object"}),
            content_type="application/json",
        ) from None
    if not isinstance(data, dict):
        raise web.HTTPBadRequest(
            text=json.dumps({"error": "the body must be a JSON object"}),
            content_type="application/json",
        )
    where = find_surrogate(data)
    if where is not None:
        message = f"field '{where}' holds an unpaired UTF-16 surrogate: send valid Unicode text"
        raise web.HTTPBadRequest(
            text=json.dumps({"error": message}), content_type="application/json"
        )
    return data


def _server(request: web.Request) -> GameServer:
    return request.app[SERVER_KEY]


async def stats(request: web.Request) -> web.Response:
    server = _server(request)
    room = server.room
    in_game = room.phase not in ("lobby",)
    return web.json_response(
        {
            "room": server.settings.room_name,
            "phase": room.phase,
            # Players online now; `seats` also counts seats kept for a reconnect.
            "players": len(room.connected_players()),
            "connectedPlayers": len(room.connected_players()),
            "seats": len(room.players()),
            "spectators": len(room.spectators()),
            "connections": len(server.sockets),
            "draining": server.draining,
            "maintenance": server.maintenance_state(),
            "version": server.settings.version,
            "game": {"round": room.round, "rounds": room.rounds} if in_game else None,
            # The operator's WaitForIdle rollouts hold an update while a turn is drawn with
            # players connected, and look again when it ends.
            "turnEndsInSeconds": (
                round(max(room.ends_at - server.clock(), 0.0), 1)
                if room.phase == "drawing" and room.ends_at is not None
                else None
            ),
            "messagesInPerSecond": round(server.metrics.rate_in.per_second(), 2),
            "messagesOutPerSecond": round(server.metrics.rate_out.per_second(), 2),
        }
    )


async def get_maintenance(request: web.Request) -> web.Response:
    return web.json_response(_server(request).maintenance_state())


async def put_maintenance(request: web.Request) -> web.Response:
    body = await _json_body(request)
    enabled = body.get("enabled")
    message = body.get("message", "")
    if not isinstance(enabled, bool):
        return _problem(400, "field 'enabled' is required and must be true or false")
    if not isinstance(message, str) or len(message) > 500:
        return _problem(400, "field 'message' must be a string of at most 500 characters")
    return web.json_response(_server(request).set_maintenance(enabled, scrub_text(message)))


async def announce(request: web.Request) -> web.Response:
    body = await _json_body(request)
    text = body.get("text")
    level = body.get("level", "info")
    if isinstance(text, str):
        text = scrub_text(text)
    if not isinstance(text, str) or not 1 <= len(text.strip()) <= 500:
        return _problem(400, "field 'text' is required: 1-500 characters")
    if level not in ("info", "warning"):
        return _problem(400, "field 'level' must be 'info' or 'warning'")
    delivered = _server(request).broadcast(
        {"type": "announce", "text": text.strip(), "level": level}
    )
    return web.json_response({"delivered": delivered})


async def close_room(request: web.Request) -> web.Response:
    """The room is deleted: its operator calls this before the Pod goes (see PROTOCOL.md)."""
    body = await _json_body(request)
    message = body.get("message", "")
    if not isinstance(message, str) or len(message) > 500:
        return _problem(400, "field 'message' must be a string of at most 500 characters")
    disconnected = await _server(request).close_room(scrub_text(message).strip())
    return web.json_response({"closed": True, "disconnected": disconnected})


def _live_settings(server: GameServer) -> dict[str, Any]:
    room = server.room
    upcoming = room.next_settings or room.settings
    return {
        # What the next game is played with (and a lobby shows now).
        "game": upcoming.public(),
        "rateLimits": camel_view(server.config.rate_limits),
        # The game being played keeps what it started with.
        "runningGame": (
            {"rounds": room.rounds, "drawTimeSeconds": room.settings.draw_time_seconds}
            if room.phase != "lobby"
            else None
        ),
        "pendingForNextGame": room.next_settings is not None,
    }


async def get_settings(request: web.Request) -> web.Response:
    return web.json_response(_live_settings(_server(request)))


async def put_settings(request: web.Request) -> web.Response:
    """Live settings: rate limits at once (every connected sender's too), game settings
    from the next game. Nothing applies unless everything is valid."""
    server = _server(request)
    body = await _json_body(request)
    if not body:
        return _problem(400, "send a JSON object with 'game' and/or 'rateLimits'")
    room = server.room
    change = live_change(room.next_settings or room.settings, server.config.rate_limits, body)
    if change.errors:
        return _problem(400, "; ".join(change.errors), fields=change.fields)
    before = room.next_settings or room.settings
    server.config = replace(server.config, game=change.game, rate_limits=change.rate_limits)
    for limits in {id(x): x for x in _all_limits(server)}.values():
        _retune(limits, change.rate_limits)
    if change.game != before:
        server.deliver(room.set_next_settings(change.game))
        if room.next_settings is not None:
            notice = next_game_notice(before, change.game)
            if notice:
                server.broadcast({"type": "announce", "text": notice, "level": "info"})
        server.persist_now()
    log.info("live_settings", pending=room.next_settings is not None)
    return web.json_response(_live_settings(server))


def _all_limits(server: GameServer) -> list[ConnectionLimits]:
    return [*server.member_limits.values(), *(conn.limits for conn in server.sockets)]


def _retune(limits: ConnectionLimits, rl: RateLimits) -> None:
    """New rates for a sender's buckets, keeping what it has spent (never more than the
    new burst)."""
    for bucket, rate, burst in (
        (limits.chat, rl.chat_per_second, rl.chat_burst),
        (limits.draw, rl.draw_per_second, rl.draw_burst),
        (limits.other, rl.control_per_second, rl.control_burst),
    ):
        bucket.rate, bucket.burst = rate, burst
        bucket.tokens = min(bucket.tokens, burst)
    for abuse, rate in (
        (limits.chat_abuse, rl.chat_per_second),
        (limits.draw_abuse, rl.draw_per_second),
        (limits.other_abuse, rl.control_per_second),
    ):
        abuse.rate, abuse.factor, abuse.seconds = rate, rl.abuse_factor, rl.abuse_seconds


_NOTICE = {
    "rounds": "{} rounds",
    "drawTimeSeconds": "{} s to draw",
    "maxPlayers": "up to {} players",
    "wordChoices": "{} words to choose from",
    "hints": "{} hints",
    "language": "words in {}",
}


def next_game_notice(before: GameSettings, after: GameSettings) -> str:
    """What players are told of settings that wait for the next game: "Next game: 5
    rounds, 60 s to draw." (the custom words themselves are never shown)."""
    old, new = before.public(), after.public()
    parts = [text.format(new[key]) for key, text in _NOTICE.items() if old[key] != new[key]]
    if (old["customWords"], old["customWordsOnly"]) != (new["customWords"], new["customWordsOnly"]):
        parts.append("new custom words")
    return f"Next game: {', '.join(parts)}." if parts else ""


def _drain_state(server: GameServer) -> dict[str, Any]:
    return {
        "draining": server.draining,
        "phase": server.room.phase,
        "players": len(server.room.players()),
    }


async def start_drain(request: web.Request) -> web.Response:
    server = _server(request)
    body = await _json_body(request)
    message = body.get("message")
    server.draining = True
    if isinstance(message, str) and scrub_text(message).strip():
        text = scrub_text(message).strip()[:500]
        server.broadcast({"type": "announce", "text": text, "level": "warning"})
    log.info("drain_started")
    return web.json_response(_drain_state(server))


async def stop_drain(request: web.Request) -> web.Response:
    server = _server(request)
    server.draining = False
    server.ready = server.store.is_open
    return web.json_response(_drain_state(server))


def _busy(server: GameServer) -> web.Response | None:
    if server.restoring:
        return _problem(409, "a restore is in progress: try again when it has finished")
    if server.stopping:
        return _problem(503, "the room is shutting down")
    return None


async def _snapshot_in_child(server: GameServer, work: Path) -> Snapshot:
    """VACUUM INTO, dump and hash in a child process (gameserver/snapshot.py says why)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gameserver.snapshot",
        str(server.settings.db_path),
        str(work),
        server.settings.room_name,
        server.settings.version,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await proc.communicate()
    except BaseException:
        # The admin client went away: the child's work is of no use any more.
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
    if proc.returncode != 0:
        detail = err.decode("utf-8", "replace").strip().splitlines()
        raise BackupError(
            f"the snapshot failed (exit {proc.returncode}): {detail[-1] if detail else '?'}"
        )
    try:
        manifest = json.loads(out)
        return Snapshot(work / str(manifest["file"]), manifest)
    except (ValueError, KeyError, TypeError) as exc:
        raise BackupError(f"the snapshot process printed no manifest: {exc}") from exc


async def export_backup(request: web.Request) -> web.StreamResponse:
    server = _server(request)
    if (busy := _busy(server)) is not None:
        return busy
    server.persist_now()
    await asyncio.to_thread(server.store.flush)
    work = Path(tempfile.mkdtemp(prefix="gameroom-backup-", dir=server.settings.db_path.parent))
    try:
        snap = await _snapshot_in_child(server, work)
    except BackupError as exc:
        await asyncio.to_thread(_rmtree, work)
        return _problem(500, str(exc))
    except BaseException:
        await asyncio.to_thread(_rmtree, work)
        raise
    manifest = json.dumps(snap.manifest, separators=(",", ":"))
    response = web.StreamResponse(
        headers={
            "Content-Type": "application/sql; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{snap.manifest["file"]}"',
            "X-Backup-Manifest": manifest,
            "Content-Length": str(snap.manifest["bytes"]),
        }
    )
    try:
        await response.prepare(request)
        with snap.dump_path.open("rb") as fh:
            while chunk := await asyncio.to_thread(fh.read, 1 << 16):
                await response.write(chunk)
        await response.write_eof()
    finally:
        await asyncio.to_thread(_rmtree, work)
    log.info("backup_exported", bytes=snap.manifest["bytes"], sha256=snap.manifest["sha256"])
    return response


async def restore(request: web.Request) -> web.Response:
    server = _server(request)
    if (busy := _busy(server)) is not None:
        return busy
    manifest: dict[str, Any] | None = None
    raw_manifest = request.headers.get("X-Backup-Manifest")
    if raw_manifest:
        try:
            manifest = json.loads(raw_manifest)
        except ValueError:
            return _problem(400, "header X-Backup-Manifest is not valid JSON")
        if not isinstance(manifest, dict):
            return _problem(400, "header X-Backup-Manifest must be a JSON object")
    work = Path(tempfile.mkdtemp(prefix="gameroom-restore-", dir=server.settings.db_path.parent))
    try:
        dump = work / "upload.sql"
        size = 0
        with dump.open("wb") as fh:
            async for chunk in request.content.iter_chunked(1 << 16):
                size += len(chunk)
                if size > MAX_RESTORE_BYTES:
                    return _problem(413, "the dump is larger than 1 GiB")
                await asyncio.to_thread(fh.write, chunk)
        if size == 0:
            return _problem(400, "the request body is empty: send the SQL dump")
        result = await asyncio.to_thread(load_dump, dump, manifest, work / "restore.db")
        if not result.ok or result.database is None:
            log.warning("restore_refused", problems=result.problems)
            return _problem(
                422,
                "restore refused, the room keeps its data: " + "; ".join(result.problems),
                problems=result.problems,
            )
        try:
            cloned_from = await asyncio.to_thread(
                adopt_room, result.database, server.settings.room_name
            )
        except (BackupError, sqlite3.Error) as exc:
            return _problem(422, f"restore refused, the room keeps its data: {exc}")
        if (busy := _busy(server)) is not None:
            return busy  # another restore won the race while this one was verified
        try:
            await server.restore_database(result.database)
        except RoomStateError as exc:
            log.warning("restore_refused", problems=[str(exc)])
            return _problem(
                422, f"restore refused, the room keeps its data: {exc}", problems=[str(exc)]
            )
        log.info("restored", rows=sum(result.row_counts.values()), cloned_from=cloned_from)
        return web.json_response(
            {
                "restored": True,
                "clonedFrom": cloned_from,
                "schemaVersion": result.schema_version,
                "rowCounts": result.row_counts,
                "phase": server.room.phase,
                "players": len(server.room.players()),
            }
        )
    finally:
        await asyncio.to_thread(_rmtree, work)


def _rmtree(path: Path) -> None:
    with contextlib.suppress(OSError):
        shutil.rmtree(path)


def build_admin_app(server: GameServer) -> web.Application:
    app = web.Application(middlewares=[require_token], client_max_size=MAX_RESTORE_BYTES)
    app.on_response_prepare.append(harden_headers)
    app[SERVER_KEY] = server
    app.router.add_get("/admin/stats", stats)
    app.router.add_get("/admin/maintenance", get_maintenance)
    app.router.add_put("/admin/maintenance", put_maintenance)
    app.router.add_get("/admin/settings", get_settings)
    app.router.add_put("/admin/settings", put_settings)
    app.router.add_post("/admin/announce", announce)
    app.router.add_post("/admin/drain", start_drain)
    app.router.add_delete("/admin/drain", stop_drain)
    app.router.add_post("/admin/close", close_room)
    app.router.add_get("/admin/backup", export_backup)
    app.router.add_post("/admin/restore", restore)
    return app
