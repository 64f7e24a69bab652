"""Fixtures for the browser tests: a real game server process and Debian's chromium.

Each test gets game servers on loopback (`python -m gameserver serve`, a temp SQLite file,
short phase timings from a config file). One chromium process serves the whole session;
every player is a fresh browser context (own storage, own WebSocket).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Playwright, expect, sync_playwright

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
ADMIN_TOKEN = "webclient-test-admin-token"

# A loaded CI machine runs several browsers at once: give page assertions room.
expect.set_options(timeout=15_000)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def default_config(**game: Any) -> dict[str, Any]:
    """A fast room: one round, short pauses between turns, five words to choose from."""
    settings = {
        "maxPlayers": 8,
        "rounds": 1,
        "drawTimeSeconds": 60,
        "wordChoices": 5,
        "hints": 0,
    }
    settings.update(game)
    return {
        "roomName": "friday-sketch",
        "game": settings,
        "timing": {"chooseSeconds": 30, "turnEndSeconds": 1, "gameOverSeconds": 8},
        "reconnectGraceSeconds": 120,
    }


class GameServer:
    """One `python -m gameserver serve` process that can be killed and started again."""

    def __init__(self, workdir: Path, config: dict[str, Any]) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.admin_port = free_port()
        self.db = workdir / "room.db"
        self.config_path = workdir / "room.json"
        self.config_path.write_text(json.dumps(config))
        self.log_path = workdir / "server.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> None:
        self.starts += 1
        env = {**os.environ, "GAMESERVER_ADMIN_TOKEN": ADMIN_TOKEN}
        env.pop("GAMESERVER_CONFIG", None)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gameserver",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--admin-port",
                    str(self.admin_port),
                    "--db",
                    str(self.db),
                    "--config",
                    str(self.config_path),
                    "--log-format",
                    "json",
                ],
                cwd=self.workdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                pytest.fail(f"game server exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/room", timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.1)
        pytest.fail(f"game server did not answer /api/room within {timeout} s:\n{self.log_tail()}")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(sig)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(f"{self.url}{path}", timeout=5) as r:
            return json.loads(r.read())

    def admin(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.admin_port}{path}",
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.loads(r.read())

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"


@pytest.fixture
def game_server(tmp_path: Path) -> Iterator[Callable[..., GameServer]]:
    """Start game servers for one test: `game_server(rounds=2)` overrides game settings."""
    servers: list[GameServer] = []

    def start(**game: Any) -> GameServer:
        workdir = tmp_path / f"server{len(servers)}"
        workdir.mkdir()
        server = GameServer(workdir, default_config(**game))
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.stop()


# Module scope, not session: Playwright's sync API keeps an event loop marked as running
# in the main thread while it is open, which would break every asyncio test collected
# after the browser tests.
@pytest.fixture(scope="module")
def playwright_instance() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"chromium not found at {CHROMIUM}: install Debian's package "
            "(apt-get install chromium) or set CHROMIUM=/path/to/chromium"
        )
    browser = playwright_instance.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
    )
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def screenshots_dir() -> Path:
    path = Path(os.environ.get("SCREENSHOTS_DIR", "test-artifacts/screenshots"))
    if not path.is_absolute():
        path = REPO / path
    path.mkdir(parents=True, exist_ok=True)
    return path
