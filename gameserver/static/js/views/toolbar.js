// The drawer's tool bar: palette (named colours), widths, brush/eraser/fill, undo, clear.
// Each radio group is one tab stop (roving tabindex) and arrow keys move within it. On
// phones the palette folds into a colour button that opens it over the board.
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
    /** @type {import("../palette.js").Colour[]} */
    this.palette = [];
    this.#buildWidths();
    this.#buildTools();
    this.setPalette([]);
    for (const id of ["palette", "widths", "tools"]) {
      byId(id).addEventListener("keydown", (e) => this.#roam(/** @type {KeyboardEvent} */ (e)));
    }
    const toggle = byId("palette-toggle");
    toggle.addEventListener("click", () => this.openPalette(!this.paletteOpen));
    byId("palette").addEventListener("keydown", (e) => {
      if (e.key === "Escape" && this.paletteOpen) {
        this.openPalette(false);
        toggle.focus();
      }
    });
  }

  get paletteOpen() {
    return byId("toolbar").classList.contains("toolbar--palette-open");
  }

  /** Whether the palette is folded behind its button (phones). */
  get paletteFolded() {
    return getComputedStyle(byId("palette-toggle")).display !== "none";
  }

  /** @param {boolean} open */
  openPalette(open) {
    byId("toolbar").classList.toggle("toolbar--palette-open", open);
    byId("palette-toggle").setAttribute("aria-expanded", String(open));
    if (open) /** @type {HTMLElement|null} */ (byId("palette").querySelector('[tabindex="0"]'))?.focus();
  }

  /** A colour picked from the folded palette closes it and returns to its button. */
  #closeFoldedPalette() {
    if (!this.paletteFolded || !this.paletteOpen) return;
    this.openPalette(false);
    byId("palette-toggle").focus();
  }

  /** Arrow keys, Home and End move the choice within a radio group. @param {KeyboardEvent} e */
  #roam(e) {
    const group = /** @type {HTMLElement} */ (e.currentTarget);
    const radios = /** @type {HTMLElement[]} */ ([...group.querySelectorAll('[role="radio"]')]);
    const at = radios.indexOf(/** @type {HTMLElement} */ (document.activeElement));
    if (at < 0) return;
    const step = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 }[e.key];
    let next = -1;
    if (step !== undefined) next = (at + step + radios.length) % radios.length;
    else if (e.key === "Home") next = 0;
    else if (e.key === "End") next = radios.length - 1;
    if (next < 0) return;
    e.preventDefault();
    radios[next].focus();
    radios[next].dispatchEvent(new CustomEvent("choose"));
  }

  /** @param {import("../palette.js").Colour[]} palette */
  setPalette(palette) {
    this.palette = palette;
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
      });
      const pick = () =>
        this.select({ color: index, tool: this.value.tool === "eraser" ? "brush" : this.value.tool });
      swatch.addEventListener("click", () => {
        pick();
        this.#closeFoldedPalette();
      });
      swatch.addEventListener("choose", pick);
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
            onchoose: () => this.select({ width }),
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
            onchoose: () => this.select({ tool: /** @type {any} */ (tool) }),
          },
          icon(glyph),
        ),
      );
    }
  }

  #sync() {
    const v = this.value;
    /** @param {string} selector @param {(el: Element) => boolean} checked */
    const mark = (selector, checked) => {
      for (const el of document.querySelectorAll(selector)) {
        const on = checked(el);
        el.setAttribute("aria-checked", String(on));
        el.setAttribute("tabindex", on ? "0" : "-1");
      }
    };
    mark("#palette .swatch", (el) => Number(el.getAttribute("data-color")) === v.color);
    mark("#widths .tool", (el) => Number(el.getAttribute("data-width")) === v.width);
    mark("#tools .tool", (el) => el.getAttribute("data-tool") === v.tool);
    const colour = this.palette[v.color];
    byId("palette-current").style.backgroundColor = colour?.hex ?? "#000";
    byId("palette-toggle").setAttribute("aria-label", `Colour: ${colour?.name ?? "none"}`);
    const canvas = document.getElementById("board");
    if (canvas) canvas.dataset.tool = v.tool;
  }
}
