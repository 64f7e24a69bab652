"""A game on phones, the way people hold them: a drawer with the phone on its side and a
guesser holding it upright, both with touch, plus a spectator on a tablet.

Positions are checked with bounding boxes (the board, the timer, the hint and the chat
box inside the window, uncovered), not with pictures; axe-core checks every screen. The
phone screenshots for the README are taken on the way.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from .conftest import ADMIN_TOKEN, GameServer, default_config
from .players import (
    Player,
    axe_violations,
    hint_mask,
    out_of_view,
    small_tap_targets,
    touch_drag,
    wait_for,
)

pytestmark = pytest.mark.browser

PORTRAIT = (390, 844)
LANDSCAPE = (844, 390)
TABLET = (820, 1180)

# The share sheet is the phone's own (not in desktop Linux chromium): record what the
# page hands to it, at the Web Share API's boundary.
RECORD_SHARE_JS = """
window.__shared = [];
navigator.share = (data) => { window.__shared.push(data); return Promise.resolve(); };
"""


@pytest.fixture
def room(tmp_path: Path) -> Iterator[GameServer]:
    """A room whose turn-end pause is long enough to read the scores on a phone."""
    config = default_config(wordChoices=5, drawTimeSeconds=90)
    config["timing"]["turnEndSeconds"] = 4
    server = GameServer(tmp_path, config, admin_token=ADMIN_TOKEN)
    server.start()
    yield server
    server.stop()


def wait_still(page: Page, selector: str) -> None:
    """Wait until an element's entry animation is over (screenshots and hit tests)."""
    page.wait_for_function(
        """(s) => { const el = document.querySelector(s);
                    return el && el.getAnimations({subtree: true}).every(
                      (a) => a.playState !== "running"); }""",
        arg=selector,
    )


def assert_clean(player: Player, screen: str) -> None:
    assert axe_violations(player.page) == [], f"axe on {player.name}'s {screen}"
    assert small_tap_targets(player.page) == [], f"44x44 tap targets on {player.name}'s {screen}"


