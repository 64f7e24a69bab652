"""The room's state machine: pure, with an injected clock value and RNG.

Every entry point takes `now` (Unix seconds) and returns the messages to send, each with
its recipients; nothing here does I/O. Changes that must be persisted are appended to
`Room.events` (drained by the server into the store) and flagged by `Room.dirty`.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gameserver import protocol as p
from gameserver import rules
from gameserver.matching import is_close, is_match, name_key, reveals
from gameserver.protocol import ProtocolError
from gameserver.settings import GameSettings, SettingsError, Timing
from gameserver.words import pick_choices, word_pool

LOBBY = "lobby"
CHOOSING = "choosing"
DRAWING = "drawing"
TURN_END = "turn_end"
GAME_OVER = "game_over"
IN_GAME = (CHOOSING, DRAWING, TURN_END)

MAX_CANVAS_POINTS = 100_000
LEADERBOARD_SIZE = 10

Payload = dict[str, Any]


@dataclass(slots=True)
class Send:
    """One message for some members (`to=None`: every connected member)."""

    payload: Payload
    to: tuple[str, ...] | None = None


@dataclass(slots=True)
class Close:
    """Close a member's connection with a WebSocket close code."""

    member_id: str
    code: int
    reason: str


Outbound = Send | Close


@dataclass(slots=True)
class Member:
    id: str
    name: str
    token: str
    spectator: bool
    seq: int
    score: int = 0
    connected: bool = True
    disconnected_at: float | None = None
    guessed: bool = False

    def public(self, host_id: str | None, drawer_id: str | None) -> Payload:
        return {
            "id": self.id,
            "name": self.name,
            "score": self.score,
            "connected": self.connected,
            "guessed": self.guessed,
            "host": self.id == host_id,
            "drawing": self.id == drawer_id,
        }

    def record(self) -> Payload:
        return {
            "id": self.id,
            "name": self.name,
            "token": self.token,
            "spectator": self.spectator,
            "seq": self.seq,
            "score": self.score,
            "guessed": self.guessed,
        }


@dataclass(slots=True)
class LeaderEntry:
    name: str
    points: int = 0
    wins: int = 0
    games: int = 0

    def public(self) -> Payload:
        return {"name": self.name, "points": self.points, "wins": self.wins, "games": self.games}


@dataclass
class Turn:
    drawer_id: str
    choices: list[str]
    word: str | None = None
    started_at: float = 0.0
    revealed: list[int] = field(default_factory=list)
    hint_times: list[float] = field(default_factory=list)
    gained: dict[str, int] = field(default_factory=dict)


def _token() -> str:
    return secrets.token_hex(16)


def system_rng() -> random.Random:
    """The room's default source of ids, offered words and hint positions: the OS
    CSPRNG, so watching some of them never predicts the next (a Mersenne Twister's
    state can be rebuilt from its outputs). Tests pass a seeded `random.Random`."""
    return secrets.SystemRandom()


