// Line icons drawn as inline SVG (no icon font, no emoji font needed, no network).

const SVG_NS = "http://www.w3.org/2000/svg";

/** 24x24 path data; stroked with currentColor unless listed in FILLED. */
const PATHS = {
  pencil: "M4 20l1.2-5.2L15.5 4.5a2 2 0 0 1 2.8 0l1.2 1.2a2 2 0 0 1 0 2.8L9.2 18.8z M13.5 6.5l4 4",
  crown: "M3 8l4.5 4L12 5l4.5 7L21 8l-2 11H5z",
  check: "M5 12.5l4.5 4.5L19 7.5",
  brush:
    "M20 4l-9.5 9.5 M18.5 2.5l3 3-8.5 8.5-3-3z M9.5 13.5c-2.5-.5-4.5 1-4.8 3.3-.2 1.4-.9 2.4-2.2 3.2 3.4.6 6.6-.2 7.8-2.4.8-1.4.6-2.9-.8-4.1z",
  eraser:
    "M8 20l-4.6-4.6a2 2 0 0 1 0-2.8l9-9a2 2 0 0 1 2.8 0l5.2 5.2a2 2 0 0 1 0 2.8L13 20z M8.5 9.5l6 6 M13 20h8",
  fill: "M4.5 11.5l7-7 8 8-7 7a2 2 0 0 1-2.8 0l-5.2-5.2a2 2 0 0 1 0-2.8z M4.5 11.5h15 M21 15.5s1.5 2 1.5 3a1.5 1.5 0 0 1-3 0c0-1 1.5-3 1.5-3z",
  undo: "M9 14L4 9l5-5 M4 9h10.5a5.5 5.5 0 0 1 0 11H11",
  trash: "M4 7h16 M10 11v6 M14 11v6 M6 7l1 13h10l1-13 M9 7V4h6v3",
  link: "M10 14a4 4 0 0 0 5.7 0l3.5-3.5a4 4 0 0 0-5.7-5.7l-1 1 M14 10a4 4 0 0 0-5.7 0l-3.5 3.5a4 4 0 0 0 5.7 5.7l1-1",
  trophy:
    "M8 4h8v6a4 4 0 0 1-8 0z M8 6H4.5v1.5A3.5 3.5 0 0 0 8 11 M16 6h3.5v1.5A3.5 3.5 0 0 1 16 11 M12 14v3.5 M8.5 21h7 M10 17.5h4l.5 3.5h-5z",
  image: "M4 5h16v14H4z M4 16l5-5 4 4 2.5-2.5L20 17 M15.5 9.5h.01",
  megaphone: "M3 10v4h3l9 5V5L6 10z M6 14l1.5 5h3L9 15 M18.5 9a4 4 0 0 1 0 6",
  warning: "M12 3.5l9.5 17h-19z M12 10v4.5 M12 17.5v.01",
  wrench: "M14.5 6.5a4 4 0 0 0 5 5L11 20a2.1 2.1 0 0 1-3-3l8.5-8.5a4 4 0 0 1-2-2z M19.5 4.5l-3 3",
  close: "M6 6l12 12 M18 6L6 18",
  kick: "M12 3.5a8.5 8.5 0 1 0 0 17 8.5 8.5 0 0 0 0-17z M6 6l12 12",
  user: "M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8z M4.5 20.5a7.5 7.5 0 0 1 15 0",
  eye: "M2 12s3.6-7 10-7 10 7 10 7-3.6 7-10 7S2 12 2 12z M12 15a3 3 0 1 0 0-6 3 3 0 0 0 0 6z",
  clock: "M12 3.5a8.5 8.5 0 1 0 0 17 8.5 8.5 0 0 0 0-17z M12 7.5V12l3 2",
  party:
    "M4 20l4.5-12 7.5 7.5z M14 4.5c1.5 1 1.5 2.5.5 4 M18.5 9c1-1.5 2.5-1.5 3.5 0 M16 3h.01 M21 6h.01 M19 13h.01",
  logout: "M15 4h4v16h-4 M10 8l-4 4 4 4 M6 12h11",
  sound: "M4 9.5v5h3.5L13 19V5L7.5 9.5z M16.5 9a4 4 0 0 1 0 6 M19 6.5a7.5 7.5 0 0 1 0 11",
  mute: "M4 9.5v5h3.5L13 19V5L7.5 9.5z M16.5 9.5l5 5 M21.5 9.5l-5 5",
  palette:
    "M12 3.5a8.5 8.5 0 0 0 0 17c1.2 0 1.8-.8 1.5-1.8-.4-1.2.3-2.2 1.6-2.2H17a3.5 3.5 0 0 0 3.5-3.5c0-5-3.8-9.5-8.5-9.5z M7.5 11.5h.01 M10 7.5h.01 M14.5 7.5h.01",
};

const FILLED = new Set(["crown"]);

/**
 * An SVG icon element. Decorative by default (aria-hidden); pass a label to expose it.
 * @param {keyof PATHS | string} name
 * @param {string} [label]
 */
export function icon(name, label = "") {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", `icon icon--${name}`);
  svg.setAttribute("focusable", "false");
  if (label) {
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", label);
  } else {
    svg.setAttribute("aria-hidden", "true");
  }
  const path = document.createElementNS(SVG_NS, "path");
  path.setAttribute("d", PATHS[/** @type {keyof PATHS} */ (name)] ?? PATHS.warning);
  if (FILLED.has(name)) {
    path.setAttribute("fill", "currentColor");
    path.setAttribute("stroke", "currentColor");
    path.setAttribute("stroke-width", "1.5");
    path.setAttribute("stroke-linejoin", "round");
  } else {
    path.setAttribute("fill", "none");
    path.setAttribute("stroke", "currentColor");
    path.setAttribute("stroke-width", "2");
    path.setAttribute("stroke-linecap", "round");
    path.setAttribute("stroke-linejoin", "round");
  }
  svg.append(path);
  return svg;
}

/** Replace every `<span data-icon="name">` placeholder in the page with its SVG. */
export function hydrateIcons(root = document) {
  for (const el of root.querySelectorAll("[data-icon]")) {
    const name = el.getAttribute("data-icon") ?? "";
    el.replaceWith(icon(name, el.getAttribute("aria-label") ?? ""));
  }
}
