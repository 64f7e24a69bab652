// The client's picture of the room, folded from server messages (pure: no DOM, no I/O).
import { normalisePalette, DEFAULT_PALETTE } from "./palette.js";

/**
 * @typedef {{id: string, name: string, score: number, connected: boolean, guessed: boolean, host: boolean, drawing: boolean}} Player
 * @typedef {{id: string, name: string, spectator: boolean, token: string}} You
 * @typedef {{word: string, reason: string, scores: {id: string, gained: number, total: number}[]}} TurnEnd
 * @typedef {{ranking: {id: string, name: string, score: number, place: number}[], leaderboard: {name: string, points: number, wins: number, games: number}[], reason: string}} GameOver
 * @typedef {{
 *   you: You|null, room: {name: string, version: string, maintenance: {enabled: boolean, message: string}},
 *   palette: import("./palette.js").Colour[], phase: string, round: number, rounds: number,
 *   hostId: string|null, settings: Record<string, unknown>, players: Player[],
 *   drawerId: string|null, endsAt: number|null, clockOffset: number, hint: string,
 *   wordLength: number[], word: string|null, choices: string[]|null,
 *   turnEnd: TurnEnd|null, gameOver: GameOver|null,
 *   kickVotes: Record<string, {votes: number, needed: number}>
 * }} RoomState
 */

/** @returns {RoomState} */
export function initialState() {
  return {
    you: null,
    room: { name: "", version: "", maintenance: { enabled: false, message: "" } },
    palette: DEFAULT_PALETTE,
    phase: "lobby",
    round: 0,
    rounds: 0,
    hostId: null,
    settings: {},
    players: [],
    drawerId: null,
    endsAt: null,
    clockOffset: 0,
    hint: "",
    wordLength: [],
    word: null,
    choices: null,
    turnEnd: null,
    gameOver: null,
    kickVotes: {},
  };
}

/** @param {unknown} v @param {number} d */
const num = (v, d = 0) => (typeof v === "number" && Number.isFinite(v) ? v : d);
/** @param {unknown} v */
const str = (v) => (typeof v === "string" ? v : "");
/** @param {unknown} v */
const list = (v) => (Array.isArray(v) ? v : []);

/** @param {unknown} raw @returns {Player[]} */
function players(raw) {
  return list(raw).map((p) => ({
    id: str(p.id),
    name: str(p.name),
    score: num(p.score),
    connected: p.connected !== false,
    guessed: Boolean(p.guessed),
    host: Boolean(p.host),
    drawing: Boolean(p.drawing),
  }));
}

/** @param {any} msg @param {number} receivedAt */
function offset(msg, receivedAt) {
  return typeof msg.now === "number" ? msg.now - receivedAt : 0;
}

/**
 * Fold one server message into the state; returns a new state object.
 * @param {RoomState} state
 * @param {any} msg
 * @param {number} receivedAt the client's Date.now() when the message arrived
 * @returns {RoomState}
 */
