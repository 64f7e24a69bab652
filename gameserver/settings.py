"""Server and game settings: config file < environment < flags, validated.

Names follow docs/CONTRACT.md. Every problem is reported as a `SettingsError` that
says which setting is wrong and how to fix it.
"""

from __future__ import annotations

import json
import os
import re
import sys
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

import yaml

from gameserver import __version__

# Plain dataclasses and a small validator rather than a validation library: the room
# process should stay small (an idle room is expected to need well under 60 MB).

T = TypeVar("T")

_SURROGATE = re.compile("[\ud800-\udfff]")


class SettingsError(ValueError):
    """A setting is missing, malformed or out of range."""


def _range(low: float | None = None, high: float | None = None, **extra: Any) -> dict[str, Any]:
    return {"low": low, "high": high, **extra}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _clean_words(value: Any, where: str, errors: list[str]) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        errors.append(f"{where}: must be a list of words")
        return ()
    if len(value) > 1000:
        errors.append(f"{where}: at most 1000 custom words, got {len(value)}")
        return ()
    cleaned: list[str] = []
    seen: set[str] = set()
    for item in value:
        if not isinstance(item, str):
            errors.append(f"{where}: every custom word must be a string")
            return ()
        word = " ".join(item.split())
        if not 1 <= len(word) <= 32:
            errors.append(f"{where}: custom word {item!r} must be 1-32 characters")
            return ()
        if not word.isprintable() or _SURROGATE.search(word):
            errors.append(
                f"{where}: custom word {item!r} holds control, invisible or unpaired "
                "surrogate characters"
            )
            return ()
        if word.casefold() not in seen:
            seen.add(word.casefold())
            cleaned.append(word)
    return tuple(cleaned)


def _clean_origins(value: Any, where: str, errors: list[str]) -> tuple[str, ...]:
    if not isinstance(value, list | tuple):
        errors.append(f"{where}: must be a list of origins like https://play.example.com")
        return ()
    cleaned: list[str] = []
    for item in value:
        origin = item.strip().rstrip("/").lower() if isinstance(item, str) else ""
        if origin == "*":
            cleaned.append(origin)
            continue
        scheme, sep, rest = origin.partition("://")
        if scheme not in ("http", "https") or not sep or not rest or "/" in rest:
            errors.append(
                f"{where}: {item!r} is not an origin: write scheme://host[:port], "
                "e.g. https://play.example.com, or '*' for any"
            )
            return ()
        cleaned.append(origin)
    return tuple(cleaned)


def _check_value(
    kind: Any, value: Any, meta: Mapping[str, Any], where: str, errors: list[str]
) -> Any:
    low, high = meta.get("low"), meta.get("high")
    if kind is bool:
        if not isinstance(value, bool):
            errors.append(f"{where}: must be true or false")
        return value
    if kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            errors.append(f"{where}: must be an integer")
            return value
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            errors.append(f"{where}: must be a number")
            return value
        value = float(value)
        if meta.get("positive") and value <= 0:
            errors.append(f"{where}: must be greater than 0")
            return value
    elif kind is str or kind == (str | None):
        if value is None and kind is not str:
            return None
        if not isinstance(value, str):
            errors.append(f"{where}: must be a string")
            return value
        length = len(value)
        if low is not None and high is not None and not low <= length <= high:
            errors.append(f"{where}: must be {low}-{high} characters")
        return value
    elif meta.get("words"):
        return _clean_words(value, where, errors)
    elif meta.get("origins"):
        return _clean_origins(value, where, errors)
    if low is not None and value < low or high is not None and value > high:
        errors.append(f"{where}: must be between {low} and {high}, got {value}")
    return value


def from_mapping(cls: type[T], data: Mapping[str, Any], path: str = "") -> tuple[T, list[str]]:
    """Build dataclass `cls` from camelCase `data`; returns (value, problems)."""
    errors: list[str] = []
    hints = typing.get_type_hints(cls)
    known = {}
    for f in fields(cls):  # type: ignore[arg-type]
        known[_camel(f.name)] = f
    values: dict[str, Any] = {}
    for key, value in data.items():
        where = f"{path}{key}"
        spec = known.get(key) if isinstance(key, str) else None
        if spec is None:
            errors.append(f"{where}: unknown setting (known: {', '.join(sorted(known))})")
            continue
        kind = hints[spec.name]
        if isinstance(kind, type) and hasattr(kind, "__dataclass_fields__"):
            if not isinstance(value, Mapping):
                errors.append(f"{where}: must be a mapping")
                continue
            sub: Any
            sub, problems = from_mapping(kind, value, f"{where}.")
            errors += problems
            values[spec.name] = sub
            continue
        values[spec.name] = _check_value(kind, value, spec.metadata, where, errors)
    if errors:
        return cls(), errors
    return cls(**values), errors


