// The chat and guess log. Player text goes in with textContent only.
import { byId, h } from "../dom.js";

const MAX_LINES = 200;

export class ChatLog {
  constructor() {
    this.log = byId("chat-log");
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
        h("span", { className: "chat-line__name" }, `${name}: `),
        h("span", { className: "chat-line__text" }, text),
      ),
    );
  }

  /**
   * A line from the game itself.
   * @param {string} text
   * @param {"info"|"success"|"close"|"warning"|"turn"|"reveal"} [kind]
   */
  system(text, kind = "info") {
    this.#append(h("li", { className: `chat-line chat-line--system chat-line--${kind}` }, text));
  }

  /** @param {HTMLElement} li */
  #append(li) {
    const stick = this.log.scrollHeight - this.log.scrollTop - this.log.clientHeight < 40;
    this.log.append(li);
    while (this.log.children.length > MAX_LINES) this.log.firstElementChild?.remove();
    if (stick) this.log.scrollTop = this.log.scrollHeight;
  }
}
