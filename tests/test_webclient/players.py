"""A player in a browser context, driven the way a person would use the page."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from playwright.sync_api import Browser, Page, WebSocket, expect

T = TypeVar("T")

CANVAS_DIGEST_JS = """
async () => {
  const canvas = document.getElementById("board");
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let ink = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i] !== 255 || data[i + 1] !== 255 || data[i + 2] !== 255) ink += 1;
  }
  const hash = await crypto.subtle.digest("SHA-256", data);
  const hex = Array.from(new Uint8Array(hash), (b) => b.toString(16).padStart(2, "0")).join("");
  return {digest: hex, ink, width: canvas.width, height: canvas.height};
}
"""

PIXEL_JS = """
([x, y]) => Array.from(
  document.getElementById("board").getContext("2d").getImageData(x, y, 1, 1).data
)
"""


UNNAMED_CONTROLS_JS = """
() => Array.from(document.querySelectorAll("button, input, select, textarea, canvas"))
  .filter((el) => el.offsetParent !== null)
  .filter((el) => {
    const labelled = el.getAttribute("aria-labelledby");
    const name = (el.getAttribute("aria-label") || "") +
      (labelled ? document.getElementById(labelled)?.textContent || "" : "") +
      Array.from(el.labels || [], (l) => l.textContent).join("") +
      (el.tagName === "BUTTON" ? el.textContent : "") + (el.getAttribute("title") || "");
    return name.trim() === "";
  })
  .map((el) => el.outerHTML.slice(0, 120))
"""


LOW_CONTRAST_JS = """
() => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const lum = ([r, g, b]) => {
    const f = (v) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let e = el; e; e = e.parentElement) {
      const style = getComputedStyle(e);
      if (style.backgroundImage !== "none") return null;  // gradients: not judged here
      const c = rgb(style.backgroundColor);
      if (c.length === 3 || (c.length === 4 && c[3] === 1)) return c.slice(0, 3);
      if (c.length === 4 && c[3] > 0) return null;
    }
    return [255, 255, 255];
  };
  const bad = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!node.textContent.trim() || !el || el.offsetParent === null) continue;
    const modal = document.querySelector(".overlay--modal");
    if (modal && !modal.contains(el)) continue;  // behind a dialog's backdrop
    const style = getComputedStyle(el);
    if (Number(style.opacity) < 1 || el.closest(".player--offline, :disabled")) continue;
    const bg = background(el);
    if (!bg) continue;
    const [a, b] = [lum(rgb(style.color)), lum(bg)].sort((x, y) => y - x);
    const ratio = (a + 0.05) / (b + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    const text = node.textContent.trim().slice(0, 30);
    if (ratio < (large ? 3 : 4.5)) bad.push(`${ratio.toFixed(2)} ${text}`);
  }
  return bad;
}
"""


def mentions(text: str, word: str) -> bool:
    """Whether `word` occurs in `text` as a whole word (case-insensitive)."""
    return re.search(rf"(?<![a-z]){re.escape(word.lower())}(?![a-z])", text.lower()) is not None


def hint_mask(word: str) -> str:
    """What a guesser sees before any letter is revealed: `_ _ _   _ _`."""
    return "   ".join(" ".join("_" if ch.isalnum() else ch for ch in part) for part in word.split())


def wait_for(
    what: str, probe: Callable[[], T | None], timeout: float = 15, interval: float = 0.1
) -> T:
    """Poll `probe` until it returns something truthy; fail naming `what` otherwise."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