@dataclass(frozen=True)
class GameSettings:
    """What the host may change in the lobby (and the config file sets at start)."""

    max_players: int = field(default=12, metadata=_range(2, 24))
    rounds: int = field(default=3, metadata=_range(1, 10))
    draw_time_seconds: int = field(default=80, metadata=_range(30, 240))
    word_choices: int = field(default=3, metadata=_range(1, 5))
    hints: int = field(default=3, metadata=_range(0, 10))
    language: str = field(default="en", metadata=_range(1, 16))
    custom_words: tuple[str, ...] = field(default=(), metadata=_range(words=True))
    custom_words_only: bool = False

    def public(self) -> dict[str, Any]:
        """The settings as the protocol shows them (camelCase)."""
        return {
            "maxPlayers": self.max_players,
            "rounds": self.rounds,
            "drawTimeSeconds": self.draw_time_seconds,
            "wordChoices": self.word_choices,
            "hints": self.hints,
            "language": self.language,
            "customWords": list(self.custom_words),
            "customWordsOnly": self.custom_words_only,
        }

    def updated(self, changes: Mapping[str, Any]) -> GameSettings:
        """These settings with camelCase `changes` applied; `SettingsError` if invalid."""
        merged, errors = from_mapping(GameSettings, {**self.public(), **changes})
        if errors:
            raise SettingsError("; ".join(errors))
        return merged


@dataclass(frozen=True)
class RateLimits:
    chat_per_second: float = field(default=5 / 3, metadata=_range(0, 1000, positive=True))
    chat_burst: int = field(default=5, metadata=_range(1, 10000))
    draw_per_second: float = field(default=60, metadata=_range(0, 10000, positive=True))
    draw_burst: int = field(default=120, metadata=_range(1, 100000))
    # Everything that is neither chat nor drawing (join, ping, settings, votes, garbage).
    control_per_second: float = field(default=10, metadata=_range(0, 10000, positive=True))
    control_burst: int = field(default=20, metadata=_range(1, 100000))
    max_message_bytes: int = field(default=16384, metadata=_range(1024, 1 << 20))
    # Sustained abuse: more than abuseFactor x the allowed rate for abuseSeconds -> close 1008.
    abuse_factor: float = field(default=3.0, metadata=_range(1.0, 100))
    abuse_seconds: int = field(default=5, metadata=_range(1, 60))


@dataclass(frozen=True)
class Maintenance:
    enabled: bool = False
    message: str = field(default="", metadata=_range(0, 500))


@dataclass(frozen=True)
class Timing:
    """Phase lengths outside the draw time. Defaults match the protocol; tests shorten them."""

    choose_seconds: float = field(default=15, metadata=_range(0, 120, positive=True))
    turn_end_seconds: float = field(default=5, metadata=_range(0, 60))
    game_over_seconds: float = field(default=10, metadata=_range(0, 120))


@dataclass(frozen=True)
class RoomConfig:
    """The config file's content (all optional)."""

    room_name: str | None = field(default=None, metadata=_range(1, 63))
    game: GameSettings = field(default_factory=GameSettings)
    rate_limits: RateLimits = field(default_factory=RateLimits)
    maintenance: Maintenance = field(default_factory=Maintenance)
    reconnect_grace_seconds: float = field(default=60, metadata=_range(1, 3600))
    heartbeat_seconds: float = field(default=20, metadata=_range(0.2, 120))
    max_spectators: int = field(default=1000, metadata=_range(0, 10000))
    timing: Timing = field(default_factory=Timing)
    # Sockets that opened /ws but have not joined yet (a page on its way in, or someone
    # holding slots): closed after joinTimeoutSeconds, at most maxUnjoined of them and
    # maxUnjoinedPerAddress from one remote address.
    join_timeout_seconds: float = field(default=10, metadata=_range(0.05, 300, positive=True))
    max_unjoined: int = field(default=32, metadata=_range(1, 10000))
    max_unjoined_per_address: int = field(default=8, metadata=_range(1, 10000))
    # Web pages (scheme://host[:port]) allowed to open the WebSocket besides the room's
    # own origin; "*" allows any.
    allowed_origins: tuple[str, ...] = field(default=(), metadata=_range(origins=True))


@dataclass(frozen=True)
class ServerSettings:
    """Everything `serve` needs, after merging file, environment and flags."""

    room_name: str = "room"
    host: str = "0.0.0.0"
    port: int = 8080
    admin_port: int = 8081
    db_path: Path = Path("./gameroom.db")
    log_format: str = "json"
    admin_token: str | None = field(default=None, repr=False)
    version: str = __version__
    config: RoomConfig = field(default_factory=RoomConfig)


# flag name -> (env var, converter)
_FLAG_ENV: dict[str, str] = {
    "config": "GAMESERVER_CONFIG",
    "room_name": "GAMESERVER_ROOM_NAME",
    "host": "GAMESERVER_HOST",
    "port": "GAMESERVER_PORT",
    "admin_port": "GAMESERVER_ADMIN_PORT",
    "db": "GAMESERVER_DB",
    "log_format": "GAMESERVER_LOG_FORMAT",
    "admin_token_file": "GAMESERVER_ADMIN_TOKEN_FILE",
}


