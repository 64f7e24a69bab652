"""The chart's alert rules in a real Prometheus server (Debian's `prometheus`) on loopback,
scraping a real game server's /metrics: while the room serves, GameRoomDown stays quiet;
once the room stops, it fires for that room.

The rules are the chart's rendered PrometheusRule with every `for:` shortened to a few
seconds (the durations themselves are covered by promtool's unit tests) and the scrape
job labelled as the chart's ServiceMonitor labels rooms (job="gameroom", namespace, room).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from gameserver.testing import ServerProcess

from .chart import VALUE_SETS, one, render

pytestmark = pytest.mark.slow

T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 60) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


class Prometheus:
    def __init__(self, url: str) -> None:
        self.url = url

    def get(self, path: str) -> Any:
        try:
            with urllib.request.urlopen(self.url + path, timeout=5) as response:  # noqa: S310
                return json.loads(response.read())["data"]
        except (urllib.error.URLError, ConnectionError):
            return None

    def alerts(self, name: str) -> list[dict[str, Any]]:
        data = self.get("/api/v1/alerts") or {"alerts": []}
        return [a for a in data["alerts"] if a["labels"]["alertname"] == name]

    def rule_evaluations(self, name: str) -> str:
        """When the rule group holding `name` was last evaluated (RFC 3339)."""
        for group in (self.get("/api/v1/rules") or {"groups": []})["groups"]:
            if any(rule["name"] == name for rule in group["rules"]):
                return str(group["lastEvaluation"])
        return ""


@pytest.fixture
def room(tmp_path: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path / "room", {"roomName": "friday"})
    server.start()
    yield server
    if server.running:
        server.stop()


@pytest.fixture
def prometheus(tmp_path: Path, room: ServerProcess) -> Iterator[Prometheus]:
    binary = shutil.which("prometheus")
    assert binary, "prometheus is missing: install Debian's prometheus package (make system-deps)"
    groups = one(render(VALUE_SETS["monitoring"]), "PrometheusRule")["spec"]["groups"]
    for group in groups:
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = "3s"
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"groups": groups}))
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
        "rule_files": ["rules.yaml"],
        "scrape_configs": [
            {
                "job_name": "gameroom",
                "static_configs": [
                    {
                        "targets": [f"127.0.0.1:{room.port}"],
                        "labels": {"namespace": "games", "room": "friday"},
                    }
                ],
            }
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = (tmp_path / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    try:
        server = Prometheus(f"http://127.0.0.1:{port}")
        wait_for(
            "Prometheus to load the chart's rules", lambda: server.rule_evaluations("GameRoomDown")
        )
        yield server
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def test_a_stopped_room_fires_game_room_down(room: ServerProcess, prometheus: Prometheus) -> None:
    def room_up() -> bool:
        result = prometheus.get('/api/v1/query?query=up{job="gameroom",room="friday"}')
        return bool(result and result["result"] and result["result"][0]["value"][1] == "1")

    wait_for("the room's first scrape", room_up)
    # Several evaluations with the room up: GameRoomDown is not even pending.
    for _ in range(3):
        before = prometheus.rule_evaluations("GameRoomDown")

        def evaluated_again(before: str = before) -> bool:
            return prometheus.rule_evaluations("GameRoomDown") != before

        wait_for("a rule evaluation", evaluated_again)
    assert prometheus.alerts("GameRoomDown") == []

    room.stop()

    def firing() -> list[dict[str, Any]]:
        return [a for a in prometheus.alerts("GameRoomDown") if a["state"] == "firing"]

    (alert,) = wait_for("GameRoomDown to fire", firing, timeout=60)
    assert alert["labels"]["room"] == "friday" and alert["labels"]["namespace"] == "games"
    assert alert["labels"]["severity"] == "critical"
    assert alert["labels"]["reason"] == "Unreachable"
    assert alert["annotations"]["summary"] == "GameRoom games/friday is unreachable"
    assert alert["annotations"]["runbook_url"].endswith("docs/runbook.md#gameroomdown")
