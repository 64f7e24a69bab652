// Entry point: wires the connection, the room state and the views together.
import { byId, h, show } from "./dom.js";
import { Connection, roomInfoUrl, socketUrl } from "./net.js";
import { Board } from "./board.js";
import { DrawInput } from "./drawinput.js";
import {
  initialState,
  reduce,
  isDrawer,
  isHost,
  timeLeft,
  playerName,
  hintText,
  hintSpeech,
} from "./state.js";
import { ChatLog, nameEl } from "./views/chat.js";
import { renderPlayers } from "./views/players.js";
import { Toolbar } from "./views/toolbar.js";
import { renderOverlays } from "./views/overlays.js";
import { Lobby, refreshGallery, refreshLeaderboard } from "./views/lobby.js";
import { JoinScreen, joinErrorText, rememberName } from "./views/join.js";
import { toast } from "./views/toasts.js";
import { hydrateIcons, icon } from "./icons.js";
import { Sounds } from "./sound.js";

hydrateIcons();

const SESSION_KEY = "sketchparty.session";
const BOARD_ONLY = new Set(["draw", "fill", "undo", "clear", "pong"]);
/** @type {Record<string, string>} */
const RECONNECT_REASONS = {
  restart: "The server is restarting.",
  drain: "The room is moving to a new server version.",
  restore: "The room is being restored from a backup.",
};
const PROTOCOL = 1;
const ROOM_CLOSED_TEXT = "This room has been closed. Thanks for playing!";

/** @typedef {{name: string, token: string, spectator: boolean}} Session */

/** @returns {Session|null} */
function loadSession() {
  try {
    const raw = sessionStorage.getItem(SESSION_KEY);
    const s = raw ? JSON.parse(raw) : null;
    return s && typeof s.name === "string" && typeof s.token === "string" ? s : null;
  } catch {
    return null;
  }
}

/** @param {Session|null} session */
function saveSession(session) {
  try {
    if (session) sessionStorage.setItem(SESSION_KEY, JSON.stringify(session));
    else sessionStorage.removeItem(SESSION_KEY);
  } catch {
    // Storage disabled: reconnects still work within this page's lifetime.
  }
}

let state = initialState();
/** @type {Session|null} */
let session = loadSession();
/** @type {{name: string, spectator: boolean}|null} */
let pendingJoin = null;
/** The page shows the room (it had a seat); the seat survives dropped connections. */
let joined = false;
/** The current socket got its `welcome`: until then errors answer the join. */
let seated = false;
/** Spectators in the room (from /api/room: the server lists players only); -1 unknown. */
let watching = -1;
/**
 * Chat lines this page sent during the turn and the server has not answered yet. The
 * server answers each, in order, with an echo, a near miss, a rate limit or `guessed`:
 * the line that `guessed` answers is the word (the server does not repeat it to us).
 * @type {string[]}
 */
let unanswered = [];
const sounds = new Sounds();

const conn = new Connection(socketUrl(), roomInfoUrl());
const board = new Board(/** @type {HTMLCanvasElement} */ (byId("board")));
const chat = new ChatLog();
const send = (/** @type {Record<string, unknown>} */ m) => conn.send(m);
const toolbar = new Toolbar({
  onUndo: () => send({ type: "undo" }),
  onClear: () => send({ type: "clear" }),
});
const input = new DrawInput(board, send, () => toolbar.value);
// Drawing on the board puts the folded palette (phones) away.
board.canvas.addEventListener("pointerdown", () => {
  if (toolbar.paletteOpen) toolbar.openPalette(false);
});
const lobby = new Lobby({
  onSettings: (settings) => send({ type: "settings", settings }),
  onStart: () => send({ type: "start" }),
});
const join = new JoinScreen((name, spectator) => {
  pendingJoin = { name, spectator };
  if (session && session.name !== name) session = null;
  if (conn.isOpen) sendJoin();
  else conn.start();
});

// Expose a read-only view for tests and for curious players in the console.
Object.defineProperty(window, "sketchParty", {
  value: Object.freeze({
    get state() {
      return state;
    },
    get connection() {
      return conn;
    },
    board,
  }),
});

