"""The aiohttp game server: WebSocket play, public HTTP API, broadcast fan-out.

Broadcasts are serialized once into a finished WebSocket frame and the same bytes are
written to every socket's transport; a socket whose send buffer is over
`SEND_BUFFER_LIMIT` (a slow or stuck client) is dropped instead of growing memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import structlog
from aiohttp import WSMsgType, web

from gameserver import PROTOCOL_VERSION
from gameserver import protocol as p
from gameserver.game import Close, LeaderEntry, Outbound, Room, Send
from gameserver.metrics import Metrics
from gameserver.protocol import ProtocolError
from gameserver.ratelimit import AbuseDetector, ConnectionLimits, TokenBucket
from gameserver.settings import ServerSettings
from gameserver.store import Store

log = structlog.get_logger("gameserver.server")

SEND_BUFFER_LIMIT = 1 << 20
# Kernel send buffer per socket: plenty for a game stream, and it bounds what a stalled
# peer can pin in kernel memory before the user-space limit above notices it.
KERNEL_SEND_BUFFER = 256 * 1024
TICK_SECONDS = 0.1
RECONNECT_RETRY_MS = 1000
INTERNAL_ERROR_MESSAGE = "the server failed to apply this message; it was ignored"
# Open sockets beyond every possible seat: pages still on the join screen, reconnects.
SPARE_CONNECTIONS = 64
OTHER_RATE = 10.0
OTHER_BURST = 20
STATIC_DIR = Path(__file__).parent / "static"
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
MIME_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".webmanifest": "application/manifest+json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".ico": "image/x-icon",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
    ".mp3": "audio/mpeg",
    ".ogg": "audio/ogg",
    ".wav": "audio/wav",
}
DRAW_TYPES = p.DRAWING_TYPES


def text_frame(data: bytes) -> bytes:
    """An unmasked, uncompressed, final WebSocket text frame (server to client)."""
    n = len(data)
    if n < 126:
        return bytes((0x81, n)) + data
    if n < 65536:
        return struct.pack("!BBH", 0x81, 126, n) + data
    return struct.pack("!BBQ", 0x81, 127, n) + data


class Connection:
    __slots__ = (
        "ws",
        "transport",
        "member_id",
        "limits",
        "other",
        "other_abuse",
        "peer",
        "closing",
        "close_code",
        "close_reason",
        "allowance",
    )

    def __init__(
        self,
        ws: web.WebSocketResponse,
        transport: Any,
        limits: ConnectionLimits,
        peer: str,
        other_rate: float = OTHER_RATE,
        other_burst: int = OTHER_BURST,
    ) -> None:
        self.ws = ws
        self.transport = transport
        self.member_id: str | None = None
        self.limits = limits
        self.other = TokenBucket(other_rate, other_burst)
        self.other_abuse = AbuseDetector(
            other_rate, limits.chat_abuse.factor, limits.chat_abuse.seconds
        )
        self.peer = peer
        self.closing = False
        self.close_code = 1000
        self.close_reason = ""
        # The largest single frame sent to this socket alone (a welcome with a full canvas
        # can be over a megabyte): a reader still taking it in is not a slow client.
        self.allowance = 0


class GameServer:
    """One room: its state machine, connections, store and HTTP surfaces."""

    def __init__(
        self,
        settings: ServerSettings,
        *,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.config = settings.config
        self.clock = clock
        self.rng = rng or random.Random()
        self.metrics = Metrics()
        self.store = Store(settings.db_path, settings.room_name)
        self.room = Room(settings.config.game)
        self.maintenance_enabled = settings.config.maintenance.enabled
        self.maintenance_message = settings.config.maintenance.message
        self.draining = False
        self.stopping = False
        self.restoring = False
        self.ready = False
        self.started_at = time.monotonic()
        self.conns: dict[str, Connection] = {}
        self.sockets: set[Connection] = set()
        self.loop_lag = 0.0
        self._tasks: set[asyncio.Task[Any]] = set()
        self._type_counters: dict[str, Any] = {}
        self.metrics.maintenance.set(1 if self.maintenance_enabled else 0)

    # ------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        await asyncio.to_thread(self._open_store)
        self._spawn(self._ticker())
        self._spawn(self._lag_monitor())
        self.ready = True

    def _open_store(self) -> None:
        self.store.open()
        self.room = self._build_room()
        log.info(
            "room_loaded",
            room=self.settings.room_name,
            phase=self.room.phase,
            players=len(self.room.players()),
            schema=self.store.schema_version,
        )

    def _build_room(self) -> Room:
        loaded = self.store.load()
        cfg = self.config
        board = {
            e["name"].casefold(): LeaderEntry(e["name"], e["points"], e["wins"], e["games"])
            for e in loaded.leaderboard
        }
        room = Room(
            cfg.game,
            timing=cfg.timing,
            rng=self.rng,
            reconnect_grace=cfg.reconnect_grace_seconds,
            max_spectators=cfg.max_spectators,
            leaderboard=board,
        )
        if loaded.snapshot is not None:
            room.restore(loaded.snapshot, loaded.canvas, self.clock())
        # The file's game settings win at every start (lobby changes last until restart).
        room.apply_settings(cfg.game)
        return room

    async def shutdown(self, reason: str = "restart") -> None:
        """SIGTERM: stop joins, persist everything, tell clients to reconnect, close."""
        if self.stopping:
            return
        # Stop applying commands and timers first, so the snapshot below is the last state.
        self.stopping = True
        self.draining = True
        self.ready = False
        self._persist(force_state=True)
        await asyncio.to_thread(self.store.flush)
        await self._disconnect_all(reason)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.to_thread(self.store.close)
        log.info("room_stopped", room=self.settings.room_name, reason=reason)

    async def _disconnect_all(self, reason: str) -> None:
        frame = self._frame(
            {"type": "reconnect", "reason": reason, "retryAfterMs": RECONNECT_RETRY_MS}
        )
        sockets = list(self.sockets)
        for conn in sockets:
            self._write(conn, frame)
        closers = [conn.ws.close(code=1012, message=reason.encode()) for conn in sockets]
        if closers:
            await _gather_with_timeout(closers, 5)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            if self.stopping or self.restoring:
                continue
            try:
                self.deliver(self.room.tick(self.clock()))
                self._persist()
            except Exception:
                log.exception("tick_failed")

    async def _lag_monitor(self) -> None:
        interval = 0.25
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(interval)
            self.loop_lag = max(0.0, loop.time() - before - interval)
            self.metrics.loop_lag.set(self.loop_lag)

    def persist_now(self) -> None:
        """Queue the room's current state and pending events for the writer."""
        self._persist(force_state=True)

    def _persist(self, force_state: bool = False) -> None:
        """Queue the room's pending events (strokes, chat, ...) for the writer thread, and
        its state when that changed, in this order: a commit never holds strokes without
        the state (seats, turn) they belong to. Drawing leaves the state unchanged, so the
        hot path costs an append."""
        room = self.room
        if room.events:
            events, room.events = room.events, []
            self.store.submit(events)
        if room.dirty or force_state:
            room.dirty = False
            self.store.save_state(room.snapshot(self.clock()))

    # ------------------------------------------------------------- sending

    def _frame(self, payload: dict[str, Any]) -> bytes:
        return text_frame(_dumps(payload).encode())

    def _write(self, conn: Connection, frame: bytes) -> None:
        transport = conn.transport
        if transport is None or transport.is_closing() or conn.closing:
            return
        if transport.get_write_buffer_size() > SEND_BUFFER_LIMIT + conn.allowance:
            conn.closing = True
            self.metrics.slow_clients.inc()
            self.metrics.slow_dropped += 1
            log.warning("slow_client_dropped", peer=conn.peer, member=conn.member_id)
            transport.abort()
            return
        transport.write(frame)

    def send_to(self, conn: Connection, payload: dict[str, Any]) -> None:
        frame = self._frame(payload)
        self._write(conn, frame)
        if len(frame) > conn.allowance:
            conn.allowance = len(frame)
        self.metrics.rate_out.add()

    def deliver(self, out: list[Outbound]) -> None:
        for item in out:
            if isinstance(item, Send):
                self._send(item)
            elif isinstance(item, Close):
                conn = self.conns.pop(item.member_id, None)
                if conn is not None:
                    conn.member_id = None
                    self._close(conn, item.code, item.reason)

    def _send(self, item: Send) -> None:
        frame = self._frame(item.payload)
        if item.to is None:
            started = time.perf_counter()
            targets = list(self.conns.values())
            for conn in targets:
                self._write(conn, frame)
            elapsed = time.perf_counter() - started
            self.metrics.broadcast_latency.add(elapsed)
            self.metrics.broadcast_seconds.observe(elapsed)
            count = len(targets)
        else:
            count = 0
            for member_id in item.to:
                target = self.conns.get(member_id)
                if target is not None:
                    self._write(target, frame)
                    count += 1
        self.metrics.messages_out.inc(count)
        self.metrics.rate_out.add(count)

    def broadcast(self, payload: dict[str, Any]) -> int:
        self._send(Send(payload))
        return len(self.conns)

    def _close(self, conn: Connection, code: int, reason: str) -> None:
        if conn.closing:
            return
        self.metrics.closes.labels(str(code)).inc()
        conn.closing = True
        conn.close_code = code
        conn.close_reason = reason[:120]
        self._spawn(conn.ws.close(code=code, message=reason.encode()[:120]))

    # ---------------------------------------------------------- websockets

    def connection_limit(self) -> int:
        return self.room.settings.max_players + self.config.max_spectators + SPARE_CONNECTIONS

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        cfg = self.config
        if len(self.sockets) >= self.connection_limit():
            # Bounded memory: every seat is taken many times over (or someone is flooding).
            self.metrics.closes.labels("503").inc()
            return web.Response(
                status=503,
                text="this room has too many open connections; try again in a minute\n",
                headers={"Retry-After": "30"},
            )
        ws = web.WebSocketResponse(
            heartbeat=cfg.heartbeat_seconds,
            max_msg_size=cfg.rate_limits.max_message_bytes,
            compress=False,
        )
        await ws.prepare(request)
        _limit_kernel_buffer(request.transport)
        rl = cfg.rate_limits
        limits = ConnectionLimits.create(
            rl.chat_per_second,
            rl.chat_burst,
            rl.draw_per_second,
            rl.draw_burst,
            rl.abuse_factor,
            rl.abuse_seconds,
        )
        conn = Connection(
            ws,
            request.transport,
            limits,
            request.remote or "?",
            rl.control_per_second,
            rl.control_burst,
        )
        self.sockets.add(conn)
        self.metrics.connections.set(len(self.sockets))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    try:
                        self.on_text(conn, msg.data)
                    except Exception:
                        log.exception("message_failed", member=conn.member_id)
                        self._error(conn, ProtocolError("internal_error", INTERNAL_ERROR_MESSAGE))
                elif msg.type == WSMsgType.BINARY:
                    self._close(conn, 1003, "binary frames are not supported; send JSON text")
                if conn.closing:
                    # Close here too, so the code is sent before the handler returns.
                    await ws.close(code=conn.close_code, message=conn.close_reason.encode())
                    break
        finally:
            self.sockets.discard(conn)
            self.metrics.connections.set(len(self.sockets))
            member_id = conn.member_id
            if member_id is not None and self.conns.get(member_id) is conn:
                del self.conns[member_id]
                if not (self.stopping or self.restoring):
                    self.deliver(self.room.disconnect(member_id, self.clock()))
                    self._update_gauges()
        return ws

    def _count_type(self, kind: str) -> None:
        counter = self._type_counters.get(kind)
        if counter is None:
            counter = self._type_counters[kind] = self.metrics.messages_in.labels(kind)
        counter.inc()

    def on_text(self, conn: Connection, data: str) -> None:
        """Handle one client frame (synchronously: no awaits on the hot path)."""
        if conn.closing:
            return
        now = self.clock()
        mono = time.monotonic()
        self.metrics.rate_in.add()
        try:
            kind, cmd, ref = p.parse_client_message(data)
        except ProtocolError as err:
            self._count_type("invalid")
            if not self._allow(conn, "other", mono):
                return
            self._error(conn, err)
            return
        self._count_type(kind)
        category = "draw" if kind in DRAW_TYPES else "chat" if kind == "chat" else "other"
        if not self._allow(conn, category, mono, ref):
            return
        try:
            if isinstance(cmd, p.Ping):
                self.send_to(conn, {"type": "pong", "t": cmd.t})
                return
            if conn.member_id is None:
                if not isinstance(cmd, p.Join):
                    raise ProtocolError("not_joined", "send a 'join' message first")
                self._join(conn, cmd, now)
                self._persist()
                return
            if self.restoring or self.stopping:
                raise ProtocolError(
                    "draining", "the room is restarting: this was not applied; reconnect soon"
                )
            if self.draining and isinstance(cmd, p.Start):
                raise ProtocolError("draining", "this room is closing: no new games can start")
            out = self.room.handle(conn.member_id, cmd, now)
            if isinstance(cmd, p.Leave):
                member_id = conn.member_id
                self.conns.pop(member_id, None)
                conn.member_id = None
                self.deliver(out)
                self._close(conn, 1000, "left the room")
                self._update_gauges()
            else:
                self.deliver(out)
                if isinstance(cmd, p.Start):
                    self.metrics.games.inc()
                elif isinstance(cmd, p.Chat) and _has_guess(out):
                    self.metrics.guesses.inc()
        except ProtocolError as err:
            if err.ref is None:
                err.ref = ref
            self._error(conn, err)
            return
        except Exception:
            # A bug must not take the connection (or the room) down; the sender learns.
            log.exception("message_failed", member=conn.member_id, type=kind)
            self._error(conn, ProtocolError("internal_error", INTERNAL_ERROR_MESSAGE, ref))
            return
        self._persist()

    def _allow(self, conn: Connection, category: str, mono: float, ref: str | None = None) -> bool:
        limits = conn.limits
        if category == "draw":
            bucket, abuse = limits.draw, limits.draw_abuse
        elif category == "chat":
            bucket, abuse = limits.chat, limits.chat_abuse
        else:
            # Control messages and garbage share a generous bucket of their own.
            bucket, abuse = conn.other, conn.other_abuse
        if abuse.record(mono):
            log.warning("abuse_closed", peer=conn.peer, category=category)
            self._close(conn, 1008, f"too many {category} messages")
            return False
        if not bucket.take(mono):
            self._error(
                conn,
                ProtocolError("rate_limited", f"too many {category} messages: slow down", ref),
            )
            return False
        return True

    def _error(self, conn: Connection, err: ProtocolError) -> None:
        self.metrics.errors.labels(err.code).inc()
        self.send_to(conn, err.frame())

    def _join(self, conn: Connection, cmd: p.Join, now: float) -> None:
        block: ProtocolError | None = None
        if self.stopping or self.restoring:
            raise ProtocolError("draining", "the room is restarting: reconnect in a moment")
        if self.draining:
            block = ProtocolError(
                "draining", "this room is closing and takes no new players; try again later"
            )
        elif self.maintenance_enabled:
            msg = self.maintenance_message or "the room is under maintenance"
            block = ProtocolError("maintenance", f"{msg}; new players cannot join right now")
        member = self.room.join(cmd, now, block)
        previous = self.conns.get(member.id)
        if previous is not None and previous is not conn:
            previous.member_id = None
            self._close(previous, 4002, "session resumed on another connection")
        conn.member_id = member.id
        self.conns[member.id] = conn
        self.send_to(conn, self.welcome(member.id, now))
        self.deliver(self.room.joined(member.id))
        self._update_gauges()
        log.info("joined", member=member.id, spectator=member.spectator, resumed=bool(cmd.token))

    def welcome(self, member_id: str, now: float) -> dict[str, Any]:
        member = self.room.members[member_id]
        return {
            "type": "welcome",
            "protocol": PROTOCOL_VERSION,
            "you": {
                "id": member.id,
                "name": member.name,
                "spectator": member.spectator,
                "token": member.token,
            },
            "room": {
                "name": self.settings.room_name,
                "version": self.settings.version,
                "maintenance": self.maintenance_state(),
            },
            "palette": p.PALETTE_JSON,
            "state": self.room.state(member_id, now),
            "now": int(now * 1000),
        }

    def _update_gauges(self) -> None:
        self.metrics.players.set(len(self.room.players()))
        self.metrics.spectators.set(len(self.room.spectators()))

    # ----------------------------------------------------------- operations

    def maintenance_state(self) -> dict[str, Any]:
        return {"enabled": self.maintenance_enabled, "message": self.maintenance_message}

    def set_maintenance(self, enabled: bool, message: str) -> dict[str, Any]:
        self.maintenance_enabled = enabled
        self.maintenance_message = message
        self.metrics.maintenance.set(1 if enabled else 0)
        self.broadcast({"type": "maintenance", **self.maintenance_state()})
        log.info("maintenance", enabled=enabled)
        return self.maintenance_state()

    def room_info(self) -> dict[str, Any]:
        room = self.room
        players = room.players()
        return {
            "name": self.settings.room_name,
            "phase": room.phase,
            "players": len(players),
            "connectedPlayers": sum(1 for m in players if m.connected),
            "spectators": len(room.spectators()),
            "maxPlayers": room.settings.max_players,
            "round": room.round,
            "rounds": room.rounds,
            "settings": room.settings_for(None),
            "maintenance": self.maintenance_state(),
            "draining": self.draining,
            "version": self.settings.version,
            "protocol": PROTOCOL_VERSION,
        }

    # ------------------------------------------------------------ restore

    async def restore_database(self, new_db: Path) -> None:
        """Swap in a verified database, reload the room and tell clients to reconnect."""
        from gameserver.backup import swap_in

        self.restoring = True
        self.ready = False
        try:
            # Pending changes go to the old database: they survive if the swap fails.
            self._persist(force_state=True)
            await self._disconnect_all("restore")
            self.conns.clear()
            await asyncio.to_thread(self.store.close)
            try:
                await asyncio.to_thread(swap_in, new_db, self.settings.db_path)
            finally:
                # Reopen whichever database is in place now: the restored one, or the
                # untouched old one if the swap failed.
                await asyncio.to_thread(self._open_store)
            self._update_gauges()
        finally:
            self.restoring = False
            self.ready = self.store.is_open and not self.draining


def _has_guess(out: list[Outbound]) -> bool:
    return any(isinstance(item, Send) and item.payload["type"] == "guessed" for item in out)


def _limit_kernel_buffer(transport: Any) -> None:
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, KERNEL_SEND_BUFFER)


async def _gather_with_timeout(aws: list[Any], seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.gather(*aws, return_exceptions=True), seconds)
