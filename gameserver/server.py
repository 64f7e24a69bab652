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
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import structlog
from aiohttp import WSMsgType, web

from gameserver import PROTOCOL_VERSION
from gameserver import protocol as p
from gameserver.game import Close, Outbound, Room, Send, system_rng
from gameserver.metrics import Metrics
from gameserver.protocol import ProtocolError
from gameserver.ratelimit import ConnectionLimits
from gameserver.roomstate import RoomStateError, build_room, check_database, load_room
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
UNREADABLE_MESSAGE = "the server could not read this message; it was ignored"
# Close codes for sockets that never joined (see PROTOCOL.md).
CLOSE_JOIN_TIMEOUT = 4008
CLOSE_TRY_AGAIN = 1013
# The room was deleted (its operator said so through the admin API): clients stop retrying.
CLOSE_ROOM_CLOSED = 4010
ROOM_CLOSED_MESSAGE = "This room has been closed."
# One traceback per failing place and this many seconds: a client repeating a message
# that trips a bug must not flood the log.
EXCEPTION_LOG_SECONDS = 60.0
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
        "peer",
        "closing",
        "close_code",
        "close_reason",
        "allowance",
        "join_timer",
    )

    def __init__(
        self,
        ws: web.WebSocketResponse,
        transport: Any,
        limits: ConnectionLimits,
        peer: str,
    ) -> None:
        self.ws = ws
        self.transport = transport
        self.member_id: str | None = None
        # The socket's own limits until it joins; then its member's (see GameServer).
        self.limits = limits
        self.peer = peer
        self.join_timer: asyncio.TimerHandle | None = None
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
        self.rng = rng or system_rng()
        self.metrics = Metrics()
        self.store = Store(settings.db_path, settings.room_name)
        self.room = Room(settings.config.game)
        self.maintenance_enabled = settings.config.maintenance.enabled
        self.maintenance_message = settings.config.maintenance.message
        self.draining = False
        self.stopping = False
        self.restoring = False
        # Set once the room is closed for good (deleted): no socket is let in again.
        self.closed_message: str | None = None
        self.ready = False
        self.started_at = time.monotonic()
        self.conns: dict[str, Connection] = {}
        self.sockets: set[Connection] = set()
        # Sockets that have not joined, oldest first, and how many per remote address.
        self.unjoined: dict[Connection, None] = {}
        self.unjoined_by_peer: Counter[str] = Counter()
        # Rate limits belong to the member: a reconnect with the token resumes them.
        self.member_limits: dict[str, ConnectionLimits] = {}
        self._exception_logged: dict[str, float] = {}
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

    def _open_store(self, room: Room | None = None) -> None:
        self.store.open()
        self.room = room if room is not None else self._build_room()
        log.info(
            "room_loaded",
            room=self.settings.room_name,
            phase=self.room.phase,
            players=len(self.room.players()),
            schema=self.store.schema_version,
        )

    def _build_room(self) -> Room:
        return build_room(self.store.load(), self.config, self.clock(), self.rng)

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

    async def close_room(self, message: str = "") -> int:
        """The room is being deleted, not restarted: save everything, send `room_closed`,
        close every socket with CLOSE_ROOM_CLOSED and let nobody in again, so clients stop
        retrying a room that will not come back. Returns how many sockets were open."""
        if self.closed_message is None:
            # Still ready (/readyz): the Pod stays behind its Services, so a deleted room's
            # final backup Job still reaches the admin port, and players coming through an
            # Ingress hear 410 from the room itself rather than a 503 from the proxy.
            self.closed_message = message or ROOM_CLOSED_MESSAGE
            self._persist(force_state=True)
            log.info("room_closed", room=self.settings.room_name)
        frame = self._frame({"type": "room_closed", "message": self.closed_message})
        sockets = list(self.sockets)
        for conn in sockets:
            self._write(conn, frame)
            conn.closing = True
        closers = [
            conn.ws.close(code=CLOSE_ROOM_CLOSED, message=b"room closed") for conn in sockets
        ]
        if closers:
            await _gather_with_timeout(closers, 5)
        self.metrics.closes.labels(str(CLOSE_ROOM_CLOSED)).inc(len(sockets))
        return len(sockets)

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
        # "replace": text that slipped past validation with an unpaired surrogate must
        # not make the frame (and everyone's broadcast) fail.
        return text_frame(_dumps(payload).encode("utf-8", "replace"))

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
        if conn.ws.prepared:
            self._spawn(conn.ws.close(code=code, message=reason.encode()[:120]))
        # else: the handler closes it as soon as its handshake is done.

    # ---------------------------------------------------------- websockets

    def connection_limit(self) -> int:
        """Open sockets at most: one per member (seats and spectator places) plus the
        sockets still waiting to join."""
        return (
            self.room.settings.max_players + self.config.max_spectators + self.config.max_unjoined
        )

    def _new_limits(self) -> ConnectionLimits:
        rl = self.config.rate_limits
        return ConnectionLimits.create(
            rl.chat_per_second,
            rl.chat_burst,
            rl.draw_per_second,
            rl.draw_burst,
            rl.abuse_factor,
            rl.abuse_seconds,
            rl.control_per_second,
            rl.control_burst,
        )

    def origin_allowed(self, request: web.Request) -> bool:
        """Same origin by default, plus the configured allow-list. A request without
        an Origin header is no browser page (bots, the smoke test) and may connect."""
        origin = request.headers.get("Origin")
        if origin is None:
            return True
        allowed = self.config.allowed_origins
        if "*" in allowed:
            return True
        origin = origin.strip().rstrip("/").lower()
        if origin in allowed:
            return True
        parts = urlsplit(origin)
        return bool(parts.netloc) and parts.netloc == request.host.lower()

    def _admit(self, peer: str) -> web.Response | None:
        """Make room for one more unjoined socket from `peer`, or refuse it."""
        cfg = self.config
        if self.unjoined_by_peer[peer] >= cfg.max_unjoined_per_address:
            self.metrics.closes.labels("429").inc()
            return web.Response(
                status=429,
                text="too many connections from your address are waiting to join this room; "
                "join with the ones you have or close them\n",
                headers={"Retry-After": "5"},
            )
        if len(self.unjoined) >= cfg.max_unjoined:
            # Evict the oldest waiting socket of the address holding most of them: a
            # flood from a few addresses only ever pushes out its own sockets, and the
            # newcomer (a player reconnecting with its token) always gets its socket.
            heaviest = max(self.unjoined_by_peer.items(), key=lambda item: item[1])[0]
            victim = next(c for c in self.unjoined if c.peer == heaviest)
            self._forget_unjoined(victim)
            self._close(victim, CLOSE_TRY_AGAIN, "too many connections waiting to join")
        return None

    def _forget_unjoined(self, conn: Connection) -> None:
        if self.unjoined.pop(conn, False) is None:
            self.unjoined_by_peer[conn.peer] -= 1
            if self.unjoined_by_peer[conn.peer] <= 0:
                del self.unjoined_by_peer[conn.peer]
        if conn.join_timer is not None:
            conn.join_timer.cancel()
            conn.join_timer = None

    def _join_timed_out(self, conn: Connection) -> None:
        conn.join_timer = None
        if conn.member_id is None and conn in self.unjoined:
            self._forget_unjoined(conn)
            seconds = self.config.join_timeout_seconds
            self._close(conn, CLOSE_JOIN_TIMEOUT, f"no join within {seconds:g} s")

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        cfg = self.config
        if not self.origin_allowed(request):
            self.metrics.closes.labels("403").inc()
            origin = request.headers.get("Origin", "")[:200]
            return web.Response(
                status=403,
                text=f"pages from {origin} may not open this room's WebSocket; the room's "
                "operator can add that origin to allowedOrigins\n",
            )
        if self.closed_message is not None:
            return web.Response(status=410, text=self.closed_message + "\n")
        peer = request.remote or "?"
        refused = self._admit(peer)
        if refused is not None:
            return refused
        ws = web.WebSocketResponse(
            heartbeat=cfg.heartbeat_seconds,
            max_msg_size=cfg.rate_limits.max_message_bytes,
            compress=False,
        )
        conn = Connection(ws, request.transport, self._new_limits(), peer)
        # Counted before the handshake's await, so parallel upgrades see each other.
        self.unjoined[conn] = None
        self.unjoined_by_peer[peer] += 1
        self.sockets.add(conn)
        self.metrics.connections.set(len(self.sockets))
        try:
            await ws.prepare(request)
            conn.transport = request.transport
            _limit_kernel_buffer(request.transport)
            if conn.member_id is None and not conn.closing:
                conn.join_timer = asyncio.get_running_loop().call_later(
                    cfg.join_timeout_seconds, self._join_timed_out, conn
                )
            if conn.closing:
                await ws.close(code=conn.close_code, message=conn.close_reason.encode())
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    try:
                        self.on_text(conn, msg.data)
                    except Exception:
                        self._log_exception("message_failed", member=conn.member_id)
                        if self._allow(conn, "other", time.monotonic()):
                            self._error(
                                conn, ProtocolError("internal_error", INTERNAL_ERROR_MESSAGE)
                            )
                elif msg.type == WSMsgType.BINARY:
                    self._close(conn, 1003, "binary frames are not supported; send JSON text")
                if conn.closing:
                    # Close here too, so the code is sent before the handler returns.
                    await ws.close(code=conn.close_code, message=conn.close_reason.encode())
                    break
        finally:
            self._forget_unjoined(conn)
            self.sockets.discard(conn)
            self.metrics.connections.set(len(self.sockets))
            member_id = conn.member_id
            if member_id is not None and self.conns.get(member_id) is conn:
                del self.conns[member_id]
                if not (self.stopping or self.restoring):
                    self.deliver(self.room.disconnect(member_id, self.clock()))
                    self._update_gauges()
        return ws

    def _log_exception(self, where: str, **context: Any) -> None:
        """A traceback for the first failure at `where`, then one line a minute."""
        now = time.monotonic()
        last = self._exception_logged.get(where)
        if last is not None and now - last < EXCEPTION_LOG_SECONDS:
            return
        self._exception_logged[where] = now
        log.exception(where, repeats_suppressed_seconds=EXCEPTION_LOG_SECONDS, **context)

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
        except Exception as exc:
            # A parser bug (a number too large for a float, say) takes the same
            # rate-limited error path as any invalid message.
            self._count_type("invalid")
            if not isinstance(exc, ProtocolError):
                self._log_exception("message_unreadable", member=conn.member_id)
                exc = ProtocolError("bad_message", UNREADABLE_MESSAGE)
            if not self._allow(conn, "other", mono):
                return
            self._error(conn, exc)
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
            self._log_exception(f"message_failed:{kind}", member=conn.member_id, type=kind)
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
            bucket, abuse = limits.other, limits.other_abuse
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
        self._forget_unjoined(conn)
        limits = self.member_limits.get(member.id)
        if limits is None:
            # A seat's first socket: its limits (and what it spent joining) become the seat's.
            limits = self.member_limits[member.id] = conn.limits
            self._prune_member_limits()
        conn.limits = limits
        self.send_to(conn, self.welcome(member.id, now))
        self.deliver(self.room.joined(member.id))
        self._update_gauges()
        log.info("joined", member=member.id, spectator=member.spectator, resumed=bool(cmd.token))

    def _prune_member_limits(self) -> None:
        members = self.room.members
        if len(self.member_limits) > len(members):
            for member_id in [m for m in self.member_limits if m not in members]:
                del self.member_limits[member_id]

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
        """Swap in a verified database, reload the room and tell clients to reconnect.

        Raises `RoomStateError` (and changes nothing) if the room saved in `new_db`
        cannot be built and run."""
        from gameserver.backup import swap_in

        name = self.settings.room_name
        self.restoring = True
        self.ready = False
        try:
            problems = await asyncio.to_thread(
                check_database, new_db, name, self.config, self.clock
            )
            if problems:
                raise RoomStateError("; ".join(problems))
            new_room = await asyncio.to_thread(
                load_room, new_db, name, self.config, self.clock(), self.rng
            )
            # Pending changes go to the old database: they survive if the swap fails.
            self._persist(force_state=True)
            await self._disconnect_all("restore")
            self.conns.clear()
            await asyncio.to_thread(self.store.close)
            swapped = False
            try:
                await asyncio.to_thread(swap_in, new_db, self.settings.db_path)
                swapped = True
            finally:
                # Reopen whichever database is in place now: the restored one (its room
                # is built already), or the untouched old one if the swap failed.
                await asyncio.to_thread(self._open_store, new_room if swapped else None)
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