class Player:
    def __init__(
        self,
        browser: Browser,
        base_url: str,
        name: str,
        *,
        viewport: tuple[int, int] = (1360, 820),
        **context_args: Any,
    ) -> None:
        self.name = name
        self.base_url = base_url
        self.context = browser.new_context(
            viewport={"width": viewport[0], "height": viewport[1]},
            device_scale_factor=1,
            **context_args,
        )
        self.page: Page = self.context.new_page()
        self.page.set_default_timeout(15_000)
        self.frames: list[str] = []
        self.sockets: list[WebSocket] = []
        self.dialogs: list[str] = []
        self.confirm = False  # answer "OK" to confirm() questions
        self.page_errors: list[str] = []
        self.page.on("websocket", self._on_socket)
        self.page.on("dialog", self._on_dialog)
        self.page.on("pageerror", lambda err: self.page_errors.append(str(err)))

    def _on_socket(self, ws: WebSocket) -> None:
        self.sockets.append(ws)
        ws.on("framereceived", lambda payload: self.frames.append(str(payload)))

    def _on_dialog(self, dialog: Any) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        if dialog.type == "confirm" and self.confirm:
            dialog.accept()
        else:
            dialog.dismiss()

    # ------------------------------------------------------------ joining

    def open(self) -> None:
        self.page.goto(f"{self.base_url}/")
        expect(self.page.locator("#join-room-name")).not_to_have_text("…")

    def join(self, *, spectator: bool = False) -> None:
        self.open()
        self.page.fill("#join-name", self.name)
        self.page.click("#join-spectate" if spectator else "#join-play")
        expect(self.page.locator("#screen-room")).to_be_visible()

    def close(self) -> None:
        self.context.close()

    # ------------------------------------------------------------ reading the page

    def state(self, path: str) -> Any:
        return self.page.evaluate(f"() => window.sketchParty.state.{path}")

    def canvas(self) -> dict[str, Any]:
        return dict(self.page.evaluate(CANVAS_DIGEST_JS))

    def pixel(self, x: int, y: int) -> list[int]:
        return list(self.page.evaluate(PIXEL_JS, [x, y]))

    def score_of(self, name: str) -> int:
        row = self.page.locator("#player-list li", has=self.page.get_by_text(name, exact=True))
        text = row.locator(".player__score").inner_text()
        match = re.match(r"(-?\d+) points", text)
        assert match, f"score text {text!r} for {name}"
        return int(match.group(1))

    def word_label(self) -> str:
        return self.page.locator("#word-label").inner_text()

    def dom_text(self) -> str:
        """Everything a page holds: markup, attribute values and form field values."""
        return str(
            self.page.evaluate(
                """() => document.documentElement.outerHTML + "\\n" + Array.from(
                  document.querySelectorAll("input, textarea"), (e) => e.value).join("\\n")"""
            )
        )

    # ------------------------------------------------------------ playing

    def choose_word(self, avoid: Callable[[str], bool] = lambda word: False) -> str:
        """Pick the first offered word for which `avoid` is false (else the first one)."""
        buttons = self.page.locator("#choose-words button")
        expect(buttons.first).to_be_visible()
        offered = [w.strip().lower() for w in buttons.all_inner_texts()]
        index = next((i for i, w in enumerate(offered) if not avoid(w)), 0)
        buttons.nth(index).click()
        expect(self.page.locator("#toolbar")).to_be_visible()
        word = self.word_label().strip().lower()
        assert word == offered[index], "the drawer sees the word to draw"
        return word

    def board_point(self, fx: float, fy: float) -> tuple[float, float]:
        """Viewport coordinates of a point given as fractions of the board."""
        box = self.page.locator("#board").bounding_box()
        assert box is not None
        return box["x"] + box["width"] * fx, box["y"] + box["height"] * fy

    def drag(self, points: list[tuple[float, float]], steps: int = 8) -> None:
        """A real mouse drag through `points` (fractions of the board)."""
        mouse = self.page.mouse
        x, y = self.board_point(*points[0])
        mouse.move(x, y)
        mouse.down()
        for fx, fy in points[1:]:
            x, y = self.board_point(fx, fy)
            mouse.move(x, y, steps=steps)
        mouse.up()

    def pick_colour(self, name: str) -> None:
        self.page.get_by_role("radio", name=name, exact=True).click()

    def say(self, text: str) -> None:
        self.page.fill("#chat-input", text)
        self.page.press("#chat-input", "Enter")

    def chat_lines(self) -> list[str]:
        return list(self.page.locator("#chat-log li").all_inner_texts())


