"""The controller's pure decisions: when a room needs a reconcile, and the retry back-off."""

from __future__ import annotations

from gameroom_operator.controller import RoomState, needs_reconcile, retry_delay


def room(generation: int, applied: int | None = None, refused: int | None = None) -> RoomState:
    state = RoomState(namespace="games", name="lobby", uid="u-1", generation=generation)
    state.applied_generation = applied
    state.refused_generation = refused
    return state


def test_a_room_not_yet_applied_in_this_run_needs_a_reconcile() -> None:
    # At start-up every room is listed once: each is reconciled once (Kopf's "resume").
    assert needs_reconcile(room(1))
    assert needs_reconcile(room(4))


def test_an_applied_generation_needs_nothing_until_the_spec_changes() -> None:
    # Status writes, label edits and repeated events leave the generation as it is.
    assert not needs_reconcile(room(3, applied=3))
    assert needs_reconcile(room(4, applied=3))


def test_a_refused_spec_waits_for_the_users_next_change() -> None:
    assert not needs_reconcile(room(5, applied=4, refused=5))
    assert needs_reconcile(room(6, applied=4, refused=5))


def test_retries_back_off_from_5_seconds_to_a_minute() -> None:
    assert [retry_delay(n) for n in range(1, 7)] == [5.0, 10.0, 20.0, 40.0, 60.0, 60.0]
