// The drawing board: keeps the turn's operations and paints them on a 1600x900 canvas.
// Every segment is painted on its own, so the pixels do not depend on how points were
// batched into messages: the drawer, the guessers and a late joiner end up identical.
import { floodFill } from "./floodfill.js";
import { hexToRgba, DEFAULT_PALETTE } from "./palette.js";

export const BOARD_WIDTH = 1600;
export const BOARD_HEIGHT = 900;
const BACKGROUND = "#ffffff";
const ERASER_COLOUR = 0; // white

/**
 * @typedef {{type: "draw", stroke: number, tool: string, color: number, width: number, points: number[][]}} DrawOp
 * @typedef {{type: "fill", stroke: number, color: number, x: number, y: number}} FillOp
 * @typedef {{type: "clear"}} ClearOp
 * @typedef {DrawOp|FillOp|ClearOp} Op
 * @typedef {{tool: string, color: number, width: number, last: number[]}} StrokeState
 */

/** Clamp into the board and round to one decimal, exactly as the server does. */
export function normalisePoint(/** @type {number} */ x, /** @type {number} */ y) {
  const cx = Math.min(BOARD_WIDTH, Math.max(0, x));
  const cy = Math.min(BOARD_HEIGHT, Math.max(0, y));
  return [Math.round(cx * 10) / 10, Math.round(cy * 10) / 10];
}

export class Board {
  /** @param {HTMLCanvasElement} canvas */
  constructor(canvas) {
    this.canvas = canvas;
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    if (!ctx) throw new Error("this browser cannot draw on a canvas");
    this.ctx = ctx;
    /** @type {Op[]} */
    this.ops = [];
    /** @type {Map<number, StrokeState>} */
    this.strokes = new Map();
    this.palette = DEFAULT_PALETTE;
    this.#wipe();
  }

  /** @param {{hex: string}[]} palette */
  setPalette(palette) {
    this.palette = palette;
    this.repaint();
  }

  /** Replace everything with `ops` (a welcome's canvas, or an empty turn). @param {Op[]} ops */
  load(ops) {
    this.ops = [];
    this.repaint();
    for (const op of ops) this.apply(op);
  }

  /** The highest stroke id in use, so a resumed drawer continues with fresh ids. */
  maxStrokeId() {
    let max = 0;
    for (const op of this.ops) if (op.type !== "clear" && op.stroke > max) max = op.stroke;
    return max;
  }

  /** Paint one operation on top of what is there and remember it. @param {Op} op */
  apply(op) {
    if (!op || typeof op !== "object") return;
    if (op.type === "draw") {
      if (!Array.isArray(op.points) || op.points.length === 0) return;
      this.ops.push(op);
      this.#paintDraw(op);
    } else if (op.type === "fill") {
      this.ops.push(op);
      this.#paintFill(op);
    } else if (op.type === "clear") {
      this.ops.push(op);
      this.#wipe();
    }
  }

  /** Remove a stroke or fill and paint the rest again. @param {number} strokeId */
  undo(strokeId) {
    const before = this.ops.length;
    this.ops = this.ops.filter((op) => op.type === "clear" || op.stroke !== strokeId);
    if (this.ops.length !== before) this.repaint();
  }

  repaint() {
    const ops = this.ops;
    this.ops = [];
    this.#wipe();
    for (const op of ops) this.apply(op);
  }

  /** Convert a pointer position (client pixels) into board coordinates. */
  toBoard(/** @type {number} */ clientX, /** @type {number} */ clientY) {
    const rect = this.canvas.getBoundingClientRect();
    const x = ((clientX - rect.left) / rect.width) * BOARD_WIDTH;
    const y = ((clientY - rect.top) / rect.height) * BOARD_HEIGHT;
    return normalisePoint(x, y);
  }

  #wipe() {
    this.strokes.clear();
    this.ctx.save();
    this.ctx.globalCompositeOperation = "source-over";
    this.ctx.fillStyle = BACKGROUND;
    this.ctx.fillRect(0, 0, BOARD_WIDTH, BOARD_HEIGHT);
    this.ctx.restore();
  }

  /** @param {number} index */
  #colour(index) {
    return (this.palette[index] ?? this.palette[3] ?? DEFAULT_PALETTE[3]).hex;
  }

  /** @param {DrawOp} op */
  #paintDraw(op) {
    let stroke = this.strokes.get(op.stroke);
    const points = op.points;
    let start = 0;
    if (!stroke) {
      const width = Math.min(40, Math.max(2, Number(op.width) || 2));
      stroke = { tool: op.tool, color: op.color, width, last: points[0] };
      this.strokes.set(op.stroke, stroke);
      this.#dot(stroke, points[0]);
      start = 1;
    }
    const ctx = this.ctx;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.lineWidth = stroke.width;
    ctx.strokeStyle = this.#strokeColour(stroke);
    for (let i = start; i < points.length; i += 1) {
      const p = points[i];
      ctx.beginPath();
      ctx.moveTo(stroke.last[0], stroke.last[1]);
      ctx.lineTo(p[0], p[1]);
      ctx.stroke();
      stroke.last = p;
    }
  }

  /** @param {StrokeState} stroke @param {number[]} p */
  #dot(stroke, p) {
    const ctx = this.ctx;
    ctx.fillStyle = this.#strokeColour(stroke);
    ctx.beginPath();
    ctx.arc(p[0], p[1], stroke.width / 2, 0, Math.PI * 2);
    ctx.fill();
  }

  /** @param {StrokeState} stroke */
  #strokeColour(stroke) {
    return this.#colour(stroke.tool === "eraser" ? ERASER_COLOUR : stroke.color);
  }

  /** @param {FillOp} op */
  #paintFill(op) {
    const image = this.ctx.getImageData(0, 0, BOARD_WIDTH, BOARD_HEIGHT);
    const painted = floodFill(
      image.data,
      BOARD_WIDTH,
      BOARD_HEIGHT,
      op.x,
      op.y,
      hexToRgba(this.#colour(op.color)),
    );
    if (painted > 0) this.ctx.putImageData(image, 0, 0);
  }
}