function sendJoin() {
  if (session) {
    send({
      type: "join",
      name: session.name,
      spectator: session.spectator,
      token: session.token,
      protocol: PROTOCOL,
    });
  } else if (pendingJoin) {
    send({
      type: "join",
      name: pendingJoin.name,
      spectator: pendingJoin.spectator,
      protocol: PROTOCOL,
    });
  }
}

conn.addEventListener("open", () => {
  if (session || pendingJoin) sendJoin();
});

conn.addEventListener("status", (event) => {
  const { state: s, attempt, delayMs, reason } = /** @type {CustomEvent} */ (event).detail;
  const banner = byId("banner-connection");
  seated = false;
  if (!joined) {
    show(banner, false);
    if (s !== "reconnecting") return;
    if (pendingJoin || session) {
      join.error(`Cannot reach the room server. Retrying in ${(delayMs / 1000).toFixed(1)} s…`);
      join.setBusy(true);
    } else {
      conn.stop(); // nobody is waiting to join: connect again on the next click
    }
    return;
  }
  if (s === "reconnecting") {
    const why = RECONNECT_REASONS[reason] ?? "Connection lost.";
    const wait =
      delayMs > 0 ? ` Reconnecting in ${(delayMs / 1000).toFixed(1)} s` : " Reconnecting";
    byId("banner-connection-text").textContent = `${why}${wait} (attempt ${attempt})…`;
    show(banner, true);
    document.body.classList.add("is-offline");
    input.setEnabled(false);
  } else if (s === "open") {
    byId("banner-connection-text").textContent = "Connected. Rejoining your seat…";
  }
});

conn.addEventListener("kicked", () => {
  leaveRoom("You were voted out of the room.");
});

conn.addEventListener("closed", (event) => {
  const { message } = /** @type {CustomEvent} */ (event).detail;
  leaveRoom("");
  join.closed(message || ROOM_CLOSED_TEXT);
});

conn.addEventListener("replaced", () => {
  leaveRoom("You opened this room in another tab or device, which now has your seat.");
});

conn.addEventListener("message", (event) => {
  handle(/** @type {CustomEvent} */ (event).detail);
});

/** @param {any} msg */
function handle(msg) {
  const before = state;
  state = reduce(state, msg, Date.now());
  trackGuesses(before, msg);
  switch (msg.type) {
    case "welcome":
      onWelcome(before, msg);
      break;
    case "error":
      onError(msg);
      break;
    case "draw":
    case "fill":
      // The drawer painted its own strokes already; the echo is only an acknowledgement.
      if (!isDrawer(state)) board.apply(msg);
      break;
    case "undo":
      if (typeof msg.stroke === "number") board.undo(msg.stroke);
      break;
    case "clear":
      board.apply({ type: "clear" });
      break;
    case "game_started":
      board.load([]);
      chat.system(
        `The game has started: ${msg.rounds} round${msg.rounds === 1 ? "" : "s"}. Good luck!`,
        "turn",
      );
      break;
    case "turn":
      onTurn(before, msg);
      break;
    case "players":
      void refreshWatching();
      break;
    case "chat":
      chat.message(String(msg.name ?? playerName(state, msg.from)), String(msg.text ?? ""), {
        guessed: msg.scope === "guessed",
        self: state.you?.id === msg.from,
      });
      break;
    case "close_guess":
      chat.system(`“${msg.text}” is close!`, "close");
      break;
    case "guessed": {
      const me = state.you?.id === msg.playerId;
      chat.system(
        me
          ? `You guessed the word! +${msg.points} points`
          : [nameEl(String(msg.name)), ` guessed the word! (+${msg.points})`],
        "success",
      );
      sounds.play("guessed");
      break;
    }
    case "turn_end":
      chat.system(["The word was “", h("bdi", {}, String(msg.word)), "”."], "reveal");
      sounds.play("reveal");
      break;
    case "game_over": {
      const winners = (msg.ranking ?? []).filter((/** @type {any} */ r) => r.place === 1);
      const names = winners.map((/** @type {any} */ r) => String(r.name));
      /** @type {(string|Node)[]} */
      let parts = ["Game over!"];
      if (names.length === 1)
        parts = ["Game over! ", nameEl(names[0]), ` wins with ${winners[0].score} points.`];
      else if (names.length > 1)
        parts = [
          "Game over! A tie between ",
          ...names.flatMap((n, i) => (i === 0 ? [nameEl(n)] : [" and ", nameEl(n)])),
          ".",
        ];
      chat.system(parts, "turn");
      break;
    }
    case "announce":
      toast(String(msg.text ?? ""), msg.level === "warning" ? "warning" : "info", "Announcement");
      chat.system(`Announcement: ${msg.text}`, msg.level === "warning" ? "warning" : "info");
      break;
    case "maintenance":
      if (msg.enabled)
        toast(msg.message || "The room is now in maintenance.", "warning", "Maintenance");
      else toast("Maintenance is over. Have fun!", "success");
      break;
    case "reconnect":
      conn.expectRestart(Number(msg.retryAfterMs) || 0, String(msg.reason ?? "restart"));
      break;
    case "kick_vote":
      chat.system(
        ["Vote to kick ", nameEl(playerName(state, msg.targetId)), `: ${msg.votes}/${msg.needed}`],
        "warning",
      );
      break;
    default:
      break;
  }
  if (before.phase !== state.phase && state.phase === "lobby" && joined) {
    refreshLobbyHistory();
  }
  // Drawing traffic (up to 60 messages a second) only touches the board.
  if (!BOARD_ONLY.has(msg.type)) render();
}

