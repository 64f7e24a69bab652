"""Fixtures for the browser tests: a real game server process and Debian's chromium.

Each test gets game servers on loopback (`python -m gameserver serve`, a temp SQLite file,
short phase timings from a config file). One chromium process serves the whole session;
every player is a fresh browser context (own storage, own WebSocket).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Playwright, expect, sync_playwright

from gameserver.testing import ServerProcess

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


# The browser tests' name for the shared helper: one restartable `gameserver serve` process.
GameServer = ServerProcess


@pytest.fixture
def game_server(tmp_path: Path) -> Iterator[Callable[..., GameServer]]:
    """Start game servers for one test: `game_server(rounds=2)` overrides game settings."""
    servers: list[GameServer] = []

    def start(**game: Any) -> GameServer:
        workdir = tmp_path / f"server{len(servers)}"
        workdir.mkdir()
        server = GameServer(workdir, default_config(**game), admin_token=ADMIN_TOKEN)
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
