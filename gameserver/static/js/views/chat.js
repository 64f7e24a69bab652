// The chat and guess log. Player text goes in with textContent only, and every name and
// message is isolated (<bdi>, dir="auto") so right-to-left text cannot reorder the line.
import { byId, h } from "../dom.js";

const MAX_LINES = 200;

export class ChatLog {
  constructor() {
    /** The scrolling live region. */
    this.scroller = byId("chat-log");
    /** The list of lines inside it: a log keeps its list semantics this way. */
    this.list = byId("chat-lines");
  }

  /** @param {string} name @param {string} text @param {{guessed?: boolean, self?: boolean}} [opts] */
  message(name, text, opts = {}) {
    const cls = ["chat-line"];
    if (opts.guessed) cls.push("chat-line--guessed");
    if (opts.self) cls.push("chat-line--self");
    this.#append(
      h(
        "li",
        { className: cls.join(" ") },
        h("bdi", { className: "chat-line__name" }, name),
        ": ",
        h("span", { className: "chat-line__text", dir: "auto" }, text),
      ),
    );
  }

  /**
   * A line from the game itself; `parts` may hold <bdi> elements for player names.
   * @param {string|Node|(string|Node)[]} text
   * @param {"info"|"success"|"close"|"warning"|"turn"|"reveal"} [kind]
   */
  system(text, kind = "info") {
    const parts = Array.isArray(text) ? text : [text];
    this.#append(h("li", { className: `chat-line chat-line--system chat-line--${kind}` }, ...parts));
  }

  /** @param {HTMLElement} li */
  #append(li) {
    const log = this.scroller;
    const stick = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    this.list.append(li);
    while (this.list.children.length > MAX_LINES) this.list.firstElementChild?.remove();
    if (stick) log.scrollTop = log.scrollHeight;
  }
}

/** A player's name, isolated from the text around it. @param {string} name */
export function nameEl(name) {
  return h("bdi", {}, name);
}