def load_config_file(path: Path) -> RoomConfig:
    """Parse a YAML or JSON config file into a validated `RoomConfig`."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SettingsError(f"cannot read config file {path}: {exc.strerror or exc}") from exc
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise SettingsError(f"config file {path} is not valid YAML/JSON: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SettingsError(f"config file {path} must hold a mapping at the top level")
    return parse_room_config(data, source=str(path))


def parse_room_config(data: Mapping[str, Any], source: str = "config") -> RoomConfig:
    config, errors = from_mapping(RoomConfig, data)
    if errors:
        raise SettingsError(f"{source}: " + "; ".join(errors))
    return config


def _int_setting(name: str, raw: str | int) -> int:
    try:
        value = int(raw)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from exc
    return value


def _port(name: str, raw: str | int) -> int:
    value = _int_setting(name, raw)
    if not 0 <= value <= 65535:
        raise SettingsError(f"{name} must be a port number 0-65535, got {value}")
    return value


def read_token_file(path: str) -> str:
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SettingsError(
            f"cannot read admin token file {path}: {exc.strerror or exc}; "
            "mount the room's Secret there or unset GAMESERVER_ADMIN_TOKEN_FILE"
        ) from exc
    if not token:
        raise SettingsError(f"admin token file {path} is empty")
    return token


def resolve_settings(
    flags: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> ServerSettings:
    """Merge config file < environment < flags (flags with value None count as unset)."""
    env = os.environ if environ is None else environ

    def pick(name: str) -> Any:
        if flags.get(name) is not None:
            return flags[name]
        env_name = _FLAG_ENV.get(name)
        if env_name and env.get(env_name):
            return env[env_name]
        return None

    config_path = pick("config")
    config = load_config_file(Path(config_path)) if config_path else RoomConfig()

    room_name = pick("room_name") or config.room_name or "room"
    room_name = str(room_name).strip()
    if not 1 <= len(room_name) <= 63:
        raise SettingsError("room name must be 1-63 characters")

    log_format = pick("log_format") or ("console" if sys.stderr.isatty() else "json")
    if log_format not in ("json", "console"):
        raise SettingsError(f"log format must be 'json' or 'console', got {log_format!r}")

    token_file = pick("admin_token_file")
    admin_token = flags.get("admin_token") or None
    if admin_token is None:
        admin_token = read_token_file(token_file) if token_file else None
    if admin_token is None and env.get("GAMESERVER_ADMIN_TOKEN"):
        admin_token = env["GAMESERVER_ADMIN_TOKEN"].strip() or None

    return ServerSettings(
        room_name=room_name,
        host=str(pick("host") or "0.0.0.0"),
        port=_port("port", pick("port") if pick("port") is not None else 8080),
        admin_port=_port(
            "admin port", pick("admin_port") if pick("admin_port") is not None else 8081
        ),
        db_path=Path(pick("db") or "./gameroom.db"),
        log_format=log_format,
        admin_token=admin_token,
        version=env.get("GAMESERVER_VERSION") or __version__,
        config=config,
    )


# ---- live settings (PUT /admin/settings) ---------------------------------------------------

# What a running room takes without a restart: rate limits at once, game settings from the
# next game. The operator's spec.rollout.liveSettings sends these sections here.
LIVE_SECTIONS = ("game", "rateLimits")


def camel_view(value: Any) -> dict[str, Any]:
    """A settings dataclass as camelCase JSON (tuples as lists)."""
    return {
        _camel(f.name): list(v) if isinstance(v := getattr(value, f.name), tuple) else v
        for f in fields(value)
    }


@dataclass(frozen=True)
class LiveChange:
    game: GameSettings
    rate_limits: RateLimits
    errors: tuple[str, ...] = ()  # "game.rounds: must be between 1 and 10, got 50", ...

    @property
    def fields(self) -> list[str]:
        """The settings named by the errors (game.rounds, rateLimits.chatBurst)."""
        return [error.split(":", 1)[0] for error in self.errors]


def live_change(game: GameSettings, limits: RateLimits, body: Mapping[str, Any]) -> LiveChange:
    """`body`'s sections merged over the settings in use (a key left out keeps its value),
    validated as a whole: either every change is good or none applies."""
    errors = [
        f"{key}: unknown section (the live sections are {', '.join(LIVE_SECTIONS)})"
        for key in body
        if key not in LIVE_SECTIONS
    ]
    merged: dict[str, Any] = {"game": game, "rateLimits": limits}
    for section, cls, now in (("game", GameSettings, game), ("rateLimits", RateLimits, limits)):
        given = body.get(section)
        if given is None:
            continue
        if not isinstance(given, Mapping):
            errors.append(f"{section}: must be a mapping")
            continue
        value, problems = from_mapping(cls, {**camel_view(now), **given}, f"{section}.")
        errors += problems
        merged[section] = value
    if errors:
        return LiveChange(game, limits, tuple(errors))
    return LiveChange(merged["game"], merged["rateLimits"])
