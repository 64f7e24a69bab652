"""Validation of client messages into typed commands (protocol v1, see PROTOCOL.md)."""

from __future__ import annotations

import json
import math
import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from gameserver import PROTOCOL_VERSION

CANVAS_WIDTH = 1600
CANVAS_HEIGHT = 900
MIN_WIDTH = 2
MAX_WIDTH = 40
MAX_POINTS = 256
MAX_STROKE_ID = 2**31 - 1
NAME_MAX = 24
CHAT_MAX = 200
REF_MAX = 32

Point = tuple[float, float]

PALETTE: tuple[tuple[str, str], ...] = (
    ("white", "#ffffff"),
    ("light grey", "#c1c1c1"),
    ("grey", "#7f7f7f"),
    ("black", "#000000"),
    ("red", "#e53935"),
    ("dark red", "#8b0000"),
    ("orange", "#fb8c00"),
    ("yellow", "#fdd835"),
    ("green", "#43a047"),
    ("dark green", "#1b5e20"),
    ("blue", "#1e88e5"),
    ("navy", "#1a237e"),
    ("purple", "#8e24aa"),
    ("pink", "#ec407a"),
    ("brown", "#795548"),
    ("tan", "#d2a679"),
    ("teal", "#00897b"),
    ("sky", "#81d4fa"),
    ("lime", "#c0ca33"),
    ("peach", "#ffccbc"),
)
PALETTE_JSON: list[dict[str, Any]] = [
    {"index": i, "name": name, "hex": hexa} for i, (name, hexa) in enumerate(PALETTE)
]

SETTINGS_FIELDS = {
    "rounds",
    "drawTimeSeconds",
    "wordChoices",
    "maxPlayers",
    "hints",
    "customWords",
    "customWordsOnly",
}

ERROR_CODES = frozenset(
    {
        "bad_json",
        "bad_message",
        "unknown_type",
        "not_joined",
        "already_joined",
        "name_invalid",
        "name_taken",
        "room_full",
        "maintenance",
        "draining",
        "bad_token",
        "not_host",
        "not_drawer",
        "wrong_phase",
        "not_enough_players",
        "spectator",
        "bad_target",
        "rate_limited",
        "internal_error",
    }
)


