"""The board on different screens: touch drawing, 16:9 scaling, named controls."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Browser, expect

from .conftest import GameServer
from .players import (
    LOW_CONTRAST_JS,
    UNNAMED_CONTROLS_JS,
    Player,
    small_tap_targets,
    touch_drag,
    wait_for,
)

pytestmark = pytest.mark.browser

PALETTE_NAMES = [
    "white", "light grey", "grey", "black", "red", "dark red", "orange", "yellow", "green",
    "dark green", "blue", "navy", "purple", "pink", "brown", "tan", "teal", "sky", "lime", "peach",
]  # fmt: skip


def board_ratio(player: Player) -> float:
    box = player.page.locator("#board").bounding_box()
    assert box is not None
    return box["width"] / box["height"]


def test_touch_drawing_on_a_tablet_reaches_a_desktop_player(
    browser: Browser, game_server: Callable[..., GameServer]
) -> None:
    server = game_server()
    tablet = Player(browser, server.url, "Tess", viewport=(820, 1180), has_touch=True)
    desktop = Player(browser, server.url, "Dora", viewport=(1440, 900))
    try:
        # Keyboard: the nickname field has focus, Tab goes to Play, then Spectate.
        desktop.open()
        expect(desktop.page.locator("#join-name")).to_be_focused()
        desktop.page.keyboard.press("Tab")
        expect(desktop.page.locator("#join-play")).to_be_focused()
        desktop.page.keyboard.press("Tab")
        expect(desktop.page.locator("#join-spectate")).to_be_focused()

        tablet.join()
        desktop.page.fill("#join-name", "Dora")
        desktop.page.keyboard.press("Enter")
        expect(desktop.page.locator("#screen-room")).to_be_visible()
        tablet.page.locator("#start-button").tap()
        tablet.choose_word()

        # Named controls, palette colours named for screen readers.
        swatches = tablet.page.locator("#palette [role=radio]")
        assert [swatches.nth(i).get_attribute("aria-label") for i in range(20)] == PALETTE_NAMES
        assert tablet.page.evaluate(UNNAMED_CONTROLS_JS) == []
        # A tablet shows the whole palette (no colour button), every control 44x44 px.
        expect(tablet.page.locator("#palette-toggle")).to_be_hidden()
        assert small_tap_targets(tablet.page) == []
        assert desktop.page.evaluate(UNNAMED_CONTROLS_JS) == []
        # Readable contrast (WCAG AA) for the text on the page's cards and dialogs.
        assert tablet.page.evaluate(LOW_CONTRAST_JS) == []
        assert desktop.page.evaluate(LOW_CONTRAST_JS) == []

        tablet.page.get_by_role("radio", name="purple", exact=True).tap()
        touch_drag(tablet, [(0.1, 0.5), (0.5, 0.1), (0.9, 0.5)])
        picture = tablet.canvas()
        assert int(picture["ink"]) > 2_000, "the finger drew on the tablet"
        wait_for(
            "the desktop to show the touch drawing",
            lambda: desktop.canvas()["digest"] == picture["digest"],
        )
        assert desktop.pixel(800, 90) == [0x8E, 0x24, 0xAA, 255], "purple at the top of the arc"

        # Both boards keep 16:9 at their own size; the bitmaps stay 1600x900.
        for player in (tablet, desktop):
            assert abs(board_ratio(player) - 16 / 9) < 0.02
            assert (picture["width"], picture["height"]) == (1600, 900)
        small = tablet.page.locator("#board").bounding_box()
        large = desktop.page.locator("#board").bounding_box()
        assert small is not None and large is not None and small["width"] != large["width"]
        desktop.page.set_viewport_size({"width": 1000, "height": 700})
        assert abs(board_ratio(desktop) - 16 / 9) < 0.02
        assert desktop.canvas()["digest"] == picture["digest"], "resizing keeps the drawing"

        # The eraser (picked with its keyboard shortcut) wipes the top of the arc.
        tablet.page.keyboard.press("e")
        expect(tablet.page.get_by_role("radio", name="Eraser")).to_have_attribute(
            "aria-checked", "true"
        )
        tablet.page.get_by_role("radio", name="huge brush").tap()
        touch_drag(tablet, [(0.45, 0.1), (0.55, 0.1)])
        wait_for("the eraser on the desktop", lambda: desktop.pixel(800, 90) == [255] * 4)
        assert desktop.canvas()["digest"] == tablet.canvas()["digest"]
        # Clear empties both boards.
        tablet.page.get_by_role("button", name="Clear the canvas").click()
        wait_for("a blank board on the desktop", lambda: desktop.canvas()["ink"] == 0)
        assert tablet.canvas()["ink"] == 0
    finally:
        tablet.close()
        desktop.close()
