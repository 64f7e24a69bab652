// The drawer's tool bar: palette (named colours), widths, brush/eraser/fill, undo, clear.
import { byId, clear, h } from "../dom.js";
import { icon } from "../icons.js";

const WIDTHS = [
  { width: 4, name: "thin" },
  { width: 10, name: "medium" },
  { width: 20, name: "thick" },
  { width: 36, name: "huge" },
];
const TOOLS = [
  { tool: "brush", name: "Brush", glyph: "brush", key: "b" },
  { tool: "eraser", name: "Eraser", glyph: "eraser", key: "e" },
  { tool: "fill", name: "Fill", glyph: "fill", key: "f" },
];

export class Toolbar {
  /** @param {{onUndo: () => void, onClear: () => void}} actions */
  constructor(actions) {
    /** @type {import("../drawinput.js").ToolState} */
    this.value = { tool: "brush", color: 3, width: 10 };
    byId("tool-undo").addEventListener("click", actions.onUndo);
    byId("tool-clear").addEventListener("click", actions.onClear);
    this.#buildWidths();
    this.#buildTools();
    this.setPalette([]);
  }

  /** @param {import("../palette.js").Colour[]} palette */
  setPalette(palette) {
    const host = byId("palette");
    clear(host);
    palette.forEach((colour, index) => {
      const swatch = h("button", {
        type: "button",
        className: "swatch",
        role: "radio",
        title: colour.name,
        "aria-label": colour.name,
        "data-color": index,
        onclick: () =>
          this.select({
            color: index,
            tool: this.value.tool === "eraser" ? "brush" : this.value.tool,
          }),
      });
      swatch.style.backgroundColor = colour.hex;
      host.append(swatch);
    });
    this.#sync();
  }

  /** @param {Partial<import("../drawinput.js").ToolState>} change */
  select(change) {
    this.value = { ...this.value, ...change };
    this.#sync();
  }

  /** Keyboard shortcuts for the drawer. @param {KeyboardEvent} e @returns {boolean} handled */
  handleKey(e) {
    const tool = TOOLS.find((t) => t.key === e.key.toLowerCase());
    if (tool && !e.ctrlKey && !e.metaKey && !e.altKey) {
      this.select({ tool: /** @type {any} */ (tool.tool) });
      return true;
    }
    return false;
  }

  #buildWidths() {
    const host = byId("widths");
    for (const { width, name } of WIDTHS) {
      const dot = h("span", { className: "width-dot", "aria-hidden": "true" });
      const size = Math.max(4, Math.round(width * 0.6));
      dot.style.width = `${size}px`;
      dot.style.height = `${size}px`;
      host.append(
        h(
          "button",
          {
            type: "button",
            className: "tool tool--width",
            role: "radio",
            title: `${name} brush`,
            "aria-label": `${name} brush`,
            "data-width": width,
            onclick: () => this.select({ width }),
          },
          dot,
        ),
      );
    }
  }

  #buildTools() {
    const host = byId("tools");
    for (const { tool, name, glyph, key } of TOOLS) {
      host.append(
        h(
          "button",
          {
            type: "button",
            className: "tool",
            role: "radio",
            title: `${name} (${key.toUpperCase()})`,
            "aria-label": name,
            "data-tool": tool,
            onclick: () => this.select({ tool: /** @type {any} */ (tool) }),
          },
          icon(glyph),
        ),
      );
    }
  }

  #sync() {
    const v = this.value;
    for (const el of document.querySelectorAll("#palette .swatch")) {
      el.setAttribute("aria-checked", String(Number(el.getAttribute("data-color")) === v.color));
    }
    for (const el of document.querySelectorAll("#widths .tool")) {
      el.setAttribute("aria-checked", String(Number(el.getAttribute("data-width")) === v.width));
    }
    for (const el of document.querySelectorAll("#tools .tool")) {
      el.setAttribute("aria-checked", String(el.getAttribute("data-tool") === v.tool));
    }
    const canvas = document.getElementById("board");
    if (canvas) canvas.dataset.tool = v.tool;
  }
}
