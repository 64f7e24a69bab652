"""Joining: clear messages for taken names, a full room and maintenance; remembered
nicknames; a reload keeps the seat; admin announcements and maintenance reach players."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Browser, expect

from .conftest import GameServer
from .players import Player

pytestmark = pytest.mark.browser


def test_join_errors_are_clear_and_joining_can_be_retried(
    browser: Browser, game_server: Callable[..., GameServer]
) -> None:
    server = game_server(maxPlayers=2)
    ada = Player(browser, server.url, "Ada")
    bob = Player(browser, server.url, "Ada")
    carol = Player(browser, server.url, "Carol")
    try:
        ada.join()
        # Same nickname: told so, and the same page can join with another one.
        bob.open()
        bob.page.fill("#join-name", "Ada")
        bob.page.click("#join-play")
        expect(bob.page.locator("#join-error")).to_have_text(
            "Someone here already uses that nickname. Please pick another one."
        )
        bob.page.fill("#join-name", "Bob")
        bob.page.click("#join-play")
        expect(bob.page.locator("#screen-room")).to_be_visible()

        # Full room: the join screen already says so; spectating still works.
        carol.open()
        expect(carol.page.locator("#join-room-count")).to_have_text("2/2 players")
        expect(carol.page.locator("#join-error")).to_contain_text("This room is full")
        carol.page.fill("#join-name", "Carol")
        carol.page.click("#join-play")
        expect(carol.page.locator("#join-error")).to_contain_text("This room is full")
        expect(carol.page.locator("#screen-join")).to_be_visible()
        carol.page.click("#join-spectate")
        expect(carol.page.locator("#screen-room")).to_be_visible()
        expect(carol.page.locator("#player-list li")).to_have_count(2)
        expect(carol.page.locator("#player-list .player__kick")).to_have_count(0)

        # Maintenance from the admin API: a banner for those inside, a message at the door.
        server.admin("PUT", "/admin/maintenance", {"enabled": True, "message": "Upgrading to 1.5"})
        for player in (ada, bob, carol):
            expect(player.page.locator("#banner-maintenance")).to_be_visible()
            expect(player.page.locator("#banner-maintenance")).to_contain_text("Upgrading to 1.5")
        dave = Player(browser, server.url, "Dave")
        try:
            dave.open()
            expect(dave.page.locator("#join-error")).to_have_text(
                "This room is in maintenance: Upgrading to 1.5. Please try again in a few minutes."
            )
        finally:
            dave.close()
        server.admin("PUT", "/admin/maintenance", {"enabled": False})
        expect(ada.page.locator("#banner-maintenance")).to_be_hidden()

        # An announcement is a toast for everyone.
        delivered = server.admin("POST", "/admin/announce", {"text": "Pizza break in 5 minutes!"})
        assert delivered["delivered"] >= 3
        for player in (ada, bob, carol):
            expect(player.page.locator("#toasts .toast--info")).to_contain_text(
                "Pizza break in 5 minutes!"
            )
        assert ada.page_errors == bob.page_errors == carol.page_errors == []
    finally:
        for player in (ada, bob, carol):
            player.close()


def test_lobby_settings_share_link_remembered_nickname_and_reload(
    browser: Browser, game_server: Callable[..., GameServer]
) -> None:
    server = game_server()
    ada = Player(browser, server.url, "Ada")
    bob = Player(browser, server.url, "Bob")
    ada.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    try:
        ada.join()
        bob.join()

        # The host's settings reach everyone; the share button copies the room's link.
        ada.page.select_option("#set-rounds", "3")
        ada.page.select_option("#set-drawTimeSeconds", "90")
        expect(bob.page.locator("#set-rounds")).to_have_value("3")
        expect(bob.page.locator("#set-drawTimeSeconds")).to_have_value("90")
        assert server.get("/api/room")["settings"]["rounds"] == 3
        ada.page.fill("#set-customWords", "pizza, rocket ship")
        ada.page.locator("#set-customWords").blur()
        expect(bob.page.locator("#custom-words-count")).to_have_text("2 words")
        expect(bob.page.locator("#set-customWords")).to_be_hidden()
        assert "rocket ship" not in bob.page.locator("#lobby").inner_text()
        ada.page.click("#share-button")
        expect(ada.page.locator("#toasts")).to_contain_text(f"Room link copied: {server.url}/")
        assert ada.page.evaluate("() => navigator.clipboard.readText()") == f"{server.url}/"

        seat = ada.state("you.id")
        ada.page.reload()
        # Straight back into the room, same seat, no second "Ada".
        expect(ada.page.locator("#screen-room")).to_be_visible()
        assert ada.state("you.id") == seat
        expect(bob.page.locator("#player-list li")).to_have_count(2)
        # Leaving frees the seat; the nickname stays filled in for next time.
        ada.page.click("#leave-button")
        expect(ada.page.locator("#screen-join")).to_be_visible()
        expect(ada.page.locator("#join-name")).to_have_value("Ada")
        expect(bob.page.locator("#player-list li")).to_have_count(1)
        ada.page.reload()
        expect(ada.page.locator("#screen-join")).to_be_visible()
        expect(ada.page.locator("#join-name")).to_have_value("Ada")
    finally:
        ada.close()
        bob.close()


def test_the_same_seat_opened_in_a_second_tab_moves_there(
    browser: Browser, game_server: Callable[..., GameServer]
) -> None:
    server = game_server()
    ada = Player(browser, server.url, "Ada")
    try:
        ada.join()
        seat = ada.state("you.id")
        session = ada.page.evaluate("() => sessionStorage.getItem('sketchparty.session')")
        assert session and ada.state("you.token") in session
        # A duplicated tab carries the session along: it resumes the seat...
        second = ada.context.new_page()
        second.add_init_script(f"sessionStorage.setItem('sketchparty.session', {session!r});")
        second.goto(f"{server.url}/")
        expect(second.locator("#screen-room")).to_be_visible()
        assert second.evaluate("() => window.sketchParty.state.you.id") == seat
        # ...and the first tab says so instead of fighting over it.
        expect(ada.page.locator("#join-error")).to_have_text(
            "You opened this room in another tab or device, which now has your seat."
        )
        expect(second.locator("#player-list li")).to_have_count(1)
        expect(second.locator("#banner-connection")).to_be_hidden()
        assert ada.page_errors == []
    finally:
        ada.close()


def test_players_vote_a_troll_out(browser: Browser, game_server: Callable[..., GameServer]) -> None:
    server = game_server()
    ada = Player(browser, server.url, "Ada")
    bob = Player(browser, server.url, "Bob")
    troll = Player(browser, server.url, "Troll")
    try:
        for player in (ada, bob, troll):
            player.join()
        expect(ada.page.locator("#player-list li")).to_have_count(3)
        kick = "Vote to kick Troll"
        # A cancelled confirmation sends nothing.
        ada.page.get_by_role("button", name=kick).click()
        assert ada.dialogs == ["confirm: Vote to kick Troll?"]
        expect(troll.page.locator("#chat-log")).not_to_contain_text("Vote to kick")
        ada.confirm = bob.confirm = True
        ada.page.get_by_role("button", name=kick).click()
        expect(troll.page.locator("#chat-log")).to_contain_text("Vote to kick Troll: 1/2")
        bob.page.get_by_role("button", name=kick).click()
        expect(troll.page.locator("#join-error")).to_have_text("You were voted out of the room.")
        expect(troll.page.locator("#screen-join")).to_be_visible()
        for player in (ada, bob):
            expect(player.page.locator("#player-list li")).to_have_count(2)
        # Voted out means out: the page does not reconnect into the room.
        expect(troll.page.locator("#banner-connection")).to_be_hidden()
        assert server.get("/api/room")["players"] == 2
    finally:
        for player in (ada, bob, troll):
            player.close()
