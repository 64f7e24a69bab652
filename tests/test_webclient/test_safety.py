"""Player text can never run as code, and the page loads nothing from elsewhere."""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Callable

import pytest
from playwright.sync_api import Browser, Request, expect

from .conftest import GameServer
from .players import Player

pytestmark = pytest.mark.browser

# At most 24 characters (the nickname limit); runs if ever inserted as HTML.
EVIL_NAME = "<svg onload=alert(1)>"
EVIL_CHAT = "<img src=x onerror=alert(1)>"


def test_markup_in_names_and_chat_renders_as_text(
    browser: Browser, game_server: Callable[..., GameServer]
) -> None:
    server = game_server()
    mallory = Player(browser, server.url, EVIL_NAME)
    alice = Player(browser, server.url, "Alice")
    requests: list[str] = []
    alice.page.on("request", lambda r: requests.append(r.url))
    try:
        alice.join()
        mallory.join()
        mallory.say(EVIL_CHAT)
        for player in (alice, mallory):
            page = player.page
            expect(
                page.locator("#player-list .player__name").filter(has_text=EVIL_NAME)
            ).to_have_text(EVIL_NAME)
            line = page.locator("#chat-log li", has_text=EVIL_CHAT)
            expect(line).to_contain_text(f"{EVIL_NAME}: {EVIL_CHAT}")
            # Nothing became an element and nothing ran.
            assert page.locator("#player-list svg[onload], #chat-log svg[onload]").count() == 0
            assert page.locator("#chat-log img, #player-list img").count() == 0
            assert player.dialogs == []
            assert player.page_errors == []
        # The broken image never was requested either.
        assert not any(url.endswith("/x") for url in requests)
    finally:
        mallory.close()
        alice.close()


def test_csp_forbids_inline_script_and_the_page_needs_no_internet(
    browser: Browser, game_server: Callable[..., GameServer]
) -> None:
    server = game_server()
    with urllib.request.urlopen(server.url + "/") as response:
        csp = response.headers["Content-Security-Policy"]
        html = response.read().decode()
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
    assert re.search(r"<script(?![^>]*\bsrc=)", html) is None, "no inline script"
    assert re.search(r"\son[a-z]+\s*=", html) is None, "no inline event handler"
    assert re.search(r"\sstyle\s*=", html) is None, "no inline style"
    assert "http://" not in html and "https://" not in html, "no third-party resource"

    player = Player(browser, server.url, "Offline")
    seen: list[Request] = []
    player.page.on("request", lambda r: seen.append(r))
    try:
        player.join()
        # Injected inline script is refused by the browser: the page stays unharmed.
        ran = player.page.evaluate(
            """() => {
                window.__ran = false;
                const s = document.createElement("script");
                s.textContent = "window.__ran = true";
                document.body.append(s);
                return window.__ran;
            }"""
        )
        assert ran is False
        hosts = {r.url.split("/")[2] for r in seen if r.url.startswith(("http", "ws"))}
        assert hosts == {f"127.0.0.1:{server.port}"}, f"only the room's own server: {hosts}"
    finally:
        player.close()
