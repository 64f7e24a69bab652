"""The operator's settings: flags, environment variables, defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
from gameroom_operator import DEFAULT_IMAGE
from gameroom_operator.settings import from_args, own_namespace


def test_defaults_are_standalone_all_namespaces_and_the_project_image(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("NAMESPACES", "DEFAULT_IMAGE", "PEERING", "METRICS_PORT"):
        monkeypatch.delenv(f"GAMEROOM_OPERATOR_{name}", raising=False)
    settings = from_args([])
    assert settings.standalone
    assert settings.namespaces == ()
    assert settings.default_image == DEFAULT_IMAGE == "ghcr.io/drawgame/gameroom:0.1.0"
    assert settings.metrics_port == 8090


def test_environment_sets_what_flags_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GAMEROOM_OPERATOR_NAMESPACES", "games, staging")
    monkeypatch.setenv("GAMEROOM_OPERATOR_DEFAULT_IMAGE", "registry.example/room:2")
    monkeypatch.setenv("GAMEROOM_OPERATOR_PEERING", "gamerooms")
    settings = from_args([])
    assert settings.namespaces == ("games", "staging")
    assert settings.default_image == "registry.example/room:2"
    assert not settings.standalone and settings.peering == "gamerooms"


def test_flags_win_over_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GAMEROOM_OPERATOR_PEERING", "gamerooms")
    settings = from_args(["--standalone", "--namespaces", "a", "--log-format", "json"])
    assert settings.standalone
    assert settings.namespaces == ("a",)
    assert settings.log_format == "json"


def test_bad_flag_value_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        from_args(["--log-format", "xml"])
    assert "invalid choice: 'xml'" in capsys.readouterr().err


def test_operator_namespace_from_flag_downward_api_or_service_account(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("GAMEROOM_OPERATOR_OPERATOR_NAMESPACE", raising=False)
    monkeypatch.delenv("POD_NAMESPACE", raising=False)
    account = tmp_path / "namespace"
    assert own_namespace(str(account)) == ""  # outside a cluster
    account.write_text("ops\n")
    assert own_namespace(str(account)) == "ops"
    monkeypatch.setenv("POD_NAMESPACE", "gameroom-system")
    assert own_namespace(str(account)) == "gameroom-system"
    assert from_args([]).operator_namespace == "gameroom-system"
    assert from_args(["--operator-namespace", "x"]).operator_namespace == "x"
