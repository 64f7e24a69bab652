"""spec.rollout.liveSettings, the pure parts: what the settings hash covers, what a revision
records and renders, and when the room reports what the spec asks."""

from __future__ import annotations

from typing import Any

import pytest
from gameroom_operator.live_settings import differences, digest
from gameroom_operator.render import Room, config_hash, game_config, live_settings
from gameroom_operator.rollout import (
    Revision,
    revision_from,
    revision_manifest,
    settings_of,
)

LIVE = {"rollout": {"liveSettings": True}}
OFF = {"rollout": {"liveSettings": False}}


def hash_of(spec: dict[str, Any]) -> str:
    return config_hash(Room(name="r", namespace="ns", uid="u", spec=spec))


@pytest.mark.parametrize(
    ("before", "after", "restarts"),
    [
        (OFF, {**OFF, "game": {"rounds": 5}}, True),  # off: a restart
        (OFF, {**OFF, "rateLimits": {"chatBurst": 9}}, True),
        ({}, {"game": {"rounds": 5}}, False),  # on by default
        (LIVE, {**LIVE, "game": {"rounds": 5}}, False),
        (LIVE, {**LIVE, "rateLimits": {"chatBurst": 9}}, False),
        (LIVE, {**LIVE, "maintenance": {"enabled": True}}, False),
        (OFF, LIVE, True),  # switching it on is one restart
        ({}, LIVE, False),  # saying the default out loud changes nothing
    ],
)
def test_the_settings_hash_covers_only_restart_needing_fields(
    before: dict[str, Any], after: dict[str, Any], restarts: bool
) -> None:
    assert (hash_of(before) != hash_of(after)) is restarts


def test_a_live_revision_records_no_settings_and_renders_the_specs() -> None:
    spec = {**LIVE, "image": "img:2", "game": {"rounds": 5}}
    assert settings_of(spec) == {}
    revision = Revision(3, "img:1", hash_of(spec), settings_of(spec), live=True)
    pinned = revision.pinned(spec)
    assert pinned["image"] == "img:1" and pinned["game"] == {"rounds": 5}
    assert hash_of(pinned) == revision.settings_hash
    # An older revision made without liveSettings renders as it was made (its hash again).
    old_spec = {**OFF, "image": "img:0", "game": {"rounds": 2}}
    old = Revision(1, "img:0", hash_of(old_spec), settings_of(old_spec))
    back = old.pinned(spec)
    assert back["game"] == {"rounds": 2} and back["rollout"]["liveSettings"] is False
    assert hash_of(back) == old.settings_hash


def test_live_and_rollback_survive_the_controller_revision() -> None:
    made = Revision(4, "img:1", "abc", {}, name="r-rev-1", live=True, rollback=True)
    manifest = revision_manifest(made, "r", "ns", {}, {"uid": "u"})
    assert manifest["data"]["liveSettings"] is True
    assert manifest["metadata"]["annotations"]["drawgame.dev/rollback"] == "true"
    read = revision_from(manifest)
    assert read is not None and read.live and read.rollback
    plain = revision_from(revision_manifest(Revision(1, "i", "h"), "r", "ns", {}, {}))
    assert plain is not None and not plain.live and not plain.rollback


def test_the_live_sections_are_the_config_files() -> None:
    room = Room(name="r", namespace="ns", uid="u", spec={**LIVE, "game": {"rounds": 5}})
    wanted = live_settings(room)
    assert set(wanted) == {"game", "rateLimits"}
    assert wanted["game"] == game_config(room)["game"] and wanted["game"]["rounds"] == 5


@pytest.mark.parametrize(
    ("reported", "found"),
    [
        ({"game": {"rounds": 5, "customWords": []}, "rateLimits": {"chatPerSecond": 5 / 3}}, []),
        (
            {"game": {"rounds": 3, "customWords": []}, "rateLimits": {"chatPerSecond": 1.6667}},
            ["game.rounds: 3 -> 5", "rateLimits.chatPerSecond: 1.6667 -> 1.6666666666666667"],
        ),
        (
            {"game": {"customWords": ["a"]}, "rateLimits": {"chatPerSecond": 5 / 3}},
            ["game.rounds: ? -> 5", "game.customWords: [1 items] -> [0 items]"],
        ),
        (
            None,
            [
                "game.rounds: ? -> 5",
                "game.customWords: ? -> [0 items]",
                "rateLimits.chatPerSecond: ? -> 1.6666666666666667",
            ],
        ),
    ],
)
def test_differences_name_each_setting_the_room_does_not_report(
    reported: Any, found: list[str]
) -> None:
    wanted = {"game": {"rounds": 5, "customWords": []}, "rateLimits": {"chatPerSecond": 5 / 3}}
    assert differences(wanted, reported) == found


def test_digest_is_stable_and_tells_changes_apart() -> None:
    assert digest({"game": {"a": 1, "b": 2}}) == digest({"game": {"b": 2, "a": 1}})
    assert digest({"game": {"a": 1}}) != digest({"game": {"a": 2}})