/** @param {import("./state.js").RoomState} before @param {any} msg */
function onWelcome(before, msg) {
  const resumed = joined || (session !== null && msg.you?.token === session.token);
  joined = true;
  seated = true;
  pendingJoin = null;
  session = { name: msg.you.name, token: msg.you.token, spectator: Boolean(msg.you.spectator) };
  saveSession(session);
  rememberName(msg.you.name);
  conn.markHealthy();
  board.palette = state.palette;
  board.load(Array.isArray(msg.state?.canvas) ? msg.state.canvas : []);
  input.resetStrokeIds();
  toolbar.setPalette(state.palette);
  join.setBusy(false);
  join.error("");
  show(byId("banner-connection"), false);
  document.body.classList.remove("is-offline");
  if (resumed && before.you?.id === msg.you.id)
    chat.system("Reconnected. Welcome back!", "success");
  else if (before.you) chat.system("Your old seat had expired: you joined again.", "warning");
  else
    chat.system(
      [
        "You joined “",
        nameEl(state.room.name),
        `”${state.you?.spectator ? " as a spectator: you can chat, but your guesses do not count" : ""}.`,
      ],
      "info",
    );
  refreshLobbyHistory();
  void refreshWatching();
}

/**
 * Keep `unanswered` in step with the server's answers to our chat lines, and learn the
 * word from the line that was a correct guess.
 * @param {import("./state.js").RoomState} before @param {any} msg
 */
function trackGuesses(before, msg) {
  const myId = state.you?.id;
  if (msg.type === "turn" || msg.type === "turn_end" || msg.type === "welcome") {
    unanswered = [];
  } else if (msg.type === "chat" && msg.from === myId) {
    unanswered.shift();
  } else if (msg.type === "close_guess") {
    unanswered.shift();
  } else if (msg.type === "error" && msg.code === "rate_limited") {
    unanswered.shift();
  } else if (msg.type === "guessed" && msg.playerId === myId) {
    const typed = unanswered.shift();
    if (state.word === null && typeof typed === "string") state = { ...state, word: typed };
    unanswered = [];
  }
  void before;
}

