// Dialogs over the board: word choice, "X is choosing", the turn's reveal, the podium.
import { byId, clear, h, show } from "../dom.js";
import { isDrawer, playerName } from "../state.js";
import { icon } from "../icons.js";

const REASONS = {
  all_guessed: "Everybody guessed it!",
  timeout: "Time is up!",
  drawer_left: "The drawer left the room.",
  not_enough_players: "Not enough players left.",
  finished: "",
};

let shownKey = "";

/**
 * @param {import("../state.js").RoomState} state
 * @param {(index: number) => void} onChoose
 */
export function renderOverlays(state, onChoose) {
  const drawer = isDrawer(state);
  /** @type {string|null} */
  let which = null;
  if (state.phase === "choosing") which = drawer && state.choices ? "choose" : "waiting";
  else if (state.phase === "turn_end" && state.turnEnd) which = "turn-end";
  else if (state.phase === "game_over" && state.gameOver) which = "podium";

  const key = JSON.stringify([
    which,
    state.choices,
    state.drawerId,
    state.turnEnd,
    state.gameOver,
    state.players.map((p) => p.name),
  ]);
  if (key === shownKey) return;
  shownKey = key;

  const overlay = byId("overlay");
  show(overlay, which !== null);
  // The podium needs more room than the board: it becomes a full-window dialog.
  overlay.classList.toggle("overlay--modal", which === "podium");
  // On phones the board is too small for a list: these become full-window dialogs there.
  overlay.classList.toggle("overlay--list", which === "choose" || which === "turn-end");
  for (const name of ["choose", "waiting", "turn-end", "podium"]) {
    show(byId(`overlay-${name}`), name === which);
  }
  if (which === "choose") renderChoose(state.choices ?? [], onChoose);
  if (which === "waiting") {
    const waiting = byId("waiting-text");
    clear(waiting);
    waiting.append(h("bdi", {}, playerName(state, state.drawerId)), " is choosing a word…");
  }
  if (which === "turn-end") renderTurnEnd(state);
  if (which === "podium") renderPodium(state);
}

/** @param {string[]} words @param {(index: number) => void} onChoose */
function renderChoose(words, onChoose) {
  const host = byId("choose-words");
  clear(host);
  words.forEach((word, index) => {
    host.append(
      h(
        "button",
        { type: "button", className: "btn btn--word", onclick: () => onChoose(index) },
        word,
      ),
    );
  });
  /** @type {HTMLElement|null} */ (host.querySelector("button"))?.focus();
}

/** @param {import("../state.js").RoomState} state */
function renderTurnEnd(state) {
  const te = /** @type {import("../state.js").TurnEnd} */ (state.turnEnd);
  const title = byId("turn-end-title");
  clear(title);
  title.append("The word was ", h("span", { className: "reveal-word" }, te.word));
  byId("turn-end-reason").textContent = REASONS[/** @type {keyof REASONS} */ (te.reason)] ?? "";
  const list = byId("turn-end-scores");
  clear(list);
  const rows = [...te.scores].sort((a, b) => b.gained - a.gained);
  for (const row of rows) {
    list.append(
      h(
        "li",
        { className: row.gained > 0 ? "gain gain--plus" : "gain" },
        h("bdi", { className: "gain__name" }, playerName(state, row.id)),
        h("span", { className: "gain__points" }, row.gained > 0 ? `+${row.gained}` : "0"),
      ),
    );
  }
}

/** @param {import("../state.js").RoomState} state */
function renderPodium(state) {
  const go = /** @type {import("../state.js").GameOver} */ (state.gameOver);
  byId("podium-reason").textContent =
    go.reason === "not_enough_players" ? "The game ended early: not enough players left." : "";
  const podium = byId("podium");
  clear(podium);
  const byPlace = [...go.ranking].sort((a, b) => a.place - b.place);
  const top = byPlace.filter((r) => r.place <= 3);
  // Visual order: 2nd, 1st, 3rd.
  const order = [
    top.find((r) => r.place === 2),
    top.find((r) => r.place === 1),
    top.find((r) => r.place === 3),
  ];
  for (const r of order) {
    if (!r) continue;
    const tied = top.filter((x) => x.place === r.place).map((x) => String(x.name));
    podium.append(
      h(
        "div",
        { className: `podium__step podium__step--${r.place}` },
        h(
          "span",
          { className: "podium__medal", "aria-hidden": "true" },
          icon(r.place === 1 ? "crown" : "trophy"),
        ),
        h(
          "span",
          { className: "podium__name" },
          ...tied.flatMap((name, i) => (i === 0 ? [h("bdi", {}, name)] : [" & ", h("bdi", {}, name)])),
        ),
        h("span", { className: "podium__score" }, `${r.score} points`),
        h("span", { className: "podium__block" }, `${r.place}`),
      ),
    );
  }
  const rest = byId("podium-rest");
  clear(rest);
  for (const r of byPlace.filter((x) => x.place > 3)) {
    rest.append(h("li", {}, `${r.place}. `, h("bdi", {}, r.name), ` — ${r.score} points`));
  }
  renderLeaderboard(byId("podium-leaderboard"), go.leaderboard);
}

/**
 * @param {HTMLElement} host
 * @param {{name: string, points: number, wins: number, games: number}[]} rows
 */
export function renderLeaderboard(host, rows) {
  clear(host);
  if (rows.length === 0) {
    host.append(
      h("li", { className: "muted leaderboard__empty" }, "No games finished yet — be the first!"),
    );
    return;
  }
  rows.slice(0, 10).forEach((row, i) => {
    host.append(
      h(
        "li",
        { className: "leaderboard__row" },
        h("span", { className: "leaderboard__rank" }, `${i + 1}`),
        h("bdi", { className: "leaderboard__name" }, String(row.name ?? "")),
        h("span", { className: "leaderboard__points" }, `${row.points ?? 0} pts`),
        h(
          "span",
          { className: "leaderboard__wins muted" },
          `${plural(row.wins ?? 0, "win")} · ${plural(row.games ?? 0, "game")}`,
        ),
      ),
    );
  });
}

/** @param {number} n @param {string} noun */
function plural(n, noun) {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}