class Room:
    """One room's players, settings and game."""

    def __init__(
        self,
        settings: GameSettings,
        *,
        timing: Timing | None = None,
        rng: random.Random | None = None,
        reconnect_grace: float = 60.0,
        max_spectators: int = 1000,
        leaderboard: dict[str, LeaderEntry] | None = None,
        token_factory: Callable[[], str] = _token,
    ) -> None:
        self.settings = settings
        self.timing = timing or Timing()
        self.rng = rng or system_rng()
        self.reconnect_grace = reconnect_grace
        self.max_spectators = max_spectators
        self._spectators_announced = 0
        self.leaderboard: dict[str, LeaderEntry] = leaderboard or {}
        self.new_token = token_factory

        self.members: dict[str, Member] = {}
        self.by_token: dict[str, str] = {}
        self.host_id: str | None = None
        self.phase = LOBBY
        self.round = 0
        self.rounds = settings.rounds
        # Admin settings for the next game, held while a game runs (set_next_settings).
        self.next_settings: GameSettings | None = None
        self.game_id = 0
        self.turn_id = 0
        self.turn: Turn | None = None
        self.ends_at: float | None = None
        self.drawn: set[str] = set()
        self.used_words: set[str] = set()
        self.last_ranking: list[Payload] = []
        self.kick_votes: dict[str, set[str]] = {}
        self.canvas: list[Payload] = []
        self.strokes: dict[int, Payload] = {}
        self.canvas_points = 0
        self._seq = 0
        self.events: list[tuple[Any, ...]] = []
        self.dirty = True

    # ----------------------------------------------------------------- queries

    def players(self) -> list[Member]:
        return sorted((m for m in self.members.values() if not m.spectator), key=lambda m: m.seq)

    def spectators(self) -> list[Member]:
        return [m for m in self.members.values() if m.spectator]

    def connected_players(self) -> list[Member]:
        return [m for m in self.players() if m.connected]

    def connected_ids(self) -> tuple[str, ...]:
        return tuple(m.id for m in self.members.values() if m.connected)

    @property
    def drawer_id(self) -> str | None:
        return self.turn.drawer_id if self.turn and self.phase in IN_GAME else None

    def spectator_count(self) -> int:
        return sum(1 for m in self.members.values() if m.spectator and m.connected)

    def _player_list(self) -> list[Payload]:
        drawer = self.drawer_id
        return [m.public(self.host_id, drawer) for m in self.players()]

    def players_payload(self) -> Payload:
        """The `players` broadcast; it carries the spectator count it announces."""
        self._spectators_announced = self.spectator_count()
        return {
            "type": "players",
            "players": self._player_list(),
            "hostId": self.host_id,
            "spectators": self._spectators_announced,
        }

    def _spectators_changed(self) -> list[Outbound]:
        # Spectators come and go in crowds: the count is broadcast once a tick at most,
        # not once per arrival (which would be quadratic in the audience).
        if self.spectator_count() == self._spectators_announced:
            return []
        return [Send(self.players_payload())]

    def hint_text(self) -> str:
        if self.turn is None or self.turn.word is None:
            return ""
        return rules.mask(self.turn.word, self.turn.revealed)

    def state(self, member_id: str, now: float) -> Payload:
        """`welcome.state` for one member (the word only for the drawer)."""
        turn = self.turn if self.phase in IN_GAME else None
        word = turn.word if turn else None
        state: Payload = {
            "phase": self.phase,
            "round": self.round,
            "rounds": self.rounds,
            "hostId": self.host_id,
            "settings": self.settings_for(member_id),
            "players": self._player_list(),
            "drawerId": self.drawer_id,
            "endsAt": _ms(self.ends_at),
            "hint": self.hint_text() if word and self.phase == DRAWING else "",
            "wordLength": rules.word_lengths(word) if word else [],
            "canvas": self.canvas,
        }
        if turn and member_id == turn.drawer_id:
            if word and self.phase in (DRAWING, TURN_END):
                state["word"] = word
            if self.phase == CHOOSING:
                state["choices"] = list(turn.choices)
        member = self.members.get(member_id)
        if word and (self.phase == TURN_END or (member is not None and member.guessed)):
            # Revealed at turn end; a player who guessed it may see it again on reconnect.
            state["word"] = word
        if self.phase == GAME_OVER:
            state["ranking"] = self.last_ranking
        return state

    def settings_for(self, member_id: str | None) -> Payload:
        """The settings as `member_id` sees them (None: the public view). The custom words
        themselves go to the host alone, since they are the words guessers must find;
        everyone gets their count."""
        shown = self.settings.public()
        shown["customWordsCount"] = len(self.settings.custom_words)
        if member_id is None or member_id != self.host_id:
            shown["customWords"] = []
        return shown

    def _with_settings(self, message: Payload) -> list[Outbound]:
        """`message` plus the settings, to everyone: the host's copy has the custom words."""
        host = self.host_id
        if host is None or not self.settings.custom_words:
            return [Send({**message, "settings": self.settings_for(host)})]
        others = tuple(i for i in self.connected_ids() if i != host)
        return [
            Send({**message, "settings": self.settings_for(None)}, others),
            Send({**message, "settings": self.settings_for(host)}, (host,)),
        ]

    def leaderboard_top(self, limit: int = LEADERBOARD_SIZE) -> list[Payload]:
        entries = sorted(
            self.leaderboard.values(), key=lambda e: (-e.points, -e.wins, e.name.casefold())
        )
        return [e.public() for e in entries[:limit]]

    # ------------------------------------------------------------ membership

    def join(self, cmd: p.Join, now: float, block_new: ProtocolError | None = None) -> Member:
        """Seat a new member or resume one by token. Raises `ProtocolError`."""
        if cmd.token is not None:
            member_id = self.by_token.get(cmd.token)
            if member_id is None:
                raise ProtocolError(
                    "bad_token", "session expired or unknown: join again without a token"
                )
            member = self.members[member_id]
            member.connected = True
            member.disconnected_at = None
            self.dirty = True
            if self.host_id is None and not member.spectator:
                self.host_id = member.id
            return member
        if block_new is not None:
            raise block_new
        key = name_key(cmd.name)
        if any(name_key(m.name) == key for m in self.members.values()):
            raise ProtocolError("name_taken", f"the name {cmd.name!r} is taken in this room")
        if cmd.spectator:
            if len(self.spectators()) >= self.max_spectators:
                raise ProtocolError("room_full", "this room has no spectator places left")
        elif len(self.players()) >= self.settings.max_players:
            raise ProtocolError(
                "room_full",
                f"the room is full ({self.settings.max_players} players); join as a spectator",
            )
        self._seq += 1
        member_id = self._new_id()
        token = self.new_token()
        member = Member(
            id=member_id, name=cmd.name, token=token, spectator=cmd.spectator, seq=self._seq
        )
        self.members[member_id] = member
        self.by_token[token] = member_id
        if self.host_id is None and not member.spectator:
            self.host_id = member.id
        self.dirty = True
        return member

    def _new_id(self) -> str:
        while True:
            candidate = f"p{self.rng.getrandbits(24):06x}"
            if candidate not in self.members:
                return candidate

    def joined(self, member_id: str) -> list[Outbound]:
        """Messages for everyone else after a (re)join."""
        member = self.members[member_id]
        out: list[Outbound] = []
        if not member.spectator:
            out.append(Send(self.players_payload()))
        return out

    def disconnect(self, member_id: str, now: float) -> list[Outbound]:
        """The connection dropped: the seat is kept for the reconnect grace."""
        member = self.members.get(member_id)
        if member is None or not member.connected:
            return []
        member.connected = False
        member.disconnected_at = now
        self.dirty = True
        if member.spectator:
            return []
        out: list[Outbound] = [Send(self.players_payload())]
        out += self._check_all_guessed(now)
        return out

    def leave(self, member_id: str, now: float) -> list[Outbound]:
        """Free the seat at once (leave message, kick, or grace expired)."""
        member = self.members.pop(member_id, None)
        if member is None:
            return []
        self.by_token.pop(member.token, None)
        self.dirty = True
        self.kick_votes.pop(member_id, None)
        for voters in self.kick_votes.values():
            voters.discard(member_id)
        if member.spectator:
            return []
        out: list[Outbound] = []
        if self.host_id == member_id:
            successors = self.connected_players() or self.players()
            self.host_id = successors[0].id if successors else None
            if self.host_id is not None and self.settings.custom_words:
                # The new host may edit the custom words, so it needs to see them.
                view = self.settings_for(self.host_id)
                out.append(Send({"type": "settings", "settings": view}, (self.host_id,)))
        if self.phase in IN_GAME:
            self.drawn.discard(member_id)
            if len(self.players()) < 2:
                out.append(Send(self.players_payload()))
                out += self._game_over(now, "not_enough_players")
                return out
            if self.turn and self.turn.drawer_id == member_id:
                if self.phase == DRAWING:
                    out += self._end_turn(now, "drawer_left")
                elif self.phase == CHOOSING:
                    out += self._next_turn(now)
        out.insert(0, Send(self.players_payload()))
        out += self._check_all_guessed(now)
        return out

    # -------------------------------------------------------------- commands

    def handle(self, member_id: str, cmd: p.Command, now: float) -> list[Outbound]:
        """Apply one validated command from a joined member. Raises `ProtocolError`."""
        member = self.members[member_id]
        if isinstance(cmd, p.Draw):
            return self._draw(member, cmd)
        if isinstance(cmd, p.Chat):
            return self._chat(member, cmd, now)
        if isinstance(cmd, p.Fill):
            return self._fill(member, cmd)
        if isinstance(cmd, p.Undo):
            return self._undo(member)
        if isinstance(cmd, p.Clear):
            return self._clear(member)
        if isinstance(cmd, p.ChangeSettings):
            return self._change_settings(member, cmd)
        if isinstance(cmd, p.Start):
            return self._start(member, now)
        if isinstance(cmd, p.ChooseWord):
            return self._choose(member, cmd.index, now)
        if isinstance(cmd, p.VoteKick):
            return self._vote_kick(member, cmd.target, now)
        if isinstance(cmd, p.Leave):
            return self.leave(member_id, now)
        if isinstance(cmd, p.Join):
            raise ProtocolError("already_joined", "this connection has already joined")
        raise ProtocolError("unknown_type", "message type not handled")

    def _require_host_in_lobby(self, member: Member) -> None:
        if member.spectator:
            raise ProtocolError("spectator", "spectators cannot change the game")
        if member.id != self.host_id:
            raise ProtocolError("not_host", "only the host can do this")
        if self.phase != LOBBY:
            raise ProtocolError("wrong_phase", "only possible in the lobby")

    def _change_settings(self, member: Member, cmd: p.ChangeSettings) -> list[Outbound]:
        self._require_host_in_lobby(member)
        try:
            new = self.settings.updated(cmd.changes)
        except SettingsError as exc:
            raise ProtocolError("bad_message", f"settings: {exc}") from None
        self.settings = new
        self.rounds = new.rounds
        self.dirty = True
        self.events.append(("settings", new.public()))
        return self._with_settings({"type": "settings"})

    def apply_settings(self, settings: GameSettings) -> None:
        """Settings from the config file at start-up (they win over stored lobby changes)."""
        self.settings = settings
        if self.phase == LOBBY:
            self.rounds = settings.rounds
        self.dirty = True

    def set_next_settings(self, settings: GameSettings) -> list[Outbound]:
        """Settings from the admin API (the operator's live settings): in the lobby they
        apply at once; during a game they wait for the lobby, so the running game keeps
        the rounds and draw time it started with."""
        if self.phase != LOBBY:
            self.next_settings = settings
            return []
        self.next_settings = None
        self.settings = settings
        self.rounds = settings.rounds
        self.dirty = True
        self.events.append(("settings", settings.public()))
        return self._with_settings({"type": "settings"})

    def _start(self, member: Member, now: float) -> list[Outbound]:
        self._require_host_in_lobby(member)
        if len(self.connected_players()) < 2:
            raise ProtocolError("not_enough_players", "at least 2 players are needed to start")
        self.game_id += 1
        self.round = 1
        self.rounds = self.settings.rounds
        self.drawn = set()
        self.used_words = set()
        self.kick_votes = {}
        for m in self.members.values():
            m.score = 0
            m.guessed = False
        self.dirty = True
        self.events.append(("game_start", self.game_id, now, self.rounds))
        out: list[Outbound] = [
            Send({"type": "game_started", "rounds": self.rounds, "now": _ms(now)})
        ]
        out += self._next_turn(now)
        return out

    def _next_turn(self, now: float) -> list[Outbound]:
        candidates = [m for m in self.connected_players() if m.id not in self.drawn]
        if not candidates:
            if self.round >= self.rounds:
                return self._game_over(now, "finished")
            self.round += 1
            self.drawn = set()
            candidates = self.connected_players()
        if len(self.players()) < 2 or not candidates:
            return self._game_over(now, "not_enough_players")
        drawer = candidates[0]
        self.drawn.add(drawer.id)
        pool = word_pool(
            self.settings.language, self.settings.custom_words, self.settings.custom_words_only
        )
        choices = pick_choices(pool, self.settings.word_choices, self.rng, self.used_words)
        self.turn_id += 1
        self.turn = Turn(drawer_id=drawer.id, choices=choices)
        self.phase = CHOOSING
        self.ends_at = now + self.timing.choose_seconds
        self.kick_votes = {k: v for k, v in self.kick_votes.items() if k in self.members}
        for m in self.members.values():
            m.guessed = False
        self._reset_canvas()
        self.dirty = True
        turn_msg = {
            "type": "turn",
            "phase": CHOOSING,
            "round": self.round,
            "rounds": self.rounds,
            "drawerId": drawer.id,
            "endsAt": _ms(self.ends_at),
            "now": _ms(now),
        }
        return [
            Send(turn_msg),
            Send(self.players_payload()),
            Send(
                {
                    "type": "choose_word",
                    "words": choices,
                    "endsAt": _ms(self.ends_at),
                    "now": _ms(now),
                },
                (drawer.id,),
            ),
        ]

    def _choose(self, member: Member, index: int, now: float) -> list[Outbound]:
        if self.phase != CHOOSING or self.turn is None:
            raise ProtocolError("wrong_phase", "no word to choose right now")
        if member.id != self.turn.drawer_id:
            raise ProtocolError("not_drawer", "only the drawer chooses the word")
        if index >= len(self.turn.choices):
            raise ProtocolError(
                "bad_message", f"field 'index' must be below {len(self.turn.choices)}"
            )
        return self._begin_drawing(self.turn.choices[index], now)

    def _begin_drawing(self, word: str, now: float) -> list[Outbound]:
        assert self.turn is not None
        turn = self.turn
        turn.word = word
        turn.started_at = now
        turn.revealed = []
        draw_time = self.settings.draw_time_seconds
        turn.hint_times = rules.hint_schedule(
            now, draw_time, rules.hint_count(word, self.settings.hints)
        )
        self.used_words.add(word.casefold())
        self.phase = DRAWING
        self.ends_at = now + draw_time
        self.dirty = True
        return self._turn_messages(now)

    def _turn_messages(self, now: float) -> list[Outbound]:
        assert self.turn is not None and self.turn.word is not None
        drawer = self.turn.drawer_id
        public = {
            "type": "turn",
            "phase": DRAWING,
            "round": self.round,
            "rounds": self.rounds,
            "drawerId": drawer,
            "endsAt": _ms(self.ends_at),
            "now": _ms(now),
            "hint": self.hint_text(),
            "wordLength": rules.word_lengths(self.turn.word),
        }
        others = tuple(i for i in self.connected_ids() if i != drawer)
        return [Send(public, others), Send({**public, "word": self.turn.word}, (drawer,))]

    # --------------------------------------------------------------- drawing

    def _require_drawing(self, member: Member) -> None:
        if self.phase != DRAWING or self.turn is None:
            raise ProtocolError("wrong_phase", "drawing is only possible while a turn runs")
        if member.id != self.turn.drawer_id:
            raise ProtocolError("not_drawer", "only the current drawer can draw")

    def _draw(self, member: Member, cmd: p.Draw) -> list[Outbound]:
        self._require_drawing(member)
        if self.canvas_points + len(cmd.points) > MAX_CANVAS_POINTS:
            raise ProtocolError("bad_message", "the canvas is full: undo or clear to draw more")
        op = self.strokes.get(cmd.stroke)
        if op is None:
            op = {
                "type": "draw",
                "stroke": cmd.stroke,
                "tool": cmd.tool,
                "color": cmd.color,
                "width": cmd.width,
                "points": list(cmd.points),
            }
            self.strokes[cmd.stroke] = op
            self.canvas.append(op)
        elif op["type"] != "draw":
            raise ProtocolError("bad_message", f"stroke {cmd.stroke} is a fill in this turn")
        else:
            op["points"].extend(cmd.points)
        self.canvas_points += len(cmd.points)
        payload = {
            "type": "draw",
            "stroke": cmd.stroke,
            "tool": op["tool"],
            "color": op["color"],
            "width": op["width"],
            "points": cmd.points,
        }
        self.events.append(("stroke", self.turn_id, cmd.stroke, payload))
        return [Send(payload)]

    def _fill(self, member: Member, cmd: p.Fill) -> list[Outbound]:
        self._require_drawing(member)
        if cmd.stroke in self.strokes:
            raise ProtocolError("bad_message", f"stroke {cmd.stroke} is already used in this turn")
        if self.canvas_points + 1 > MAX_CANVAS_POINTS:
            raise ProtocolError("bad_message", "the canvas is full: undo or clear to draw more")
        op = {"type": "fill", "stroke": cmd.stroke, "color": cmd.color, "x": cmd.x, "y": cmd.y}
        self.strokes[cmd.stroke] = op
        self.canvas.append(op)
        self.canvas_points += 1
        self.events.append(("stroke", self.turn_id, cmd.stroke, op))
        return [Send(dict(op))]

    def _undo(self, member: Member) -> list[Outbound]:
        self._require_drawing(member)
        if not self.canvas:
            return []
        op = self.canvas.pop()
        self.strokes.pop(op["stroke"], None)
        self.canvas_points -= _op_cost(op)
        self.events.append(("undo", self.turn_id, op["stroke"]))
        return [Send({"type": "undo", "stroke": op["stroke"]})]

    def _clear(self, member: Member) -> list[Outbound]:
        self._require_drawing(member)
        self._reset_canvas()
        return [Send({"type": "clear"})]

    def _reset_canvas(self) -> None:
        self.canvas = []
        self.strokes = {}
        self.canvas_points = 0
        self.events.append(("clear", self.turn_id))

    def load_canvas(self, ops: list[Payload]) -> None:
        """Rebuild the canvas from stored batches (in order) after a restart."""
        self.canvas, self.strokes, self.canvas_points = [], {}, 0
        for op in ops:
            stroke = op["stroke"]
            existing = self.strokes.get(stroke)
            if op["type"] == "draw" and existing is not None and existing["type"] == "draw":
                existing["points"].extend((pt[0], pt[1]) for pt in op["points"])
            elif existing is None:
                copy = dict(op)
                if op["type"] == "draw":
                    copy["points"] = [(pt[0], pt[1]) for pt in op["points"]]
                self.strokes[stroke] = copy
                self.canvas.append(copy)
            else:
                continue
            self.canvas_points += _op_cost(op)

    # ------------------------------------------------------------ chat/guess

    def _chat(self, member: Member, cmd: p.Chat, now: float) -> list[Outbound]:
        text = cmd.text
        turn = self.turn
        chat = {"type": "chat", "from": member.id, "name": member.name, "text": text}
        if self.phase == DRAWING and turn is not None and turn.word is not None:
            knows = member.id == turn.drawer_id or member.guessed
            if knows or (member.spectator and _gives_away(text, turn.word)):
                # Those who know the word talk among themselves only; a spectator who
                # types the word (or nearly) is heard by them alone, so no guesser sees it.
                recipients = tuple(
                    m.id
                    for m in self.members.values()
                    if m.connected and (m.guessed or m.id == turn.drawer_id or m is member)
                )
                self.events.append(("chat", now, member.id, member.name, text, "guessed"))
                return [Send({**chat, "scope": "guessed"}, recipients)]
            if not member.spectator and is_match(text, turn.word):
                return self._correct_guess(member, now)
            if not member.spectator and is_close(text, turn.word):
                # Only the guesser sees a near miss: shown to all it would give the word away.
                self.events.append(("chat", now, member.id, member.name, text, "close"))
                return [
                    Send({"type": "close_guess", "text": text, "message": "close!"}, (member.id,))
                ]
            self.events.append(("chat", now, member.id, member.name, text, "all"))
            return [Send({**chat, "scope": "all"})]
        self.events.append(("chat", now, member.id, member.name, text, "all"))
        return [Send({**chat, "scope": "all"})]

    def _correct_guess(self, member: Member, now: float) -> list[Outbound]:
        assert self.turn is not None
        points = rules.guess_points(now - self.turn.started_at, self.settings.draw_time_seconds)
        member.guessed = True
        member.score += points
        self.turn.gained[member.id] = points
        self.dirty = True
        guessed = {"type": "guessed", "playerId": member.id, "name": member.name, "points": points}
        others = tuple(i for i in self.connected_ids() if i != member.id)
        out: list[Outbound] = [
            # The guesser alone gets the word it found; the others must still guess it.
            Send({**guessed, "word": self.turn.word}, (member.id,)),
            Send(guessed, others),
            Send(self.players_payload()),
        ]
        out += self._check_all_guessed(now)
        return out

    def _check_all_guessed(self, now: float) -> list[Outbound]:
        if self.phase != DRAWING or self.turn is None:
            return []
        guessers = [m for m in self.connected_players() if m.id != self.turn.drawer_id]
        if guessers and all(m.guessed for m in guessers):
            return self._end_turn(now, "all_guessed")
        return []

    # ------------------------------------------------------------ turn end

    def _end_turn(self, now: float, reason: str) -> list[Outbound]:
        assert self.turn is not None
        turn = self.turn
        drawer = self.members.get(turn.drawer_id)
        if reason == "drawer_left":
            for pid, pts in turn.gained.items():
                if pid in self.members:
                    self.members[pid].score -= pts
            turn.gained = {}
        elif drawer is not None:
            turn.gained[drawer.id] = rules.drawer_points(
                pts for pid, pts in turn.gained.items() if pid != drawer.id
            )
            drawer.score += turn.gained[drawer.id]
        self.phase = TURN_END
        self.ends_at = now + self.timing.turn_end_seconds
        self.dirty = True
        scores = [
            {"id": m.id, "gained": turn.gained.get(m.id, 0), "total": m.score}
            for m in self.players()
        ]
        self.events.append(
            (
                "turn_end",
                self.game_id,
                self.turn_id,
                self.round,
                drawer.name if drawer else "",
                turn.word or "",
                reason,
                now,
                list(self.canvas),
            )
        )
        return [
            Send(
                {
                    "type": "turn_end",
                    "word": turn.word or "",
                    "reason": reason,
                    "scores": scores,
                    "endsAt": _ms(self.ends_at),
                    "now": _ms(now),
                }
            ),
            Send(self.players_payload()),
        ]

    def _game_over(self, now: float, reason: str) -> list[Outbound]:
        out: list[Outbound] = []
        if self.phase == DRAWING and self.turn is not None:
            out += self._end_turn(now, "not_enough_players")
        players = self.players()
        self.last_ranking = rules.ranking([(m.id, m.name, m.score) for m in players])
        if reason == "finished":
            for entry in self.last_ranking:
                key = entry["name"].casefold()
                board = self.leaderboard.setdefault(key, LeaderEntry(name=entry["name"]))
                board.name = entry["name"]
                board.points += entry["score"]
                board.games += 1
                if entry["place"] == 1 and entry["score"] > 0:
                    board.wins += 1
        self.phase = GAME_OVER
        self.ends_at = now + self.timing.game_over_seconds
        self.turn = None
        for m in self.members.values():
            m.guessed = False
        self.dirty = True
        self.events.append(
            (
                "game_end",
                self.game_id,
                now,
                reason,
                self.last_ranking,
                [e.public() for e in self.leaderboard.values()] if reason == "finished" else [],
            )
        )
        out.append(
            Send(
                {
                    "type": "game_over",
                    "ranking": self.last_ranking,
                    "leaderboard": self.leaderboard_top(),
                    "reason": reason,
                    "endsAt": _ms(self.ends_at),
                    "now": _ms(now),
                }
            )
        )
        out.append(Send(self.players_payload()))
        return out

    def _to_lobby(self, now: float) -> list[Outbound]:
        self.phase = LOBBY
        if self.next_settings is not None:
            self.settings, self.next_settings = self.next_settings, None
            self.events.append(("settings", self.settings.public()))
        self.ends_at = None
        self.round = 0
        self.rounds = self.settings.rounds
        self.turn = None
        self._reset_canvas()
        self.dirty = True
        lobby = {"type": "lobby", "hostId": self.host_id, "now": _ms(now)}
        return [*self._with_settings(lobby), Send(self.players_payload())]

    # -------------------------------------------------------------- kicking

    def _vote_kick(self, member: Member, target_id: str, now: float) -> list[Outbound]:
        if member.spectator:
            raise ProtocolError("spectator", "spectators cannot vote")
        target = self.members.get(target_id)
        if target is None or target.spectator:
            raise ProtocolError("bad_target", "no such player in this room")
        if target.id == member.id:
            raise ProtocolError("bad_target", "you cannot vote to kick yourself")
        voters = self.kick_votes.setdefault(target.id, set())
        voters.add(member.id)
        needed = rules.kick_votes_needed(len(self.connected_players()))
        out: list[Outbound] = [
            Send(
                {"type": "kick_vote", "targetId": target.id, "votes": len(voters), "needed": needed}
            )
        ]
        if len(voters) >= needed:
            out.append(Close(target.id, 4001, "kicked by vote"))
            out += self.leave(target.id, now)
        return out

    # ------------------------------------------------------------------ time

    def next_deadline(self) -> float | None:
        times = [
            m.disconnected_at + self.reconnect_grace
            for m in self.members.values()
            if m.disconnected_at is not None
        ]
        if self.ends_at is not None:
            times.append(self.ends_at)
        if (
            self.phase == DRAWING
            and self.turn
            and len(self.turn.revealed) < len(self.turn.hint_times)
        ):
            times.append(self.turn.hint_times[len(self.turn.revealed)])
        return min(times) if times else None

    def tick(self, now: float) -> list[Outbound]:
        """Advance timers: hints, phase deadlines and expired reconnect grace."""
        out: list[Outbound] = self._spectators_changed()
        for member in list(self.members.values()):
            if (
                member.disconnected_at is not None
                and now >= member.disconnected_at + self.reconnect_grace
            ):
                out += self.leave(member.id, now)
        turn = self.turn
        if self.phase == DRAWING and turn is not None and turn.word is not None:
            while (
                len(turn.revealed) < len(turn.hint_times)
                and now >= turn.hint_times[len(turn.revealed)]
            ):
                pos = rules.pick_hint_position(turn.word, set(turn.revealed), self.rng)
                if pos is None:
                    break
                turn.revealed.append(pos)
                self.dirty = True
                others = tuple(i for i in self.connected_ids() if i != turn.drawer_id)
                out.append(Send({"type": "hint", "hint": self.hint_text()}, others))
        if self.ends_at is not None and now >= self.ends_at:
            if self.phase == CHOOSING and turn is not None:
                out += self._begin_drawing(self.rng.choice(turn.choices), now)
            elif self.phase == DRAWING:
                out += self._end_turn(now, "timeout")
            elif self.phase == TURN_END:
                out += self._next_turn(now)
            elif self.phase == GAME_OVER:
                out += self._to_lobby(now)
        return out

    # ---------------------------------------------------------- persistence

    def snapshot(self, now: float) -> Payload:
        """Everything but the canvas (stored stroke by stroke) as plain JSON data."""
        turn = self.turn
        return {
            "savedAt": now,
            "phase": self.phase,
            "round": self.round,
            "rounds": self.rounds,
            "gameId": self.game_id,
            "turnId": self.turn_id,
            "hostId": self.host_id,
            "endsAt": self.ends_at,
            "drawn": sorted(self.drawn),
            "usedWords": sorted(self.used_words),
            "lastRanking": self.last_ranking,
            "seq": self._seq,
            "settings": self.settings.public(),
            "turn": None
            if turn is None
            else {
                "drawerId": turn.drawer_id,
                "choices": turn.choices,
                "word": turn.word,
                "startedAt": turn.started_at,
                "revealed": turn.revealed,
                "hintTimes": turn.hint_times,
                "gained": turn.gained,
            },
            "members": [m.record() for m in self.members.values()],
        }

    def restore(self, snap: Payload, canvas: list[Payload], now: float) -> None:
        """Resume from a snapshot: every member is disconnected with a fresh grace, and
        the timers of the phase in progress resume with the time they had left."""
        shift = max(0.0, now - float(snap.get("savedAt") or now))
        self.phase = snap["phase"]
        self.round = snap["round"]
        self.rounds = snap["rounds"]
        self.game_id = snap["gameId"]
        self.turn_id = snap["turnId"]
        self.host_id = snap["hostId"]
        self.ends_at = snap["endsAt"] + shift if snap["endsAt"] is not None else None
        self.drawn = set(snap["drawn"])
        self.used_words = set(snap["usedWords"])
        self.last_ranking = snap["lastRanking"]
        self._seq = snap["seq"]
        self.members = {}
        self.by_token = {}
        for rec in snap["members"]:
            member = Member(
                id=rec["id"],
                name=rec["name"],
                token=rec["token"],
                spectator=rec["spectator"],
                seq=rec["seq"],
                score=rec["score"],
                guessed=rec["guessed"],
                connected=False,
                disconnected_at=now,
            )
            self.members[member.id] = member
            self.by_token[member.token] = member.id
        t = snap.get("turn")
        self.turn = (
            None
            if t is None
            else Turn(
                drawer_id=t["drawerId"],
                choices=t["choices"],
                word=t["word"],
                started_at=t["startedAt"] + shift,
                revealed=t["revealed"],
                hint_times=[x + shift for x in t["hintTimes"]],
                gained=t["gained"],
            )
        )
        self.load_canvas(canvas if self.phase in IN_GAME else [])
        self.events = []
        self.dirty = True


def _gives_away(text: str, word: str) -> bool:
    return reveals(text, word)


def _op_cost(op: Payload) -> int:
    """What an operation counts against the canvas cap: its points, or 1 for a fill."""
    return len(op["points"]) if op["type"] == "draw" else 1


def _ms(t: float | None) -> int | None:
    return None if t is None else int(t * 1000)
