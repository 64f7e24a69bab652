"""The client's pure modules (back-off, flood fill, state folding), run in chromium as
served by the game server: the same files players load."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from .conftest import GameServer, default_config

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def page(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    server = GameServer(tmp_path_factory.mktemp("modules"), default_config())
    server.start()
    context = browser.new_context()
    page = context.new_page()
    page.goto(server.url + "/")
    yield page
    context.close()
    server.stop()


def run(page: Page, module: str, body: str, arg: Any = None) -> Any:
    """Evaluate `body` (a function of the module `m` and `arg`) in the page."""
    return page.evaluate(
        "async (arg) => {"
        f" const m = await import('/static/js/{module}'); return ({body})(m, arg); }}",
        arg,
    )


def test_reconnect_backoff_doubles_from_half_a_second_to_ten_with_jitter(page: Page) -> None:
    low = run(
        page, "backoff.js", "(m) => [0,1,2,3,4,5,6,9].map((a) => m.reconnectDelay(a, () => 0))"
    )
    mid = run(
        page, "backoff.js", "(m) => [0,1,2,3,4,5,6,9].map((a) => m.reconnectDelay(a, () => 0.5))"
    )
    high = run(
        page, "backoff.js", "(m) => [0,1,2,3,4,5,6,9].map((a) => m.reconnectDelay(a, () => 0.999))"
    )
    assert mid == [500, 1000, 2000, 4000, 8000, 10000, 10000, 10000]
    assert low == [375, 750, 1500, 3000, 6000, 7500, 7500, 7500]
    assert all(h <= 10000 for h in high) and high[:4] == [625, 1250, 2499, 4998]
    spread = run(
        page,
        "backoff.js",
        "(m) => new Set(Array.from({length: 50}, () => m.reconnectDelay(2))).size",
    )
    assert spread > 10, "real randomness spreads a room's reconnects"


def test_flood_fill_stays_inside_a_closed_outline(page: Page) -> None:
    painted = run(
        page,
        "floodfill.js",
        """(m) => {
            const w = 10, h = 10, data = new Uint8ClampedArray(w * h * 4).fill(255);
            for (let i = 0; i < 10; i++) {               // a black box from (2,2) to (7,7)
              const j = 2 + (i % 6);
              for (const [x, y] of [[j, 2], [j, 7], [2, j], [7, j]]) {
                data.set([0, 0, 0, 255], (y * w + x) * 4);
              }
            }
            const inside = m.floodFill(data, w, h, 4, 4, [255, 0, 0, 255]);
            const px = (x, y) => Array.from(data.slice((y * w + x) * 4, (y * w + x) * 4 + 4));
            return {inside, centre: px(4, 4), edge: px(2, 4), outside: px(0, 0),
                    again: m.floodFill(data, w, h, 4, 4, [255, 0, 0, 255])};
        }""",
    )
    assert painted == {
        "inside": 16,
        "centre": [255, 0, 0, 255],
        "edge": [0, 0, 0, 255],
        "outside": [255, 255, 255, 255],
        "again": 0,
    }


def test_state_keeps_the_word_for_the_drawer_only(page: Page) -> None:
    result = run(
        page,
        "state.js",
        """(m) => {
            const welcome = (id) => ({type: "welcome", now: 1000,
              you: {id, name: id, spectator: false, token: "t"}, room: {name: "r"},
              state: {phase: "lobby",
                      players: [{id: "a", name: "A", score: 0}, {id: "b", name: "B", score: 0}],
                      hostId: "a", settings: {}, canvas: []}});
            const turn = {type: "turn", phase: "drawing", round: 1, rounds: 2, drawerId: "a",
                          endsAt: 61000, now: 1000, hint: "_ _ _", wordLength: [3]};
            let drawer = m.reduce(m.initialState(), welcome("a"), 1000);
            drawer = m.reduce(drawer, {...turn, word: "cat"}, 1000);
            let guesser = m.reduce(m.initialState(), welcome("b"), 1000);
            guesser = m.reduce(guesser, turn, 1000);
            const beforeEnd = guesser.word;
            guesser = m.reduce(guesser, {type: "turn_end", word: "cat", reason: "timeout",
              scores: [{id: "a", gained: 50, total: 50}, {id: "b", gained: 0, total: 0}],
              endsAt: 66000, now: 61000}, 61000);
            return {drawer: drawer.word, guesser: beforeEnd, revealed: guesser.word,
                    isDrawer: m.isDrawer(drawer), hint: m.hintText("", [3, 2]),
                    left: m.timeLeft(drawer, 31000), scoreA: guesser.players[0].score,
                    ranks: m.ranked([{id: "x", score: 5}, {id: "y", score: 9}, {id: "z", score: 5}])
                      .map((r) => [r.player.id, r.rank])};
        }""",
    )
    assert result == {
        "drawer": "cat",
        "guesser": None,
        "revealed": "cat",
        "isDrawer": True,
        "hint": "_ _ _   _ _",
        "left": 30000,
        "scoreA": 50,
        "ranks": [["y", 1], ["x", 2], ["z", 2]],
    }


def test_custom_words_are_split_trimmed_and_deduplicated(page: Page) -> None:
    words = run(
        page,
        "views/lobby.js",
        "(m) => m.parseCustomWords('pizza, Rocket ,\\n rainbow  trout,pizza,,' + 'x'.repeat(33))",
    )
    assert words == ["pizza", "Rocket", "rainbow trout"]


def test_the_hint_is_spoken_as_words_not_underscores(page: Page) -> None:
    spoken = run(
        page,
        "state.js",
        """(m) => [
            m.hintSpeech("_ _ _ _ _", [5]),
            m.hintSpeech("c _ _ _ e", [5]),
            m.hintSpeech("_ _ _   _ _ _ _ _", [3, 5]),
            m.hintSpeech("i _ _   _ r _ _ _", [3, 5]),
            m.hintSpeech("", [1]),
        ]""",
    )
    assert spoken == [
        "5 letters",
        "5 letters, 2 revealed: c blank blank blank e",
        "2 words: 3 and 5 letters",
        "2 words: 3 and 5 letters, 2 revealed: i blank blank, next word: blank r blank blank blank",
        "1 letter",
    ]
