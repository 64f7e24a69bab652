"""The room state machine as pure unit tests with an injected clock and RNG."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from gameserver import game
from gameserver import protocol as p
from gameserver.game import Close, Outbound, Room, Send
from gameserver.protocol import ProtocolError
from gameserver.settings import GameSettings, Timing
from gameserver.testing import draw_message


class Game:
    """A room plus a fake clock and a per-member view of what each member received."""

    def __init__(self, **settings: Any) -> None:
        self.now = 1_000_000.0
        self.room = Room(
            GameSettings(**settings),
            timing=Timing(choose_seconds=15, turn_end_seconds=5, game_over_seconds=10),
            rng=random.Random(7),
            reconnect_grace=60,
        )
        self.received: dict[str, list[dict[str, Any]]] = {}
        self.closed: dict[str, int] = {}

    def deliver(self, out: list[Outbound]) -> None:
        for item in out:
            if isinstance(item, Send):
                targets = (
                    [m for m in self.room.members if self.room.members[m].connected]
                    if item.to is None
                    else list(item.to)
                )
                for target in targets:
                    self.received.setdefault(target, []).append(item.payload)
            elif isinstance(item, Close):
                self.closed[item.member_id] = item.code

    def join(self, name: str, spectator: bool = False) -> str:
        member = self.room.join(p.Join(name=name, spectator=spectator), self.now)
        self.received[member.id] = []
        self.deliver(self.room.joined(member.id))
        return member.id

    def do(self, member: str, cmd: p.Command) -> list[Outbound]:
        out = self.room.handle(member, cmd, self.now)
        self.deliver(out)
        return out

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.deliver(self.room.tick(self.now))

    def last(self, member: str, kind: str) -> dict[str, Any]:
        for msg in reversed(self.received.get(member, [])):
            if msg["type"] == kind:
                return msg
        raise AssertionError(f"{member} got no {kind}")

    def kinds(self, member: str) -> list[str]:
        return [m["type"] for m in self.received.get(member, [])]

    def choose(self) -> str:
        drawer = self.room.drawer_id
        assert drawer is not None
        self.do(drawer, p.ChooseWord(0))
        assert self.room.turn is not None and self.room.turn.word is not None
        return self.room.turn.word


def started(players: int = 3, **settings: Any) -> tuple[Game, list[str]]:
    g = Game(**settings)
    ids = [g.join(name) for name in ("Ann", "Bob", "Cyd", "Dee", "Eve")[:players]]
    g.do(ids[0], p.Start())
    return g, ids


def test_first_player_hosts_and_host_passes_on_when_leaving() -> None:
    g = Game()
    ann, bob = g.join("Ann"), g.join("Bob")
    assert g.room.host_id == ann
    g.deliver(g.room.leave(ann, g.now))
    assert g.room.host_id == bob
    assert g.last(bob, "players")["hostId"] == bob


def test_names_are_unique_case_insensitively_and_room_has_a_limit() -> None:
    g = Game(max_players=2)
    g.join("Zoë")
    with pytest.raises(ProtocolError) as err:
        g.join("ZOË")
    assert err.value.code == "name_taken"
    g.join("Bob")
    with pytest.raises(ProtocolError) as err:
        g.join("Cyd")
    assert err.value.code == "room_full"
    g.join("Watcher", spectator=True)  # spectators do not take seats
    with pytest.raises(ProtocolError) as err:
        g.join("watcher")  # spectators' names count too
    assert err.value.code == "name_taken"


@pytest.mark.parametrize(
    "raw",
    ["  Ольга  ", "小明", "أحمد", "Zoë\u00a0 the   Great", "🦊 Fox", "می\u200cخواهم", "👩\u200d🚀"],
)
def test_names_in_any_script_are_trimmed_and_kept(raw: str) -> None:
    name = p.clean_name(raw)
    assert name == " ".join(raw.split()) and 1 <= len(name) <= 24
    g = Game()
    assert g.room.members[g.join(name)].name == name


def test_names_that_look_the_same_are_the_same_name() -> None:
    g = Game()
    g.join(p.clean_name("Zo\u00eb"))  # precomposed ë
    with pytest.raises(ProtocolError) as err:
        g.join(p.clean_name("ZOE\u0308"))  # E + combining diaeresis
    assert err.value.code == "name_taken"
    for bad in ("a\u0000b", "bell\u0007", "flip\u202eme"):  # control, bidi override
        with pytest.raises(ProtocolError) as err:
            p.clean_name(bad)
        assert err.value.code == "name_invalid"


def test_only_host_in_lobby_changes_settings_and_ranges_are_checked() -> None:
    g = Game()
    ann, bob = g.join("Ann"), g.join("Bob")
    with pytest.raises(ProtocolError) as err:
        g.do(bob, p.ChangeSettings({"rounds": 2}))
    assert err.value.code == "not_host"
    with pytest.raises(ProtocolError) as err:
        g.do(ann, p.ChangeSettings({"rounds": 11}))
    assert err.value.code == "bad_message" and "rounds" in err.value.message
    g.do(ann, p.ChangeSettings({"rounds": 2, "drawTimeSeconds": 30, "customWords": ["Kopf"]}))
    assert g.last(bob, "settings")["settings"]["rounds"] == 2
    assert g.room.settings.custom_words == ("Kopf",)


def test_start_needs_two_players() -> None:
    g = Game()
    ann = g.join("Ann")
    with pytest.raises(ProtocolError) as err:
        g.do(ann, p.Start())
    assert err.value.code == "not_enough_players"


def test_word_goes_to_the_drawer_alone() -> None:
    g, (ann, bob, cyd) = started()
    watcher = g.join("Watcher", spectator=True)
    drawer = g.room.drawer_id
    assert drawer == ann
    offered = g.last(ann, "choose_word")["words"]
    assert len(offered) == 3
    for other in (bob, cyd, watcher):
        assert "choose_word" not in g.kinds(other)
    word = g.choose()
    assert g.last(ann, "turn")["word"] == word
    for other in (bob, cyd, watcher):
        text = json.dumps(g.received[other])
        assert word not in text, f"{other} saw the word"
        turn = g.last(other, "turn")
        assert "word" not in turn and turn["phase"] == "drawing"
        assert set(turn["hint"]) <= {"_", " ", "-"}
        assert "word" not in g.room.state(other, g.now)
    assert g.room.state(ann, g.now)["word"] == word


def test_choice_times_out_to_a_random_word() -> None:
    g, (ann, bob, _) = started()
    g.advance(15.1)
    assert g.room.phase == "drawing"
    assert g.room.turn is not None and g.room.turn.word in g.last(ann, "choose_word")["words"]


def test_whole_turn_scoring_close_guesses_and_guessed_chat() -> None:
    g, (ann, bob, cyd) = started()
    word = g.choose()
    g.advance(8)
    close = word[:-1] + ("x" if word[-1] != "x" else "y")
    g.do(bob, p.Chat(close))
    assert g.last(bob, "close_guess") == {"type": "close_guess", "text": close, "message": "close!"}
    # a near miss gives most of the word away, so nobody else sees it
    for other in (ann, cyd):
        assert "close_guess" not in g.kinds(other)
        assert not any(m.get("text") == close for m in g.received[other])
    g.do(bob, p.Chat(word.upper()))
    guessed = g.last(cyd, "guessed")
    assert guessed["playerId"] == bob and guessed["points"] > 50
    assert all(word.upper() != m.get("text") for m in g.received[cyd])
    # chat of a player who guessed reaches only the drawer and other finished players
    g.do(bob, p.Chat("so easy"))
    assert g.last(ann, "chat")["scope"] == "guessed"
    assert not any(m.get("text") == "so easy" for m in g.received[cyd])
    g.advance(40)
    g.do(cyd, p.Chat(word))
    end = g.last(bob, "turn_end")
    assert end["reason"] == "all_guessed" and end["word"] == word
    gained = {s["id"]: s["gained"] for s in end["scores"]}
    assert gained[bob] > gained[cyd] > 0
    assert gained[ann] == round((gained[bob] + gained[cyd]) / 2)


def test_turn_times_out_and_hints_reveal_letters() -> None:
    g, (ann, bob, cyd) = started(hints=3, draw_time_seconds=80)
    g.room.turn.choices = ["helicopter"]  # type: ignore[union-attr]
    g.choose()
    hints = []
    for _ in range(16):
        g.advance(5)
        hints = [m["hint"] for m in g.received[bob] if m["type"] == "hint"]
    assert len(hints) == 3
    assert [h.count("_") for h in hints] == [9, 8, 7]
    assert "hint" not in g.kinds(ann)
    end = g.last(bob, "turn_end")
    assert end["reason"] == "timeout"
    assert all(s["gained"] == 0 for s in end["scores"])


def test_drawer_leaving_ends_turn_and_nobody_scores() -> None:
    g, (ann, bob, cyd) = started()
    word = g.choose()
    g.do(bob, p.Chat(word))
    assert g.room.members[bob].score > 0
    g.deliver(g.room.leave(ann, g.now))
    end = g.last(cyd, "turn_end")
    assert end["reason"] == "drawer_left"
    assert g.room.members[bob].score == 0
    assert all(s["gained"] == 0 for s in end["scores"])


def test_every_connected_player_draws_once_per_round_then_game_over() -> None:
    g, ids = started(rounds=2)
    drawers = []
    while g.room.phase != "game_over":
        assert g.room.phase == "choosing"
        drawers.append(g.room.drawer_id)
        word = g.choose()
        for pid in ids:
            if pid != g.room.drawer_id:
                g.do(pid, p.Chat(word))
        g.advance(5.1)
    assert drawers == ids + ids
    over = g.last(ids[1], "game_over")
    assert over["reason"] == "finished"
    assert [r["place"] for r in over["ranking"]][0] == 1
    assert {e["name"] for e in over["leaderboard"]} == {"Ann", "Bob", "Cyd"}
    assert all(e["games"] == 1 for e in over["leaderboard"])
    g.advance(10.1)
    assert g.room.phase == "lobby"
    assert g.last(ids[0], "lobby")["hostId"] == ids[0]


def test_game_ends_when_fewer_than_two_players_remain() -> None:
    g, (ann, bob) = started(players=2)
    g.choose()
    g.deliver(g.room.leave(bob, g.now))
    assert g.last(ann, "game_over")["reason"] == "not_enough_players"


def test_only_the_drawer_draws_and_canvas_replays_after_undo_and_clear() -> None:
    g, (ann, bob, cyd) = started()
    with pytest.raises(ProtocolError) as err:
        g.do(ann, p.Draw(1, "brush", 3, 8, [(1, 1)]))
    assert err.value.code == "wrong_phase"
    g.choose()
    with pytest.raises(ProtocolError) as err:
        g.do(bob, p.Draw(1, "brush", 3, 8, [(1, 1)]))
    assert err.value.code == "not_drawer"
    g.do(ann, p.Draw(1, "brush", 3, 8, [(1, 1), (2, 2)]))
    g.do(ann, p.Draw(1, "eraser", 5, 30, [(3, 3)]))  # continuation keeps the first style
    assert g.last(bob, "draw") == draw_message(1, [(3, 3)], width=8)
    g.do(ann, p.Fill(2, 4, 10, 10))
    g.do(ann, p.Draw(3, "brush", 1, 2, [(5, 5)]))
    g.do(ann, p.Undo())
    assert g.last(cyd, "undo")["stroke"] == 3
    canvas = g.room.state(cyd, g.now)["canvas"]
    assert [op["stroke"] for op in canvas] == [1, 2]
    assert canvas[0]["points"] == [(1, 1), (2, 2), (3, 3)]
    late = g.join("Late")
    assert g.room.state(late, g.now)["canvas"] == canvas
    g.do(ann, p.Clear())
    assert g.room.state(late, g.now)["canvas"] == []


def test_vote_kick_needs_majority_and_closes_with_4001() -> None:
    g, ids = started(players=4)
    ann, bob, cyd, dee = ids
    with pytest.raises(ProtocolError) as err:
        g.do(bob, p.VoteKick(bob))
    assert err.value.code == "bad_target"
    g.do(bob, p.VoteKick(dee))
    vote = g.last(ann, "kick_vote")
    assert (vote["targetId"], vote["votes"], vote["needed"]) == (dee, 1, 2)
    assert dee in g.room.members
    g.do(cyd, p.VoteKick(dee))
    assert g.closed == {dee: 4001}
    assert dee not in g.room.members
    watcher = g.join("W", spectator=True)
    with pytest.raises(ProtocolError) as err:
        g.do(watcher, p.VoteKick(bob))
    assert err.value.code == "spectator"


def test_spectators_chat_but_never_guess_or_play() -> None:
    g, (ann, bob, cyd) = started()
    watcher = g.join("Watcher", spectator=True)
    word = g.choose()
    g.do(watcher, p.Chat("nice lines"))
    assert g.last(bob, "chat")["text"] == "nice lines"  # ordinary chat reaches everyone
    g.do(bob, p.Chat(word))
    g.do(watcher, p.Chat(word))
    g.do(watcher, p.Chat(word[:-1] + ("x" if word[-1] != "x" else "y")))
    assert g.room.members[watcher].score == 0
    assert [m["playerId"] for m in g.received[cyd] if m["type"] == "guessed"] == [bob]
    assert g.room.phase == "drawing"
    # the spectator typed the word: only those who know it (and the spectator) see that
    assert word not in json.dumps(g.received[cyd])
    for knows in (ann, bob, watcher):
        said = [m for m in g.received[knows] if m["type"] == "chat" and m["from"] == watcher]
        assert [m["scope"] for m in said[-2:]] == ["guessed", "guessed"]
    assert all(pl["id"] != watcher for pl in g.last(bob, "players")["players"])


def test_custom_words_are_shown_to_the_host_alone() -> None:
    g = Game()
    ann, bob = g.join("Ann"), g.join("Bob")
    watcher = g.join("Watcher", spectator=True)
    g.do(ann, p.ChangeSettings({"customWords": ["Kopf", "kubelet"], "customWordsOnly": True}))
    assert g.last(ann, "settings")["settings"]["customWords"] == ["Kopf", "kubelet"]
    for other in (bob, watcher):
        seen = g.last(other, "settings")["settings"]
        assert seen["customWords"] == [] and seen["customWordsCount"] == 2
        assert seen["customWordsOnly"] is True
        assert "kubelet" not in json.dumps(g.received[other])
        assert "kubelet" not in json.dumps(g.room.state(other, g.now))
    assert g.room.state(ann, g.now)["settings"]["customWords"] == ["Kopf", "kubelet"]
    assert g.room.settings_for(None)["customWords"] == []
    # the next host needs the list to edit it
    g.deliver(g.room.leave(ann, g.now))
    assert g.last(bob, "settings")["settings"]["customWords"] == ["Kopf", "kubelet"]
    assert "kubelet" not in json.dumps(g.received[watcher])


def test_fills_count_against_the_canvas_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(game, "MAX_CANVAS_POINTS", 3)
    g, (ann, bob, cyd) = started()
    g.choose()
    g.do(ann, p.Draw(1, "brush", 3, 8, [(1, 1), (2, 2)]))
    g.do(ann, p.Fill(2, 4, 10, 10))
    with pytest.raises(ProtocolError) as err:
        g.do(ann, p.Fill(3, 4, 20, 20))
    assert err.value.code == "bad_message" and "canvas is full" in err.value.message
    g.do(ann, p.Undo())  # frees the fill's place
    g.do(ann, p.Fill(3, 4, 20, 20))
    assert [op["stroke"] for op in g.room.state(bob, g.now)["canvas"]] == [1, 3]


def test_disconnect_keeps_seat_for_grace_then_frees_it() -> None:
    g, (ann, bob, cyd) = started()
    token = g.room.members[cyd].token
    g.deliver(g.room.disconnect(cyd, g.now))
    g.advance(30)
    again = g.room.join(p.Join(name="ignored", token=token), g.now)
    assert again.id == cyd and again.connected
    g.deliver(g.room.disconnect(cyd, g.now))
    g.advance(61)
    assert cyd not in g.room.members
    with pytest.raises(ProtocolError) as err:
        g.room.join(p.Join(name="Cyd", token=token), g.now)
    assert err.value.code == "bad_token"


def test_all_guessed_counts_connected_guessers_only() -> None:
    g, (ann, bob, cyd) = started()
    word = g.choose()
    g.deliver(g.room.disconnect(cyd, g.now))
    g.do(bob, p.Chat(word))
    assert g.last(bob, "turn_end")["reason"] == "all_guessed"


def test_snapshot_restore_resumes_turn_with_remaining_time_and_canvas() -> None:
    g, (ann, bob, cyd) = started()
    word = g.choose()
    g.do(ann, p.Draw(1, "brush", 3, 8, [(1, 1)]))
    g.advance(20)
    g.do(bob, p.Chat(word))
    snap = json.loads(json.dumps(g.room.snapshot(g.now)))
    canvas = json.loads(json.dumps(g.room.canvas))
    left = g.room.ends_at - g.now  # type: ignore[operator]
    later = g.now + 300
    fresh = Room(GameSettings(), rng=random.Random(1))
    fresh.restore(snap, canvas, later)
    assert fresh.phase == "drawing"
    assert fresh.ends_at == pytest.approx(later + left)
    assert fresh.members[bob].score == g.room.members[bob].score
    assert not fresh.members[bob].connected
    assert json.loads(json.dumps(fresh.state(bob, later)["canvas"])) == canvas
    resumed = fresh.join(p.Join(name="Bob", token=g.room.members[bob].token), later)
    assert resumed.id == bob
