// Scan-line flood fill on raw RGBA pixels (pure: no DOM), deterministic on every client.

/**
 * Fill the region connected to (x, y) whose colour is within `tolerance` of the seed's.
 * @param {Uint8ClampedArray} data RGBA pixels, row-major
 * @param {number} width
 * @param {number} height
 * @param {number} x
 * @param {number} y
 * @param {[number, number, number, number]} rgba
 * @param {number} [tolerance] largest per-channel difference still counted as the same colour
 * @returns {number} the number of pixels painted
 */
export function floodFill(data, width, height, x, y, rgba, tolerance = 40) {
  const sx = Math.min(width - 1, Math.max(0, Math.floor(x)));
  const sy = Math.min(height - 1, Math.max(0, Math.floor(y)));
  const seed = (sy * width + sx) * 4;
  const tr = data[seed],
    tg = data[seed + 1],
    tb = data[seed + 2],
    ta = data[seed + 3];
  const [fr, fg, fb, fa] = rgba;
  if (tr === fr && tg === fg && tb === fb && ta === fa) return 0;

  const visited = new Uint8Array(width * height);
  /** @param {number} p pixel index */
  const matches = (p) => {
    if (visited[p]) return false;
    const i = p * 4;
    return (
      Math.abs(data[i] - tr) <= tolerance &&
      Math.abs(data[i + 1] - tg) <= tolerance &&
      Math.abs(data[i + 2] - tb) <= tolerance &&
      Math.abs(data[i + 3] - ta) <= tolerance
    );
  };
  /** @param {number} p */
  const paint = (p) => {
    visited[p] = 1;
    const i = p * 4;
    data[i] = fr;
    data[i + 1] = fg;
    data[i + 2] = fb;
    data[i + 3] = fa;
  };

  let painted = 0;
  const stack = [sx, sy];
  while (stack.length > 0) {
    const cy = /** @type {number} */ (stack.pop());
    const cx = /** @type {number} */ (stack.pop());
    const row = cy * width;
    if (!matches(row + cx)) continue;
    let left = cx;
    while (left > 0 && matches(row + left - 1)) left -= 1;
    let right = cx;
    while (right < width - 1 && matches(row + right + 1)) right += 1;
    for (let px = left; px <= right; px += 1) paint(row + px);
    painted += right - left + 1;
    for (const ny of [cy - 1, cy + 1]) {
      if (ny < 0 || ny >= height) continue;
      const nrow = ny * width;
      let inRun = false;
      for (let px = left; px <= right; px += 1) {
        const ok = matches(nrow + px);
        if (ok && !inRun) stack.push(px, ny);
        inRun = ok;
      }
    }
  }
  return painted;
}