/** @param {any} msg */
function onError(msg) {
  const code = String(msg.code ?? "");
  if (!seated) {
    if (code === "bad_token") {
      const name = session?.name ?? pendingJoin?.name;
      const spectator = session?.spectator ?? pendingJoin?.spectator ?? false;
      session = null;
      saveSession(null);
      if (name) {
        pendingJoin = { name, spectator };
        sendJoin();
        return;
      }
    }
    // The seat is gone and joining again failed (say the name was taken meanwhile).
    const text = joinErrorText(code, String(msg.message ?? ""));
    if (joined) {
      leaveRoom(text);
    } else {
      session = null;
      saveSession(null);
      pendingJoin = null;
      showJoin();
      join.error(text);
    }
    return;
  }
  if (code === "rate_limited") toast("Slow down a little: you are sending too fast.", "warning");
  else if (code === "not_enough_players") toast("You need at least 2 players to start.", "warning");
  else if (["wrong_phase", "not_drawer", "draining"].includes(code))
    console.info("ignored:", msg.message);
  else toast(String(msg.message ?? "Something went wrong."), "error");
}

/** @param {import("./state.js").RoomState} before @param {any} msg */
function onTurn(before, msg) {
  const drawer = playerName(state, msg.drawerId);
  const mine = isDrawer(state);
  if (msg.phase === "choosing") {
    board.load([]);
    input.resetStrokeIds();
    if (mine) sounds.play("turn");
    if (msg.round !== before.round || before.phase === "lobby")
      announce(`Round ${msg.round}`, `of ${msg.rounds}`);
    chat.system(
      mine ? "Your turn! Choose a word to draw." : `${drawer} is choosing a word…`,
      "turn",
    );
  } else if (msg.phase === "drawing") {
    input.resetStrokeIds();
    if (mine) {
      announce("Your turn to draw!", h("bdi", {}, String(msg.word ?? "")));
    } else {
      announce([nameEl(drawer), " is drawing"], "Type your guesses in the chat");
      sounds.play("turn");
    }
    chat.system(
      mine ? ["Draw “", h("bdi", {}, String(msg.word)), "”!"] : [nameEl(drawer), " is drawing now."],
      "turn",
    );
  }
}

let announceTimer = 0;
/**
 * A big notice over the board for two seconds; names come as <bdi> nodes.
 * @param {string|Node|(string|Node)[]} title @param {string|Node} subtitle
 */
function announce(title, subtitle) {
  const el = byId("announce");
  el.replaceChildren(
    h("strong", {}, ...(Array.isArray(title) ? title : [title])),
    h("span", {}, subtitle),
  );
  show(el, true);
  el.classList.remove("announce--pop");
  void el.offsetWidth;
  el.classList.add("announce--pop");
  clearTimeout(announceTimer);
  announceTimer = window.setTimeout(() => show(el, false), 2200);
}

function refreshLobbyHistory() {
  void refreshLeaderboard();
  void refreshGallery(state.palette);
}

function showJoin() {
  document.body.classList.remove("in-room");
  show(byId("screen-join"), true);
  show(byId("screen-room"), false);
  join.setBusy(false);
  void join.refreshRoom();
  join.focus();
}

/** @param {string} message */
function leaveRoom(message) {
  joined = false;
  seated = false;
  session = null;
  pendingJoin = null;
  saveSession(null);
  state = initialState();
  input.setEnabled(false);
  show(byId("banner-connection"), false);
  showJoin();
  if (message) join.error(message);
}

