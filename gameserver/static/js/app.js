// Entry point: wires the connection, the room state and the views together.
import { byId, show } from "./dom.js";
import { Connection, socketUrl } from "./net.js";
import { Board } from "./board.js";
import { DrawInput } from "./drawinput.js";
import { initialState, reduce, isDrawer, isHost, timeLeft, playerName, hintText } from "./state.js";
import { ChatLog } from "./views/chat.js";
import { renderPlayers } from "./views/players.js";
import { Toolbar } from "./views/toolbar.js";
import { renderOverlays } from "./views/overlays.js";
import { Lobby, refreshGallery, refreshLeaderboard } from "./views/lobby.js";
import { JoinScreen, joinErrorText, rememberName } from "./views/join.js";
import { toast } from "./views/toasts.js";
import { hydrateIcons } from "./icons.js";

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

const conn = new Connection(socketUrl());
const board = new Board(/** @type {HTMLCanvasElement} */ (byId("board")));
const chat = new ChatLog();
const send = (/** @type {Record<string, unknown>} */ m) => conn.send(m);
const toolbar = new Toolbar({
  onUndo: () => send({ type: "undo" }),
  onClear: () => send({ type: "clear" }),
});
const input = new DrawInput(board, send, () => toolbar.value);
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
          : `${msg.name} guessed the word! (+${msg.points})`,
        "success",
      );
      break;
    }
    case "turn_end":
      chat.system(`The word was “${msg.word}”.`, "reveal");
      break;
    case "game_over": {
      const winners = (msg.ranking ?? []).filter((/** @type {any} */ r) => r.place === 1);
      const names = winners.map((/** @type {any} */ r) => String(r.name));
      let text = "Game over!";
      if (names.length === 1) text = `Game over! ${names[0]} wins with ${winners[0].score} points.`;
      else if (names.length > 1) text = `Game over! A tie between ${names.join(" and ")}.`;
      chat.system(text, "turn");
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
        `Vote to kick ${playerName(state, msg.targetId)}: ${msg.votes}/${msg.needed}`,
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
      `You joined “${state.room.name}”${state.you?.spectator ? " as a spectator" : ""}.`,
      "info",
    );
  refreshLobbyHistory();
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
    if (msg.round !== before.round || before.phase === "lobby")
      announce(`Round ${msg.round}`, `of ${msg.rounds}`);
    chat.system(
      mine ? "Your turn! Choose a word to draw." : `${drawer} is choosing a word…`,
      "turn",
    );
  } else if (msg.phase === "drawing") {
    input.resetStrokeIds();
    if (mine) {
      announce("Your turn to draw!", String(msg.word ?? ""));
    } else {
      announce(`${drawer} is drawing`, "Type your guesses in the chat");
    }
    chat.system(mine ? `Draw “${msg.word}”!` : `${drawer} is drawing now.`, "turn");
  }
}

let announceTimer = 0;
/** @param {string} title @param {string} subtitle */
function announce(title, subtitle) {
  const el = byId("announce");
  el.replaceChildren();
  const t = document.createElement("strong");
  t.textContent = title;
  const s = document.createElement("span");
  s.textContent = subtitle;
  el.append(t, s);
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
  document.body.dataset.phase = state.phase;

  byId("room-name").textContent = state.room.name;
  const m = state.room.maintenance;
  byId("banner-maintenance-text").textContent = m.message
    ? `Maintenance: ${m.message}`
    : "This room is in maintenance: new players cannot join right now.";
  show(byId("banner-maintenance"), m.enabled);

  show(byId("lobby"), inLobby);
  show(byId("game"), !inLobby);
  show(byId("toolbar"), drawer && drawing);
  input.setEnabled(drawer && drawing && conn.isOpen);

  byId("round-label").textContent = inLobby
    ? "Lobby"
    : state.phase === "game_over"
      ? "Game over"
      : `Round ${state.round} of ${state.rounds}`;
  const wordEl = byId("word-label");
  wordEl.classList.toggle("word-label--secret", drawer && state.word !== null && drawing);
  wordEl.classList.toggle("word-label--hint", !drawer && drawing);
  if (drawing && drawer && state.word) wordEl.textContent = state.word;
  else if (drawing) wordEl.textContent = hintText(state.hint, state.wordLength);
  else if (state.phase === "turn_end" && state.turnEnd) wordEl.textContent = state.turnEnd.word;
  else if (state.phase === "choosing")
    wordEl.textContent = drawer ? "Pick a word!" : "Waiting for a word…";
  else if (inLobby) wordEl.textContent = isHost(state) ? "Start when ready" : "Waiting to start";
  else wordEl.textContent = "";
  byId("word-lengths").textContent =
    drawing && state.wordLength.length > 0 ? `(${state.wordLength.join(", ")})` : "";

  const chatInput = /** @type {HTMLInputElement} */ (byId("chat-input"));
  chatInput.placeholder =
    drawing && !drawer && !state.you?.spectator ? "Type your guess here…" : "Say something nice…";

  renderPlayers(state, (id, name) => {
    if (window.confirm(`Vote to kick ${name}?`)) send({ type: "vote_kick", target: id });
  });
  renderOverlays(state, (index) => send({ type: "choose_word", index }));
  lobby.render(state);
  renderTimer();
}

function renderTimer() {
  const timer = byId("timer");
  const active =
    ["choosing", "drawing", "turn_end", "game_over"].includes(state.phase) && state.endsAt !== null;
  show(timer, active && joined);
  if (!active) return;
  const seconds = Math.ceil(timeLeft(state) / 1000);
  byId("timer-value").textContent = String(seconds);
  timer.setAttribute("aria-label", `${seconds} seconds left`);
  timer.classList.toggle("timer--urgent", state.phase === "drawing" && seconds <= 10);
}
setInterval(renderTimer, 250);

byId("chat-form").addEventListener("submit", (e) => {
  e.preventDefault();
  const field = /** @type {HTMLInputElement} */ (byId("chat-input"));
  const text = field.value.trim();
  if (!text) return;
  if (send({ type: "chat", text: text.slice(0, 200) })) field.value = "";
  else toast("Not connected right now: your message was not sent.", "warning");
});

byId("share-button").addEventListener("click", async () => {
  const url = `${location.origin}${location.pathname}`;
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

byId("leave-button").addEventListener("click", () => {
  send({ type: "leave" });
  conn.stop();
  leaveRoom("");
});

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
