// The WebSocket connection: JSON frames, automatic reconnection with back-off.
import { reconnectDelay } from "./backoff.js";

export const CLOSE_KICKED = 4001;
export const CLOSE_REPLACED = 4002;

/**
 * @typedef {"connecting"|"open"|"reconnecting"|"closed"} ConnState
 * @typedef {{state: ConnState, attempt: number, delayMs: number, reason: string}} ConnStatus
 */

export function socketUrl(loc = window.location) {
  const scheme = loc.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${loc.host}/ws`;
}

/**
 * Events: "open" (a socket is ready: send join), "message" (detail: parsed frame),
 * "status" (detail: ConnStatus), "kicked" (voted out), "replaced" (the same session
 * joined from another tab or device). After the last two it does not reconnect.
 */
export class Connection extends EventTarget {
  /** @param {string} url */
  constructor(url) {
    super();
    this.url = url;
    /** @type {WebSocket|null} */
    this.ws = null;
    this.attempt = 0;
    this.stopped = false;
    /** @type {number} retry hint from the server's `reconnect` message */
    this.retryAfterMs = 0;
    /** @type {ReturnType<typeof setTimeout>|null} */
    this.timer = null;
    this.reason = "";
  }

  /** Connect now (also cuts a pending back-off wait short); no-op while connected. */
  start() {
    this.stopped = false;
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.#open();
  }

  /** The server accepted us (welcome): later drops start the back-off from scratch. */
  markHealthy() {
    this.attempt = 0;
    this.retryAfterMs = 0;
    this.reason = "";
  }

  /** @param {number} ms @param {string} reason */
  expectRestart(ms, reason) {
    this.retryAfterMs = Math.max(0, Math.min(ms, 30_000));
    this.reason = reason;
  }

  /** @param {Record<string, unknown>} message */
  send(message) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }

  get isOpen() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  /** Close for good (leaving the room). */
  stop() {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.ws) this.ws.close(1000, "leaving");
    this.#status("closed", 0, "left");
  }

  /** Skip the remaining wait (e.g. the browser came back online). */
  retryNow() {
    if (this.stopped || this.isOpen || !this.timer) return;
    clearTimeout(this.timer);
    this.timer = null;
    this.#open();
  }

  #open() {
    if (this.stopped) return;
    this.#status(this.attempt === 0 ? "connecting" : "reconnecting", 0, this.reason);
    let ws;
    try {
      ws = new WebSocket(this.url);
    } catch (err) {
      this.#scheduleReconnect(String(err));
      return;
    }
    this.ws = ws;
    ws.addEventListener("open", () => {
      this.#status("open", 0, "");
      this.dispatchEvent(new Event("open"));
    });
    ws.addEventListener("message", (event) => {
      if (typeof event.data !== "string") return;
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        console.warn("ignored a frame that is not JSON");
        return;
      }
      if (message && typeof message.type === "string") {
        this.dispatchEvent(new CustomEvent("message", { detail: message }));
      }
    });
    ws.addEventListener("close", (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) return;
      if (event.code === CLOSE_KICKED || event.code === CLOSE_REPLACED) {
        const why = event.code === CLOSE_KICKED ? "kicked" : "replaced";
        this.stopped = true;
        this.#status("closed", 0, why);
        this.dispatchEvent(new Event(why));
        return;
      }
      this.#scheduleReconnect(this.reason || (event.code === 1012 ? "restart" : "lost"));
    });
  }

  /** @param {string} reason */
  #scheduleReconnect(reason) {
    const delay = Math.max(this.retryAfterMs, reconnectDelay(this.attempt));
    this.retryAfterMs = 0;
    this.attempt += 1;
    this.#status("reconnecting", delay, reason);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.#open();
    }, delay);
  }

  /** @param {ConnState} state @param {number} delayMs @param {string} reason */
  #status(state, delayMs, reason) {
    /** @type {ConnStatus} */
    const detail = { state, attempt: this.attempt, delayMs, reason };
    this.dispatchEvent(new CustomEvent("status", { detail }));
  }
}
