"""Smoke test of a running game room: `python -m gameserver smoke-test --url URL`.

It checks the HTTP probes and APIs, joins over the WebSocket as a bot and, when the room
is idle, plays a real draw round trip with two bots (the host bot starts a one-round
game, the drawer draws one stroke, the other bot must receive exactly that stroke and the
drawer its echo). A room with players or a running game is never disturbed: the bot then
joins as a spectator, checks what a late joiner sees, and reports the draw check as
skipped. Every bot always leaves, and lobby settings changed for the test are put back.

Decisions (what a response means) are pure functions; the I/O sits in `BotClient` and
`run_smoke`. `timeout` bounds every single step (one HTTP request, one awaited message).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import aiohttp

PROTOCOL_VERSION = 1
HEALTH_CHECK_NAMES = ("database", "websocket", "storage")
HEALTH_STATUSES = ("healthy", "degraded", "unhealthy")
# Per-check statuses that mean "fine" (servers say "ok", "healthy" or "pass").
GOOD_CHECK_STATUSES = ("ok", "healthy", "pass")
PHASES = ("lobby", "choosing", "drawing", "turn_end", "game_over")
CANVAS_OP_TYPES = ("draw", "fill", "clear")
# Phases in which the word is secret (in `turn_end` it has been revealed to everyone).
SECRET_WORD_PHASES = ("choosing", "drawing")
PALETTE_SIZE = 20

Outcome = Literal["ok", "FAIL", "skipped"]
JSON = dict[str, Any]


class SmokeFailure(Exception):
    """A check failed; the message is the reason shown to the user."""


@dataclass
class CheckResult:
    name: str
    outcome: Outcome
    seconds: float
    detail: str


@dataclass
class SmokeReport:
    url: str
    checks: list[CheckResult] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def failed(self) -> list[CheckResult]:
        return [c for c in self.checks if c.outcome == "FAIL"]

    @property
    def passed(self) -> bool:
        return not self.failed and bool(self.checks)


# ---------------------------------------------------------------------------
# Pure decisions
# ---------------------------------------------------------------------------


def base_url(url: str) -> str:
    """The room's HTTP base URL without a trailing slash; a bare host gets http://."""
    if "://" not in url:
        url = "http://" + url
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"--url must be an http:// or https:// URL, got {url!r}")
    if not parts.netloc:
        raise ValueError(f"--url has no host: {url!r}")
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def ws_url(base: str) -> str:
    """The `/ws` WebSocket URL belonging to an HTTP base URL."""
    parts = urlsplit(base)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, parts.path + "/ws", "", ""))


def bot_name() -> str:
    """A recognisable bot name, e.g. `smoke-bot-1a2b`."""
    return f"smoke-bot-{secrets.token_hex(2)}"


