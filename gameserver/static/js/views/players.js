// The player list: rank, name, score, host crown, drawer pencil, who has guessed; and who
// is watching.
import { byId, clear, h, show } from "../dom.js";
import { ranked } from "../state.js";
import { icon } from "../icons.js";

/**
 * @param {import("../state.js").RoomState} state
 * @param {(id: string, name: string) => void} onKick
 * @param {number} watching spectators in the room (from /api/room), -1 when unknown
 */
export function renderPlayers(state, onKick, watching) {
  const listEl = byId("player-list");
  const inGame = !["lobby", "game_over"].includes(state.phase);
  const me = state.you;
  byId("players-count").textContent = `${state.players.length}/${state.settings.maxPlayers ?? "?"}`;
  clear(listEl);
  for (const { player, rank } of ranked(state.players)) {
    const isMe = me !== null && player.id === me.id;
    const drawing = inGame && (player.drawing || player.id === state.drawerId);
    const cls = ["player"];
    if (player.guessed && inGame) cls.push("player--guessed");
    if (drawing) cls.push("player--drawing");
    if (!player.connected) cls.push("player--offline");
    if (isMe) cls.push("player--me");
    const vote = state.kickVotes[player.id];
    const badges = h(
      "span",
      { className: "player__badges" },
      player.host || player.id === state.hostId
        ? h("span", { className: "badge badge--host", title: "Host" }, icon("crown", "host"))
        : null,
      drawing
        ? h(
            "span",
            { className: "badge badge--drawing", title: "Drawing" },
            icon("pencil", "drawing"),
          )
        : null,
      player.guessed && inGame
        ? h(
            "span",
            { className: "badge badge--ok", title: "Guessed the word" },
            icon("check", "guessed the word"),
          )
        : null,
      player.connected ? null : h("span", { className: "badge badge--muted" }, "offline"),
    );
    const kick =
      me && !me.spectator && !isMe
        ? h(
            "button",
            {
              type: "button",
              className: "player__kick",
              title: `Vote to kick ${player.name}`,
              "aria-label": `Vote to kick ${player.name}`,
              onclick: () => onKick(player.id, player.name),
            },
            vote ? `${vote.votes}/${vote.needed}` : icon("kick"),
          )
        : null;
    listEl.append(
      h(
        "li",
        { className: cls.join(" "), "data-player-id": player.id },
        h("span", { className: "player__rank" }, `#${rank}`),
        h(
          "span",
          { className: "player__main" },
          h("bdi", { className: "player__name" }, player.name),
          isMe ? h("span", { className: "player__you" }, " (you)") : null,
          h("span", { className: "player__score" }, `${player.score} points`),
        ),
        badges,
        kick,
      ),
    );
  }
  renderSpectators(state, watching);
}

/** @param {import("../state.js").RoomState} state @param {number} watching */
function renderSpectators(state, watching) {
  const me = state.you;
  // The server lists players only; spectators are a head count, and a spectator knows itself.
  const count = Math.max(watching, me?.spectator ? 1 : 0);
  const text = byId("spectators-text");
  clear(text);
  if (me?.spectator) {
    const others = count - 1;
    text.append(
      "You are watching as ",
      h("bdi", {}, me.name),
      others > 0 ? ` (and ${others} other${others === 1 ? "" : "s"})` : "",
    );
  } else if (count > 0) {
    text.append(`${count} watching`);
  }
  // Phones show the eye and the number alone; the sentence stays for screen readers.
  byId("spectators-count").textContent = String(count);
  show(byId("spectators-note"), count > 0);
}
