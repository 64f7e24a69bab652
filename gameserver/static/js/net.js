// The WebSocket connection: JSON frames, automatic reconnection with back-off.
import { reconnectDelay } from "./backoff.js";

export const CLOSE_KICKED = 4001;
export const CLOSE_REPLACED = 4002;
/** The room was deleted: it will not come back (PROTOCOL.md, close codes). */
export const CLOSE_ROOM_CLOSED = 4010;
/** Failed reconnects before the client asks /api/room whether the room still exists. */
const GONE_CHECK_AFTER = 2;

/**
 * Whether the room behind `url` is gone for good: 410 (closed) or 404 (no such room any
 * more, as an Ingress answers once the room's rule is deleted). Any other answer, or none
 * (the server is restarting), means keep trying.
 * @param {string} url the room's /api/room
 * @returns {Promise<string|null>} the room's farewell message, or null while it may come back
 */
export async function roomGone(url) {
  let response;
  try {
    response = await fetch(url, { cache: "no-store" });
  } catch {
    return null;
  }
  if (response.status !== 404 && response.status !== 410) return null;
  try {
    const body = await response.json();
    if (body && typeof body.message === "string" && body.message.trim()) return body.message;
  } catch {
    // A proxy's 404 page: no message of the room's own.
  }
  return "";
}

/**
 * @typedef {"connecting"|"open"|"reconnecting"|"closed"} ConnState
 * @typedef {{state: ConnState, attempt: number, delayMs: number, reason: string}} ConnStatus
 */

export function socketUrl(loc = window.location) {
  const scheme = loc.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${loc.host}/ws`;
}

export function roomInfoUrl(loc = window.location) {
  return `${loc.protocol}//${loc.host}/api/room`;
}

/**
 * Events: "open" (a socket is ready: send join), "message" (detail: parsed frame),
 * "status" (detail: ConnStatus), "kicked" (voted out), "replaced" (the same session
 * joined from another tab or device), "closed" (detail: {message}: the room was deleted,
 * said by close code 4010 or found by asking /api/room after failed reconnects). After
 * the last three it does not reconnect.
 */
export class Connection extends EventTarget {
  /** @param {string} url @param {string} infoUrl the room's /api/room */
  constructor(url, infoUrl) {
    super();
    this.url = url;
    this.infoUrl = infoUrl;
    /** @type {string} the message of the last `room_closed` frame */
    this.closedMessage = "";
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
      if (message && message.type === "room_closed" && typeof message.message === "string") {
        this.closedMessage = message.message;
      }
      if (message && typeof message.type === "string") {
        this.dispatchEvent(new CustomEvent("message", { detail: message }));
      }
    });
    ws.addEventListener("close", (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (this.stopped) return;
      if (event.code === CLOSE_ROOM_CLOSED) {
        this.#closedForGood(this.closedMessage);
        return;
      }
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
    // A room deleted while its server restarted cannot say so: its sockets just fail.
    // Ask the room's HTTP API, which says 410 (closed) or 404 (gone) instead of nothing.
    if (this.attempt >= GONE_CHECK_AFTER && this.infoUrl) {
      const attempt = this.attempt;
      roomGone(this.infoUrl).then((message) => {
        if (message !== null && !this.stopped && this.attempt === attempt && !this.isOpen) {
          this.#closedForGood(message);
        }
      });
    }
  }

  /** @param {string} message */
  #closedForGood(message) {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.close(1000, "room closed");
    }
    this.#status("closed", 0, "room_closed");
    this.dispatchEvent(new CustomEvent("closed", { detail: { message } }));
  }

  /** @param {ConnState} state @param {number} delayMs @param {string} reason */
  #status(state, delayMs, reason) {
    /** @type {ConnStatus} */
    const detail = { state, attempt: this.attempt, delayMs, reason };
    this.dispatchEvent(new CustomEvent("status", { detail }));
  }
}
