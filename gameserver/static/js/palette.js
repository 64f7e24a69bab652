// The protocol's fixed palette (PROTOCOL.md); the server's `welcome.palette` wins if sent.

/** @typedef {{name: string, hex: string}} Colour */

/** @type {Colour[]} */
export const DEFAULT_PALETTE = [
  { name: "white", hex: "#ffffff" },
  { name: "light grey", hex: "#c1c1c1" },
  { name: "grey", hex: "#7f7f7f" },
  { name: "black", hex: "#000000" },
  { name: "red", hex: "#e53935" },
  { name: "dark red", hex: "#8b0000" },
  { name: "orange", hex: "#fb8c00" },
  { name: "yellow", hex: "#fdd835" },
  { name: "green", hex: "#43a047" },
  { name: "dark green", hex: "#1b5e20" },
  { name: "blue", hex: "#1e88e5" },
  { name: "navy", hex: "#1a237e" },
  { name: "purple", hex: "#8e24aa" },
  { name: "pink", hex: "#ec407a" },
  { name: "brown", hex: "#795548" },
  { name: "tan", hex: "#d2a679" },
  { name: "teal", hex: "#00897b" },
  { name: "sky", hex: "#81d4fa" },
  { name: "lime", hex: "#c0ca33" },
  { name: "peach", hex: "#ffccbc" },
];

const HEX = /^#[0-9a-f]{6}$/i;

/**
 * Accepts the server's palette as a list of hex strings or of {name, hex} objects;
 * anything unusable falls back to the default entry at that index.
 * @param {unknown} raw
 * @returns {Colour[]}
 */
export function normalisePalette(raw) {
  if (!Array.isArray(raw) || raw.length === 0) return DEFAULT_PALETTE;
  return raw.map((entry, i) => {
    const fallback = DEFAULT_PALETTE[i] ?? { name: `colour ${i + 1}`, hex: "#000000" };
    if (typeof entry === "string" && HEX.test(entry)) return { name: fallback.name, hex: entry };
    if (entry && typeof entry === "object") {
      const e = /** @type {Record<string, unknown>} */ (entry);
      const hex = typeof e.hex === "string" && HEX.test(e.hex) ? e.hex : fallback.hex;
      const name = typeof e.name === "string" && e.name ? e.name : fallback.name;
      return { name, hex };
    }
    return fallback;
  });
}

/** @param {string} hex @returns {[number, number, number, number]} */
export function hexToRgba(hex) {
  const n = Number.parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255, 255];
}
