"""A whole game in real browsers against a real game server on loopback.

Two players join, the host starts, the drawer draws with real mouse drags, the other
player's canvas shows the same pixels, a spectator who joins mid-turn too; the guesser
never receives the word before the turn ends; both see the scores change; the game ends
on the podium. The three README screenshots are taken on the way.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from .conftest import GameServer
from .players import Player, hint_mask, mentions, wait_for

pytestmark = pytest.mark.browser

WHITE = [255, 255, 255, 255]
RED = [0xE5, 0x39, 0x35, 255]
YELLOW = [0xFD, 0xD8, 0x35, 255]


def near_miss(word: str) -> str:
    """The word with its last letter changed: one edit away, so the server answers close!"""
    return word[:-1] + ("x" if word[-1] != "x" else "y")


def draw_a_house(drawer: Player) -> None:
    """A sun, a house with a filled wall, grass: strokes, colours, widths and a fill."""
    page = drawer.page
    drawer.pick_colour("black")
    page.get_by_role("radio", name="medium brush").click()
    # The house: a closed outline (so the fill stays inside) and a roof.
    drawer.drag([(0.30, 0.45), (0.55, 0.45), (0.55, 0.85), (0.30, 0.85), (0.30, 0.45)])
    drawer.drag([(0.27, 0.47), (0.425, 0.22), (0.58, 0.47)])
    # Fill the wall red.
    drawer.pick_colour("red")
    page.get_by_role("radio", name="Fill", exact=True).click()
    x, y = drawer.board_point(0.36, 0.6)
    page.mouse.click(x, y)
    # A yellow sun with thick strokes, green grass, a blue door.
    page.get_by_role("radio", name="Brush", exact=True).click()
    page.get_by_role("radio", name="thick brush").click()
    drawer.pick_colour("yellow")
    sun = [(0.80 + 0.05 * math.sin(a / 12 * math.tau), 0.21 - 0.09 * math.cos(a / 12 * math.tau)) for a in range(13)]
    drawer.drag(sun, steps=3)
    for a in range(0, 12, 2):
        angle = a / 12 * math.tau + 0.25
        drawer.drag(
            [
                (0.80 + 0.07 * math.sin(angle), 0.21 - 0.125 * math.cos(angle)),
                (0.80 + 0.09 * math.sin(angle), 0.21 - 0.16 * math.cos(angle)),
            ],
            steps=2,
        )
    drawer.pick_colour("green")
    drawer.drag([(0.05, 0.92), (0.95, 0.92)], steps=20)
    drawer.pick_colour("blue")
    page.get_by_role("radio", name="medium brush").click()
    drawer.drag([(0.47, 0.85), (0.47, 0.65), (0.51, 0.65), (0.51, 0.85)])


def same_canvas(a: Player, b: Player, what: str) -> dict[str, object]:
    """Wait until `b` shows exactly `a`'s pixels (SHA-256 over the RGBA data)."""
    target = a.canvas()
    wait_for(what, lambda: b.canvas()["digest"] == target["digest"], timeout=20)
    return target


PROTOCOL_TEXT = (Path(__file__).resolve().parents[2] / "gameserver" / "PROTOCOL.md").read_text()


def frames_mentioning(frames: list[str], word: str) -> list[str]:
    return [f for f in frames if mentions(f, word)]


def secret_test_is_meaningful(guesser: Player) -> Callable[[str], bool]:
    """Avoid words the guesser's page or the protocol's own vocabulary already contain
    (say "brush" or "round"): for the others, finding the word anywhere means it leaked."""

    def avoid(word: str) -> bool:
        return (
            mentions(guesser.dom_text(), word)
            or bool(frames_mentioning(guesser.frames, word))
            or mentions(PROTOCOL_TEXT, word)
        )

    return avoid


