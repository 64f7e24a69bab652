// Short sound cues made with Web Audio (no sound files to load): your turn, a correct
// guess, the last seconds. A mute switch, remembered across visits.

const MUTE_KEY = "sketchparty.muted";

/** @typedef {"turn"|"guessed"|"tick"|"reveal"} Cue */

/** Notes per cue: [frequency Hz, start s, length s]. */
const CUES = {
  turn: [
    [523, 0, 0.12],
    [659, 0.12, 0.12],
    [784, 0.24, 0.2],
  ],
  guessed: [
    [784, 0, 0.1],
    [1047, 0.1, 0.22],
  ],
  tick: [[880, 0, 0.05]],
  reveal: [
    [392, 0, 0.15],
    [330, 0.15, 0.25],
  ],
};

export class Sounds {
  constructor() {
    /** @type {AudioContext|null} */
    this.ctx = null;
    this.muted = readMuted();
  }

  /**
   * Browsers only start audio after a tap or a key press: call this from one.
   * Creating the context earlier would leave it suspended.
   */
  unlock() {
    if (this.muted) return;
    try {
      this.ctx ??= new AudioContext();
      if (this.ctx.state === "suspended") void this.ctx.resume();
    } catch {
      this.ctx = null; // no Web Audio: the game is the same without sound
    }
  }

  /** @param {boolean} muted */
  setMuted(muted) {
    this.muted = muted;
    try {
      localStorage.setItem(MUTE_KEY, muted ? "1" : "0");
    } catch {
      // Private mode: muted for this visit only.
    }
    if (!muted) this.unlock();
  }

  /** @param {Cue} cue */
  play(cue) {
    if (this.muted || !this.ctx || this.ctx.state !== "running") return;
    const ctx = this.ctx;
    const t0 = ctx.currentTime + 0.01;
    for (const [freq, start, length] of CUES[cue]) {
      const osc = ctx.createOscillator();
      const gain = ctx.createGain();
      osc.type = cue === "tick" ? "square" : "triangle";
      osc.frequency.value = freq;
      // A quick fade in and out: no clicks at the edges.
      gain.gain.setValueAtTime(0.0001, t0 + start);
      gain.gain.exponentialRampToValueAtTime(cue === "tick" ? 0.05 : 0.18, t0 + start + 0.015);
      gain.gain.exponentialRampToValueAtTime(0.0001, t0 + start + length);
      osc.connect(gain).connect(ctx.destination);
      osc.start(t0 + start);
      osc.stop(t0 + start + length + 0.02);
    }
  }
}

function readMuted() {
  try {
    return localStorage.getItem(MUTE_KEY) === "1";
  } catch {
    return false;
  }
}
