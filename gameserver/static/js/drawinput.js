// Pointer input (mouse, pen, touch) for the drawer. Points are gathered and sent as one
// `draw` message per animation frame (at most ~60 a second, the server's rate limit).
import { BOARD_WIDTH, BOARD_HEIGHT } from "./board.js";

const MAX_POINTS = 256;
const MIN_INTERVAL_MS = 16;

/** @typedef {{tool: "brush"|"eraser"|"fill", color: number, width: number}} ToolState */

export class DrawInput {
  /**
   * @param {import("./board.js").Board} board
   * @param {(message: Record<string, unknown>) => boolean} send
   * @param {() => ToolState} tools
   */
  constructor(board, send, tools) {
    this.board = board;
    this.send = send;
    this.tools = tools;
    this.enabled = false;
    this.nextStroke = 1;
    /** @type {{id: number, tool: string, color: number, width: number, pointerId: number, last: number[]|null, sent: boolean}|null} */
    this.stroke = null;
    /** @type {number[][]} */
    this.pending = [];
    this.frame = 0;
    this.lastSent = 0;
    const canvas = board.canvas;
    canvas.addEventListener("pointerdown", (e) => this.#down(e));
    canvas.addEventListener("pointermove", (e) => this.#move(e));
    canvas.addEventListener("pointerup", (e) => this.#up(e));
    canvas.addEventListener("pointercancel", (e) => this.#up(e));
    canvas.addEventListener("lostpointercapture", (e) => this.#up(e));
  }

  /** @param {boolean} enabled */
  setEnabled(enabled) {
    if (!enabled) this.#finish();
    this.enabled = enabled;
    this.board.canvas.classList.toggle("board--drawing", enabled);
  }

  /** Start numbering after the strokes already on the board (new turn or resumed seat). */
  resetStrokeIds() {
    this.nextStroke = this.board.maxStrokeId() + 1;
  }

  /** @param {PointerEvent} e */
  #down(e) {
    if (!this.enabled || (e.pointerType === "mouse" && e.button !== 0)) return;
    e.preventDefault();
    const tools = this.tools();
    const [x, y] = this.board.toBoard(e.clientX, e.clientY);
    if (tools.tool === "fill") {
      this.#finish();
      const op = { type: "fill", stroke: this.nextStroke++, color: tools.color, x, y };
      this.board.apply(/** @type {any} */ (op));
      this.send(op);
      return;
    }
    this.#finish();
    this.board.canvas.setPointerCapture(e.pointerId);
    this.stroke = {
      id: this.nextStroke++,
      tool: tools.tool,
      color: tools.color,
      width: tools.width,
      pointerId: e.pointerId,
      last: null,
      sent: false,
    };
    this.#add(x, y);
    this.#schedule();
  }

  /** @param {PointerEvent} e */
  #move(e) {
    if (!this.stroke || e.pointerId !== this.stroke.pointerId) return;
    e.preventDefault();
    const events = typeof e.getCoalescedEvents === "function" ? e.getCoalescedEvents() : [];
    for (const ev of events.length > 0 ? events : [e]) {
      const [x, y] = this.board.toBoard(ev.clientX, ev.clientY);
      this.#add(x, y);
    }
    this.#schedule();
  }

  /** @param {PointerEvent} e */
  #up(e) {
    if (!this.stroke || e.pointerId !== this.stroke.pointerId) return;
    this.#finish();
  }

  /** @param {number} x @param {number} y */
  #add(x, y) {
    const s = this.stroke;
    if (!s) return;
    if (s.last && s.last[0] === x && s.last[1] === y) return;
    if (x < 0 || y < 0 || x > BOARD_WIDTH || y > BOARD_HEIGHT) return;
    s.last = [x, y];
    this.pending.push([x, y]);
  }

  #schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame((t) => {
      this.frame = 0;
      if (t - this.lastSent < MIN_INTERVAL_MS) {
        this.#schedule();
        return;
      }
      this.#flush();
      this.lastSent = t;
    });
  }

  #flush() {
    const s = this.stroke;
    if (!s || this.pending.length === 0) return;
    while (this.pending.length > 0) {
      const points = this.pending.splice(0, MAX_POINTS);
      const op = {
        type: "draw",
        stroke: s.id,
        tool: s.tool,
        color: s.color,
        width: s.width,
        points,
      };
      this.board.apply(/** @type {any} */ (op));
      this.send(op);
      s.sent = true;
    }
  }

  #finish() {
    if (this.frame) cancelAnimationFrame(this.frame);
    this.frame = 0;
    this.#flush();
    if (this.stroke && this.board.canvas.hasPointerCapture(this.stroke.pointerId)) {
      this.board.canvas.releasePointerCapture(this.stroke.pointerId);
    }
    this.stroke = null;
    this.pending = [];
  }
}