def count(value: Any) -> int:
    """A player/spectator field as a number, whether the API sends a count or a list."""
    if isinstance(value, bool):
        raise SmokeFailure(f"expected a count or a list, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, list):
        return len(value)
    raise SmokeFailure(f"expected a count or a list, got {value!r}")


def judge_health(status_code: int, body: Any) -> tuple[bool, str]:
    """Whether `/api/health` answered well, and a one-line summary or the reason it did not."""
    if not isinstance(body, dict):
        return False, f"HTTP {status_code}, body is not a JSON object"
    status = body.get("status")
    if status not in HEALTH_STATUSES:
        return (
            False,
            f"HTTP {status_code}, 'status' is {status!r}, expected one of {HEALTH_STATUSES}",
        )
    expected_code = 503 if status == "unhealthy" else 200
    if status_code != expected_code:
        return (
            False,
            f"'status' is {status} but HTTP code is {status_code} (expected {expected_code})",
        )
    checks = body.get("checks")
    if not isinstance(checks, dict):
        return False, "'checks' is missing or not an object"
    missing = [n for n in HEALTH_CHECK_NAMES if not isinstance(checks.get(n), dict)]
    if missing:
        return False, f"'checks' lacks {', '.join(missing)}"
    bad_checks = [n for n, c in checks.items() if not isinstance(c, dict) or "status" not in c]
    if bad_checks:
        return False, f"checks without a 'status': {', '.join(sorted(bad_checks))}"
    if not isinstance(body.get("performance"), dict):
        return False, "'performance' is missing or not an object"
    if not isinstance(body.get("version"), str) or not body["version"]:
        return False, "'version' is missing or empty"
    if not isinstance(body.get("maintenance"), bool):
        return False, "'maintenance' is missing or not a boolean"
    not_healthy = [
        f"{name}={c['status']}" + (f" ({c['error']})" if c.get("error") else "")
        for name, c in sorted(checks.items())
        if c["status"] not in GOOD_CHECK_STATUSES
    ]
    summary = f"{status}, version {body['version']}"
    if not_healthy:
        summary += ": " + ", ".join(not_healthy)
    else:
        summary += f" ({', '.join(sorted(checks))} ok)"
    if status == "unhealthy":
        return False, "room reports unhealthy: " + ", ".join(not_healthy)
    return True, summary


@dataclass(frozen=True)
class RoomView:
    name: str
    phase: str
    players: int
    spectators: int
    max_players: int
    maintenance: bool
    maintenance_message: str
    version: str
    draining: bool = False

    @property
    def idle(self) -> bool:
        """Nobody plays and no game runs: the smoke test may play a game of its own."""
        return self.phase == "lobby" and self.players == 0

    def describe(self) -> str:
        text = (
            f"room {self.name!r} in {self.phase}, {self.players}/{self.max_players} players, "
            f"{self.spectators} spectators, version {self.version}"
        )
        text += ", maintenance on" if self.maintenance else ""
        return text + (", draining (takes no new players)" if self.draining else "")


def parse_room(body: Any) -> RoomView:
    """`/api/room` as a RoomView; SmokeFailure names the field that is wrong."""
    if not isinstance(body, dict):
        raise SmokeFailure("body is not a JSON object")
    for key in (
        "name",
        "phase",
        "players",
        "spectators",
        "maxPlayers",
        "settings",
        "maintenance",
        "version",
        "protocol",
    ):
        if key not in body:
            raise SmokeFailure(f"field {key!r} is missing")
    if body["phase"] not in PHASES:
        raise SmokeFailure(f"'phase' is {body['phase']!r}, expected one of {PHASES}")
    if body["protocol"] != PROTOCOL_VERSION:
        raise SmokeFailure(
            f"room speaks protocol {body['protocol']!r}, this smoke test speaks {PROTOCOL_VERSION}"
        )
    if not isinstance(body["settings"], dict):
        raise SmokeFailure("'settings' is not an object")
    if "word" in body or "word" in body["settings"]:
        raise SmokeFailure("/api/room leaks the secret word")
    maintenance = body["maintenance"]
    if not isinstance(maintenance, dict) or not isinstance(maintenance.get("enabled"), bool):
        raise SmokeFailure("'maintenance' must be {enabled: bool, message: str}")
    return RoomView(
        name=str(body["name"]),
        phase=body["phase"],
        players=count(body["players"]),
        spectators=count(body["spectators"]),
        max_players=int(body["maxPlayers"]),
        maintenance=maintenance["enabled"],
        maintenance_message=str(maintenance.get("message") or ""),
        version=str(body["version"]),
        draining=body.get("draining") is True,
    )


def welcome_problems(welcome: JSON, *, spectator: bool) -> list[str]:
    """What is wrong with a `welcome` message (empty when it is as PROTOCOL.md says)."""
    problems: list[str] = []
    if welcome.get("protocol") != PROTOCOL_VERSION:
        problems.append(f"protocol is {welcome.get('protocol')!r}")
    you = welcome.get("you")
    if not isinstance(you, dict) or not you.get("id"):
        problems.append("'you.id' is missing")
    else:
        if bool(you.get("spectator")) != spectator:
            problems.append(f"'you.spectator' is {you.get('spectator')!r}, expected {spectator}")
        token = you.get("token")
        if not (isinstance(token, str) and len(token) == 32):
            problems.append("'you.token' is not a 32-character session token")
    if not isinstance(welcome.get("room"), dict):
        problems.append("'room' is missing")
    palette = welcome.get("palette")
    if not isinstance(palette, list) or len(palette) != PALETTE_SIZE:
        problems.append(f"'palette' does not have {PALETTE_SIZE} colours")
    state = welcome.get("state")
    if not isinstance(state, dict):
        problems.append("'state' is missing")
        return problems
    if state.get("phase") not in PHASES:
        problems.append(f"'state.phase' is {state.get('phase')!r}")
    if not isinstance(state.get("players"), list):
        problems.append("'state.players' is not a list")
    canvas = state.get("canvas")
    if not isinstance(canvas, list):
        problems.append("'state.canvas' is not a list")
    else:
        odd = [
            op for op in canvas if not isinstance(op, dict) or op.get("type") not in CANVAS_OP_TYPES
        ]
        if odd:
            problems.append(f"'state.canvas' holds {len(odd)} entries that are not draw/fill/clear")
    if "word" in state and state.get("phase") in SECRET_WORD_PHASES:
        problems.append("'state.word' reveals the secret word to a non-drawer")
    return problems


def connected_others(state: JSON, my_id: str) -> list[JSON]:
    """Players in a welcome state other than me (connected or holding a seat)."""
    return [p for p in state.get("players") or [] if isinstance(p, dict) and p.get("id") != my_id]


def message_is(type_: str, **fields: Any) -> Callable[[JSON], bool]:
    """A matcher for a message of `type_` whose given fields have the given values."""

    def match(message: JSON) -> bool:
        return message.get("type") == type_ and all(message.get(k) == v for k, v in fields.items())

    return match


def smoke_stroke(stroke_id: int) -> JSON:
    """The stroke the drawer bot draws: in range and already at one decimal, so the server
    has nothing to clamp or round and every receiver must see exactly these values."""
    return {
        "type": "draw",
        "stroke": stroke_id,
        "tool": "brush",
        "color": 3,
        "width": 6,
        "points": [[100.0, 100.0], [150.5, 120.0], [200.0, 160.2], [260.3, 170.0]],
    }


def stroke_mismatch(sent: JSON, got: JSON) -> str | None:
    """How a received `draw` differs from the one sent, or None when it is the same stroke."""
    for key in ("stroke", "tool", "color", "width"):
        if got.get(key) != sent[key]:
            return f"{key} is {got.get(key)!r}, sent {sent[key]!r}"
    points = got.get("points")
    if not isinstance(points, list) or len(points) != len(sent["points"]):
        return f"points are {points!r}, sent {sent['points']!r}"
    for mine, theirs in zip(sent["points"], points, strict=True):
        if not isinstance(theirs, list) or [float(v) for v in theirs] != mine:
            return f"points are {points!r}, sent {sent['points']!r}"
    return None


def format_report(report: SmokeReport) -> str:
    """The human-readable report: one line per check, then the verdict."""
    width = max([len(c.name) for c in report.checks] + [6])
    lines = [f"smoke test of {report.url}"]
    for c in report.checks:
        timing = f"{c.seconds * 1000:7.0f} ms" if c.outcome != "skipped" else " " * 10
        lines.append(f"  {c.outcome:<7} {c.name:<{width}} {timing}  {c.detail}")
    failed = report.failed
    skipped = sum(c.outcome == "skipped" for c in report.checks)
    verdict = "ok" if report.passed else "FAILED"
    lines.append(
        f"result: {verdict} ({len(report.checks)} checks, {len(failed)} failed, "
        f"{skipped} skipped) in {report.seconds:.1f} s"
    )
    if failed:
        lines.append(f"first failure: {failed[0].name}: {failed[0].detail}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# I/O: a WebSocket bot
# ---------------------------------------------------------------------------


class BotClient:
    """One WebSocket connection speaking protocol v1, with a buffer of unread messages."""

    def __init__(self, session: aiohttp.ClientSession, url: str, timeout: float) -> None:
        self._session = session
        self._url = url
        self.timeout = timeout
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._unread: list[JSON] = []
        self._refs = 0
        self.name = ""
        self.id = ""
        self.welcome: JSON = {}

    @property
    def ws(self) -> aiohttp.ClientWebSocketResponse:
        if self._ws is None:
            raise SmokeFailure("not connected")
        return self._ws

    async def connect(self) -> None:
        try:
            self._ws = await self._session.ws_connect(
                self._url,
                timeout=aiohttp.ClientWSTimeout(ws_close=self.timeout),
                heartbeat=None,
                autoping=True,
            )
        except (aiohttp.ClientError, OSError) as exc:
            raise SmokeFailure(f"cannot open WebSocket {self._url}: {exc}") from exc

    async def send(self, message: JSON) -> str:
        self._refs += 1
        ref = f"smoke-{self._refs}"
        try:
            await self.ws.send_str(json.dumps({**message, "ref": ref}))
        except (aiohttp.ClientError, ConnectionError) as exc:
            raise SmokeFailure(
                f"{self.name or 'bot'}: could not send {message.get('type')!r}: {exc}"
            ) from exc
        return ref

    async def _next(self, deadline: float, what: str) -> JSON:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise SmokeFailure(f"{self.name or 'bot'}: no {what} within {self.timeout:g} s")
        try:
            msg = await asyncio.wait_for(self.ws.receive(), remaining)
        except TimeoutError:
            raise SmokeFailure(
                f"{self.name or 'bot'}: no {what} within {self.timeout:g} s"
            ) from None
        if msg.type == aiohttp.WSMsgType.TEXT:
            try:
                data = json.loads(msg.data)
            except ValueError as exc:
                raise SmokeFailure(f"server sent a frame that is not JSON: {exc}") from exc
            if not isinstance(data, dict) or "type" not in data:
                raise SmokeFailure(f"server sent a message without 'type': {msg.data[:120]!r}")
            return data
        if msg.type in (
            aiohttp.WSMsgType.CLOSE,
            aiohttp.WSMsgType.CLOSING,
            aiohttp.WSMsgType.CLOSED,
        ):
            raise SmokeFailure(
                f"{self.name or 'bot'}: server closed the connection (code {self.ws.close_code})"
                f" while waiting for {what}"
            )
        if msg.type == aiohttp.WSMsgType.ERROR:
            raise SmokeFailure(f"{self.name or 'bot'}: WebSocket error: {self.ws.exception()}")
        raise SmokeFailure(f"server sent an unexpected {msg.type.name} frame")

    async def expect(self, what: str, match: Callable[[JSON], bool]) -> JSON:
        """The first message (buffered or new) that `match`es; an `error` fails the check."""
        for i, data in enumerate(self._unread):
            if match(data):
                return self._unread.pop(i)
        deadline = time.monotonic() + self.timeout
        while True:
            data = await self._next(deadline, what)
            if match(data):
                return data
            if data["type"] == "error":
                raise SmokeFailure(
                    f"{self.name or 'bot'}: server answered error {data.get('code')!r}: "
                    f"{data.get('message')} (waiting for {what})"
                )
            self._unread.append(data)

    async def join(self, name: str, *, spectator: bool) -> JSON:
        self.name = name
        await self.send(
            {"type": "join", "name": name, "spectator": spectator, "protocol": PROTOCOL_VERSION}
        )
        welcome = await self.expect("welcome", message_is("welcome"))
        problems = welcome_problems(welcome, spectator=spectator)
        if problems:
            raise SmokeFailure("welcome is malformed: " + "; ".join(problems))
        self.welcome = welcome
        self.id = str(welcome["you"]["id"])
        return welcome

    async def ping(self) -> float:
        """Round-trip time of a protocol `ping` in seconds."""
        t = time.monotonic()
        await self.send({"type": "ping", "t": t})
        await self.expect("pong", lambda m: m["type"] == "pong" and m.get("t") == t)
        return time.monotonic() - t

    async def leave(self) -> int | None:
        """Send `leave` and wait for the server to close; returns the close code."""
        if self._ws is None or self._ws.closed:
            return self._ws.close_code if self._ws else None
        await self.send({"type": "leave"})
        deadline = time.monotonic() + self.timeout
        try:
            while True:
                await self._next(deadline, "close after leave")
        except SmokeFailure:
            pass
        if not self.ws.closed:
            await self.ws.close()
            raise SmokeFailure(f"{self.name}: server did not close the connection after 'leave'")
        return self.ws.close_code

    async def close(self) -> None:
        if self._ws is not None and not self._ws.closed:
            await self._ws.close()


# ---------------------------------------------------------------------------
# I/O: the checks
# ---------------------------------------------------------------------------


class _Run:
    def __init__(self, url: str, timeout: float) -> None:
        self.base = base_url(url)
        self.timeout = timeout
        self.report = SmokeReport(url=self.base)
        self.room_blocked = "/api/room check failed"

    def record(self, name: str, outcome: Outcome, started: float, detail: str) -> None:
        seconds = time.monotonic() - started
        self.report.checks.append(CheckResult(name, outcome, seconds, detail))

    def skip(self, name: str, reason: str) -> None:
        self.report.checks.append(CheckResult(name, "skipped", 0.0, reason))

    async def get(self, session: aiohttp.ClientSession, path: str) -> tuple[int, str]:
        url = self.base + path
        try:
            async with session.get(url, timeout=aiohttp.ClientTimeout(total=self.timeout)) as r:
                return r.status, await r.text()
        except TimeoutError:
            raise SmokeFailure(f"GET {url}: no answer within {self.timeout:g} s") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise SmokeFailure(
                f"cannot reach {url}: {exc}; is the server running and is --url right?"
            ) from exc

    async def get_json(self, session: aiohttp.ClientSession, path: str) -> tuple[int, Any]:
        status, text = await self.get(session, path)
        try:
            return status, json.loads(text)
        except ValueError:
            raise SmokeFailure(
                f"GET {path}: HTTP {status}, body is not JSON: {text[:120]!r}"
            ) from None

    async def probe(self, session: aiohttp.ClientSession, name: str, path: str) -> bool:
        started = time.monotonic()
        try:
            status, text = await self.get(session, path)
        except SmokeFailure as exc:
            self.record(name, "FAIL", started, str(exc))
            return False
        if status != 200:
            body = " ".join(text.split())[:160]
            self.record(name, "FAIL", started, f"GET {path}: HTTP {status}: {body}")
        else:
            self.record(name, "ok", started, f"HTTP {status}")
        return True

    async def check_health(self, session: aiohttp.ClientSession) -> None:
        started = time.monotonic()
        try:
            status, body = await self.get_json(session, "/api/health")
        except SmokeFailure as exc:
            self.record("health", "FAIL", started, str(exc))
            return
        ok, detail = judge_health(status, body)
        self.record("health", "ok" if ok else "FAIL", started, detail)

    async def check_room(self, session: aiohttp.ClientSession) -> RoomView | None:
        started = time.monotonic()
        try:
            status, body = await self.get_json(session, "/api/room")
            if status != 200:
                raise SmokeFailure(f"GET /api/room: HTTP {status}")
            room = parse_room(body)
        except SmokeFailure as exc:
            self.record("room", "FAIL", started, f"/api/room: {exc}")
            return None
        if room.maintenance:
            self.room_blocked = "room in maintenance"
            message = f" ({room.maintenance_message!r})" if room.maintenance_message else ""
            self.record(
                "room",
                "FAIL",
                started,
                f"room is in maintenance mode{message}: players cannot join; end it with "
                'PUT /admin/maintenance {"enabled": false} on the admin port',
            )
            return None
        self.record("room", "ok", started, room.describe())
        return room


async def _join_check(run: _Run, bot: BotClient, *, spectator: bool) -> bool:
    started = time.monotonic()
    role = "spectator" if spectator else "player"
    try:
        await bot.connect()
        welcome = await bot.join(bot_name(), spectator=spectator)
        rtt = await bot.ping()
    except SmokeFailure as exc:
        run.record("ws-join", "FAIL", started, str(exc))
        return False
    state = welcome["state"]
    run.record(
        "ws-join",
        "ok",
        started,
        f"joined as {bot.name} ({role} {bot.id}); phase {state['phase']}, "
        f"{len(state['canvas'])} canvas ops; ping {rtt * 1000:.0f} ms",
    )
    return True


async def _draw_round_trip(run: _Run, host: BotClient, other: BotClient) -> bool:
    """Play one turn up to a drawn stroke.

    The room's settings are left alone: when the bots leave, the game is abandoned for
    want of players, and abandoned games never reach the leaderboard.
    """
    started = time.monotonic()
    try:
        await other.connect()
        other_welcome = await other.join(bot_name(), spectator=False)
        others = connected_others(other_welcome["state"], other.id)
        if [p.get("id") for p in others] != [host.id]:
            raise _RoomTaken()
        await host.send({"type": "start"})
        turn = await host.expect("turn (choosing)", message_is("turn", phase="choosing"))
        drawer_id = turn.get("drawerId")
        bots = {host.id: host, other.id: other}
        if drawer_id not in bots:
            raise SmokeFailure(f"turn names drawer {drawer_id!r}, who is neither bot")
        drawer = bots[drawer_id]
        guesser = other if drawer is host else host
        offer = await drawer.expect("choose_word", message_is("choose_word"))
        if not offer.get("words"):
            raise SmokeFailure("choose_word offered no words")
        await drawer.send({"type": "choose_word", "index": 0})
        drawing = message_is("turn", phase="drawing")
        drawer_turn = await drawer.expect("turn (drawing)", drawing)
        if not drawer_turn.get("word"):
            raise SmokeFailure("the drawer's turn message lacks the word")
        guesser_turn = await guesser.expect("turn (drawing)", drawing)
        if "word" in guesser_turn:
            raise SmokeFailure("the guesser's turn message reveals the secret word")
        stroke = smoke_stroke(1)
        sent_at = time.monotonic()
        await drawer.send(stroke)
        is_stroke = message_is("draw", stroke=1)
        echo, received = await asyncio.gather(
            drawer.expect("echo of the drawn stroke", is_stroke),
            guesser.expect("the drawn stroke", is_stroke),
        )
        done_at = time.monotonic()
        for who, got in (("drawer's echo", echo), ("other bot", received)):
            problem = stroke_mismatch(stroke, got)
            if problem:
                raise SmokeFailure(f"{who} got a different stroke: {problem}")
    except _RoomTaken:
        run.skip("draw", "room in use (a player joined during the test)")
        return True
    except SmokeFailure as exc:
        run.record("draw", "FAIL", started, str(exc))
        return False
    run.record(
        "draw",
        "ok",
        started,
        f"{drawer.name} drew stroke 1 ({len(stroke['points'])} points); "
        f"echo and {guesser.name}'s copy identical, "
        f"both within {(done_at - sent_at) * 1000:.0f} ms",
    )
    return True


class _RoomTaken(Exception):
    """Someone else joined while the smoke test set up its own game."""


async def _leave_check(
    run: _Run,
    session: aiohttp.ClientSession,
    host: BotClient,
    other: BotClient | None,
) -> None:
    """Both bots leave with close code 1000."""
    started = time.monotonic()
    notes: list[str] = []
    try:
        if other is not None and other.id:
            code = await other.leave()
            notes.append(f"{other.name} closed {code}")
            if code != 1000:
                raise SmokeFailure(f"{other.name}: server closed with {code} after leave, not 1000")
        if host.id:
            code = await host.leave()
            notes.append(f"{host.name} closed {code}")
            if code != 1000:
                raise SmokeFailure(f"{host.name}: server closed with {code} after leave, not 1000")
    except SmokeFailure as exc:
        run.record("leave", "FAIL", started, str(exc))
        return
    finally:
        await host.close()
        if other is not None:
            await other.close()
    run.record("leave", "ok", started, "; ".join(notes) or "nothing to leave")


async def run_smoke(url: str, step_timeout: float) -> SmokeReport:
    """Run every check against the room at `url` and return the report."""
    run = _Run(url, step_timeout)
    began = time.monotonic()
    async with aiohttp.ClientSession() as session:
        reachable = await run.probe(session, "livez", "/livez")
        if not reachable:
            for name in ("readyz", "health", "room", "ws-join", "draw", "leave"):
                run.skip(name, "server unreachable")
        else:
            await run.probe(session, "readyz", "/readyz")
            await run.check_health(session)
            room = await run.check_room(session)
            if room is None:
                for name in ("ws-join", "draw", "leave"):
                    run.skip(name, run.room_blocked)
            else:
                await _bot_checks(run, session, room)
    run.report.seconds = time.monotonic() - began
    return run.report


async def _bot_checks(run: _Run, session: aiohttp.ClientSession, room: RoomView) -> None:
    ws = ws_url(run.base)
    host = BotClient(session, ws, run.timeout)
    other: BotClient | None = None
    try:
        if not room.idle:
            if await _join_check(run, host, spectator=True):
                run.skip("draw", f"room in use ({room.phase}, {room.players} players)")
            else:
                run.skip("draw", "could not join")
        elif not await _join_check(run, host, spectator=False):
            run.skip("draw", "could not join")
        else:
            state = host.welcome["state"]
            if connected_others(state, host.id) or state.get("hostId") != host.id:
                run.skip("draw", "room in use (a player joined during the test)")
            else:
                other = BotClient(session, ws, run.timeout)
                await _draw_round_trip(run, host, other)
    finally:
        await _leave_check(run, session, host, other)


def cli_main(url: str, timeout: float) -> int:
    """Entry point of `python -m gameserver smoke-test`: print the report, return 0 or 1."""
    try:
        base_url(url)
    except ValueError as exc:
        print(f"smoke test: {exc}")
        return 1
    if timeout <= 0:
        print(f"smoke test: --timeout must be positive, got {timeout:g}")
        return 1
    try:
        report = asyncio.run(run_smoke(url, timeout))
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        print(f"smoke test of {url}: aborted by an unexpected error: {exc!r}")
        return 1
    print(format_report(report), flush=True)
    return 0 if report.passed else 1
