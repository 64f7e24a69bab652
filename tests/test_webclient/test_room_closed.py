"""A deleted room: its pages say the room is gone and stop reconnecting, whether the
server could say so (close 4010) or vanished mid-restart (an Ingress answering 404)."""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, expect

from .conftest import GameServer
from .players import Player, wait_for

pytestmark = pytest.mark.browser


def given_up(player: Player) -> bool:
    """The page's connection is stopped with no reconnect pending: it cannot retry."""
    return bool(
        player.page.evaluate(
            "() => { const c = window.sketchParty.connection;"
            " return c.stopped && c.timer === null && c.ws === null; }"
        )
    )


def closed_screen(player: Player, text: str, *, was_connected: bool = True) -> None:
    page = player.page
    expect(page.locator("#screen-join")).to_be_visible()
    expect(page.locator("#screen-room")).to_be_hidden()
    expect(page.locator("#banner-connection")).to_be_hidden()
    expect(page.locator("#join-error")).to_have_text(text)
    expect(page.locator("#join-play")).to_be_disabled()
    expect(page.locator("#join-spectate")).to_be_disabled()
    expect(page.locator("#join-room-count")).to_have_text("closed")
    if was_connected:
        wait_for(f"{player.name}'s page to stop reconnecting", lambda: given_up(player))


def test_closing_the_room_tells_every_page_and_nobody_retries(
    browser: Browser, game_server: Callable[..., GameServer]
) -> None:
    server = game_server()
    ada = Player(browser, server.url, "Ada")
    bob = Player(browser, server.url, "Bob")
    try:
        ada.join()
        bob.join(spectator=True)
        # Markup in the farewell is shown as text, not run as HTML.
        server.admin("POST", "/admin/close", {"message": "Room <b>deleted</b> by its owner"})
        for player in (ada, bob):
            closed_screen(player, "Room <b>deleted</b> by its owner")
            assert player.page.locator("#join-error b").count() == 0
        # A page opened afterwards (a shared link) says the same at once.
        late = Player(browser, server.url, "Late")
        try:
            late.page.goto(f"{server.url}/")
            closed_screen(late, "Room <b>deleted</b> by its owner", was_connected=False)
            assert late.sockets == [], "no socket is even tried"
        finally:
            late.close()
        assert ada.page_errors == bob.page_errors == []
    finally:
        ada.close()
        bob.close()


class _NotFound(BaseHTTPRequestHandler):
    """An Ingress whose rule for the room is gone: 404 for every path, /ws included."""

    def do_GET(self) -> None:  # noqa: N802 - the standard library's name
        body = json.dumps({"message": ""}).encode() if self.path == "/api/room" else b"no route"
        self.send_response(404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def answering_404(url: str) -> Iterator[None]:
    port = urlsplit(url).port
    assert port is not None
    httpd = ThreadingHTTPServer(("127.0.0.1", port), _NotFound)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_room_deleted_while_restarting_is_found_gone_and_retries_stop(
    browser: Browser, game_server: Callable[..., GameServer]
) -> None:
    server = game_server()
    ada = Player(browser, server.url, "Ada")
    try:
        ada.join()
        server.stop(signal.SIGTERM)  # "restarting": the page starts its back-off
        expect(ada.page.locator("#banner-connection")).to_contain_text("restarting")
        with answering_404(server.url):
            closed_screen(ada, "This room no longer exists. Thanks for playing!")
        assert ada.page_errors == []
    finally:
        ada.close()
