"""The server process dies and comes back: pages reconnect on their own, keep their seats
and scores, and repaint the canvas."""

from __future__ import annotations

import signal
from collections.abc import Callable

import pytest
from playwright.sync_api import Browser, expect

from .conftest import GameServer
from .players import Player, wait_for

pytestmark = pytest.mark.browser


def scores(player: Player) -> dict[str, int]:
    return {name: player.score_of(name) for name in ("Ada", "Bob")}


def test_pages_reconnect_after_the_server_is_killed_and_restarted(
    browser: Browser, game_server: Callable[..., GameServer]
) -> None:
    server = game_server(rounds=2)
    ada = Player(browser, server.url, "Ada")
    bob = Player(browser, server.url, "Bob")
    try:
        ada.join()
        bob.join()
        expect(ada.page.locator("#start-button")).to_be_enabled()
        ada.page.click("#start-button")
        word = ada.choose_word()
        bob.say(word)
        wait_for(
            "scores after Bob's guess", lambda: scores(ada)["Bob"] > 0 and scores(ada)["Ada"] > 0
        )
        # Bob's turn: he draws something before the crash.
        bob.choose_word()
        bob.drag([(0.2, 0.2), (0.8, 0.8)])
        bob.drag([(0.2, 0.8), (0.8, 0.2)])
        wait_for("Ada to see Bob's cross", lambda: ada.canvas()["digest"] == bob.canvas()["digest"])
        picture = ada.canvas()
        assert int(picture["ink"]) > 5_000
        before = scores(ada)
        ids = {p.name: p.state("you.id") for p in (ada, bob)}

        # ---- hard crash: no goodbye from the server
        server.stop(signal.SIGKILL)
        for player in (ada, bob):
            banner = player.page.locator("#banner-connection")
            expect(banner).to_be_visible()
            expect(banner).to_contain_text("Reconnecting")
        server.start()
        for player in (ada, bob):
            expect(player.page.locator("#banner-connection")).to_be_hidden(timeout=20_000)
            assert player.state("you.id") == ids[player.name], "the same seat was resumed"
            wait_for(f"scores on {player.name}'s page", lambda p=player: scores(p) == before)
            expect(player.page.locator("#player-list .badge--muted")).to_have_count(0)
        wait_for(
            "the canvas repainted for Ada", lambda: ada.canvas()["digest"] == picture["digest"]
        )
        wait_for(
            "the canvas repainted for Bob", lambda: bob.canvas()["digest"] == picture["digest"]
        )
        expect(bob.page.locator("#toolbar")).to_be_visible()

        # ---- graceful restart (SIGTERM): the server says "reconnect", pages follow
        server.stop(signal.SIGTERM)
        expect(ada.page.locator("#banner-connection")).to_contain_text("restarting")
        server.start()
        for player in (ada, bob):
            expect(player.page.locator("#banner-connection")).to_be_hidden(timeout=20_000)
            wait_for(f"scores on {player.name}'s page", lambda p=player: scores(p) == before)
        # The game goes on: Bob still draws and Ada sees it.
        bob.drag([(0.5, 0.1), (0.5, 0.9)])
        wait_for(
            "Ada to see the new stroke", lambda: ada.canvas()["digest"] == bob.canvas()["digest"]
        )
        assert ada.canvas()["digest"] != picture["digest"]
        assert ada.page_errors == bob.page_errors == []
    finally:
        ada.close()
        bob.close()


def test_a_page_whose_seat_is_gone_joins_again_under_its_name(
    browser: Browser, game_server: Callable[..., GameServer]
) -> None:
    server = game_server()
    ada = Player(browser, server.url, "Ada")
    try:
        ada.join()
        old_seat = ada.state("you.id")
        server.stop(signal.SIGKILL)
        expect(ada.page.locator("#banner-connection")).to_be_visible()
        # The room comes back with an empty database: the session token is unknown now.
        for path in server.db.parent.glob(server.db.name + "*"):
            path.unlink()
        server.start()
        expect(ada.page.locator("#banner-connection")).to_be_hidden(timeout=20_000)
        wait_for("a new seat", lambda: ada.state("you.id") not in (None, old_seat))
        expect(ada.page.locator("#player-list .player__name")).to_have_text(["Ada"])
        expect(ada.page.locator("#chat-log")).to_contain_text("Your old seat had expired")
        assert ada.page_errors == []
    finally:
        ada.close()
