"""A game on laptops and a tablet: one player uses the keyboard alone, one writes Arabic.

The host plays by keyboard only (Tab, Enter, arrow keys) with a visible focus ring; the
tool bar's radio groups are one tab stop each; a maintenance banner and a toast leave
the chat box, Share and Leave reachable at 1366x768 and 1280x800; a player who guessed
sees the word; Leave asks before giving up a seat mid-game; sound cues have a mute
switch that is remembered; right-to-left names and chat stay in order.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Browser, Page, expect

from .conftest import GameServer
from .players import Player, axe_violations, boxes_overlap, hint_mask, out_of_view, wait_for

pytestmark = pytest.mark.browser

# 24 characters: the longest nickname there is.
ARABIC_NAME = "عليّ بن أحمد الحسيني ال"
ARABIC_CHAT = "مرحبا بالجميع"

# Counts the notes the page plays (each cue is one or more oscillators).
COUNT_NOTES_JS = """
window.__notes = 0;
const create = AudioContext.prototype.createOscillator;
AudioContext.prototype.createOscillator = function () {
  window.__notes += 1;
  return create.call(this);
};
"""

FOCUS_RING_CONTRAST_JS = """
() => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number).slice(0, 3);
  const lum = ([r, g, b]) => {
    const f = (v) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const el = document.activeElement;
  let bg = null;
  for (let e = el.parentElement; e && !bg; e = e.parentElement) {
    const c = getComputedStyle(e).backgroundColor.match(/[\\d.]+/g).map(Number);
    if (c.length === 3 || c[3] === 1) bg = c.slice(0, 3);
  }
  const style = getComputedStyle(el);
  if (style.outlineStyle === "none" || parseFloat(style.outlineWidth) < 2) return 0;
  const [a, b] = [lum(rgb(style.outlineColor)), lum(bg)].sort((x, y) => y - x);
  return (a + 0.05) / (b + 0.05);
}
"""


def focused(page: Page) -> str:
    """The focused control, named the way a screen reader user would know it."""
    return str(
        page.evaluate(
            """() => { const el = document.activeElement;
                const text = ["BUTTON", "A"].includes(el.tagName) ? el.textContent.trim() : "";
                return (el.getAttribute("aria-label") || text || el.id || el.tagName)
                  .slice(0, 40); }"""
        )
    )


def tab_to(page: Page, name: str, limit: int = 60) -> list[str]:
    """Press Tab until the control `name` has the focus; returns the stops passed."""
    stops = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        stops.append(focused(page))
        if stops[-1] == name:
            return stops
    raise AssertionError(f"{name} is not reachable with Tab: {stops}")


def test_keyboard_host_arabic_names_maintenance_and_leaving(
    browser: Browser, game_server: Callable[..., GameServer]
) -> None:
    server = game_server(wordChoices=3)
    kim = Player(browser, server.url, "Kim", viewport=(1366, 768))
    ali = Player(browser, server.url, ARABIC_NAME, viewport=(820, 1180), has_touch=True)
    bo = Player(browser, server.url, "Bo", viewport=(1280, 800))
    kim.context.add_init_script(COUNT_NOTES_JS)
    try:
        # ---- Kim joins with the keyboard alone
        kim.open()
        kim.page.keyboard.type("Kim")
        kim.page.keyboard.press("Enter")
        expect(kim.page.locator("#screen-room")).to_be_visible()
        heading = kim.page.get_by_role("heading", level=1, name="Sketch Party, room friday-sketch")
        expect(heading).to_be_visible()
        ali.join()
        bo.join()

        # ---- right-to-left text stays in order: name, colon, message
        ali.say(ARABIC_CHAT)
        line = ali.page.locator("#chat-log li", has_text=ARABIC_CHAT)
        expect(line).to_be_visible()
        name_box = line.locator("bdi").bounding_box()
        text_box = line.locator(".chat-line__text").bounding_box()
        assert name_box is not None and text_box is not None
        assert name_box["y"] == text_box["y"], "one line on the tablet"
        assert name_box["x"] + name_box["width"] < text_box["x"], "the name comes first"
        assert line.locator("bdi").evaluate("(el) => getComputedStyle(el).direction") == "rtl"
        expect(line).to_have_text(f"{ARABIC_NAME}: {ARABIC_CHAT}")
        # A long name is cut at its end, which is on the left in Arabic.
        row_name = kim.page.locator("#player-list .player__name", has_text=ARABIC_NAME)
        assert row_name.evaluate(
            "(el) => [getComputedStyle(el).direction, getComputedStyle(el).textOverflow]"
        ) == ["rtl", "ellipsis"]

        # ---- Kim starts and picks a word by keyboard; her turn plays a sound cue
        tab_to(kim.page, "Start game")
        kim.page.keyboard.press("Enter")
        first_word = kim.page.locator("#choose-words button").first
        expect(first_word).to_be_focused()
        wait_for("the turn's sound cue", lambda: kim.page.evaluate("() => window.__notes") > 0)
        word = first_word.inner_text().strip().lower()
        kim.page.keyboard.press("Enter")
        expect(kim.page.locator("#toolbar")).to_be_visible()
        expect(kim.page.locator("#word-label")).to_have_text(word)

        # The tool bar: each radio group is one tab stop, arrow keys move within it.
        stops = tab_to(kim.page, "Clear the canvas")
        black = stops.index("black")
        assert stops[black:] == [
            "black",
            "medium brush",
            "Brush",
            "Undo (Ctrl+Z)",
            "Clear the canvas",
        ], "five tab stops, not 29"
        assert not any(stop.startswith("Colour:") for stop in stops), "no colour button here"
        kim.page.keyboard.press("Shift+Tab")
        kim.page.keyboard.press("Shift+Tab")
        kim.page.keyboard.press("Shift+Tab")
        assert focused(kim.page) == "medium brush"
        kim.page.keyboard.press("ArrowRight")
        thick = kim.page.get_by_role("radio", name="thick brush")
        expect(thick).to_be_focused()
        expect(thick).to_have_attribute("aria-checked", "true")
        assert kim.page.evaluate(FOCUS_RING_CONTRAST_JS) >= 3, "the focus ring shows on white"
        kim.page.keyboard.press("Shift+Tab")
        assert focused(kim.page) == "black"
        kim.page.keyboard.press("ArrowLeft")
        expect(kim.page.get_by_role("radio", name="grey", exact=True)).to_be_focused()
        kim.page.keyboard.press("End")
        peach = kim.page.get_by_role("radio", name="peach")
        expect(peach).to_be_focused()
        expect(peach).to_have_attribute("aria-checked", "true")
        expect(kim.page.locator("#palette [aria-checked=true]")).to_have_count(1)
        assert axe_violations(kim.page) == [], "axe on the drawer's desktop screen"

        # ---- maintenance: the banner and its toast hide neither the chat box nor Leave
        server.admin("PUT", "/admin/maintenance", {"enabled": True, "message": "Back at six"})
        for player in (kim, bo):
            expect(player.page.locator("#banner-maintenance")).to_be_visible()
            toast = player.page.locator("#toasts .toast").first
            expect(toast).to_be_visible()
            wanted = ["#chat-input", "#board", "#share-button", "#leave-button", "#timer"]
            assert out_of_view(player.page, *wanted) == [], player.name
            for control in ("#share-button", "#leave-button", "#chat-input"):
                target = player.page.locator(control).bounding_box()
                assert not boxes_overlap(toast.bounding_box(), target), control
        kim.page.set_viewport_size({"width": 1280, "height": 800})
        assert out_of_view(kim.page, "#chat-input", "#board", "#leave-button") == []
        assert axe_violations(bo.page) == [], "axe with the banner and a toast"
        # A small laptop or a tablet on its side: board left, players and chat right.
        bo.page.set_viewport_size({"width": 1024, "height": 768})
        board, chat_box = (bo.page.locator(s).bounding_box() for s in ("#board", "#chat-input"))
        assert board is not None and chat_box is not None
        assert board["x"] + board["width"] < chat_box["x"], "two columns"
        assert out_of_view(bo.page, "#board", "#timer", "#word-label", "#chat-input") == []

        # ---- Kim mutes the cues by keyboard; the choice survives a reload
        tab_to(kim.page, "Sound")
        kim.page.keyboard.press("Enter")
        expect(kim.page.locator("#sound-button")).to_have_attribute("aria-pressed", "false")
        kim.page.reload()
        expect(kim.page.locator("#toolbar")).to_be_visible()
        expect(kim.page.locator("#sound-button")).to_have_attribute("aria-pressed", "false")
        notes = kim.page.evaluate("() => window.__notes")

        # ---- Bo guesses: he sees the word and may chat with those who know it
        assert bo.word_label() == hint_mask(word)
        bo.say(word)
        expect(bo.page.locator("#word-label")).to_have_text(word)
        expect(bo.page.locator("#word-speech")).to_have_text(f"You guessed it: {word}")
        expect(bo.page.locator("#chat-input")).to_have_attribute(
            "placeholder", "You got it! Chat with the others who did…"
        )
        expect(ali.page.locator("#word-label")).to_have_text(hint_mask(word))
        expect(ali.page.locator("#chat-input")).to_have_attribute(
            "placeholder", "Type your guess here…"
        )
        expect(kim.page.locator("#chat-log")).to_contain_text("Bo guessed the word!")
        assert kim.page.evaluate("() => window.__notes") == notes, "muted: no sound"
        assert axe_violations(bo.page) == [], "axe on the guesser's screen"
        assert axe_violations(ali.page) == [], "axe on the tablet"
        assert out_of_view(ali.page, "#board", "#timer", "#word-label", "#chat-input") == []

        # ---- Leave, mid-game, asks first: Escape keeps the seat, Leave gives it up
        tab_to(kim.page, "Leave")
        kim.page.keyboard.press("Enter")
        dialog = kim.page.get_by_role("dialog", name="Leave the game?")
        expect(dialog).to_be_visible()
        expect(kim.page.locator("#leave-stay")).to_be_focused()
        assert axe_violations(kim.page) == [], "axe on the leave dialog"
        kim.page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
        expect(kim.page.locator("#leave-button")).to_be_focused()
        expect(kim.page.locator("#screen-room")).to_be_visible()
        kim.page.keyboard.press("Enter")
        expect(dialog).to_be_visible()
        kim.page.keyboard.press("Tab")
        expect(kim.page.locator("#leave-confirm")).to_be_focused()
        kim.page.keyboard.press("Enter")
        expect(kim.page.locator("#screen-join")).to_be_visible()
        expect(bo.page.locator("#player-list li")).to_have_count(2)
        assert axe_violations(kim.page) == [], "axe on the join screen"
        assert kim.page_errors == ali.page_errors == bo.page_errors == []
    finally:
        for player in (kim, ali, bo):
            player.close()