def test_two_players_play_a_whole_game(
    browser: Browser, game_server: Callable[..., GameServer], screenshots_dir: Path
) -> None:
    server = game_server()
    ada = Player(browser, server.url, "Ada")
    bob = Player(browser, server.url, "Bob")
    carol: Player | None = None
    try:
        # ---- join screen: room name and head count from /api/room
        ada.join()
        bob.open()
        expect(bob.page.locator("#join-room-name")).to_have_text("friday-sketch")
        expect(bob.page.locator("#join-room-count")).to_have_text("1/8 players")
        bob.page.fill("#join-name", "Bob")
        bob.page.screenshot(path=str(screenshots_dir / "join.png"))
        bob.page.click("#join-play")
        expect(bob.page.locator("#screen-room")).to_be_visible()

        # ---- lobby: both listed, Ada is the host and the only one who can start
        for player in (ada, bob):
            expect(player.page.locator("#player-list li")).to_have_count(2)
        ada_row = bob.page.locator("#player-list li", has=bob.page.get_by_text("Ada", exact=True))
        expect(ada_row.get_by_role("img", name="host")).to_be_visible()
        expect(bob.page.locator("#start-button")).to_be_hidden()
        expect(bob.page.locator("#set-rounds")).to_be_disabled()
        expect(ada.page.locator("#start-button")).to_be_enabled()
        ada.page.click("#start-button")

        # ---- Ada draws first: she picks a word, Bob sees only the hint
        expect(bob.page.locator("#waiting-text")).to_have_text("Ada is choosing a word…")
        word = ada.choose_word(avoid=secret_test_is_meaningful(bob))
        expect(bob.page.locator("#word-label")).to_have_text(hint_mask(word))
        expect(bob.page.locator("#toolbar")).to_be_hidden()
        draw_a_house(ada)

        # ---- Bob's canvas shows Ada's pixels
        drawn = same_canvas(ada, bob, "Bob's canvas to match Ada's")
        assert int(str(drawn["ink"])) > 50_000, "the drawing covers the board"
        fx, fy = 0.36, 0.6  # inside the filled wall
        assert bob.pixel(int(1600 * fx), int(900 * fy)) == RED
        assert bob.pixel(int(1600 * 0.80), int(900 * 0.12)) == YELLOW  # top of the sun
        assert bob.pixel(int(1600 * 0.15), int(900 * 0.3)) == WHITE

        # ---- undo removes the last stroke everywhere
        ada.drag([(0.1, 0.1), (0.2, 0.2)])
        with_extra = same_canvas(ada, bob, "the extra stroke on Bob's canvas")
        ada.page.get_by_role("button", name="Undo (Ctrl+Z)").click()
        wait_for("undo on Ada's page", lambda: ada.canvas()["digest"] == drawn["digest"])
        wait_for("undo on Bob's page", lambda: bob.canvas()["digest"] == drawn["digest"])
        assert with_extra["digest"] != drawn["digest"]

        # ---- Carol joins mid-turn as a spectator and sees the same picture
        carol = Player(browser, server.url, "Carol")
        carol.join(spectator=True)
        wait_for(
            "Carol's canvas to match Ada's",
            lambda: carol is not None and carol.canvas()["digest"] == drawn["digest"],
        )
        expect(carol.page.locator("#toolbar")).to_be_hidden()

        # ---- a near miss: "close!" for Bob only
        bob.say(near_miss(word))
        expect(bob.page.locator("#chat-log .chat-line--close")).to_contain_text("is close!")
        expect(ada.page.locator("#chat-log")).to_contain_text(near_miss(word))
        expect(ada.page.locator("#chat-log .chat-line--close")).to_have_count(0)
        ada.page.screenshot(path=str(screenshots_dir / "game.png"))

        # ---- the word never reached Bob before the turn ended
        assert not mentions(bob.dom_text(), word)
        assert not mentions(carol.dom_text(), word)
        assert bob.frames, "frames were captured"
        assert frames_mentioning(bob.frames, word) == []
        assert frames_mentioning(carol.frames, word) == []
        frames_before_guess = len(bob.frames)

        # ---- Bob guesses: both see his score go up, then Ada's drawer bonus
        assert bob.score_of("Bob") == 0
        bob.say(word)
        wait_for("Bob's score on Ada's page", lambda: ada.score_of("Bob") > 0)
        wait_for("Bob's score on his page", lambda: bob.score_of("Bob") > 0)
        wait_for("Ada's drawer points", lambda: bob.score_of("Ada") > 0)
        assert ada.score_of("Ada") == bob.score_of("Ada")
        assert ada.score_of("Bob") == bob.score_of("Bob")
        # After the turn ends the word is public: the capture above could have seen it.
        revealed = [json.loads(f) for f in bob.frames[frames_before_guess:]]
        assert any(m.get("type") == "turn_end" and m.get("word") == word for m in revealed)
        expect(carol.page.locator("#chat-log")).to_contain_text(f"The word was “{word}”")

        # ---- Bob's turn; Ada guesses; the game ends on the podium
        word2 = bob.choose_word(avoid=secret_test_is_meaningful(ada))
        assert word2 != word
        bob.drag([(0.2, 0.5), (0.8, 0.5)])
        same_canvas(bob, ada, "Ada's canvas to match Bob's")
        assert frames_mentioning(ada.frames, word2) == []
        ada.say(word2)
        for player in (ada, bob, carol):
            expect(player.page.locator("#overlay-podium")).to_be_visible()
        ranking = server.get("/api/leaderboard")["leaderboard"]
        assert {r["name"] for r in ranking} == {"Ada", "Bob"}
        winner = max(ranking, key=lambda r: r["points"])
        podium = ada.page.locator("#podium")
        expect(podium.locator(".podium__step--1 .podium__name")).to_contain_text(winner["name"])
        expect(podium.locator(".podium__step--1 .podium__score")).to_have_text(
            f"{winner['points']} points"
        )
        expect(ada.page.locator("#podium-leaderboard li")).to_have_count(2)
        ada.page.screenshot(path=str(screenshots_dir / "podium.png"))

        assert ada.page_errors == bob.page_errors == carol.page_errors == []
    finally:
        for player in (ada, bob, carol):
            if player is not None:
                player.close()