class ProtocolError(Exception):
    """A client message that cannot be applied; becomes an `error` frame."""

    def __init__(self, code: str, message: str, ref: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.ref = ref

    def frame(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "error", "code": self.code, "message": self.message}
        if self.ref is not None:
            out["ref"] = self.ref
        return out


@dataclass(frozen=True, slots=True)
class Join:
    name: str
    spectator: bool = False
    token: str | None = None


@dataclass(frozen=True, slots=True)
class ChangeSettings:
    changes: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Start:
    pass


@dataclass(frozen=True, slots=True)
class ChooseWord:
    index: int


@dataclass(frozen=True, slots=True)
class Draw:
    stroke: int
    tool: str
    color: int
    width: int
    points: list[Point]


@dataclass(frozen=True, slots=True)
class Fill:
    stroke: int
    color: int
    x: float
    y: float


@dataclass(frozen=True, slots=True)
class Undo:
    pass


@dataclass(frozen=True, slots=True)
class Clear:
    pass


@dataclass(frozen=True, slots=True)
class Chat:
    text: str


@dataclass(frozen=True, slots=True)
class VoteKick:
    target: str


@dataclass(frozen=True, slots=True)
class Ping:
    t: float | None


@dataclass(frozen=True, slots=True)
class Leave:
    pass


Command = (
    Join | ChangeSettings | Start | ChooseWord | Draw | Fill | Undo | Clear | Chat | VoteKick
) | (Ping | Leave)

DRAWING_TYPES = frozenset({"draw", "fill", "undo", "clear"})


# JSON allows integers of any length; past this bound they cannot be a float (a
# coordinate, a width, a time) and `math.isfinite` would raise OverflowError on them.
_FLOAT_BOUND = 1e308


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return -_FLOAT_BOUND < value < _FLOAT_BOUND
    return isinstance(value, float) and math.isfinite(value)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _clamp(value: float, low: float, high: float) -> float:
    return low if value < low else high if value > high else value


class _Fields:
    """Field access for one message that raises `bad_message` naming the field."""

    __slots__ = ("data", "ref")

    def __init__(self, data: dict[str, Any], ref: str | None) -> None:
        self.data = data
        self.ref = ref

    def fail(self, field: str, why: str) -> ProtocolError:
        return ProtocolError("bad_message", f"field '{field}' {why}", self.ref)

    def int_in(self, field: str, low: int, high: int) -> int:
        value = self.data.get(field)
        if value is None:
            raise self.fail(field, "is required")
        if not _is_int(value):
            raise self.fail(field, "must be an integer")
        if not low <= value <= high:
            raise self.fail(field, f"must be between {low} and {high}")
        return int(value)

    def number(self, field: str) -> float:
        value = self.data.get(field)
        if value is None:
            raise self.fail(field, "is required")
        if not _is_number(value):
            raise self.fail(field, "must be a finite number")
        return float(value)

    def text(self, field: str) -> str:
        value = self.data.get(field)
        if value is None:
            raise self.fail(field, "is required")
        if not isinstance(value, str):
            raise self.fail(field, "must be a string")
        return value

    def optional_bool(self, field: str) -> bool:
        value = self.data.get(field, False)
        if value is None:
            return False
        if not isinstance(value, bool):
            raise self.fail(field, "must be true or false")
        return value


# Joiners that some scripts (Persian, Indic) and emoji sequences need between two
# visible characters; anywhere else they only hide text.
_JOINERS = frozenset("\u200c\u200d")


def _joiner_kept(text: str, i: int) -> bool:
    """A joiner at `text[i]` that sits between two visible characters."""
    before = text[i - 1] if i > 0 else " "
    after = text[i + 1] if i + 1 < len(text) else " "
    return _visible(before) and _visible(after)


def _visible(ch: str) -> bool:
    return not ch.isspace() and unicodedata.category(ch)[0] not in "CZ"


def scrub_text(text: str) -> str:
    """Chat text as players may see it: no control or format characters.

    Tabs and line breaks become spaces; other C0/C1 controls, bidi overrides and
    isolates, zero-width spaces, soft hyphens and the like (Unicode Cc and Cf) are
    dropped, except a joiner between two visible characters (emoji, Persian)."""
    if text.isascii() and text.isprintable():
        return text
    out: list[str] = []
    for i, ch in enumerate(text):
        category = unicodedata.category(ch)
        if category == "Cc":
            if ch in "\t\n\r\v\f\x1c\x1d\x1e\x1f\x85":
                out.append(" ")
        elif category == "Cf":
            if ch in _JOINERS and _joiner_kept(text, i):
                out.append(ch)
        else:
            out.append(ch)
    return "".join(out)


def clean_name(raw: str, ref: str | None = None) -> str:
    """A nickname: NFC, trimmed, inner whitespace collapsed, 1-24 printable characters.

    NFC makes names that look the same compare the same ("Zoë" typed two ways)."""
    name = " ".join(unicodedata.normalize("NFC", raw).split())
    if not 1 <= len(name) <= NAME_MAX:
        raise ProtocolError(
            "name_invalid", f"name must be 1-{NAME_MAX} characters after trimming", ref
        )
    for i, ch in enumerate(name):
        if not ch.isprintable() and not (ch in _JOINERS and _joiner_kept(name, i)):
            raise ProtocolError(
                "name_invalid",
                f"name must not contain control or invisible characters (U+{ord(ch):04X})",
                ref,
            )
    return name


def find_surrogate(value: Any, path: str = "") -> str | None:
    """The path of the first string (or key) in `value` holding an unpaired UTF-16
    surrogate, or None. JSON's \\uD800-\\uDFFF escapes decode to such strings, which
    no UTF-8 encoder (SQLite, the WebSocket writer) accepts."""
    if isinstance(value, str):
        return path or "(message)" if _SURROGATE.search(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            # The path goes into an error frame: a surrogate in it would break that too.
            shown = _SURROGATE.sub("\ufffd", key)
            where = f"{path}.{shown}" if path else shown
            if shown != key:
                return where
            found = find_surrogate(item, where)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = find_surrogate(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


_SURROGATE = re.compile("[\ud800-\udfff]")


def _points(fields: _Fields) -> list[Point]:
    raw = fields.data.get("points")
    if not isinstance(raw, list):
        raise fields.fail("points", f"must be a list of 1-{MAX_POINTS} [x, y] pairs")
    if not 1 <= len(raw) <= MAX_POINTS:
        raise fields.fail("points", f"must hold 1-{MAX_POINTS} points, got {len(raw)}")
    out: list[Point] = []
    for i, pair in enumerate(raw):
        if not (
            isinstance(pair, list)
            and len(pair) == 2
            and _is_number(pair[0])
            and _is_number(pair[1])
        ):
            raise fields.fail(f"points[{i}]", "must be an [x, y] pair of finite numbers")
        x = round(float(_clamp(pair[0], 0, CANVAS_WIDTH)), 1)
        y = round(float(_clamp(pair[1], 0, CANVAS_HEIGHT)), 1)
        # Tuples of numbers are not tracked by the garbage collector: a canvas of many
        # thousands of points then costs no GC pauses.
        out.append((int(x) if x.is_integer() else x, int(y) if y.is_integer() else y))
    return out


def parse_client_message(raw: str) -> tuple[str, Command, str | None]:
    """Parse one text frame. Returns (type, command, ref) or raises `ProtocolError`."""
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        raise ProtocolError("bad_json", "message is not valid JSON") from None
    if not isinstance(data, dict):
        raise ProtocolError("bad_message", "message must be a JSON object with a 'type'")
    # Only a \\u escape can carry a lone surrogate (a text frame is valid UTF-8), so the
    # walk runs for the rare frames holding one.
    if "\\u" in raw:
        where = find_surrogate(data)
        if where is not None:
            echo = data.get("ref")
            if not (isinstance(echo, str) and len(echo) <= REF_MAX and not find_surrogate(echo)):
                echo = None
            raise ProtocolError(
                "bad_message",
                f"field '{where}' holds an unpaired UTF-16 surrogate (\\uD800-\\uDFFF): "
                "send valid Unicode text",
                echo,
            )
    ref = data.get("ref")
    if ref is not None and not (isinstance(ref, str) and len(ref) <= REF_MAX):
        raise ProtocolError("bad_message", f"field 'ref' must be a string of at most {REF_MAX}")
    kind = data.get("type")
    if not isinstance(kind, str):
        raise ProtocolError("bad_message", "field 'type' is required and must be a string", ref)
    fields = _Fields(data, ref)
    parser = _PARSERS.get(kind)
    if parser is None:
        raise ProtocolError("unknown_type", f"unknown message type {kind[:40]!r}", ref)
    return kind, parser(fields), ref


def _join(f: _Fields) -> Command:
    name = clean_name(f.text("name"), f.ref)
    token = f.data.get("token")
    if token is not None and not (isinstance(token, str) and len(token) <= 64):
        raise f.fail("token", "must be a session token string")
    protocol = f.data.get("protocol", PROTOCOL_VERSION)
    if protocol != PROTOCOL_VERSION:
        raise f.fail("protocol", f"must be {PROTOCOL_VERSION}; this server speaks version 1")
    return Join(name=name, spectator=f.optional_bool("spectator"), token=token or None)


def _settings(f: _Fields) -> Command:
    value = f.data.get("settings")
    if not isinstance(value, dict) or not value:
        raise f.fail("settings", "must be an object with at least one setting")
    unknown = sorted(set(value) - SETTINGS_FIELDS)
    if unknown:
        raise f.fail(f"settings.{unknown[0]}", "is not a setting the host can change")
    for key, item in value.items():
        if key == "customWords":
            if not isinstance(item, list) or not all(isinstance(w, str) for w in item):
                raise f.fail("settings.customWords", "must be a list of strings")
        elif key == "customWordsOnly":
            if not isinstance(item, bool):
                raise f.fail("settings.customWordsOnly", "must be true or false")
        elif not _is_int(item):
            raise f.fail(f"settings.{key}", "must be an integer")
    return ChangeSettings(changes=dict(value))


def _draw(f: _Fields) -> Command:
    stroke = f.int_in("stroke", 0, MAX_STROKE_ID)
    tool = f.data.get("tool")
    if tool not in ("brush", "eraser"):
        raise f.fail("tool", "must be 'brush' or 'eraser'")
    color = f.int_in("color", 0, len(PALETTE) - 1)
    width = int(round(_clamp(f.number("width"), MIN_WIDTH, MAX_WIDTH)))
    return Draw(stroke=stroke, tool=tool, color=color, width=width, points=_points(f))


def _fill(f: _Fields) -> Command:
    stroke = f.int_in("stroke", 0, MAX_STROKE_ID)
    color = f.int_in("color", 0, len(PALETTE) - 1)
    x = round(_clamp(f.number("x"), 0.0, float(CANVAS_WIDTH)), 1)
    y = round(_clamp(f.number("y"), 0.0, float(CANVAS_HEIGHT)), 1)
    return Fill(stroke=stroke, color=color, x=x, y=y)


def _chat(f: _Fields) -> Command:
    text = scrub_text(f.text("text")).strip()
    if not 1 <= len(text) <= CHAT_MAX:
        raise f.fail("text", f"must be 1-{CHAT_MAX} visible characters after trimming and cleaning")
    return Chat(text=text)


def _vote_kick(f: _Fields) -> Command:
    target = f.text("target")
    if not 1 <= len(target) <= 32:
        raise f.fail("target", "must be a player id")
    return VoteKick(target=target)


def _ping(f: _Fields) -> Command:
    t = f.data.get("t")
    if t is not None and not _is_number(t):
        raise f.fail("t", "must be a number")
    return Ping(t=t)


_PARSERS = {
    "join": _join,
    "settings": _settings,
    "start": lambda f: Start(),
    "choose_word": lambda f: ChooseWord(index=f.int_in("index", 0, 4)),
    "draw": _draw,
    "fill": _fill,
    "undo": lambda f: Undo(),
    "clear": lambda f: Clear(),
    "chat": _chat,
    "vote_kick": _vote_kick,
    "ping": _ping,
    "leave": lambda f: Leave(),
}


def error_frame(code: str, message: str, ref: str | None = None) -> dict[str, Any]:
    return ProtocolError(code, message, ref).frame()