function render() {
  if (!joined) return;
  show(byId("screen-join"), false);
  show(byId("screen-room"), true);
  const drawer = isDrawer(state);
  const drawing = state.phase === "drawing";
  const inLobby = state.phase === "lobby";
  const spectator = Boolean(state.you?.spectator);
  const guessed = !drawer && Boolean(state.players.find((p) => p.id === state.you?.id)?.guessed);
  document.body.classList.add("in-room");
  document.body.dataset.phase = state.phase;
  document.body.classList.toggle("is-drawer", drawer && drawing);

  byId("room-name").textContent = state.room.name;
  const m = state.room.maintenance;
  byId("banner-maintenance-text").textContent = m.message
    ? `Maintenance: ${m.message}`
    : "This room is in maintenance: new players cannot join right now.";
  show(byId("banner-maintenance"), m.enabled);

  show(byId("lobby"), inLobby);
  // The lobby scrolls inside the window on small screens: keyboards must reach it too.
  byId("center").tabIndex = inLobby ? 0 : -1;
  show(byId("game"), !inLobby);
  show(byId("toolbar"), drawer && drawing);
  if (!(drawer && drawing) && toolbar.paletteOpen) toolbar.openPalette(false);
  input.setEnabled(drawer && drawing && conn.isOpen);

  byId("round-label").textContent = inLobby
    ? "Lobby"
    : state.phase === "game_over"
      ? "Game over"
      : `Round ${state.round} of ${state.rounds}`;
  renderWord(drawer, drawing, guessed);

  const chatInput = /** @type {HTMLInputElement} */ (byId("chat-input"));
  chatInput.placeholder = chatPlaceholder(drawer, drawing, guessed, spectator);

  renderPlayers(
    state,
    (id, name) => {
      if (window.confirm(`Vote to kick ${name}?`)) send({ type: "vote_kick", target: id });
    },
    watching,
  );
  renderOverlays(state, (index) => send({ type: "choose_word", index }));
  lobby.render(state);
  renderTimer();
}

/** The word, or the hint, in the top bar; spoken as words, not underscores. */
function renderWord(
  /** @type {boolean} */ drawer,
  /** @type {boolean} */ drawing,
  /** @type {boolean} */ guessed,
) {
  const wordEl = byId("word-label");
  const known = drawing && state.word !== null && (drawer || guessed);
  wordEl.classList.toggle("word-label--secret", known);
  wordEl.classList.toggle("word-label--hint", drawing && !known);
  let speech = "";
  let lengths = "";
  if (known) {
    wordEl.textContent = String(state.word);
    speech = drawer ? `Your word to draw: ${state.word}` : `You guessed it: ${state.word}`;
    lengths = drawer ? "" : "You guessed it!";
  } else if (drawing) {
    wordEl.textContent = hintText(state.hint, state.wordLength);
    speech = `Word to guess: ${hintSpeech(state.hint, state.wordLength)}`;
    lengths = state.wordLength.length > 0 ? `(${state.wordLength.join(", ")})` : "";
  } else if (state.phase === "turn_end" && state.turnEnd) {
    wordEl.textContent = state.turnEnd.word;
    speech = `The word was ${state.turnEnd.word}`;
  } else if (state.phase === "choosing") {
    wordEl.textContent = drawer ? "Pick a word!" : "Waiting for a word…";
  } else if (state.phase === "lobby") {
    wordEl.textContent = isHost(state) ? "Start when ready" : "Waiting to start";
  } else {
    wordEl.textContent = "";
  }
  wordEl.dir = known || state.phase === "turn_end" ? "auto" : "";
  byId("word-lengths").textContent = lengths;
  const speechEl = byId("word-speech");
  const spoken = speech || wordEl.textContent;
  if (speechEl.textContent !== spoken) speechEl.textContent = spoken;
}

/** What the chat box invites you to type, for who you are right now. */
function chatPlaceholder(
  /** @type {boolean} */ drawer,
  /** @type {boolean} */ drawing,
  /** @type {boolean} */ guessed,
  /** @type {boolean} */ spectator,
) {
  if (spectator)
    return drawing ? "Chat while you watch (guesses do not count)…" : "Chat while you watch…";
  if (!drawing) return "Say something nice…";
  if (drawer) return "Chat with those who guessed it…";
  if (guessed) return "You got it! Chat with the others who did…";
  return "Type your guess here…";
}

async function refreshWatching() {
  try {
    const response = await fetch("/api/room", { cache: "no-store" });
    if (!response.ok) return;
    const room = await response.json();
    const count = typeof room.spectators === "number" ? room.spectators : -1;
    if (count !== watching) {
      watching = count;
      render();
    }
  } catch {
    // The next players update or the periodic refresh tries again.
  }
}
// Spectators joining or leaving send no message: look again now and then.
setInterval(() => {
  if (joined && !document.hidden) void refreshWatching();
}, 10_000);

