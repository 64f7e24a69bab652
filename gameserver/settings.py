"""Server and game settings: config file < environment < flags, validated.

Names follow docs/CONTRACT.md. Every problem is reported as a `SettingsError` that
says which setting is wrong and how to fix it.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from gameserver import __version__


class SettingsError(ValueError):
    """A setting is missing, malformed or out of range."""


class _Camel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )


class GameSettings(_Camel):
    """What the host may change in the lobby (and the config file sets at start)."""

    max_players: int = Field(default=12, ge=2, le=24)
    rounds: int = Field(default=3, ge=1, le=10)
    draw_time_seconds: int = Field(default=80, ge=30, le=240)
    word_choices: int = Field(default=3, ge=1, le=5)
    hints: int = Field(default=3, ge=0, le=10)
    language: str = "en"
    custom_words: tuple[str, ...] = Field(default=(), max_length=1000)
    custom_words_only: bool = False

    @field_validator("custom_words", mode="before")
    @classmethod
    def _clean_words(cls, value: Any) -> Any:
        if not isinstance(value, list | tuple):
            return value
        cleaned: list[str] = []
        seen: set[str] = set()
        for item in value:
            if not isinstance(item, str):
                raise ValueError("every custom word must be a string")
            word = " ".join(item.split())
            if not 1 <= len(word) <= 32:
                raise ValueError(f"custom word {item!r} must be 1-32 characters")
            if word.casefold() not in seen:
                seen.add(word.casefold())
                cleaned.append(word)
        return tuple(cleaned)

    def public(self) -> dict[str, Any]:
        """The settings as the protocol shows them (camelCase)."""
        data = self.model_dump(by_alias=True)
        data["customWords"] = list(self.custom_words)
        return data


class RateLimits(_Camel):
    chat_per_second: float = Field(default=5 / 3, gt=0, le=1000)
    chat_burst: int = Field(default=5, ge=1, le=10000)
    draw_per_second: float = Field(default=60, gt=0, le=10000)
    draw_burst: int = Field(default=120, ge=1, le=100000)
    # Everything that is neither chat nor drawing (join, ping, settings, votes, garbage).
    control_per_second: float = Field(default=10, gt=0, le=10000)
    control_burst: int = Field(default=20, ge=1, le=100000)
    max_message_bytes: int = Field(default=16384, ge=1024, le=1 << 20)
    # Sustained abuse: more than abuseFactor x the allowed rate for abuseSeconds -> close 1008.
    abuse_factor: float = Field(default=3.0, ge=1.0, le=100)
    abuse_seconds: int = Field(default=5, ge=1, le=60)


class Maintenance(_Camel):
    enabled: bool = False
    message: str = Field(default="", max_length=500)


class Timing(_Camel):
    """Phase lengths outside the draw time. Defaults match the protocol; tests shorten them."""

    choose_seconds: float = Field(default=15, gt=0, le=120)
    turn_end_seconds: float = Field(default=5, ge=0, le=60)
    game_over_seconds: float = Field(default=10, ge=0, le=120)


class RoomConfig(_Camel):
    """The config file's content (all optional)."""

    room_name: str | None = Field(default=None, min_length=1, max_length=63)
    game: GameSettings = GameSettings()
    rate_limits: RateLimits = RateLimits()
    maintenance: Maintenance = Maintenance()
    reconnect_grace_seconds: float = Field(default=60, ge=1, le=3600)
    heartbeat_seconds: float = Field(default=20, ge=0.2, le=120)
    max_spectators: int = Field(default=1000, ge=0, le=10000)
    timing: Timing = Timing()


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
    config: RoomConfig = RoomConfig()


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
    try:
        return RoomConfig.model_validate(dict(data))
    except ValidationError as exc:
        raise SettingsError(f"{source}: {describe_validation_error(exc)}") from exc


def describe_validation_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(root)"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


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
