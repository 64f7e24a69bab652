"""Settings: config file < environment < flags, validated with clear messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from gameserver.cli import main as cli
from gameserver.settings import SettingsError, resolve_settings


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_file_then_env_then_flags(tmp_path: Path) -> None:
    config = write(
        tmp_path / "room.yaml",
        "roomName: from-file\ngame: {rounds: 5, customWords: [' Kube  Ctl ', kubectl]}\n"
        "rateLimits: {chatBurst: 9}\nmaintenance: {enabled: true, message: soon}\n",
    )
    env = {
        "GAMESERVER_CONFIG": str(config),
        "GAMESERVER_PORT": "9000",
        "GAMESERVER_ROOM_NAME": "from-env",
        "GAMESERVER_DB": "/tmp/env.db",
        "GAMESERVER_ADMIN_TOKEN": "secret-from-env",
        "GAMESERVER_VERSION": "1.4.0",
    }
    s = resolve_settings({}, env)
    assert (s.room_name, s.port, s.admin_port, str(s.db_path)) == (
        "from-env",
        9000,
        8081,
        "/tmp/env.db",
    )
    assert s.config.game.rounds == 5 and s.config.rate_limits.chat_burst == 9
    assert s.config.game.custom_words == ("Kube Ctl", "kubectl")
    assert s.config.maintenance.enabled and s.version == "1.4.0"
    assert s.admin_token == "secret-from-env" and "secret" not in repr(s)
    flags = {"port": 7000, "room_name": "from-flag", "admin_port": 7001}
    s = resolve_settings(flags, env)
    assert (s.room_name, s.port, s.admin_port) == ("from-flag", 7000, 7001)
    only_file = resolve_settings({"config": str(config)}, {})
    assert only_file.room_name == "from-file" and only_file.port == 8080
    assert resolve_settings({}, {}).room_name == "room"


def test_token_file_wins_over_token_env(tmp_path: Path) -> None:
    token = write(tmp_path / "token", "from-file\n")
    s = resolve_settings(
        {}, {"GAMESERVER_ADMIN_TOKEN_FILE": str(token), "GAMESERVER_ADMIN_TOKEN": "from-env"}
    )
    assert s.admin_token == "from-file"
    with pytest.raises(SettingsError, match="cannot read admin token file"):
        resolve_settings({"admin_token_file": str(tmp_path / "missing")}, {})


@pytest.mark.parametrize(
    ("text", "mentions"),
    [
        ("game: {rounds: 11}", "game.rounds"),
        ("game: {drawTimeSeconds: 10}", "game.drawTimeSeconds"),
        ("game: {customWords: ['" + "x" * 33 + "']}", "1-32"),
        ("gmae: {}", "gmae"),
        ("- a list", "mapping"),
        ("game: [", "not valid YAML"),
    ],
)
def test_bad_config_files_say_what_is_wrong(tmp_path: Path, text: str, mentions: str) -> None:
    config = write(tmp_path / "bad.yaml", text)
    with pytest.raises(SettingsError, match=mentions.replace("[", r"\[")):
        resolve_settings({"config": str(config)}, {})


def test_json_config_and_bad_port(tmp_path: Path) -> None:
    config = write(tmp_path / "room.json", '{"roomName": "json-room", "game": {"hints": 0}}')
    assert resolve_settings({"config": str(config)}, {}).config.game.hints == 0
    with pytest.raises(SettingsError, match="port"):
        resolve_settings({}, {"GAMESERVER_PORT": "eighty"})


def test_serve_refuses_bad_settings_with_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write(tmp_path / "bad.yaml", "game: {rounds: 0}")
    assert cli(["serve", "--config", str(config)]) == 2
    assert "game.rounds" in capsys.readouterr().err
