// The lobby: settings (editable by the host), start and the room's history.
import { byId, clear, h, show } from "../dom.js";
import { isHost } from "../state.js";
import { Board } from "../board.js";
import { renderLeaderboard } from "./overlays.js";

/** @param {number} a @param {number} b @param {number} step */
const range = (a, b, step = 1) =>
  Array.from({ length: Math.floor((b - a) / step) + 1 }, (_, i) => a + i * step);

const CHOICES = {
  rounds: range(1, 10),
  drawTimeSeconds: range(30, 240, 10),
  wordChoices: range(1, 5),
  maxPlayers: range(2, 24),
  hints: range(0, 10),
};
/** @type {Record<string, (v: number) => string>} */
const LABELS = { drawTimeSeconds: (v) => `${v} s` };

/** Split the host's text into custom words (trimmed, 1-32 characters, no repeats). */
export function parseCustomWords(/** @type {string} */ text) {
  const seen = new Set();
  /** @type {string[]} */
  const out = [];
  for (const raw of text.split(/[,\n]/)) {
    const word = raw.trim().replace(/\s+/g, " ");
    if (!word || word.length > 32 || seen.has(word.toLowerCase())) continue;
    seen.add(word.toLowerCase());
    out.push(word);
  }
  return out.slice(0, 1000);
}

export class Lobby {
  /** @param {{onSettings: (s: Record<string, unknown>) => void, onStart: () => void}} actions */
  constructor(actions) {
    for (const [name, values] of Object.entries(CHOICES)) {
      const select = /** @type {HTMLSelectElement} */ (byId(`set-${name}`));
      for (const v of values)
        select.append(h("option", { value: String(v) }, LABELS[name]?.(v) ?? String(v)));
      select.addEventListener("change", () => actions.onSettings({ [name]: Number(select.value) }));
    }
    const words = /** @type {HTMLTextAreaElement} */ (byId("set-customWords"));
    words.addEventListener("change", () =>
      actions.onSettings({ customWords: parseCustomWords(words.value) }),
    );
    const only = /** @type {HTMLInputElement} */ (byId("set-customWordsOnly"));
    only.addEventListener("change", () => actions.onSettings({ customWordsOnly: only.checked }));
    byId("start-button").addEventListener("click", actions.onStart);
    byId("settings-form").addEventListener("submit", (e) => e.preventDefault());
  }

  /** @param {import("../state.js").RoomState} state */
  render(state) {
    const host = isHost(state);
    const s = state.settings;
    for (const name of Object.keys(CHOICES)) {
      const select = /** @type {HTMLSelectElement} */ (byId(`set-${name}`));
      select.disabled = !host;
      if (typeof s[name] === "number" && document.activeElement !== select)
        select.value = String(s[name]);
    }
    // Only the host sees the list itself: for the others it would spoil the game.
    const words = /** @type {HTMLTextAreaElement} */ (byId("set-customWords"));
    const list = Array.isArray(s.customWords) ? s.customWords : [];
    // Only the host receives the words themselves; everyone gets their count.
    const count = typeof s.customWordsCount === "number" ? s.customWordsCount : list.length;
    show(byId("custom-words-field"), host);
    show(byId("custom-words-note"), !host);
    if (host && document.activeElement !== words) words.value = list.join(", ");
    if (!host) words.value = "";
    byId("custom-words-count").textContent =
      count === 0 ? "none" : `${count} word${count === 1 ? "" : "s"}`;
    const only = /** @type {HTMLInputElement} */ (byId("set-customWordsOnly"));
    only.disabled = !host;
    only.checked = Boolean(s.customWordsOnly);

    const hostName = state.players.find((p) => p.id === state.hostId)?.name ?? "the host";
    byId("lobby-host-note").textContent = host
      ? "You are the host: pick the settings and start when everyone is here."
      : `Waiting for ${hostName} to start the game.`;
    const start = /** @type {HTMLButtonElement} */ (byId("start-button"));
    const connected = state.players.filter((p) => p.connected).length;
    start.hidden = !host;
    start.disabled = connected < 2;
    byId("start-note").textContent =
      connected < 2 ? "Invite a friend with the share button: you need at least 2 players." : "";
  }
}

/** @param {unknown} body */
function rowsOf(body, key = "") {
  if (Array.isArray(body)) return body;
  if (body && typeof body === "object") {
    const b = /** @type {Record<string, unknown>} */ (body);
    for (const k of [key, "items", "entries", "drawings"])
      if (k && Array.isArray(b[k])) return b[k];
  }
  return [];
}

export async function refreshLeaderboard() {
  try {
    const response = await fetch("/api/leaderboard", { cache: "no-store" });
    if (!response.ok) return;
    renderLeaderboard(byId("lobby-leaderboard"), rowsOf(await response.json(), "leaderboard"));
  } catch (err) {
    console.warn("leaderboard unavailable", err);
  }
}

/**
 * @param {import("../palette.js").Colour[]} palette
 */
export async function refreshGallery(palette) {
  const host = byId("gallery");
  let rows;
  try {
    const response = await fetch("/api/gallery", { cache: "no-store" });
    if (!response.ok) return;
    rows = rowsOf(await response.json(), "gallery");
  } catch (err) {
    console.warn("gallery unavailable", err);
    return;
  }
  clear(host);
  if (rows.length === 0) {
    host.append(
      h("li", { className: "muted gallery__empty" }, "Drawings from finished turns show up here."),
    );
    return;
  }
  for (const row of rows.slice(0, 12)) {
    const ops = Array.isArray(row.canvas) ? row.canvas : Array.isArray(row.ops) ? row.ops : null;
    /** @type {HTMLElement} */
    let picture;
    if (typeof row.image === "string" && /^(data:image\/|\/)/.test(row.image)) {
      picture = h("img", {
        src: row.image,
        alt: `Drawing of ${row.word ?? "a word"}`,
        loading: "lazy",
      });
    } else if (ops) {
      picture = thumbnail(ops, palette, String(row.word ?? ""));
    } else {
      continue;
    }
    const by = row.drawerName ?? row.drawer ?? row.name ?? "";
    host.append(
      h(
        "li",
        { className: "gallery__item" },
        picture,
        h("bdi", { className: "gallery__word" }, String(row.word ?? "")),
        by ? h("span", { className: "gallery__by muted" }, "by ", h("bdi", {}, String(by))) : null,
      ),
    );
  }
}

/**
 * Paint the operations on a full-size board, then shrink it into a small canvas.
 * @param {any[]} ops @param {import("../palette.js").Colour[]} palette @param {string} word
 */
function thumbnail(ops, palette, word) {
  const full = document.createElement("canvas");
  full.width = 1600;
  full.height = 900;
  const board = new Board(full);
  board.palette = palette;
  board.load(ops);
  const small = /** @type {HTMLCanvasElement} */ (
    h("canvas", {
      className: "gallery__thumb",
      width: 320,
      height: 180,
      role: "img",
      "aria-label": `Drawing of ${word || "a word"}`,
    })
  );
  small.getContext("2d")?.drawImage(full, 0, 0, 320, 180);
  return small;
}