export function reduce(state, msg, receivedAt) {
  switch (msg.type) {
    case "welcome": {
      const s = msg.state ?? {};
      const room = msg.room ?? {};
      return {
        ...initialState(),
        you: msg.you,
        room: {
          name: str(room.name),
          version: str(room.version),
          maintenance: {
            enabled: Boolean(room.maintenance?.enabled),
            message: str(room.maintenance?.message),
          },
        },
        palette: normalisePalette(msg.palette),
        phase: str(s.phase) || "lobby",
        round: num(s.round),
        rounds: num(s.rounds),
        hostId: s.hostId ?? null,
        settings: s.settings ?? {},
        players: players(s.players),
        drawerId: s.drawerId ?? null,
        endsAt: typeof s.endsAt === "number" ? s.endsAt : null,
        clockOffset: offset(msg, receivedAt),
        hint: str(s.hint),
        wordLength: list(s.wordLength),
        word: typeof s.word === "string" ? s.word : null,
        choices: Array.isArray(s.choices) ? s.choices.map(String) : null,
        turnEnd:
          s.phase === "turn_end" && typeof s.word === "string"
            ? { word: s.word, reason: "", scores: [] }
            : null,
        gameOver:
          s.phase === "game_over" && Array.isArray(s.ranking)
            ? { ranking: s.ranking, leaderboard: list(s.leaderboard), reason: "finished" }
            : null,
      };
    }
    case "players":
      return { ...state, players: players(msg.players), hostId: msg.hostId ?? state.hostId };
    case "settings":
      return { ...state, settings: msg.settings ?? state.settings };
    case "game_started":
      return {
        ...state,
        phase: "choosing",
        round: 1,
        rounds: num(msg.rounds, state.rounds),
        turnEnd: null,
        gameOver: null,
        word: null,
        hint: "",
        clockOffset: offset(msg, receivedAt),
      };
    case "turn": {
      const mine = state.you !== null && msg.drawerId === state.you.id;
      return {
        ...state,
        phase: str(msg.phase),
        round: num(msg.round, state.round),
        rounds: num(msg.rounds, state.rounds),
        drawerId: msg.drawerId ?? null,
        endsAt: num(msg.endsAt, 0),
        clockOffset: offset(msg, receivedAt),
        hint: str(msg.hint),
        wordLength: list(msg.wordLength),
        word: typeof msg.word === "string" ? msg.word : null,
        choices: msg.phase === "choosing" && mine ? state.choices : null,
        turnEnd: null,
        gameOver: null,
        kickVotes: {},
      };
    }
    case "choose_word":
      return {
        ...state,
        choices: list(msg.words).map(String),
        endsAt: num(msg.endsAt, state.endsAt ?? 0),
        clockOffset: offset(msg, receivedAt),
      };
    case "hint":
      return { ...state, hint: str(msg.hint) };
    case "guessed": {
      // A server may tell the guesser the word it found (PROTOCOL.md leaves it optional).
      const mine = state.you !== null && msg.playerId === state.you.id;
      return {
        ...state,
        word: mine && typeof msg.word === "string" ? msg.word : state.word,
        players: state.players.map((p) => (p.id === msg.playerId ? { ...p, guessed: true } : p)),
      };
    }
    case "turn_end": {
      const totals = new Map(list(msg.scores).map((s) => [s.id, num(s.total)]));
      return {
        ...state,
        phase: "turn_end",
        word: str(msg.word),
        choices: null,
        endsAt: num(msg.endsAt, 0),
        clockOffset: offset(msg, receivedAt),
        turnEnd: { word: str(msg.word), reason: str(msg.reason), scores: list(msg.scores) },
        players: state.players.map((p) =>
          totals.has(p.id) ? { ...p, score: /** @type {number} */ (totals.get(p.id)) } : p,
        ),
      };
    }
    case "game_over":
      return {
        ...state,
        phase: "game_over",
        choices: null,
        drawerId: null,
        endsAt: typeof msg.endsAt === "number" ? msg.endsAt : null,
        clockOffset: offset(msg, receivedAt),
        gameOver: {
          ranking: list(msg.ranking),
          leaderboard: list(msg.leaderboard),
          reason: str(msg.reason),
        },
      };
    case "lobby":
      return {
        ...state,
        phase: "lobby",
        round: 0,
        drawerId: null,
        endsAt: null,
        word: null,
        hint: "",
        wordLength: [],
        choices: null,
        turnEnd: null,
        gameOver: null,
        hostId: msg.hostId ?? state.hostId,
        settings: msg.settings ?? state.settings,
      };
    case "maintenance":
      return {
        ...state,
        room: {
          ...state.room,
          maintenance: { enabled: Boolean(msg.enabled), message: str(msg.message) },
        },
      };
    case "kick_vote":
      return {
        ...state,
        kickVotes: {
          ...state.kickVotes,
          [str(msg.targetId)]: { votes: num(msg.votes), needed: num(msg.needed) },
        },
      };
    default:
      return state;
  }
}

/** Milliseconds left until `endsAt` on the server's clock. @param {RoomState} state */
export function timeLeft(state, now = Date.now()) {
  if (state.endsAt === null) return 0;
  return Math.max(0, state.endsAt - (now + state.clockOffset));
}

/** @param {RoomState} state */
export function isDrawer(state) {
  return state.you !== null && state.drawerId === state.you.id;
}

/** @param {RoomState} state */
export function isHost(state) {
  return state.you !== null && state.hostId === state.you.id;
}

/** @param {RoomState} state @param {string|null} id */
export function playerName(state, id) {
  return state.players.find((p) => p.id === id)?.name ?? "Someone";
}

/** Players ordered by score (ties keep seat order), with their rank. @param {Player[]} list */
export function ranked(list) {
  const sorted = list
    .map((p, seat) => ({ p, seat }))
    .sort((a, b) => b.p.score - a.p.score || a.seat - b.seat)
    .map(({ p }) => p);
  /** @type {{player: Player, rank: number}[]} */
  const out = [];
  sorted.forEach((player, i) => {
    const prev = out[i - 1];
    const rank = prev && prev.player.score === player.score ? prev.rank : i + 1;
    out.push({ player, rank });
  });
  return out;
}

/** Turn a hint like "_ _ p _" into display text; falls back to word lengths. */
export function hintText(/** @type {string} */ hint, /** @type {number[]} */ lengths) {
  if (hint) return hint;
  return lengths.map((n) => Array(n).fill("_").join(" ")).join("   ");
}

/**
 * What a screen reader says for a hint: "5 letters, 2 revealed: c blank blank blank e"
 * rather than "underscore underscore ...".
 * @param {string} hint e.g. "c _ _ _ e" (words are three spaces apart)
 * @param {number[]} lengths letters per word
 */
export function hintSpeech(hint, lengths) {
  const words = hint.trim() ? hint.trim().split(/ {2,}/) : [];
  const counts = lengths.length > 0 ? lengths : words.map((w) => w.split(" ").length);
  if (counts.length === 0) return "";
  const letters =
    counts.length === 1
      ? `${counts[0]} letter${counts[0] === 1 ? "" : "s"}`
      : `${counts.length} words: ${counts.slice(0, -1).join(", ")} and ${counts.at(-1)} letters`;
  const shown = words.flatMap((w) => w.split(" ")).filter((c) => /[\p{L}\p{N}]/u.test(c)).length;
  if (shown === 0) return letters;
  const spelled = words
    .map((w) =>
      w
        .split(" ")
        .map((c) => (c === "_" ? "blank" : c))
        .join(" "),
    )
    .join(", next word: ");
  return `${letters}, ${shown} revealed: ${spelled}`;
}
