"""A whole game in real browsers against a real game server on loopback.

Two players join, the host starts, the drawer draws with real mouse drags, the other
player's canvas shows the same pixels, and so does a third player who joins mid-turn; the
guessers never receive the word before the turn ends; everyone sees the scores change;
the game ends on the podium. The three README screenshots are taken on the way.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from .conftest import GameServer
from .players import LOW_CONTRAST_JS, Player, axe_violations, hint_mask, mentions, wait_for

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
    sun = [
        (0.80 + 0.05 * math.sin(a / 12 * math.tau), 0.21 - 0.09 * math.cos(a / 12 * math.tau))
        for a in range(13)
    ]
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
CAROL_SAYS = "a castle?"  # chat the test itself sends: the word must not be in it either


def frames_mentioning(frames: list[str], word: str) -> list[str]:
    return [f for f in frames if mentions(f, word)]


def secret_test_is_meaningful(*guessers: Player) -> Callable[[str], bool]:
    """Avoid words the guessers' pages or the protocol's own vocabulary already contain
    (say "brush" or "round"): for the others, finding the word anywhere means it leaked."""

    def avoid(word: str) -> bool:
        return (
            mentions(PROTOCOL_TEXT, word)
            or mentions(CAROL_SAYS, word)
            or any(
                mentions(g.dom_text(), word) or frames_mentioning(g.frames, word) for g in guessers
            )
        )

    return avoid


def test_friends_play_a_whole_game(
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
        countdown = int(bob.page.locator("#timer-value").inner_text())
        assert 50 <= countdown <= 60, "a 60 s turn just started"
        draw_a_house(ada)
        wait_for(
            "the countdown to run",
            lambda: int(bob.page.locator("#timer-value").inner_text()) < countdown,
        )

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

        # ---- Carol joins mid-turn and sees the same picture
        carol = Player(browser, server.url, "Carol")
        carol.join()
        wait_for(
            "Carol's canvas to match Ada's",
            lambda: carol is not None and carol.canvas()["digest"] == drawn["digest"],
        )
        expect(carol.page.locator("#toolbar")).to_be_hidden()
        expect(carol.page.locator("#word-label")).to_have_text(hint_mask(word))

        # ---- a near miss: "close!" for Bob only (shown to others it would give the word away)
        bob.say(near_miss(word))
        expect(bob.page.locator("#chat-log .chat-line--close")).to_have_text(
            f"“{near_miss(word)}” is close!"
        )
        carol.say(CAROL_SAYS)
        for player in (ada, bob):
            expect(player.page.locator("#chat-log")).to_contain_text(f"Carol: {CAROL_SAYS}")
        for player in (ada, carol):
            expect(player.page.locator("#chat-log .chat-line--close")).to_have_count(0)
            assert near_miss(word) not in player.page.locator("#chat-log").inner_text()

        # ---- the word never reached the guessers before the turn ended
        for guesser in (bob, carol):
            assert not mentions(guesser.dom_text(), word)
            assert guesser.frames, "frames were captured"
            assert frames_mentioning(guesser.frames, word) == []
        frames_before_guess = len(bob.frames)

        # ---- Bob guesses: everyone sees his score go up; Carol too; Ada gets drawer points
        assert bob.score_of("Bob") == 0
        bob.say(word)
        for player in (ada, bob, carol):
            wait_for(f"Bob's score on {player.name}'s page", lambda p=player: p.score_of("Bob") > 0)
        expect(carol.page.locator("#chat-log")).to_contain_text("Bob guessed the word!")
        assert not mentions(carol.dom_text(), word), "Bob's success does not reveal the word"
        expect(ada.page.locator("#player-list .player--guessed")).to_have_count(1)
        ada.page.screenshot(path=str(screenshots_dir / "game.png"))
        for player in (ada, bob):
            assert player.page.evaluate(LOW_CONTRAST_JS) == [], f"{player.name}'s page is readable"
        carol.say(word)
        for player in (ada, bob, carol):
            wait_for(
                f"Ada's drawer points on {player.name}'s page",
                lambda p=player: p.score_of("Ada") > 0,
            )
        for name in ("Ada", "Bob", "Carol"):
            assert ada.score_of(name) == bob.score_of(name) == carol.score_of(name)
        # After the turn ends the word is public: the capture above could have seen it.
        revealed = [json.loads(f) for f in bob.frames[frames_before_guess:]]
        assert any(m.get("type") == "turn_end" and m.get("word") == word for m in revealed)
        expect(carol.page.locator("#chat-log")).to_contain_text(f"The word was “{word}”")

        # ---- Bob's turn, then Carol's; the others guess; the game ends on the podium
        players = {"Ada": ada, "Bob": bob, "Carol": carol}
        drawn_words = {"Ada": word}
        for drawer_name in ("Bob", "Carol"):
            drawer = players[drawer_name]
            guessers = [p for n, p in players.items() if n != drawer_name]
            secret = drawer.choose_word(avoid=secret_test_is_meaningful(*guessers))
            drawn_words[drawer_name] = secret
            drawer.drag([(0.2, 0.5), (0.5, 0.2), (0.8, 0.5), (0.5, 0.8), (0.2, 0.5)])
            for guesser in guessers:
                same_canvas(drawer, guesser, f"{guesser.name}'s canvas to match {drawer_name}'s")
                assert frames_mentioning(guesser.frames, secret) == []
            for guesser in guessers:
                guesser.say(secret)
                expect(guesser.page.locator("#chat-log")).to_contain_text("You guessed the word!")

        for player in (ada, bob, carol):
            expect(player.page.locator("#overlay-podium")).to_be_visible()
        ranking = server.get("/api/leaderboard")["leaderboard"]
        assert {r["name"] for r in ranking} == {"Ada", "Bob", "Carol"}
        for row in ranking:
            assert ada.score_of(row["name"]) == row["points"]
        best = max(r["points"] for r in ranking)
        podium = ada.page.locator("#podium")
        first = podium.locator(".podium__step--1")
        for row in ranking:
            if row["points"] == best:
                expect(first.locator(".podium__name")).to_contain_text(row["name"])
        expect(first.locator(".podium__score")).to_have_text(f"{best} points")
        expect(ada.page.locator("#podium-leaderboard li")).to_have_count(3)
        ada.page.screenshot(path=str(screenshots_dir / "podium.png"))
        assert ada.page.evaluate(LOW_CONTRAST_JS) == [], "the podium is readable"
        assert axe_violations(ada.page) == [], "axe on the desktop podium"

        # ---- back in the lobby: the room's gallery and all-time leaderboard
        for player in (ada, bob, carol):
            expect(player.page.locator("#lobby")).to_be_visible(timeout=20_000)
        gallery = carol.page.locator("#gallery .gallery__item")
        expect(gallery).to_have_count(3)
        for drawer_name, secret in drawn_words.items():
            item = gallery.filter(has_text=f"by {drawer_name}")
            expect(item.locator(".gallery__word")).to_have_text(secret)
            expect(item.locator("canvas")).to_be_visible()
        expect(carol.page.locator("#lobby-leaderboard li")).to_have_count(3)
        assert axe_violations(carol.page) == [], "axe on the lobby with its gallery"

        assert ada.page_errors == bob.page_errors == carol.page_errors == []
    finally:
        for player in (ada, bob, carol):
            if player is not None:
                player.close()