let lastTick = -1;
function renderTimer() {
  const timer = byId("timer");
  const active =
    ["choosing", "drawing", "turn_end", "game_over"].includes(state.phase) && state.endsAt !== null;
  show(timer, active && joined);
  if (!active) return;
  const seconds = Math.ceil(timeLeft(state) / 1000);
  byId("timer-value").textContent = String(seconds);
  timer.setAttribute("aria-label", `${seconds} seconds left`);
  const urgent = state.phase === "drawing" && seconds <= 10;
  timer.classList.toggle("timer--urgent", urgent);
  if (urgent && seconds > 0 && seconds !== lastTick && (seconds === 10 || seconds <= 5))
    sounds.play("tick");
  lastTick = seconds;
}
setInterval(renderTimer, 250);

byId("chat-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const field = /** @type {HTMLInputElement} */ (byId("chat-input"));
  const text = field.value.trim();
  if (!text) return;
  if (send({ type: "chat", text: text.slice(0, 200) })) {
    field.value = "";
    if (state.phase === "drawing") unanswered.push(text.slice(0, 200));
  } else toast("Not connected right now: your message was not sent.", "warning");
});

byId("share-button").addEventListener("click", async () => {
  const url = `${location.origin}${location.pathname}`;
  if (typeof navigator.share === "function") {
    // Phones open their share sheet (messengers, mail...); the clipboard is the fallback.
    try {
      await navigator.share({
        title: document.title,
        text: `Come draw and guess with me in “${state.room.name}”!`,
        url,
      });
      return;
    } catch (err) {
      if (err instanceof DOMException && err.name === "AbortError") return;
    }
  }
  try {
    await navigator.clipboard.writeText(url);
    toast(`Room link copied: ${url}`, "success");
  } catch {
    const area = document.createElement("textarea");
    area.value = url;
    document.body.append(area);
    area.select();
    const ok = document.execCommand("copy");
    area.remove();
    toast(ok ? `Room link copied: ${url}` : `Share this link: ${url}`, ok ? "success" : "info");
  }
});

function leave() {
  send({ type: "leave" });
  conn.stop();
  leaveRoom("");
}

const leaveDialog = /** @type {HTMLDialogElement} */ (byId("leave-dialog"));
byId("leave-button").addEventListener("click", () => {
  // Mid-game, leaving gives up the seat and its points: ask first (it sits next to Share).
  if (state.phase === "lobby" || state.you?.spectator) {
    leave();
    return;
  }
  leaveDialog.returnValue = "";
  leaveDialog.showModal();
});
leaveDialog.addEventListener("close", () => {
  if (leaveDialog.returnValue === "leave") leave();
  else byId("leave-button").focus();
});

const soundButton = byId("sound-button");
function renderSound() {
  // A toggle button: its name stays "Sound", aria-pressed tells whether it is on.
  soundButton.setAttribute("aria-pressed", String(!sounds.muted));
  soundButton.title = sounds.muted ? "Sound cues are off" : "Sound cues are on";
  soundButton.querySelector("svg")?.replaceWith(icon(sounds.muted ? "mute" : "sound"));
}
soundButton.addEventListener("click", () => {
  sounds.setMuted(!sounds.muted);
  renderSound();
});
renderSound();
// Audio may only start after a tap or a key press.
for (const type of ["pointerdown", "keydown"])
  document.addEventListener(type, () => sounds.unlock(), { capture: true });

document.addEventListener("keydown", (e) => {
  if (!joined || !isDrawer(state) || state.phase !== "drawing") return;
  const target = /** @type {HTMLElement} */ (e.target);
  if (target && ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName)) return;
  if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "z") {
    e.preventDefault();
    send({ type: "undo" });
  } else if (toolbar.handleKey(e)) {
    e.preventDefault();
  }
});

window.addEventListener("online", () => conn.retryNow());

if (session) {
  // A reload keeps the seat: resume with the stored token.
  join.setBusy(true);
  conn.start();
} else {
  showJoin();
}
void join.refreshRoom();
