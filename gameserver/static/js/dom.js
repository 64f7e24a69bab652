// Small DOM helpers. Player text is only ever inserted with textContent.

/** @param {string} id */
export function byId(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing element #${id} in index.html`);
  return el;
}

/**
 * Create an element. `props` sets properties (className, type, ...), `attrs` keys starting
 * with "aria-" or "data-" become attributes; children are nodes or strings (as text).
 * @param {string} tag
 * @param {Record<string, unknown>} [props]
 * @param {...(Node|string|number|null|undefined|false)} children
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("aria-") || key.startsWith("data-") || key === "role" || key === "for") {
      el.setAttribute(key, String(value));
    } else if (key === "text") {
      el.textContent = String(value);
    } else if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), /** @type {EventListener} */ (value));
    } else {
      // @ts-ignore - assigning known DOM properties
      el[key] = value;
    }
  }
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    el.append(typeof child === "string" || typeof child === "number" ? String(child) : child);
  }
  return el;
}

/** @param {Element} el */
export function clear(el) {
  el.replaceChildren();
}

/** @param {Element} el @param {boolean} shown */
export function show(el, shown) {
  el.classList.toggle("hidden", !shown);
}