def test_a_game_on_phones_held_both_ways(
    browser: Browser, room: GameServer, screenshots_dir: Path
) -> None:
    lou = Player(browser, room.url, "Lou", viewport=LANDSCAPE, has_touch=True)
    pia = Player(browser, room.url, "Pia", viewport=PORTRAIT, has_touch=True)
    sam = Player(browser, room.url, "Sam", viewport=TABLET, has_touch=True)
    pia.context.add_init_script(RECORD_SHARE_JS)
    try:
        # The spectator comes first: the server announces no spectator to the others (a
        # page counts them from /api/room on joining, on player changes and every 10 s).
        sam.join(spectator=True)
        pia.open()
        assert_clean(pia, "join screen")
        lou.join()
        pia.join()

        # ---- the lobby: everyone sees the spectator; the phone's share sheet opens
        expect(sam.page.locator("#spectators-text")).to_have_text("You are watching as Sam")
        for player in (lou, pia):
            expect(player.page.locator("#spectators-text")).to_have_text("1 watching")
        assert out_of_view(pia.page, "#chat-input", "#start-button") == [
            "#start-button: not displayed"
        ], "only the host has a Start button"
        assert out_of_view(lou.page, "#start-button", "#chat-input", "#leave-button") == []
        pia.page.locator("#share-button").tap()
        wait_for("the share sheet", lambda: pia.page.evaluate("() => window.__shared.length"))
        shared = pia.page.evaluate("() => window.__shared[0]")
        assert shared["url"] == f"{room.url}/" and "friday-sketch" in shared["text"]
        assert_clean(pia, "lobby")
        assert_clean(lou, "lobby")

        # ---- Lou holds the phone on its side and draws first: every word is in view
        lou.page.locator("#start-button").tap()
        words = lou.page.locator("#choose-words button")
        expect(words).to_have_count(5)
        wait_still(lou.page, "#overlay-choose")
        assert out_of_view(lou.page, "#choose-words button") == []
        assert_clean(lou, "word choice")
        expect(pia.page.locator("#waiting-text")).to_have_text("Lou is choosing a word…")
        offered = [w.strip().lower() for w in words.all_inner_texts()]
        words.nth(0).tap()
        word = offered[0]

        # The tool bar stands beside the board, every tool in reach of a thumb.
        toolbar = lou.page.locator("#toolbar")
        expect(toolbar).to_be_visible()
        in_reach = ["#toolbar button:not([aria-checked])", "#widths button", "#tools button"]
        assert out_of_view(lou.page, *in_reach, "#board", "#timer", "#word-label") == []
        assert out_of_view(lou.page, "#chat-input") == [], "the drawer can still chat"
        # Colours open over the board from the colour button; a tap picks one and closes it.
        lou.page.locator("#palette-toggle").tap()
        purple = lou.page.get_by_role("radio", name="purple", exact=True)
        expect(purple).to_be_visible()
        assert out_of_view(lou.page, "#palette button") == []
        assert_clean(lou, "open palette")
        purple.tap()
        expect(lou.page.locator("#palette")).to_be_hidden()
        expect(lou.page.locator("#palette-toggle")).to_have_attribute(
            "aria-label", "Colour: purple"
        )
        touch_drag(lou, [(0.1, 0.5), (0.5, 0.15), (0.9, 0.5)])
        drawn = lou.canvas()
        assert int(drawn["ink"]) > 2_000, "the finger drew on the phone"
        assert lou.page.evaluate("() => [scrollX, scrollY]") == [0, 0], "drawing scrolled nothing"
        wait_for("Pia's board", lambda: pia.canvas()["digest"] == drawn["digest"])
        assert lou.pixel(800, 135)[:3] == [0x8E, 0x24, 0xAA], "purple at the top of the arc"
        expect(lou.page.locator("#announce")).to_be_hidden()  # "Your turn!" has faded
        lou.page.screenshot(path=str(screenshots_dir / "phone-draw.png"))
        assert_clean(lou, "drawing screen")

        # ---- Pia holds her phone upright and types: board, timer and hint stay in view
        expect(pia.page.locator("#word-label")).to_have_text(hint_mask(word))
        # Screen readers hear "Word to guess: 5 letters", not "underscore underscore...".
        speech = pia.page.locator("#word-speech").inner_text()
        assert speech.startswith("Word to guess: ") and "letters" in speech and "_" not in speech
        expect(pia.page.locator("#chat-input")).to_have_attribute(
            "placeholder", "Type your guess here…"
        )
        expect(sam.page.locator("#chat-input")).to_have_attribute(
            "placeholder", "Chat while you watch (guesses do not count)…"
        )
        pia.page.locator("#chat-input").tap()
        pia.page.keyboard.type("is it a hat")
        in_view = ["#board", "#timer", "#word-label", "#chat-input", "#leave-button"]
        assert out_of_view(pia.page, *in_view) == []
        pia.page.keyboard.press("Enter")
        expect(pia.page.locator("#chat-log")).to_contain_text("Pia: is it a hat")
        assert out_of_view(pia.page, *in_view) == []
        assert pia.page.evaluate("() => [scrollX, scrollY]") == [0, 0]
        pia.page.keyboard.type("hmm")
        expect(pia.page.locator("#announce")).to_be_hidden()
        pia.page.screenshot(path=str(screenshots_dir / "phone-guess.png"))
        # The on-screen keyboard takes ~320 px: the page shrinks above it
        # (interactive-widget=resizes-content) and everything still fits.
        viewport = pia.page.locator("meta[name=viewport]").get_attribute("content") or ""
        assert "interactive-widget=resizes-content" in viewport
        pia.page.set_viewport_size({"width": PORTRAIT[0], "height": PORTRAIT[1] - 320})
        assert out_of_view(pia.page, *in_view) == []
        pia.page.set_viewport_size({"width": PORTRAIT[0], "height": PORTRAIT[1]})
        pia.page.fill("#chat-input", "")
        assert_clean(pia, "guessing screen")
        assert_clean(sam, "spectator's screen")

        # ---- Pia finds it
        pia.say(word)
        expect(pia.page.locator("#chat-log")).to_contain_text("You guessed the word!")
        # Everyone guessed: the turn ends at once; the scores fit on both phones.
        for player in (lou, pia):
            expect(player.page.locator("#overlay-turn-end")).to_be_visible()
            wait_still(player.page, "#overlay-turn-end")
            rows = player.page.locator("#turn-end-scores li")
            expect(rows).to_have_count(2)
            assert out_of_view(player.page, "#turn-end-title", "#turn-end-scores li") == []
        assert_clean(pia, "turn-end scores")
        pia.page.screenshot(path=str(screenshots_dir / "phone-scores.png"))

        # ---- Pia's turn, upright: the word choice and the tool bar fit under the board
        words = pia.page.locator("#choose-words button")
        expect(words).to_have_count(5)
        wait_still(pia.page, "#overlay-choose")
        assert out_of_view(pia.page, "#choose-words button") == []
        pia.page.screenshot(path=str(screenshots_dir / "phone-words.png"))
        second = pia.choose_word(avoid=lambda w: w == word)
        assert (
            out_of_view(pia.page, "#board", "#palette-toggle", "#tool-clear", "#chat-input") == []
        )
        touch_drag(pia, [(0.2, 0.8), (0.8, 0.2)])
        wait_for("Lou's board", lambda: lou.canvas()["digest"] == pia.canvas()["digest"])

        # Lou guesses with the phone on its side: the chat box is in view beside the board.
        assert out_of_view(lou.page, "#board", "#timer", "#word-label", "#chat-input") == []
        lou.page.locator("#chat-input").tap()
        lou.page.keyboard.type(second)
        lou.page.keyboard.press("Enter")
        expect(lou.page.locator("#chat-log")).to_contain_text("You guessed the word!")
        expect(pia.page.locator("#chat-log")).to_contain_text("Lou guessed the word!")

        # ---- game over: the podium on both phones
        for player in (lou, pia):
            expect(player.page.locator("#overlay-podium")).to_be_visible()
            wait_still(player.page, "#overlay-podium")
            assert out_of_view(player.page, "#podium-title", "#podium") == []
        assert_clean(pia, "podium")
        assert lou.page_errors == pia.page_errors == sam.page_errors == []
    finally:
        for player in (lou, pia, sam):
            player.close()
