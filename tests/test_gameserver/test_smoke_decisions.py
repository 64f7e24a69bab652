"""The smoke test's pure decisions: what a health body, a room and a stroke mean."""

from __future__ import annotations

from typing import Any

import pytest

from gameserver.smoke import (
    CheckResult,
    SmokeFailure,
    SmokeReport,
    base_url,
    format_report,
    judge_health,
    parse_room,
    smoke_stroke,
    stroke_mismatch,
    welcome_problems,
    ws_url,
)


def health(status: str = "healthy", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "status": status,
        "checks": {
            "database": {"status": "healthy", "latencyMs": 0.4},
            "websocket": {"status": "healthy", "connections": 3},
            "storage": {"status": "healthy", "freeBytes": 10**9},
        },
        "performance": {"eventLoopLagMs": 1.2},
        "version": "1.4.0",
        "maintenance": False,
    }
    body.update(overrides)
    return body


def test_healthy_body_passes_with_a_summary() -> None:
    ok, detail = judge_health(200, health())
    assert ok
    assert detail == "healthy, version 1.4.0 (database, storage, websocket ok)"


def test_degraded_passes_and_names_the_degraded_check() -> None:
    body = health("degraded")
    body["checks"]["storage"] = {"status": "degraded", "error": "disk 93% full"}
    ok, detail = judge_health(200, body)
    assert ok
    assert "storage=degraded (disk 93% full)" in detail


def test_unhealthy_fails_and_names_the_failing_check() -> None:
    body = health("unhealthy")
    body["checks"]["database"] = {"status": "unhealthy", "error": "database is locked"}
    ok, detail = judge_health(503, body)
    assert not ok
    assert detail == "room reports unhealthy: database=unhealthy (database is locked)"


@pytest.mark.parametrize(
    ("code", "body", "reason"),
    [
        (503, health("healthy"), "'status' is healthy but HTTP code is 503"),
        (200, health("fine"), "'status' is 'fine'"),
        (200, health(checks={"database": {"status": "healthy"}}), "lacks websocket, storage"),
        (200, health(version=""), "'version' is missing"),
        (200, health(maintenance="no"), "'maintenance' is missing or not a boolean"),
        (200, ["healthy"], "not a JSON object"),
    ],
)
def test_malformed_health_fails_with_the_field(code: int, body: Any, reason: str) -> None:
    ok, detail = judge_health(code, body)
    assert not ok
    assert reason in detail


def room_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "friday",
        "phase": "lobby",
        "players": 0,
        "spectators": 2,
        "maxPlayers": 12,
        "settings": {"rounds": 3},
        "maintenance": {"enabled": False, "message": ""},
        "version": "1.4.0",
        "protocol": 1,
    }
    body.update(overrides)
    return body


def test_room_is_idle_only_in_an_empty_lobby() -> None:
    assert parse_room(room_body()).idle
    assert not parse_room(room_body(players=1)).idle
    assert not parse_room(room_body(players=[{"id": "p1"}])).idle
    assert not parse_room(room_body(phase="game_over")).idle


def test_room_that_leaks_the_word_or_speaks_another_protocol_fails() -> None:
    with pytest.raises(SmokeFailure, match="leaks the secret word"):
        parse_room(room_body(word="giraffe"))
    with pytest.raises(SmokeFailure, match="protocol 2"):
        parse_room(room_body(protocol=2))
    with pytest.raises(SmokeFailure, match="'maxPlayers' is missing"):
        parse_room({k: v for k, v in room_body().items() if k != "maxPlayers"})


def test_welcome_for_a_spectator_must_not_carry_the_word() -> None:
    welcome = {
        "protocol": 1,
        "you": {"id": "p1", "name": "smoke-bot-1a2b", "spectator": True, "token": "a" * 32},
        "room": {"name": "friday"},
        "palette": [{}] * 20,
        "state": {"phase": "drawing", "players": [], "canvas": [{"type": "draw"}]},
    }
    assert welcome_problems(welcome, spectator=True) == []
    welcome["state"]["word"] = "giraffe"
    assert welcome_problems(welcome, spectator=True) == [
        "'state.word' reveals the secret word to a non-drawer"
    ]
    welcome["state"]["phase"] = "turn_end"  # the word has been revealed to everyone
    assert welcome_problems(welcome, spectator=True) == []
    assert "'you.spectator' is True, expected False" in welcome_problems(welcome, spectator=False)


def test_stroke_mismatch_spots_changed_points_and_fields() -> None:
    sent = smoke_stroke(1)
    assert stroke_mismatch(sent, {**sent, "points": [[int(x), y] for x, y in sent["points"]]})
    assert stroke_mismatch(sent, dict(sent)) is None
    assert stroke_mismatch(sent, {**sent, "color": 4}) == "color is 4, sent 3"
    assert stroke_mismatch(sent, {**sent, "points": sent["points"][:2]}) is not None


def test_urls() -> None:
    assert base_url("127.0.0.1:8080/") == "http://127.0.0.1:8080"
    assert ws_url(base_url("https://rooms.example/friday/")) == "wss://rooms.example/friday/ws"
    with pytest.raises(ValueError, match="http:// or https://"):
        base_url("ftp://x")


def test_report_has_a_line_per_check_and_names_the_first_failure() -> None:
    report = SmokeReport(
        url="http://r",
        checks=[
            CheckResult("livez", "ok", 0.004, "HTTP 200"),
            CheckResult("room", "FAIL", 0.01, "room is in maintenance mode"),
            CheckResult("draw", "skipped", 0.0, "/api/room check failed"),
        ],
        seconds=0.2,
    )
    text = format_report(report)
    lines = text.splitlines()
    assert lines[1].split()[:4] == ["ok", "livez", "4", "ms"]
    assert lines[2].split()[:2] == ["FAIL", "room"]
    assert lines[3].split()[:2] == ["skipped", "draw"]
    assert lines[-2] == "result: FAILED (3 checks, 1 failed, 1 skipped) in 0.2 s"
    assert lines[-1] == "first failure: room: room is in maintenance mode"
    assert not report.passed