# ---------------------------------------------------------------- screens and touch

AXE_SOURCE = (Path(__file__).resolve().parent / "vendor" / "axe.min.js").read_text()

AXE_RUN_JS = """
async () => {
  const result = await axe.run(document, {resultTypes: ["violations"]});
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.impact} ${v.id}: ${v.help} -> ` +
      v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(", "));
}
"""

SMALL_TAP_TARGETS_JS = """
(min) => Array.from(document.querySelectorAll(
    "button, select, textarea, a[href], [role=radio], input:not([type=checkbox])"))
  .filter((el) => el.getClientRects().length > 0 && getComputedStyle(el).visibility !== "hidden")
  .filter((el) => !el.closest(".visually-hidden, .skip-link"))
  .map((el) => [el, el.getBoundingClientRect()])
  .filter(([el, r]) => r.width > 2 && (r.width < min - 0.5 || r.height < min - 0.5))
  .map(([el, r]) => `${el.id || el.getAttribute("aria-label") || el.className || el.tagName} ` +
    `${Math.round(r.width)}x${Math.round(r.height)}`)
"""

IN_VIEW_JS = """
(selector) => {
  const found = Array.from(document.querySelectorAll(selector));
  if (found.length === 0) return [`${selector}: missing`];
  const [w, h] = [window.innerWidth, window.innerHeight];
  return found.map((el, i) => {
    const name = found.length > 1 ? `${selector} #${i + 1}` : selector;
    const r = el.getBoundingClientRect();
    if (r.width < 1 || r.height < 1) return `${name}: not displayed`;
    if (r.left < -0.5 || r.top < -0.5 || r.right > w + 0.5 || r.bottom > h + 0.5)
      return `${name}: ${Math.round(r.left)},${Math.round(r.top)} ` +
        `${Math.round(r.width)}x${Math.round(r.height)} outside ${w}x${h}`;
    // Not covered by something else either (a banner, a toast, a dialog).
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    if (!hit || !(el === hit || el.contains(hit) || hit.contains(el)))
      return `${name}: covered by ${hit ? hit.outerHTML.slice(0, 80) : "nothing"}`;
    return "";
  }).filter(Boolean);
}
"""


def axe_violations(page: Page) -> list[str]:
    """Serious and critical axe-core findings on the page as it is now."""
    if not page.evaluate("() => typeof window.axe === 'object'"):
        # Evaluated through DevTools: the page's CSP (script-src 'self') stays as it is.
        page.evaluate(f"() => {{ {AXE_SOURCE}\n; return true; }}")
    return list(page.evaluate(AXE_RUN_JS))


def small_tap_targets(page: Page, minimum: int = 44) -> list[str]:
    return list(page.evaluate(SMALL_TAP_TARGETS_JS, minimum))


def out_of_view(page: Page, *selectors: str) -> list[str]:
    """What of the elements matching `selectors` is not wholly inside the window, or is
    covered by something else: an empty list when a player sees them all."""
    return [problem for s in selectors for problem in page.evaluate(IN_VIEW_JS, s)]


def boxes_overlap(a: dict[str, float] | None, b: dict[str, float] | None) -> bool:
    assert a is not None and b is not None
    return not (
        a["x"] + a["width"] <= b["x"]
        or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"]
        or b["y"] + b["height"] <= a["y"]
    )


def touch_drag(player: Player, points: list[tuple[float, float]], steps: int = 8) -> None:
    """A finger drag, sent as real touch input through the DevTools protocol."""
    cdp = player.context.new_cdp_session(player.page)
    coords = [player.board_point(fx, fy) for fx, fy in points]
    x, y = coords[0]
    cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
    for (x0, y0), (x1, y1) in zip(coords, coords[1:], strict=False):
        for i in range(1, steps + 1):
            px, py = x0 + (x1 - x0) * i / steps, y0 + (y1 - y0) * i / steps
            cdp.send(
                "Input.dispatchTouchEvent",
                {"type": "touchMove", "touchPoints": [{"x": px, "y": py}]},
            )
    cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    cdp.detach()
