// Short-lived notices (admin announcements, copied links, rate limits).
import { byId, h } from "../dom.js";
import { icon } from "../icons.js";

const LIFETIME_MS = 7000;

/**
 * @param {string} text
 * @param {"info"|"warning"|"success"|"error"} [level]
 * @param {string} [title]
 */
export function toast(text, level = "info", title = "") {
  const host = byId("toasts");
  const glyph =
    { info: "megaphone", warning: "warning", success: "check", error: "warning" }[level] ??
    "megaphone";
  const close = h(
    "button",
    { type: "button", className: "toast__close", "aria-label": "Dismiss" },
    icon("close"),
  );
  const el = h(
    "div",
    {
      className: `toast toast--${level}`,
      role: level === "warning" || level === "error" ? "alert" : "status",
    },
    h("span", { className: "toast__icon" }, icon(glyph)),
    h(
      "div",
      { className: "toast__body" },
      title ? h("strong", {}, title) : null,
      h("span", { dir: "auto" }, text),
    ),
    close,
  );
  const remove = () => {
    el.classList.add("toast--leaving");
    setTimeout(() => el.remove(), 250);
  };
  close.addEventListener("click", remove);
  host.append(el);
  while (host.children.length > 4) host.firstElementChild?.remove();
  setTimeout(remove, LIFETIME_MS);
  return el;
}
