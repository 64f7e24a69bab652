// The join screen: room name and head count, nickname, play or spectate.
import { byId, show } from "../dom.js";

const NAME_KEY = "sketchparty.nickname";

/** Messages for the errors a join can get, saying what to do next. */
const JOIN_ERRORS = {
  room_full: "This room is full. Wait for a seat to free up, or watch as a spectator.",
  maintenance: "The room is in maintenance right now. Please try again in a few minutes.",
  name_taken: "Someone here already uses that nickname. Please pick another one.",
  name_invalid: "Your nickname needs 1 to 24 characters (letters, digits, emoji…).",
  draining: "This room is closing for an update. Try again in a moment.",
};

/** @param {string} code @param {string} message */
export function joinErrorText(code, message) {
  if (code === "maintenance" && message.trim()) {
    const detail = message.trim().replace(/[.;\s]+$/, "");
    return `This room is in maintenance: ${detail}. Please try again in a few minutes.`;
  }
  return (
    JOIN_ERRORS[/** @type {keyof JOIN_ERRORS} */ (code)] ?? message ?? "Could not join the room."
  );
}

export function rememberedName() {
  try {
    return localStorage.getItem(NAME_KEY) ?? "";
  } catch {
    return "";
  }
}

/** @param {string} name */
export function rememberName(name) {
  try {
    localStorage.setItem(NAME_KEY, name);
  } catch {
    // Private mode: nothing to remember, nothing lost.
  }
}

export class JoinScreen {
  /** @param {(name: string, spectator: boolean) => void} onJoin */
  constructor(onJoin) {
    this.input = /** @type {HTMLInputElement} */ (byId("join-name"));
    this.input.value = rememberedName();
    this.busy = false;
    /** Set once the room is gone for good: nothing to join any more. */
    this.isClosed = false;
    const submit = (/** @type {boolean} */ spectator) => {
      const name = this.input.value.trim().replace(/\s+/g, " ");
      if (name.length < 1 || name.length > 24) {
        this.error(JOIN_ERRORS.name_invalid);
        this.input.focus();
        return;
      }
      rememberName(name);
      this.error("");
      this.setBusy(true);
      onJoin(name, spectator);
    };
    byId("join-form").addEventListener("submit", (e) => {
      e.preventDefault();
      submit(false);
    });
    byId("join-spectate").addEventListener("click", () => submit(true));
  }

  focus() {
    this.input.focus();
  }

  /** @param {boolean} busy */
  setBusy(busy) {
    this.busy = busy || this.isClosed;
    for (const id of ["join-play", "join-spectate"]) {
      /** @type {HTMLButtonElement} */ (byId(id)).disabled = this.busy;
    }
  }

  /** The room was deleted: say so, and offer nothing to click that could only fail.
   * @param {string} text */
  closed(text) {
    this.isClosed = true;
    this.error(text);
    this.setBusy(true);
    this.input.disabled = true;
    byId("join-room-count").textContent = "closed";
    document.body.classList.add("room-closed");
  }

  /** @param {string} text */
  error(text) {
    const el = byId("join-error");
    el.textContent = text;
    show(el, text !== "");
    if (text) this.setBusy(false);
  }

  async refreshRoom() {
    try {
      const response = await fetch("/api/room", { cache: "no-store" });
      if (response.status === 410 || response.status === 404) {
        const body = await response.json().catch(() => null);
        const said = body && typeof body.message === "string" ? body.message.trim() : "";
        this.closed(said || "This room no longer exists. Thanks for playing!");
        return;
      }
      if (!response.ok) throw new Error(`HTTP ${response.status}`);
      const room = await response.json();
      byId("join-room-name").textContent = String(room.name ?? "room");
      const max = room.maxPlayers ?? room.settings?.maxPlayers;
      const spectators = room.spectators ? ` · ${room.spectators} watching` : "";
      byId("join-room-count").textContent =
        `${room.players ?? 0}/${max ?? "?"} players${spectators}`;
      document.title = `${room.name ?? "Room"} · Sketch Party`;
      if (room.maintenance?.enabled) {
        this.error(joinErrorText("maintenance", String(room.maintenance.message ?? "")));
      } else if (typeof max === "number" && room.players >= max) {
        this.error(JOIN_ERRORS.room_full);
      }
    } catch (err) {
      byId("join-room-count").textContent = "room info unavailable";
      console.warn("could not load /api/room", err);
    }
  }
}
